import fs from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** Paths to and loaders for the real-data fixtures in test/fixtures (see its README). */
export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures')

export interface FixtureBlock {
  height: number
  /** display hex */
  hash: string
  hex: string
}

export interface RegtestChain {
  network: 'regtest'
  tip: string
  height: number
  genesis: string
  blocks: FixtureBlock[]
  stale: FixtureBlock[]
  mempool: {txid: string; hex: string}[]
  addresses: string[]
  miner: string
  bitcoind: string
}

let chain: RegtestChain | undefined

/** test/fixtures/regtest-core/chain.json, parsed once per process. */
export function regtestChain(): RegtestChain {
  chain ??= JSON.parse(fs.readFileSync(path.join(FIXTURES, 'regtest-core/chain.json'), 'utf8')) as RegtestChain
  return chain
}

export const REGTEST_BLOCKS_DIR = path.join(FIXTURES, 'regtest-core/blocks')

/** Mainnet block 413567 (999,887 bytes, 1,557 transactions). */
export const MAINNET_413567 = {
  hash: '0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069',
  bytes: (): Buffer => fs.readFileSync(path.join(FIXTURES, 'mainnet/block413567.raw')),
}

/** A small deterministic PRNG (mulberry32) so a failing fuzz case can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Random mutations of real bytes: flips, truncation, extension, insertion, deletion, 0xff-bombs. */
export function mutate(bytes: Buffer, random: () => number): Buffer {
  const pick = (n: number) => Math.floor(random() * n)
  const out = Buffer.from(bytes)
  switch (pick(6)) {
    case 0: {
      for (let flips = 1 + pick(8); flips > 0; flips--) out[pick(out.length)] ^= 1 << pick(8)
      return out
    }
    case 1:
      return out.subarray(0, pick(out.length))
    case 2:
      return Buffer.concat([out, Buffer.from(Array.from({length: 1 + pick(64)}, () => pick(256)))])
    case 3: {
      const at = pick(out.length)
      return Buffer.concat([out.subarray(0, at), Buffer.from([pick(256)]), out.subarray(at)])
    }
    case 4: {
      const at = pick(out.length)
      return Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + pick(4))])
    }
    default: {
      // a count or length byte turned into a huge CompactSize
      const at = pick(Math.max(1, out.length - 9))
      out[at] = 0xff
      out.fill(0xff, at + 1, at + 1 + pick(9))
      return out
    }
  }
}
