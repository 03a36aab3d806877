import {toDisplayHex} from '../chain/hashes.js'
import {BixError, badInput} from '../errors.js'
import {AddressReader, type ScriptOutput, positionOf, txNumOf} from '../store/address-reader.js'
import type {IndexDb} from '../store/database.js'
import {BULK_LOAD, TX_SHIFT} from '../store/schema.js'
import {type MempoolActivity, mempoolActivityOf, mempoolSnapshotInfo, mempoolSnapshotIsCurrent} from '../store/mempool-reader.js'
import type {QueryTarget} from './targets.js'

/**
 * `bix query address` as a library call: one script's balance, statistics,
 * history and UTXOs, confirmed (from the index) and unconfirmed (from the
 * mempool snapshot, when it matches the index's tip). The shape follows
 * Esplora's /address and /scripthash answers; amounts are integer satoshis.
 */

export interface TxoStats {
  funded_txo_count: number
  funded_txo_sum: number
  spent_txo_count: number
  spent_txo_sum: number
  tx_count: number
}

export interface HistoryEntry {
  txid: string
  /** null while unconfirmed */
  height: number | null
  /** block time; for an unconfirmed transaction, when the node first saw it */
  time: number
  /** satoshis the transaction paid to the script minus what it spent from it */
  value_change: number
}

export interface Utxo {
  txid: string
  vout: number
  value: number
  /** null for an output of an unconfirmed transaction */
  height: number | null
}

/** An output of the script that an unconfirmed transaction spends: gone once that transaction confirms. */
export interface PendingSpend extends Utxo {
  spent_by: string
}

export interface Activity {
  txid: string
  height: number | null
  time: number
}

export interface Freshness {
  /** the index tip the answer reflects */
  index: {height: number; hash: string} | null
  mempool: {
    /** unix seconds of the last sync; null: never synced */
    synced_at: number | null
    /** seconds since then */
    age_seconds: number | null
    /** false when there is no snapshot, or it was taken at another index tip (bix sync-mempool refreshes it) */
    used: boolean
  }
}

export interface AddressReport {
  address: string | null
  scripthash: string
  script: string | null
  chain_stats: TxoStats
  mempool_stats: TxoStats
  balance: {confirmed: number; unconfirmed: number; total: number}
  first_activity: Activity | null
  last_activity: Activity | null
  utxos?: Utxo[]
  pending_spends?: PendingSpend[]
  history?: HistoryEntry[]
  /** what the next page starts after (--after), when --limit cut a list short */
  next_after?: {history?: string; utxos?: string}
  freshness: Freshness
}

export interface ReportOptions {
  utxos: boolean
  history: boolean
  /** entries per list; 0 for all */
  limit: number
  /** a txid (pages history) or txid:vout (pages UTXOs) */
  after?: string
  /** unix seconds, for the snapshot's age */
  now: number
}

interface TxDelta {
  /** confirmed: tx_num; unconfirmed: -1 */
  txNum: number
  /** display hex, filled in for unconfirmed ones and for confirmed ones on the page */
  txid?: string
  delta: number
  time?: number
}

