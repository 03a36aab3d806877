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
import {Block} from 'bitcoinjs-lib'

import {parseBlock, verifyBlock} from '../src/lib/chain/block-parser.js'
import {toDisplayHex} from '../src/lib/chain/hashes.js'
import {BlkWriter} from '../test/support/simnode/blk-writer.js'
import {type ChainShape, type ChainStats, DEFAULT_SHAPE, type GeneratedBlock, buildChain} from './gen/chain-builder.js'

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
  const writer = new BlkWriter({dir: blocksDir, xorKey})
  const started = performance.now()
  const verified: number[] = []
  let last: GeneratedBlock | undefined
  let lastReport = started
  let txs = 0
  let checkMs = 0
  const check = (block: GeneratedBlock) => {
    const t = performance.now()
    checkBlock(block)
    verified.push(block.height)
    checkMs += performance.now() - t
  }
  const stats = buildChain(shape, (block) => {
    writer.append(toDisplayHex(block.hash), block.raw)
    txs += block.txs
    // the first blocks of each kind, then one in 50, then the tip, checked as they come (keeping them would hold GBs at 30M)
    if (block.height <= 2 || block.height === 101 || block.height % 50 === 0) check(block)
    last = block
    const now = performance.now()
    if (onProgress && now - lastReport > 10_000) {
      lastReport = now
      onProgress(`chain: height ${block.height}, ${txs} txs, ${Math.round((txs * 1000) / (now - started))} tx/s`)
    }
  })
  writer.close()
  if (last && verified[verified.length - 1] !== last.height) check(last)
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
    `chain: ${stats.txs} txs in ${stats.blocks} blocks (${(stats.bytes / 1e6).toFixed(0)} MB) generated in ${(generatedMs / 1000).toFixed(1)} s (${Math.round((stats.txs * 1000) / generatedMs)} tx/s, checks ${(checkMs / 1000).toFixed(1)} s) into ${datadir}; ${(stats.unspentShare * 100).toFixed(1)} % of outputs unspent at the tip`,
  )
  return manifest
}

/**
 * Both parsers must agree the block is well formed: bix's (hash, merkle
 * root, coinbase) and bitcoinjs-lib's (merkle root, witness commitment,
 * proof of work, every txid).
 */
function checkBlock(block: GeneratedBlock): void {
  const hashHex = toDisplayHex(block.hash)
  const parsed = parseBlock(block.raw)
  verifyBlock(parsed, hashHex)
  if (parsed.txs.length !== block.txs) throw new Error(`block ${block.height}: bix parsed ${parsed.txs.length} txs, ${block.txs} were written`)
  const theirs = Block.fromBuffer(block.raw)
  if (theirs.getId() !== hashHex) throw new Error(`block ${block.height}: bitcoinjs-lib hashes it to ${theirs.getId()}`)
  if (!theirs.checkTxRoots()) throw new Error(`block ${block.height}: bitcoinjs-lib rejects its merkle root or witness commitment`)
  if (!theirs.checkProofOfWork()) throw new Error(`block ${block.height}: bitcoinjs-lib rejects its proof of work`)
  theirs.transactions!.forEach((tx, i) => {
    if (tx.getId() !== toDisplayHex(parsed.txs[i].txid)) throw new Error(`block ${block.height} tx ${i}: txids differ between parsers`)
  })
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
