/**
 * The simulator's mempool: unconfirmed transactions in arrival order with
 * what Core reports about each (fee, vsize, time, height at entry, in-mempool
 * parents and children), and the mempool sequence number that Core bumps on
 * every addition and removal (getrawmempool false true, ZMQ `sequence`).
 */
import type {Transaction} from 'bitcoinjs-lib'

import {inputTxid, outpointKey} from './ledger.js'

export interface MempoolEntry {
  tx: Transaction
  raw: Buffer
  txid: string
  wtxid: string
  fee: bigint
  vsize: number
  weight: number
  /** unix seconds when it entered */
  time: number
  /** chain height when it entered */
  height: number
  /** relayed straight away, as submitpackage's transactions are: not in Core's unbroadcast set */
  relayed?: boolean
}

export type RemovalReason = 'block' | 'conflict' | 'replaced' | 'reorg' | 'evicted'

export class Mempool {
  readonly entries = new Map<string, MempoolEntry>()
  /** outpoint → txid of the mempool transaction spending it */
  readonly spenders = new Map<string, string>()
  /** Core starts at 1 and adds one per addition and per removal */
  sequence = 1
  /** false until the simulated mempool.dat is "loaded" (getmempoolinfo.loaded) */
  loaded = true

  get size(): number {
    return this.entries.size
  }

  has(txid: string): boolean {
    return this.entries.has(txid)
  }

  get(txid: string): MempoolEntry | undefined {
    return this.entries.get(txid)
  }

  add(entry: MempoolEntry): void {
    this.entries.set(entry.txid, entry)
    for (const input of entry.tx.ins) this.spenders.set(outpointKey(inputTxid(input.hash), input.index), entry.txid)
    this.sequence++
  }

  /** Removes one transaction (not its descendants). */
  remove(txid: string, _reason: RemovalReason): MempoolEntry | undefined {
    const entry = this.entries.get(txid)
    if (!entry) return undefined
    this.entries.delete(txid)
    for (const input of entry.tx.ins) {
      const key = outpointKey(inputTxid(input.hash), input.index)
      if (this.spenders.get(key) === txid) this.spenders.delete(key)
    }
    this.sequence++
    return entry
  }

  /** Removes a transaction and everything in the mempool that depends on it. */
  removeWithDescendants(txid: string, reason: RemovalReason): MempoolEntry[] {
    const removed: MempoolEntry[] = []
    for (const id of [txid, ...this.descendants(txid)]) {
      const entry = this.remove(id, reason)
      if (entry) removed.push(entry)
    }
    return removed
  }

  /**
   * txids in the order Core lists them (getrawmempool): best mining score
   * first — the lower of a transaction's own and its ancestors' feerate —
   * ties by txid, parents always before children.
   */
  orderedTxids(): string[] {
    const score = (e: MempoolEntry): [bigint, bigint] => {
      const ancestors = this.ancestors(e.txid).map((id) => this.entries.get(id)!)
      const fee = ancestors.reduce((sum, a) => sum + a.fee, e.fee)
      const size = ancestors.reduce((sum, a) => sum + a.vsize, e.vsize)
      // compare fee/size without division: keep the lower of own and package rate
      return e.fee * BigInt(size) < fee * BigInt(e.vsize) ? [e.fee, BigInt(e.vsize)] : [fee, BigInt(size)]
    }
    const scored = [...this.entries.values()].map((e) => ({e, s: score(e)}))
    scored.sort((a, b) => {
      const diff = b.s[0] * a.s[1] - a.s[0] * b.s[1]
      return diff > 0n ? 1 : diff < 0n ? -1 : a.e.txid < b.e.txid ? -1 : a.e.txid > b.e.txid ? 1 : 0
    })
    const emitted = new Set<string>()
    const order: string[] = []
    let pending = scored.map((x) => x.e.txid)
    while (pending.length > 0) {
      const deferred: string[] = []
      for (const txid of pending) {
        if (this.parents(txid).every((p) => emitted.has(p))) {
          emitted.add(txid)
          order.push(txid)
        } else {
          deferred.push(txid)
        }
      }
      pending = deferred
    }
    return order
  }

  /** txids of in-mempool transactions whose outputs this one spends */
  parents(txid: string): string[] {
    const entry = this.entries.get(txid)
    if (!entry) return []
    const parents = new Set<string>()
    for (const input of entry.tx.ins) {
      const parent = inputTxid(input.hash)
      if (this.entries.has(parent)) parents.add(parent)
    }
    return [...parents]
  }

  /** txids of in-mempool transactions spending this one's outputs */
  children(txid: string): string[] {
    const entry = this.entries.get(txid)
    if (!entry) return []
    const children = new Set<string>()
    entry.tx.outs.forEach((_, vout) => {
      const spender = this.spenders.get(outpointKey(txid, vout))
      if (spender) children.add(spender)
    })
    return [...children]
  }

  ancestors(txid: string): string[] {
    return this.walk(txid, (id) => this.parents(id))
  }

  descendants(txid: string): string[] {
    return this.walk(txid, (id) => this.children(id))
  }

  /**
   * The transactions mined together with `txid` as one chunk: the cluster
   * (everything linked to it by spending) linearized by repeatedly taking the
   * ancestor set with the best fee rate, as cluster mempool (Core 31) does for
   * the small clusters tests make.
   */
  chunk(txid: string): MempoolEntry[] {
    const cluster = new Set(this.walk(txid, (id) => [...this.parents(id), ...this.children(id)]))
    cluster.add(txid)
    for (;;) {
      let best: {set: string[]; fee: bigint; vsize: number} | undefined
      for (const id of cluster) {
        const set = [id, ...this.ancestors(id).filter((a) => cluster.has(a))]
        const fee = set.reduce((sum, a) => sum + this.entries.get(a)!.fee, 0n)
        const vsize = set.reduce((sum, a) => sum + this.entries.get(a)!.vsize, 0)
        if (!best || fee * BigInt(best.vsize) > best.fee * BigInt(vsize)) best = {set, fee, vsize}
      }
      if (!best || best.set.includes(txid)) return (best?.set ?? [txid]).map((id) => this.entries.get(id)!)
      for (const id of best.set) cluster.delete(id)
    }
  }

  private walk(start: string, next: (txid: string) => string[]): string[] {
    const seen = new Set<string>()
    const queue = next(start)
    while (queue.length > 0) {
      const id = queue.shift()!
      if (seen.has(id)) continue
      seen.add(id)
      queue.push(...next(id))
    }
    return [...seen]
  }

  /** The mempool transaction already spending an outpoint, if any. */
  spenderOf(txid: string, vout: number): string | undefined {
    return this.spenders.get(outpointKey(txid, vout))
  }

  clear(): void {
    for (const txid of [...this.entries.keys()]) this.remove(txid, 'evicted')
  }
}
