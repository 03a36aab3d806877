/**
 * The heavy-address check of the index issue: the balance of an address with
 * 100,000 history entries, whole process included, must come back in well
 * under a second. No chain generator makes one address that busy in a
 * reasonable time, so the index is written directly through bix's own
 * writer: the regtest genesis block, then blocks of synthetic transactions
 * each paying the address once, half of them also spending an earlier
 * payment (valid continuity, random txids; the writer checks nothing else).
 *
 *   node --import tsx bench/heavy-address.ts [--entries 100000]
 */
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {parseBlock} from '../src/lib/chain/block-parser.js'
import {sha256d} from '../src/lib/chain/hashes.js'
import {type IndexedBlock, type IndexedOutput, type IndexedSpend, buildIndexedBlock, scriptKeyOf, toIndexedBlock} from '../src/lib/chain/indexed-block.js'
import {openIndex} from '../src/lib/store/sqlite/database.js'
import {IndexWriter} from '../src/lib/store/sqlite/writer.js'
import {readFixtureChain} from '../test/support/simnode/fixture-chain.js'

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const TXS_PER_BLOCK = 500
const RUNS = 5
/** a P2WPKH script (regtest address bcrt1q…): the heavy address */
const SCRIPT = Buffer.from('0014' + '11'.repeat(20), 'hex')

export interface HeavyAddressResult {
  entries: number
  /** history entries (transactions) of the address */
  txCount: number
  /** median wall clock of a new `bix query address` process, ms */
  balanceMs: number
  /** the same with --history --utxos --limit 25 */
  pageMs: number
  buildMs: number
}

export function heavyAddressBench(entries: number): HeavyAddressResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-heavy-'))
  try {
    const db = path.join(dir, 'index.db')
    const started = Date.now()
    buildIndex(db, entries)
    const buildMs = Date.now() - started
    const base = ['query', 'address', '--network', 'regtest', '--db', db, '--script', SCRIPT.toString('hex'), '--offline', '--json']
    const balance = timeRuns(base)
    const page = timeRuns([...base, '--history', '--utxos', '--limit', '25'])
    return {entries, txCount: balance.txCount, balanceMs: balance.ms, pageMs: page.ms, buildMs}
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

export function buildIndex(file: string, entries: number): void {
  const db = openIndex(file, {network: 'regtest', mode: 'write'})
  try {
    const writer = new IndexWriter(db)
    writer.startBulkLoad()
    const genesis = toIndexedBlock(parseBlock(Buffer.from(readFixtureChain().blocks[0].hex, 'hex')), 0)
    writer.applyBlocks([genesis])
    const key = scriptKeyOf(SCRIPT)
    let prevHash = genesis.hash
    let height = 1
    /** payments not yet spent: txid of each (vout 0) */
    const unspent: Buffer[] = []
    let made = 0
    let batch: IndexedBlock[] = []
    while (made < entries) {
      const n = Math.min(TXS_PER_BLOCK, entries - made)
      const header = Buffer.alloc(80)
      header.writeUInt32LE(0x20000000, 0)
      prevHash.copy(header, 4)
      randomBytes(32).copy(header, 36)
      header.writeUInt32LE(1_700_000_000 + height * 600, 68)
      const hash = sha256d(header)
      const rows = {height, hash, header, txids: [] as Buffer[], outputs: [] as IndexedOutput[], spends: [] as IndexedSpend[]}
      for (let i = 0; i < n; i++) {
        const txid = randomBytes(32)
        rows.txids.push(txid)
        rows.outputs.push({txIndex: i, vout: 0, scriptKey: key, value: 10_000 + i})
        // every other payment spends one made in an earlier block (not a coinbase: index 0 spends nothing)
        if (i > 0 && i % 2 === 0 && unspent.length > 0) rows.spends.push({txIndex: i, vin: 0, prevTxid: unspent.shift()!, prevVout: 0})
      }
      unspent.push(...rows.txids.slice(1))
      batch.push(buildIndexedBlock(rows))
      if (batch.length === 20) {
        writer.applyBlocks(batch)
        batch = []
      }
      made += n
      prevHash = hash
      height++
    }
    writer.applyBlocks(batch)
    writer.finishBulkLoad()
  } finally {
    db.close()
  }
}

function timeRuns(args: string[]): {ms: number; txCount: number} {
  const times: number[] = []
  let txCount = 0
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint()
    const run = spawnSync(process.execPath, [path.join(REPO, 'bin', 'run.js'), ...args], {encoding: 'utf8', env: {...process.env, NO_COLOR: '1'}})
    times.push(Number(process.hrtime.bigint() - started) / 1e6)
    if (run.status !== 0) throw new Error(`bix query address failed (${run.status}): ${run.stderr}`)
    txCount = (JSON.parse(run.stdout) as Array<{chain_stats: {tx_count: number}}>)[0].chain_stats.tx_count
  }
  times.sort((a, b) => a - b)
  return {ms: times[Math.floor(times.length / 2)], txCount}
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const {values} = parseArgs({options: {entries: {type: 'string', default: '100000'}}})
  const result = heavyAddressBench(Number(values.entries))
  console.log(
    `heavy address: ${result.txCount.toLocaleString('en-US')} history entries; balance ${result.balanceMs.toFixed(0)} ms, ` +
      `first page of history and UTXOs ${result.pageMs.toFixed(0)} ms (median of ${RUNS} new processes; index built in ${(result.buildMs / 1000).toFixed(1)} s)`,
  )
}
