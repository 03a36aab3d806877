import type {Prng} from './random.js'
import type {Kind, Spend} from './tx-writer.js'

/**
 * When each output the generator makes will be spent, decided the moment it
 * is made: an age in blocks drawn from SPEND_AGES. Coins wait in one bucket
 * per due height (a linked list through slab slots, plain typed arrays, no
 * object per coin); a block spends what is due at its height, oldest due
 * first. Coins that are never spent, or due after the chain ends, are not
 * kept — except a uniform sample of them (the dormant reservoir), which the
 * catch-up blocks spend to reach outputs of every age.
 */

/**
 * How long an output waits before it is spent, in blocks: a mixture of
 * log-uniform bands (0 = spent later in the same block). Chosen to look like
 * mainnet's spent-output ages — most outputs spent within hours (change,
 * exchange hot wallets, chains of payments), a steady share within days to
 * weeks, a long tail held for months or years — and a dormant share never
 * spent at all (lost keys, long-term holders). At mainnet's tip ~6 % of all
 * outputs ever made are unspent (~180M of ~3B); a generated chain of a few
 * thousand blocks ends with a larger share unspent, since much of its
 * long tail has not come due yet (chain.json's stats.unspentShare says how
 * much).
 */
export const SPEND_AGES: ReadonlyArray<{share: number; min: number; max: number; what: string}> = [
  {share: 0.05, min: 0, max: 0, what: 'same block (chains of unconfirmed payments, CPFP)'},
  {share: 0.35, min: 1, max: 6, what: 'within the hour'},
  {share: 0.25, min: 6, max: 144, what: 'within the day'},
  {share: 0.17, min: 144, max: 1008, what: 'within the week'},
  {share: 0.09, min: 1008, max: 8640, what: 'within two months'},
  {share: 0.05, min: 8640, max: 105_120, what: 'two months to two years'},
]
/** never spent: 1 − the bands above */
export const NEVER_SPENT_SHARE = 1 - SPEND_AGES.reduce((sum, band) => sum + band.share, 0)
export const NEVER = -1
/** blocks ahead a coin may be borrowed from when nothing is due (a day) */
const BORROW_SPAN = 144

/** An age from SPEND_AGES, or NEVER. */
export function spendAge(prng: Prng): number {
  let u = prng.float()
  for (const band of SPEND_AGES) {
    if (u < band.share) return band.min === band.max ? band.min : Math.floor(band.min * Math.pow(band.max / band.min, prng.float()))
    u -= band.share
  }
  return NEVER
}

export type Coin = Spend & {rank: number; born: number}

/** Coins in typed arrays, addressed by slot. */
class Slab {
  txids: Buffer
  vouts: Uint32Array
  values: Float64Array
  kinds: Uint8Array
  ranks: Int32Array
  born: Int32Array

  constructor(public capacity: number) {
    this.txids = Buffer.alloc(capacity * 32)
    this.vouts = new Uint32Array(capacity)
    this.values = new Float64Array(capacity)
    this.kinds = new Uint8Array(capacity)
    this.ranks = new Int32Array(capacity)
    this.born = new Int32Array(capacity)
  }

  grow(): void {
    const old = {txids: this.txids, vouts: this.vouts, values: this.values, kinds: this.kinds, ranks: this.ranks, born: this.born}
    this.capacity *= 2
    this.txids = Buffer.alloc(this.capacity * 32)
    this.txids.set(old.txids)
    this.vouts = new Uint32Array(this.capacity)
    this.vouts.set(old.vouts)
    this.values = new Float64Array(this.capacity)
    this.values.set(old.values)
    this.kinds = new Uint8Array(this.capacity)
    this.kinds.set(old.kinds)
    this.ranks = new Int32Array(this.capacity)
    this.ranks.set(old.ranks)
    this.born = new Int32Array(this.capacity)
    this.born.set(old.born)
  }

  put(slot: number, txid: Uint8Array, vout: number, value: number, kind: Kind, rank: number, born: number): void {
    this.txids.set(txid, slot * 32)
    this.vouts[slot] = vout
    this.values[slot] = value
    this.kinds[slot] = kind
    this.ranks[slot] = rank
    this.born[slot] = born
  }

  /** The coin in `slot`, its txid copied out (the slot is reused). */
  get(slot: number): Coin {
    return {
      txid: Buffer.from(this.txids.subarray(slot * 32, slot * 32 + 32)),
      vout: this.vouts[slot],
      value: this.values[slot],
      kind: this.kinds[slot] as Kind,
      rank: this.ranks[slot],
      born: this.born[slot],
    }
  }
}

