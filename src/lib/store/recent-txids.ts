/**
 * The txids of the most recently written transactions and their tx_nums, so
 * that most spends (which take coins made a short while before) resolve
 * without asking SQLite. It is a ring of the last `capacity` txids in one
 * slab plus a Map from 32 bits of the txid to the tx_num; a hit is confirmed
 * against the full txid in the slab, so a shared 32-bit prefix only costs a
 * miss, never a wrong answer. No per-entry objects: the Map holds small
 * integers only.
 */
export class RecentTxids {
  private readonly slab: Buffer
  private readonly byPrefix = new Map<number, number>()
  /** the tx_num after the last one added */
  private end = 0

  constructor(readonly capacity: number) {
    this.slab = Buffer.alloc(capacity * 32)
  }

  /** Adds the next transaction; tx_nums must come in order without gaps (reset() after an undo). */
  add(txNum: number, txid: Buffer): void {
    const slot = (txNum % this.capacity) * 32
    if (txNum >= this.capacity && this.end > txNum - this.capacity) {
      // evict the transaction this slot held, unless a later one took its key
      const evicted = txNum - this.capacity
      const key = this.slab.readInt32LE(slot)
      if (this.byPrefix.get(key) === evicted) this.byPrefix.delete(key)
    }
    txid.copy(this.slab, slot, 0, 32)
    // a later transaction with the same txid (BIP30) or the same 32-bit prefix wins
    this.byPrefix.set(txid.readInt32LE(0), txNum)
    this.end = txNum + 1
  }

  /** The tx_num of the latest transaction with this txid, if it is among the recent ones; else -1. */
  get(txid: Buffer): number {
    const txNum = this.byPrefix.get(txid.readInt32LE(0))
    if (txNum === undefined || txNum < this.end - this.capacity) return -1
    const slot = (txNum % this.capacity) * 32
    return this.slab.compare(txid, 0, 32, slot, slot + 32) === 0 ? txNum : -1
  }

  /** Forgets everything: after an undo or a rolled-back batch, tx_nums are reused for other transactions. */
  reset(nextTxNum: number): void {
    this.byPrefix.clear()
    this.end = nextTxNum
  }
}
