/**
 * Writes a deterministic, mainnet-shaped regtest chain as Bitcoin Core
 * stores it — <datadir>/regtest/blocks/blk?????.dat (XOR-obfuscated, 128 MiB
 * files) and xor.dat — plus chain.json describing it. A chain already
 * generated with the same parameters is reused.
 *
 *   node --import tsx bench/generate-chain.ts [--txs N] [--catch-up-blocks N] [--out DIR] [--seed S] [--force]
 */
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {toDisplayHex} from '../src/lib/chain/hashes.js'
import {BlkSink} from './gen/blk-sink.js'
import {type ChainShape, type ChainStats, DEFAULT_SHAPE, buildChain} from './gen/chain-builder.js'

/** Bump when the generator's output changes for the same parameters, so caches are rebuilt. */
const GENERATOR_VERSION = 3
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const CACHE_DIR = path.join(REPO_ROOT, '.tmp', 'bench-cache')
export const DEFAULT_TXS = 1_000_000

export interface ChainManifest {
  generatorVersion: number
  shape: ChainShape
  /** the bitcoind datadir: blocks are in <datadir>/regtest/blocks */
  datadir: string
  blocksDir: string
  stats: ChainStats
  generatedMs: number
  /** blocks checked with bix's parser and bitcoinjs-lib after writing */
  verifiedBlocks: number[]
}

export interface EnsureChainOptions {
  txs: number
  seed?: string
  /** blocks of mainnet size after the chain's `txs` (ChainShape.catchUpBlocks) */
  catchUpBlocks?: number
  /** datadir to write; default a cache directory named after the parameters */
  out?: string
  /** regenerate even if a matching chain exists */
  force?: boolean
  onProgress?: (line: string) => void
}

/** The generated chain for these parameters, from the cache when it is there. */
export function ensureChain(o: EnsureChainOptions): ChainManifest {
  const shape: ChainShape = {...DEFAULT_SHAPE, txs: o.txs, ...(o.seed ? {seed: o.seed} : {}), ...(o.catchUpBlocks ? {catchUpBlocks: o.catchUpBlocks} : {})}
  const key = createHash('sha256').update(JSON.stringify({GENERATOR_VERSION, shape})).digest('hex').slice(0, 12)
  const datadir = path.resolve(o.out ?? path.join(CACHE_DIR, `chain-${key}`))
  const manifestPath = path.join(datadir, 'chain.json')
  if (!o.force && existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ChainManifest
    if (manifest.generatorVersion === GENERATOR_VERSION && JSON.stringify(manifest.shape) === JSON.stringify(shape)) {
      o.onProgress?.(`chain: reusing ${datadir} (${manifest.stats.txs} txs, ${manifest.stats.blocks} blocks)`)
      return manifest
    }
  }
  return generate(shape, datadir, o.onProgress)
}

function generate(shape: ChainShape, datadir: string, onProgress?: (line: string) => void): ChainManifest {
  const blocksDir = path.join(datadir, 'regtest', 'blocks')
  rmSync(path.join(datadir, 'regtest'), {recursive: true, force: true})
  rmSync(path.join(datadir, 'chain.json'), {force: true})
  mkdirSync(blocksDir, {recursive: true})
  const xorKey = createHash('sha256').update(`xor:${shape.seed}`).digest().subarray(0, 8)
  const sink = new BlkSink({blocksDir, xorKey})
  const started = performance.now()
  let lastReport = started
  let txs = 0
  const stats = buildChain(shape, (block) => {
    txs += block.txs
    // the first blocks of each kind, then one in 50, then the tip (the sink checks the last block it gets)
    const check = block.height <= 2 || block.height === 101 || block.height % 50 === 0
    sink.append({height: block.height, hashHex: toDisplayHex(block.hash), hash: block.hash, raw: block.raw, txs: block.txs, check})
    const now = performance.now()
    if (onProgress && now - lastReport > 10_000) {
      lastReport = now
      onProgress(`chain: height ${block.height}, ${txs} txs, ${Math.round((txs * 1000) / (now - started))} tx/s`)
    }
  })
  const {verified, checkMs} = sink.close()
  const generatedMs = Math.round(performance.now() - started)
  const manifest: ChainManifest = {
    generatorVersion: GENERATOR_VERSION,
    shape,
    datadir,
    blocksDir,
    stats,
    generatedMs,
    verifiedBlocks: verified,
  }
  // written last: its presence marks a complete chain
  writeFileSync(path.join(datadir, 'chain.json'), JSON.stringify(manifest, null, 2) + '\n')
  onProgress?.(
    `chain: ${stats.txs} txs in ${stats.blocks} blocks (${(stats.bytes / 1e6).toFixed(0)} MB) generated in ${(generatedMs / 1000).toFixed(1)} s (${Math.round((stats.txs * 1000) / generatedMs)} tx/s, checks ${(checkMs / 1000).toFixed(1)} s on the writer thread) into ${datadir}; ${(stats.unspentShare * 100).toFixed(1)} % of outputs unspent at the tip`,
  )
  return manifest
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      txs: {type: 'string', default: String(DEFAULT_TXS)},
      out: {type: 'string'},
      seed: {type: 'string'},
      force: {type: 'boolean', default: false},
      'catch-up-blocks': {type: 'string', default: '0'},
    },
  })
  const txs = Number(values.txs)
  if (!Number.isInteger(txs) || txs < 1) throw new Error(`--txs must be a positive integer, not ${values.txs}`)
  const manifest = ensureChain({txs, out: values.out, seed: values.seed, catchUpBlocks: Number(values['catch-up-blocks']), force: values.force, onProgress: (line) => console.error(line)})
  const {txsByHeight, ...stats} = manifest.stats
  console.log(JSON.stringify({datadir: manifest.datadir, generatedMs: manifest.generatedMs, ...stats, blocksListed: txsByHeight.length}, null, 2))
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}