export class CoinSchedule {
  private readonly slab = new Slab(1 << 16)
  private next = new Int32Array(1 << 16)
  private freeHead = -1
  private used = 0
  /** first slot of each due height's list, -1 when empty */
  private readonly heads: Int32Array
  private readonly counts: Uint32Array
  /** no coin is due below this height */
  private cursor = 0
  /** coins waiting */
  size = 0
  private readonly dormant: Slab
  private dormantSeen = 0

  /** `lastHeight`: no block above it will be built; coins due later are dormant. */
  constructor(
    readonly lastHeight: number,
    dormantSample: number,
  ) {
    this.heads = new Int32Array(lastHeight + 1).fill(-1)
    this.counts = new Uint32Array(lastHeight + 1)
    this.dormant = new Slab(dormantSample)
  }

  /** A new output made at height `born`, to be spent `age` blocks later (NEVER: not at all). */
  add(txid: Uint8Array, vout: number, value: number, kind: Kind, rank: number, born: number, age: number, prng: Prng): void {
    const due = age === NEVER ? Infinity : born + age
    if (due > this.lastHeight) {
      this.keepDormant(txid, vout, value, kind, rank, born, prng)
      return
    }
    let slot = this.freeHead
    if (slot >= 0) {
      this.freeHead = this.next[slot]
    } else {
      if (this.used === this.slab.capacity) {
        this.slab.grow()
        const next = new Int32Array(this.slab.capacity)
        next.set(this.next)
        this.next = next
      }
      slot = this.used++
    }
    this.slab.put(slot, txid, vout, value, kind, rank, born)
    this.next[slot] = this.heads[due]
    this.heads[due] = slot
    this.counts[due]++
    if (due < this.cursor) this.cursor = due
    this.size++
  }

  /** Coins due at or before `height`. */
  dueBy(height: number): number {
    let n = 0
    for (let h = this.cursor; h <= height && h <= this.lastHeight; h++) n += this.counts[h]
    return n
  }

  /**
   * The coin due earliest, when one is due by `height`. When none is, a coin
   * due within the next BORROW_SPAN blocks, picked at random: always taking
   * the soonest would strip the next block of what it is due, which would
   * borrow in turn, and the chain would end up spending mostly outputs of
   * the same block.
   */
  take(height: number, prng: Prng): Coin | undefined {
    if (this.size === 0) return undefined
    while (this.cursor <= height && this.heads[this.cursor] < 0) this.cursor++
    let h = this.cursor
    if (h > height) {
      h = Math.min(this.lastHeight, height + 1 + prng.int(BORROW_SPAN))
      while (h <= this.lastHeight && this.heads[h] < 0) h++
      if (h > this.lastHeight) for (h = this.cursor; this.heads[h] < 0; ) h++
    }
    const slot = this.heads[h]
    this.heads[h] = this.next[slot]
    this.counts[h]--
    this.next[slot] = this.freeHead
    this.freeHead = slot
    this.size--
    return this.slab.get(slot)
  }

  /** A coin from the dormant sample (outputs of any age nobody was going to spend), removed from it. */
  takeDormant(prng: Prng): Coin | undefined {
    const n = Math.min(this.dormantSeen, this.dormant.capacity)
    if (n === 0) return undefined
    const slot = prng.int(n)
    const coin = this.dormant.get(slot)
    // the last sampled coin fills the hole; the sample shrinks by one
    const last = n - 1
    if (slot !== last) this.dormant.put(slot, this.dormant.txids.subarray(last * 32, last * 32 + 32), this.dormant.vouts[last], this.dormant.values[last], this.dormant.kinds[last] as Kind, this.dormant.ranks[last], this.dormant.born[last])
    this.dormantSeen = last
    return coin
  }

  /** Reservoir sampling: every dormant coin has the same chance to be in the sample. */
  private keepDormant(txid: Uint8Array, vout: number, value: number, kind: Kind, rank: number, born: number, prng: Prng): void {
    const seen = ++this.dormantSeen
    const cap = this.dormant.capacity
    const slot = seen <= cap ? seen - 1 : prng.int(seen)
    if (slot < cap) this.dormant.put(slot, txid, vout, value, kind, rank, born)
  }
}
