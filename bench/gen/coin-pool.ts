import type {Prng} from './random.js'
import type {Kind, Spend} from './tx-writer.js'

/**
 * The unspent outputs the generator may spend, bounded: arrays of plain
 * numbers and one txid buffer, no object per coin. When full, a new coin
 * takes the slot of an old one, which is then never spent — the chain's
 * long tail of dormant outputs, as on mainnet. The smaller of two random
 * coins is the one left behind, so value stays in play and wallets keep
 * finding coins worth spending.
 */
export class CoinPool {
  private readonly txids: Buffer
  private readonly vouts: Uint32Array
  private readonly values: Float64Array
  private readonly kinds: Uint8Array
  /** address rank of a reused address, -1 for a fresh one */
  private readonly ranks: Int32Array
  size = 0

  constructor(readonly capacity: number) {
    this.txids = Buffer.alloc(capacity * 32)
    this.vouts = new Uint32Array(capacity)
    this.values = new Float64Array(capacity)
    this.kinds = new Uint8Array(capacity)
    this.ranks = new Int32Array(capacity)
  }

  add(txid: Uint8Array, vout: number, value: number, kind: Kind, rank: number, prng: Prng): void {
    let slot: number
    if (this.size < this.capacity) {
      slot = this.size++
    } else {
      const a = prng.int(this.capacity)
      const b = prng.int(this.capacity)
      slot = this.values[a] <= this.values[b] ? a : b
    }
    this.txids.set(txid, slot * 32)
    this.vouts[slot] = vout
    this.values[slot] = value
    this.kinds[slot] = kind
    this.ranks[slot] = rank
  }

  /**
   * Removes the largest of `tries` random coins and returns it, as a wallet
   * picks a coin that covers the payment. Its txid is copied out, since the
   * slot is reused at once.
   */
  take(prng: Prng, tries = 1): Spend & {rank: number} {
    let slot = prng.int(this.size)
    for (let i = 1; i < tries; i++) {
      const other = prng.int(this.size)
      if (this.values[other] > this.values[slot]) slot = other
    }
    const coin = {
      txid: Buffer.from(this.txids.subarray(slot * 32, slot * 32 + 32)),
      vout: this.vouts[slot],
      value: this.values[slot],
      kind: this.kinds[slot] as Kind,
      rank: this.ranks[slot],
    }
    const last = --this.size
    if (slot !== last) {
      this.txids.copyWithin(slot * 32, last * 32, last * 32 + 32)
      this.vouts[slot] = this.vouts[last]
      this.values[slot] = this.values[last]
      this.kinds[slot] = this.kinds[last]
      this.ranks[slot] = this.ranks[last]
    }
    return coin
  }
}
