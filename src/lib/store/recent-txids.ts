/**
 * The txids of the most recently written transactions and their tx_nums, so
 * that most spends (which take coins made a short while before) resolve
 * without asking SQLite. It is a ring of the last `capacity` txids in one
 * slab and an open-addressing hash table (linear probing, at most half full)
 * of ring slots, keyed by the txid's first 4 bytes: every transaction of the
 * ring is found, which the writer relies on for the transactions of the batch
 * it has not written yet. Typed arrays only, no per-entry objects; a lookup
 * is a probe or two and a 32-byte compare in JS.
 */
export class RecentTxids {
  private readonly slab: Buffer
  /** the slab as 32-bit words: 8 per txid */
  private readonly words: Int32Array
  /** ring slot + 1 of each entry, 0 for an empty cell */
  private readonly table: Int32Array
  private readonly mask: number
  /** the tx_num after the last one added */
  private end = 0
  /** the first tx_num added since the last reset: older slots hold nothing the table knows */
  private start = 0

  constructor(readonly capacity: number) {
    this.slab = Buffer.alloc(capacity * 32)
    this.words = new Int32Array(this.slab.buffer, this.slab.byteOffset, capacity * 8)
    let size = 2
    while (size < capacity * 2) size *= 2
    this.table = new Int32Array(size)
    this.mask = size - 1
  }

  /** Adds the next transaction; tx_nums must come in order without gaps (reset() after an undo). */
  add(txNum: number, txid: Buffer): void {
    const slot = txNum % this.capacity
    const evicted = txNum - this.capacity
    if (evicted >= this.start) this.remove(slot)
    txid.copy(this.slab, slot * 32, 0, 32)
    const {table, mask} = this
    let cell = this.words[slot * 8] & mask
    for (; table[cell] !== 0; cell = (cell + 1) & mask) {
      // the same txid again (BIP30): the later transaction takes its place
      if (this.matches(table[cell] - 1, txid, 0)) break
    }
    table[cell] = slot + 1
    this.end = txNum + 1
  }

  /** The tx_num of the latest transaction with the txid at bytes[at..at+32], if among the last `capacity` added; else -1. */
  get(bytes: Buffer, at = 0): number {
    const {table, mask} = this
    for (let cell = bytes.readInt32LE(at) & mask; table[cell] !== 0; cell = (cell + 1) & mask) {
      const slot = table[cell] - 1
      if (this.matches(slot, bytes, at)) return this.end - 1 - ((this.end - 1 - slot) % this.capacity)
    }
    return -1
  }

  /** Forgets everything: after an undo or a rolled-back batch, tx_nums are reused for other transactions. */
  reset(nextTxNum: number): void {
    this.table.fill(0)
    this.end = nextTxNum
    this.start = nextTxNum
  }

  private matches(slot: number, bytes: Buffer, at: number): boolean {
    const w = this.words
    const base = slot * 8
    for (let k = 0; k < 8; k++) if (w[base + k] !== bytes.readInt32LE(at + 4 * k)) return false
    return true
  }

  /** Takes the slot's entry out of the table, if it has one (a later duplicate may have replaced it), closing the gap behind it. */
  private remove(slot: number): void {
    const {table, mask} = this
    let hole = this.words[slot * 8] & mask
    while (table[hole] !== 0 && table[hole] !== slot + 1) hole = (hole + 1) & mask
    if (table[hole] === 0) return
    // backward-shift deletion: move up every later entry of the run that may not sit past the hole
    for (let next = (hole + 1) & mask; table[next] !== 0; next = (next + 1) & mask) {
      const home = this.words[(table[next] - 1) * 8] & mask
      const between = hole <= next ? home > hole && home <= next : home > hole || home <= next
      if (between) continue
      table[hole] = table[next]
      hole = next
    }
    table[hole] = 0
  }
}
