import {SHA256_WASM} from './sha256-wasm-binary.js'

/**
 * SHA-256 over many short messages in one call, in WebAssembly
 * (wasm/sha256.c). node:crypto costs ~1-2 µs a call whatever the length,
 * and a block's transactions need ~7 hashes each (txid, merkle nodes,
 * script keys); here the messages are copied into the module's memory and
 * hashed in one pass, several times faster for a whole block.
 *
 * One instance per thread, synchronous; results are fresh Buffers.
 */

// the few WebAssembly names used here (the project's TypeScript lib has no DOM types)
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => {exports: unknown}
}

interface Sha256Exports {
  memory: {buffer: ArrayBuffer; grow(pages: number): number}
  __heap_base: {value: number}
  hash_messages(jobs: number, count: number, parts: number, out: number, twice: number): void
  merkle_root(level: number, count: number): number
}

const PAGE = 65536

class Sha256Module {
  private readonly exports: Sha256Exports
  /** first byte free for our use: below it are the module's stack and constants */
  private readonly base: number
  private bytes: Uint8Array
  private words: Uint32Array

  constructor() {
    const module = new WebAssembly.Module(Buffer.from(SHA256_WASM, 'base64'))
    this.exports = new WebAssembly.Instance(module, {}).exports as unknown as Sha256Exports
    this.base = align(this.exports.__heap_base.value)
    this.bytes = new Uint8Array(this.exports.memory.buffer)
    this.words = new Uint32Array(this.exports.memory.buffer)
  }

  /** Memory for `size` bytes from base; returns base. Views are renewed when memory grows. */
  reserve(size: number): number {
    const needed = this.base + size
    const have = this.exports.memory.buffer.byteLength
    if (needed > have) {
      this.exports.memory.grow(Math.ceil((needed - have) / PAGE))
      this.bytes = new Uint8Array(this.exports.memory.buffer)
      this.words = new Uint32Array(this.exports.memory.buffer)
    }
    return this.base
  }

  /**
   * `count` messages, each the concatenation of `parts` ranges of `data`
   * given as (offset, length) pairs in `ranges`; 32 bytes per message.
   */
  hashRanges(data: Uint8Array, ranges: Uint32Array, parts: number, count: number, twice: boolean): Buffer {
    const pairs = count * parts
    const dataAt = this.reserve(align(data.length) + pairs * 8 + count * 32)
    const jobsAt = dataAt + align(data.length)
    const outAt = jobsAt + pairs * 8
    this.bytes.set(data, dataAt)
    const words = this.words
    for (let i = 0, w = jobsAt >>> 2; i < pairs; i++, w += 2) {
      words[w] = dataAt + ranges[2 * i]
      words[w + 1] = ranges[2 * i + 1]
    }
    this.exports.hash_messages(jobsAt, count, parts, outAt, twice ? 1 : 0)
    return Buffer.from(this.bytes.subarray(outAt, outAt + count * 32))
  }

  /** sha256 of each message, 32 bytes each, in order. */
  hashEach(messages: readonly Uint8Array[]): Buffer {
    const count = messages.length
    let total = 0
    for (const m of messages) total += m.length
    const dataAt = this.reserve(align(total) + count * 8 + count * 32)
    const jobsAt = dataAt + align(total)
    const outAt = jobsAt + count * 8
    const bytes = this.bytes
    const words = this.words
    let at = dataAt
    for (let i = 0, w = jobsAt >>> 2; i < count; i++, w += 2) {
      const m = messages[i]
      bytes.set(m, at)
      words[w] = at
      words[w + 1] = m.length
      at += m.length
    }
    this.exports.hash_messages(jobsAt, count, 1, outAt, 0)
    return Buffer.from(bytes.subarray(outAt, outAt + count * 32))
  }

  /** Bitcoin Core's merkle root of 32-byte hashes, and whether a level had two equal neighbours. */
  merkleRoot(hashes: readonly Uint8Array[]): {root: Buffer; mutated: boolean} {
    const count = hashes.length
    const levelAt = this.reserve((count + 1) * 32)
    for (let i = 0; i < count; i++) this.bytes.set(hashes[i], levelAt + 32 * i)
    const mutated = this.exports.merkle_root(levelAt, count) === 1
    return {root: Buffer.from(this.bytes.subarray(levelAt, levelAt + 32)), mutated}
  }
}

function align(n: number): number {
  return (n + 7) & ~7
}

let instance: Sha256Module | undefined

/** The thread's module, compiled on first use (~1 ms). */
export function sha256Batch(): Sha256Module {
  instance ??= new Sha256Module()
  return instance
}
