import {createCipheriv, createHash} from 'node:crypto'

/**
 * Seeded randomness for the chain generator: the same seed gives the same
 * chain byte for byte. Decisions come from a small 32-bit PRNG; bulk bytes
 * (keys, signatures, fresh address hashes) from an AES-256-CTR keystream,
 * which is deterministic and produces hundreds of MB/s without a JS loop.
 */

/** xoshiro128**: fast, 32-bit arithmetic only, good enough for choosing shapes. */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: string) {
    const s = createHash('sha256').update(`prng:${seed}`).digest()
    this.a = s.readUInt32LE(0) | 1
    this.b = s.readUInt32LE(4)
    this.c = s.readUInt32LE(8)
    this.d = s.readUInt32LE(12)
  }

  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return result
  }

  /** uniform in [0, 1) */
  float(): number {
    return this.u32() / 0x1_0000_0000
  }

  /** uniform integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }

  /** uniform integer in [min, max] */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  chance(p: number): boolean {
    return this.float() < p
  }

  /** standard normal (Box–Muller) */
  gaussian(): number {
    const u = 1 - this.float()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float())
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

const STREAM_CHUNK = 1 << 20

/** Deterministic random bytes, handed out as views into 1 MiB keystream chunks. */
export class ByteStream {
  private readonly cipher
  private readonly zeros = Buffer.alloc(STREAM_CHUNK)
  private chunk = Buffer.alloc(0)
  private pos = 0

  constructor(seed: string) {
    const key = createHash('sha256').update(`bytes:${seed}`).digest()
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  }

  /** n fresh bytes (n ≤ 1 MiB) as a view; chunks are never reused, so the view stays valid. */
  take(n: number): Buffer {
    if (this.pos + n > this.chunk.length) {
      this.chunk = this.cipher.update(this.zeros)
      this.pos = 0
    }
    const view = this.chunk.subarray(this.pos, this.pos + n)
    this.pos += n
    return view
  }
}

/**
 * Zipf–Mandelbrot ranks: P(k) ∝ 1/(k + q)^s for k in [0, n). With s = 1
 * and an offset q a little above zero, a handful of addresses (exchanges,
 * pools) take a steady share of all payments while most ranks are seen once
 * or twice, like address reuse on mainnet.
 */
export class Zipf {
  private readonly cdf: Float64Array

  constructor(
    readonly n: number,
    s: number,
    q: number,
  ) {
    this.cdf = new Float64Array(n)
    let sum = 0
    for (let k = 0; k < n; k++) {
      sum += 1 / Math.pow(k + 1 + q, s)
      this.cdf[k] = sum
    }
    for (let k = 0; k < n; k++) this.cdf[k] /= sum
  }

  /** probability of rank k */
  p(k: number): number {
    return k === 0 ? this.cdf[0] : this.cdf[k] - this.cdf[k - 1]
  }

  sample(prng: Prng): number {
    const u = prng.float()
    let lo = 0
    let hi = this.n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.cdf[mid] < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