export function addressReport(db: IndexDb, target: QueryTarget, options: ReportOptions): AddressReport {
  const tip = db.tip()
  if (db.meta(BULK_LOAD) === '1') {
    const where = tip ? `at height ${tip.height}` : 'empty so far'
    throw new BixError('IndexBusy', `the index is still being built (its first bix index run, ${where}, has not finished); queries work once it has`)
  }
  const reader = new AddressReader(db)
  const snapshot = mempoolSnapshotInfo(db)
  const mempoolUsed = mempoolSnapshotIsCurrent(snapshot, tip?.hash)
  const mempool: MempoolActivity = mempoolUsed ? mempoolActivityOf(db, target.scriptKey) : {outputs: [], spends: [], firstSeen: new Map()}

  // confirmed: every output paid to the script, and the inputs that spent them
  const outputs = reader.outputsOf(target.scriptKey)
  const chain: TxoStats = {funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0, tx_count: 0}
  const confirmedTxs = new Map<number, TxDelta>()
  const touch = (txNum: number, delta: number) => {
    const entry = confirmedTxs.get(txNum)
    if (entry) entry.delta += delta
    else confirmedTxs.set(txNum, {txNum, delta})
  }
  for (const out of outputs) {
    chain.funded_txo_count++
    chain.funded_txo_sum += out.value
    touch(txNumOf(out.id), out.value)
    if (out.spentBy !== null) {
      chain.spent_txo_count++
      chain.spent_txo_sum += out.value
      touch(txNumOf(out.spentBy), -out.value)
    }
  }
  chain.tx_count = confirmedTxs.size

  // unconfirmed: outputs of mempool transactions, and mempool inputs spending the script's outputs
  const pool: TxoStats = {funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0, tx_count: 0}
  const mempoolTxs = new Map<string, TxDelta>()
  const touchMempool = (txid: Buffer, delta: number) => {
    const key = toDisplayHex(txid)
    const entry = mempoolTxs.get(key)
    if (entry) entry.delta += delta
    else mempoolTxs.set(key, {txNum: -1, txid: key, delta, time: mempool.firstSeen.get(key)})
  }
  for (const out of mempool.outputs) {
    pool.funded_txo_count++
    pool.funded_txo_sum += out.value
    touchMempool(out.txid, out.value)
  }
  for (const spend of mempool.spends) {
    pool.spent_txo_count++
    pool.spent_txo_sum += spend.value
    touchMempool(spend.txid, -spend.value)
  }
  pool.tx_count = mempoolTxs.size

  const confirmed = chain.funded_txo_sum - chain.spent_txo_sum
  const unconfirmed = pool.funded_txo_sum - pool.spent_txo_sum
  const report: AddressReport = {
    address: target.address,
    scripthash: target.scripthash,
    script: target.script,
    chain_stats: chain,
    mempool_stats: pool,
    balance: {confirmed, unconfirmed, total: confirmed + unconfirmed},
    first_activity: null,
    last_activity: null,
    freshness: {
      index: tip ? {height: tip.height, hash: toDisplayHex(tip.hash)} : null,
      mempool: {
        synced_at: snapshot.syncedAt,
        age_seconds: snapshot.syncedAt === null ? null : Math.max(0, options.now - snapshot.syncedAt),
        used: mempoolUsed,
      },
    },
  }

  // newest first: unconfirmed (latest seen first), then confirmed by chain position
  const unconfirmedOrder = [...mempoolTxs.values()].sort((a, b) => (b.time ?? 0) - (a.time ?? 0) || (a.txid! < b.txid! ? -1 : 1))
  const confirmedOrder = [...confirmedTxs.values()].sort((a, b) => b.txNum - a.txNum)
  const describe = (tx: TxDelta): HistoryEntry => {
    if (tx.txNum < 0) return {txid: tx.txid!, height: null, time: tx.time ?? 0, value_change: tx.delta}
    const block = reader.blockOf(tx.txNum)
    return {txid: toDisplayHex(reader.txidOf(tx.txNum)), height: block.height, time: block.time, value_change: tx.delta}
  }
  const newest = unconfirmedOrder[0] ?? confirmedOrder[0]
  const oldest = confirmedOrder.at(-1) ?? unconfirmedOrder.at(-1)
  if (newest) report.last_activity = activity(describe(newest))
  if (oldest) report.first_activity = activity(describe(oldest))

  const afterOutpoint = options.after?.includes(':') ? options.after : undefined
  const afterTxid = options.after !== undefined && !afterOutpoint ? options.after : undefined

  if (options.history) {
    const all = [...unconfirmedOrder, ...confirmedOrder]
    let start = 0
    if (afterTxid !== undefined) {
      const at = findTx(all, afterTxid, reader)
      if (at < 0) throw badInput(`--after ${afterTxid}: not a transaction of this address's history`)
      start = at + 1
    }
    const end = options.limit > 0 ? Math.min(all.length, start + options.limit) : all.length
    report.history = all.slice(start, end).map(describe)
    if (end < all.length) report.next_after = {...report.next_after, history: report.history.at(-1)!.txid}
  }

  if (options.utxos) {
    const {candidates, pending} = unspent(reader, outputs, mempool)
    let start = 0
    if (afterOutpoint !== undefined) {
      const at = findOutpoint(candidates, afterOutpoint, reader)
      if (at < 0) throw badInput(`--after ${afterOutpoint}: not an unspent output of this address`)
      start = at + 1
    }
    const end = options.limit > 0 ? Math.min(candidates.length, start + options.limit) : candidates.length
    report.utxos = candidates.slice(start, end).map((c) => c.describe())
    report.pending_spends = pending
    if (end < candidates.length) {
      const last = report.utxos.at(-1)!
      report.next_after = {...report.next_after, utxos: `${last.txid}:${last.vout}`}
    }
  }
  return report
}

