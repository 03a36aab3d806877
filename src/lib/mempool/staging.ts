import {parseTransaction} from '../chain/block-parser.js'
import {toDisplayHex} from '../chain/hashes.js'
import {scriptKeyOf} from '../chain/indexed-block.js'
import {BixError} from '../errors.js'
import type {MempoolSpendRow, MempoolTxRow, OutputValue} from '../store/index-store.js'
import type {FetchedEntry, FetchedTx} from './mempool-rpc.js'
import {isGone} from './mempool-rpc.js'

/**
 * New mempool transactions on their way to the database, in an order the
 * snapshot can take them: a transaction is staged only once each output
 * it spends is known — confirmed in the index, already in the snapshot, or
 * made by a transaction staged before it. One whose in-mempool parent has
 * not arrived yet waits for it; one whose parent vanished (replaced,
 * evicted, confirmed since the listing) is dropped, as the node dropped it.
 */

/** Where an output a transaction spends is looked up once it is neither staged nor awaited: the database. */
export type OutputLookup = (txid: Buffer, vout: number) => OutputValue | undefined

interface Decoded {
  /** display hex */
  txid: string
  fetched: Omit<FetchedTx, 'raw'>
  /** internal byte order */
  txidBytes: Buffer
  outputs: OutputValue[]
  /** each input's previous txid (display hex) */
  parents: string[]
  prevouts: Array<{txid: Buffer; vout: number}>
}

export interface Unresolved {
  /** display hex */
  txid: string
  /** the output it spends that nothing knows, "txid:vout" */
  prevout: string
}

export class Staging {
  /** listed for fetching and neither staged nor gone yet */
  private readonly unsettled: Set<string>
  /** outputs of staged transactions not yet written; their children resolve against these */
  private readonly pendingOutputs = new Map<string, readonly OutputValue[]>()
  /** transactions waiting for a parent that has not been staged yet, by the parent's txid */
  private readonly waiting = new Map<string, Decoded[]>()
  /** vanished, or dropped because an ancestor vanished: what spends them is dropped too */
  private readonly gone = new Set<string>()
  private ready: MempoolTxRow[] = []
  /** transactions staged so far, written or not */
  staged = 0
  /** listed, but gone when fetched or spending one that was */
  vanished = 0
  /** transactions dropped because an output they spend is nowhere to be found: how many, and the first */
  unresolved = 0
  firstUnresolved?: Unresolved

  constructor(
    toFetch: Iterable<string>,
    private readonly lookup: OutputLookup,
  ) {
    this.unsettled = new Set(toFetch)
  }

  /** Staged transactions not yet handed over for writing. */
  get readyCount(): number {
    return this.ready.length
  }

  /** Transactions held back until a parent arrives. */
  get waitingCount(): number {
    let n = 0
    for (const list of this.waiting.values()) n += list.length
    return n
  }

  add(entry: FetchedEntry): void {
    if (isGone(entry)) this.discard(entry.txid)
    else this.offer(decode(entry))
  }

  /**
   * Hands over the staged rows, parents before children, for the caller to
   * write; from then on their outputs are looked up in the database.
   */
  take(): MempoolTxRow[] {
    const rows = this.ready
    this.ready = []
    this.pendingOutputs.clear()
    return rows
  }

  private offer(first: Decoded): void {
    const queue = [first]
    while (queue.length > 0) {
      const tx = queue.pop()!
      const parent = tx.parents.find((p) => this.gone.has(p))
      if (parent !== undefined) {
        this.discard(tx.txid)
        continue
      }
      const awaited = tx.parents.find((p) => this.unsettled.has(p))
      if (awaited !== undefined) {
        const list = this.waiting.get(awaited)
        if (list) list.push(tx)
        else this.waiting.set(awaited, [tx])
        continue
      }
      const row = this.resolve(tx)
      if (!row) {
        this.discard(tx.txid)
        continue
      }
      this.unsettled.delete(tx.txid)
      this.pendingOutputs.set(tx.txid, row.outputs)
      this.ready.push(row)
      this.staged++
      const children = this.waiting.get(tx.txid)
      if (children) {
        this.waiting.delete(tx.txid)
        queue.push(...children)
      }
    }
  }

  /** The row with each spend's script and value filled in; undefined when one of them is nowhere to be found. */
  private resolve(tx: Decoded): MempoolTxRow | undefined {
    const spends: MempoolSpendRow[] = new Array(tx.prevouts.length)
    let inputs = 0
    for (let vin = 0; vin < tx.prevouts.length; vin++) {
      const {txid, vout} = tx.prevouts[vin]
      const out = this.pendingOutputs.get(tx.parents[vin])?.[vout] ?? this.lookup(txid, vout)
      if (!out) {
        this.unresolved++
        this.firstUnresolved ??= {txid: tx.txid, prevout: `${tx.parents[vin]}:${vout}`}
        return undefined
      }
      spends[vin] = {prevTxid: txid, prevVout: vout, scriptKey: out.scriptKey, value: out.value}
      inputs += out.value
    }
    const outputs = tx.outputs.reduce((sum, o) => sum + o.value, 0)
    const {fee, time, vsize} = tx.fetched
    if (inputs - outputs !== fee) {
      throw new BixError(
        'DatabaseError',
        `mempool transaction ${tx.txid} spends ${inputs} sat by the index and pays out ${outputs} sat, a fee of ${inputs - outputs} sat, but the node says ${fee} sat; the index is damaged (rebuild it with bix index on a new --db)`,
      )
    }
    return {txid: tx.txidBytes, firstSeen: time, vsize, fee, outputs: tx.outputs, spends}
  }

  /** A listed transaction that will not be staged, and everything waiting on it. */
  private discard(txid: string): void {
    const queue = [txid]
    while (queue.length > 0) {
      const id = queue.pop()!
      if (this.gone.has(id)) continue
      this.gone.add(id)
      this.unsettled.delete(id)
      this.vanished++
      const children = this.waiting.get(id)
      if (children) {
        this.waiting.delete(id)
        for (const child of children) queue.push(child.txid)
      }
    }
  }
}

/** The node's bytes for a transaction as rows, checked to be the transaction asked for. */
function decode(fetched: FetchedTx): Decoded {
  const label = `getrawtransaction ${fetched.txid}`
  let parsed
  try {
    parsed = parseTransaction(fetched.raw, 0, {label})
  } catch (err) {
    throw new BixError('NodeError', `${label}: the node sent bytes that are not a transaction (${(err as Error).message})`)
  }
  const {tx, end} = parsed
  if (end !== fetched.raw.length || toDisplayHex(tx.txid) !== fetched.txid) {
    throw new BixError('NodeError', `${label}: the node sent ${fetched.raw.length} bytes that are not that transaction`)
  }
  const prevouts = tx.inputs.map((input) => ({txid: Buffer.from(input.prevTxid), vout: input.prevVout}))
  return {
    txid: fetched.txid,
    fetched: {txid: fetched.txid, time: fetched.time, vsize: fetched.vsize, fee: fetched.fee},
    txidBytes: tx.txid,
    outputs: tx.outputs.map((out) => ({scriptKey: scriptKeyOf(out.script), value: out.value})),
    parents: prevouts.map((p) => toDisplayHex(p.txid)),
    prevouts,
  }
}
