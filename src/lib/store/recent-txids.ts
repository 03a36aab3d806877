/**
 * The txids of the most recently written transactions and their tx_nums, so
 * that most spends (which take coins made a short while before) resolve
 * without asking SQLite. It is a ring of the last `capacity` txids in one
 * slab, a Map from 32 bits of the txid to the latest tx_num with them, and
 * per slot the previous tx_num sharing those bits, so every transaction of
 * the ring is found: the writer relies on it for the transactions of the
 * batch it has not written yet. No per-entry objects: the Map holds small
 * integers only.
 */
export class RecentTxids {
  private readonly slab: Buffer
  private readonly latest = new Map<number, number>()
  /** per slot: the next older tx_num with the same 32-bit key, or -1 */
  private readonly older: Float64Array
  /** the tx_num after the last one added */
  private end = 0

  constructor(readonly capacity: number) {
    this.slab = Buffer.alloc(capacity * 32)
    this.older = new Float64Array(capacity)
  }

  /** Adds the next transaction; tx_nums must come in order without gaps (reset() after an undo). */
  add(txNum: number, txid: Buffer): void {
    const slot = txNum % this.capacity
    if (txNum >= this.capacity && this.end > txNum - this.capacity) {
      // evict the transaction this slot held, unless a later one took its key
      const evicted = txNum - this.capacity
      const key = this.slab.readInt32LE(slot * 32)
      if (this.latest.get(key) === evicted) this.latest.delete(key)
    }
    txid.copy(this.slab, slot * 32, 0, 32)
    const key = txid.readInt32LE(0)
    this.older[slot] = this.latest.get(key) ?? -1
    this.latest.set(key, txNum)
    this.end = txNum + 1
  }

  /** The tx_num of the latest transaction with the txid at bytes[at..at+32], if among the last `capacity` added; else -1. */
  get(bytes: Buffer, at = 0): number {
    const oldest = this.end - this.capacity
    let txNum = this.latest.get(bytes.readInt32LE(at)) ?? -1
    // newest first; links below the ring's oldest point at slots reused since
    while (txNum >= 0 && txNum >= oldest) {
      const slot = txNum % this.capacity
      if (this.slab.compare(bytes, at, at + 32, slot * 32, slot * 32 + 32) === 0) return txNum
      txNum = this.older[slot]
    }
    return -1
  }

  /** Forgets everything: after an undo or a rolled-back batch, tx_nums are reused for other transactions. */
  reset(nextTxNum: number): void {
    this.latest.clear()
    this.end = nextTxNum
  }
}