const activity = (entry: HistoryEntry): Activity => ({txid: entry.txid, height: entry.height, time: entry.time})

/** Position of the txid (display hex) in the ordered history, -1 if absent; resolves confirmed txids one at a time. */
function findTx(all: readonly TxDelta[], txidHex: string, reader: AddressReader): number {
  if (!/^[0-9a-fA-F]{64}$/.test(txidHex)) throw badInput(`--after ${txidHex}: expected a txid (64 hex digits) or txid:vout`)
  const wanted = txidHex.toLowerCase()
  const unconfirmed = all.findIndex((tx) => tx.txid === wanted)
  if (unconfirmed >= 0) return unconfirmed
  const txNum = reader.txNumOf(Buffer.from(wanted, 'hex').reverse())
  return txNum === undefined ? -1 : all.findIndex((tx) => tx.txNum === txNum)
}

/** An unspent output, described (txid and height looked up) only when it is on the page shown. */
interface UtxoCandidate {
  /** confirmed: tx_num · 2^20 + vout; unconfirmed: -1 */
  id: number
  /** unconfirmed: display txid:vout */
  outpoint?: string
  describe(): Utxo
}

/**
 * What the script can spend now, newest first: outputs of mempool
 * transactions that no other mempool transaction spends, then confirmed
 * outputs spent neither by the chain nor by the mempool. Outputs that a
 * mempool transaction spends are listed apart, with that transaction.
 */
function unspent(reader: AddressReader, outputs: readonly ScriptOutput[], mempool: MempoolActivity): {candidates: UtxoCandidate[]; pending: PendingSpend[]} {
  // what mempool transactions spend: unconfirmed outpoints by txid:vout, confirmed outputs by id
  const spentUnconfirmed = new Map<string, string>()
  const spentConfirmed = new Map<number, string>()
  for (const spend of mempool.spends) {
    const spender = toDisplayHex(spend.txid)
    const txNum = reader.txNumOf(spend.prevTxid)
    if (txNum === undefined) spentUnconfirmed.set(`${toDisplayHex(spend.prevTxid)}:${spend.prevVout}`, spender)
    else spentConfirmed.set(txNum * TX_SHIFT + spend.prevVout, spender)
  }

  const candidates: UtxoCandidate[] = []
  const pending: PendingSpend[] = []
  const seenFirst = (txid: Buffer) => mempool.firstSeen.get(toDisplayHex(txid)) ?? 0
  const fresh = [...mempool.outputs].sort((a, b) => seenFirst(b.txid) - seenFirst(a.txid) || a.vout - b.vout)
  for (const out of fresh) {
    const utxo: Utxo = {txid: toDisplayHex(out.txid), vout: out.vout, value: out.value, height: null}
    const outpoint = `${utxo.txid}:${utxo.vout}`
    const spender = spentUnconfirmed.get(outpoint)
    if (spender) pending.push({...utxo, spent_by: spender})
    else candidates.push({id: -1, outpoint, describe: () => utxo})
  }
  const describeConfirmed = (out: ScriptOutput): Utxo => {
    const txNum = txNumOf(out.id)
    return {txid: toDisplayHex(reader.txidOf(txNum)), vout: positionOf(out.id), value: out.value, height: reader.blockOf(txNum).height}
  }
  for (let i = outputs.length - 1; i >= 0; i--) {
    const out = outputs[i]
    if (out.spentBy !== null) continue
    const spender = spentConfirmed.get(out.id)
    if (spender) pending.push({...describeConfirmed(out), spent_by: spender})
    else candidates.push({id: out.id, describe: () => describeConfirmed(out)})
  }
  return {candidates, pending}
}

function findOutpoint(candidates: readonly UtxoCandidate[], outpoint: string, reader: AddressReader): number {
  const match = /^([0-9a-fA-F]{64}):(\d{1,7})$/.exec(outpoint)
  if (!match) throw badInput(`--after ${outpoint}: expected a txid (64 hex digits) or txid:vout`)
  const wanted = `${match[1].toLowerCase()}:${Number(match[2])}`
  const unconfirmed = candidates.findIndex((c) => c.outpoint === wanted)
  if (unconfirmed >= 0) return unconfirmed
  const txNum = reader.txNumOf(Buffer.from(match[1], 'hex').reverse())
  if (txNum === undefined) return -1
  const id = txNum * TX_SHIFT + Number(match[2])
  return candidates.findIndex((c) => c.id === id)
}
