import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'
import Database from 'better-sqlite3'
import {Transaction} from 'bitcoinjs-lib'

import {acquireWriterLock} from '../../src/lib/store/sqlite/lock.js'
import {type BixResult, runBix, spawnBix} from '../support/cli.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startFaultSimulator, startTestNode} from '../support/test-node.js'

/**
 * `bix sync-mempool` run as a user runs it, against the simulator (or
 * bitcoind with BITCOIND set). After every sync the database's snapshot is
 * compared, row by row, with what the node itself says: getrawmempool for
 * the txids, getmempoolentry for time, vsize and fee, getrawtransaction of
 * each transaction and of each parent for the outputs and what each input
 * spends.
 */

const fixture = readFixtureChain()

interface SyncResult {
  network: string
  database: string
  added: number
  removed: number
  vanished: number
  total: number
  tip: {height: number; hash: string}
  synced_at: number
  indexed_blocks: number
  attempts: number
  elapsed_ms: number
}

/** The snapshot as rows of text, sorted: what the database holds, or what the node says it should. */
interface Snapshot {
  txs: string[]
  outputs: string[]
  spends: string[]
}

function tempDb(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-mempool-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'index.db')
}

const syncArgs = (node: TestNode, db: string, ...more: string[]) => ['sync-mempool', ...node.cliArgs(), '--db', db, ...more]

async function index(node: TestNode, db: string): Promise<void> {
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet'])
  assert.equal(r.code, 0, r.stderr)
}

async function syncJson(node: TestNode, db: string, ...more: string[]): Promise<SyncResult> {
  const r = await runBix(syncArgs(node, db, '--json', ...more))
  assert.equal(r.code, 0, r.stdout + r.stderr)
  return JSON.parse(r.stdout) as SyncResult
}

const displayHex = (internal: Buffer) => Buffer.from(internal).reverse().toString('hex')
const scriptKey = (script: Uint8Array) => createHash('sha256').update(script).digest().subarray(0, 8).toString('hex')

function storedSnapshot(db: string): Snapshot & {meta: {syncedAt?: string; tip?: string}} {
  const sqlite = new Database(db, {readonly: true})
  try {
    const txs = sqlite
      .prepare<[], {txid: Buffer; first_seen: number; vsize: number; fee: number}>('SELECT * FROM mempool_txs')
      .all()
      .map((r) => `${displayHex(r.txid)} seen ${r.first_seen} vsize ${r.vsize} fee ${r.fee}`)
    const outputs = sqlite
      .prepare<[], {txid: Buffer; vout: number; script_key: Buffer; value: number}>('SELECT * FROM mempool_outputs')
      .all()
      .map((r) => `${displayHex(r.txid)}:${r.vout} ${r.script_key.toString('hex')} ${r.value}`)
    const spends = sqlite
      .prepare<[], {txid: Buffer; vin: number; prev_txid: Buffer; prev_vout: number; script_key: Buffer; value: number}>('SELECT * FROM mempool_spends')
      .all()
      .map((r) => `${displayHex(r.txid)}/${r.vin} ${displayHex(r.prev_txid)}:${r.prev_vout} ${r.script_key.toString('hex')} ${r.value}`)
    const meta = (key: string) => sqlite.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(key)
    return {txs: txs.sort(), outputs: outputs.sort(), spends: spends.sort(), meta: {syncedAt: meta('mempool_synced_at'), tip: meta('mempool_tip')}}
  } finally {
    sqlite.close()
  }
}

/** What the node says its mempool is, in the same rows. */
async function nodeSnapshot(node: TestNode): Promise<Snapshot> {
  const txids = await node.rpc<string[]>('getrawmempool')
  const snapshot: Snapshot = {txs: [], outputs: [], spends: []}
  const decoded = new Map<string, Transaction>()
  const tx = async (txid: string) => {
    if (!decoded.has(txid)) decoded.set(txid, Transaction.fromHex(await node.rpc<string>('getrawtransaction', [txid])))
    return decoded.get(txid)!
  }
  for (const txid of txids) {
    const entry = await node.rpc<{time: number; vsize?: number; vsize_adjusted?: number; fees: {base: number}}>('getmempoolentry', [txid])
    // Core's master deprecates `vsize` for the same number as `vsize_adjusted`
    snapshot.txs.push(`${txid} seen ${entry.time} vsize ${entry.vsize ?? entry.vsize_adjusted} fee ${Math.round(entry.fees.base * 1e8)}`)
    const t = await tx(txid)
    t.outs.forEach((out, vout) => snapshot.outputs.push(`${txid}:${vout} ${scriptKey(out.script)} ${out.value}`))
    for (const [vin, input] of t.ins.entries()) {
      const prevTxid = displayHex(Buffer.from(input.hash))
      const prev = (await tx(prevTxid)).outs[input.index]
      snapshot.spends.push(`${txid}/${vin} ${prevTxid}:${input.index} ${scriptKey(prev.script)} ${prev.value}`)
    }
  }
  return {txs: snapshot.txs.sort(), outputs: snapshot.outputs.sort(), spends: snapshot.spends.sort()}
}

/** The database holds exactly the node's mempool, as a completed sync on the node's tip. */
async function assertMatchesNode(node: TestNode, db: string): Promise<void> {
  const {meta, ...stored} = storedSnapshot(db)
  assert.deepEqual(stored, await nodeSnapshot(node))
  assert.equal(meta.tip, await node.tipHash())
  assert.ok(meta.syncedAt !== undefined && Math.abs(Number(meta.syncedAt) - Date.now() / 1000) < 120, `synced at ${meta.syncedAt}`)
}

async function waitUntil(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const errorOf = (r: BixResult) => (JSON.parse(r.stdout) as {error: {kind: string; message: string; exit_code: number}}).error

describe('bix sync-mempool', () => {
  test('the recorded mempool of six transactions is reproduced exactly: txids, times, sizes, fees, outputs and what each input spends', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const r = await syncJson(node, db)
    assert.deepEqual(
      {added: r.added, removed: r.removed, vanished: r.vanished, total: r.total, tip: r.tip, attempts: r.attempts},
      {added: 6, removed: 0, vanished: 0, total: 6, tip: {height: fixture.height, hash: fixture.tip}, attempts: 1},
    )
    await assertMatchesNode(node, db)
    assert.deepEqual(storedSnapshot(db).txs.map((row) => row.slice(0, 64)), fixture.mempool.map((m) => m.txid).sort())
  })

  test('additions, a replacement and a confirmation each end with the node\'s mempool; a new block is refused (exit 6) until indexed, or --index', async (t) => {
    const node = await startTestNode({matureBlocks: 101})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const empty = await syncJson(node, db)
    assert.equal(empty.total, 0)

    const address = await node.newAddress()
    const sent = [await node.send(address, 100_000), await node.send(await node.newAddress('bech32m'), 250_000), await node.send(address, 70_000)]
    const added = await syncJson(node, db)
    assert.deepEqual([added.added, added.removed, added.total], [3, 0, 3])
    await assertMatchesNode(node, db)
    // one mature coinbase: the wallet paid the later ones from the first one's unconfirmed change, resolved from the snapshot
    const spendsOfMempool = storedSnapshot(db).spends.filter((row) => sent.includes(row.split(' ')[1].slice(0, 64)))
    assert.ok(spendsOfMempool.length >= 2, `chained spends: ${spendsOfMempool.join(', ')}`)

    // the last one: the wallet may have chained the others on each other's change, and bumpfee refuses a parent
    const bumped = await node.bumpFee(sent[2])
    const replaced = await syncJson(node, db)
    assert.deepEqual([replaced.added, replaced.removed, replaced.total], [1, 1, 3])
    await assertMatchesNode(node, db)
    assert.ok(storedSnapshot(db).txs.some((row) => row.startsWith(bumped)))

    await node.mine(1)
    const refused = await runBix(syncArgs(node, db, '--json'))
    assert.equal(refused.code, 6, refused.stdout + refused.stderr)
    const error = errorOf(refused)
    assert.equal(error.kind, 'IndexBehind')
    assert.match(error.message, new RegExp(`the index is at height 101 \\(\\w{64}\\), not at the node's tip, height 102 \\(${await node.tipHash()}\\); run bix index first, or bix sync-mempool --index`))
    assert.equal(storedSnapshot(db).txs.length, 3, 'a refused sync leaves the snapshot as it was')

    const extra = await node.send(address, 30_000)
    const confirmed = await syncJson(node, db, '--index')
    assert.deepEqual([confirmed.indexed_blocks, confirmed.added, confirmed.removed, confirmed.total], [1, 1, 3, 1])
    assert.equal(confirmed.tip.height, 102)
    await assertMatchesNode(node, db)
    assert.ok(storedSnapshot(db).txs[0].startsWith(extra))
  })

  test('a second run fetches only the difference, and a run with nothing to do is quick and, with --quiet, silent (simulator: evicts on demand, counts calls)', async (t) => {
    // the simulator whatever BITCOIND says: it evicts a transaction on demand and counts every call bix makes
    const node = await startFaultSimulator({matureBlocks: 101})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const sent: string[] = []
    for (let i = 0; i < 12; i++) sent.push(await node.send(await node.newAddress(), 50_000 + i))
    const first = await syncJson(node, db)
    assert.equal(first.added, 12)

    // the last one, which nothing spends yet (the wallet chains sends on their change)
    assert.deepEqual(node.sim.dropFromMempool(sent[11]), [sent[11]])
    await node.send(await node.newAddress(), 41_000)
    await node.send(await node.newAddress(), 42_000)
    const raw = node.sim.calls('getrawtransaction')
    const entries = node.sim.calls('getmempoolentry')
    const second = await syncJson(node, db)
    assert.deepEqual([second.added, second.removed, second.total], [2, 1, 13])
    assert.equal(node.sim.calls('getrawtransaction') - raw, 2, 'only the two new transactions were fetched')
    assert.equal(node.sim.calls('getmempoolentry') - entries, 2)
    await assertMatchesNode(node, db)

    const before = new Map(node.sim.faults.counts)
    const quiet = await runBix(syncArgs(node, db, '--quiet'))
    assert.equal(quiet.code, 0, quiet.stderr)
    assert.equal(quiet.stdout + quiet.stderr, '', '--quiet prints nothing when nothing changed')
    const calls = [...node.sim.faults.counts].filter(([method, n]) => n !== (before.get(method) ?? 0)).map(([method, n]) => `${method}:${n - (before.get(method) ?? 0)}`)
    assert.deepEqual(calls.sort(), ['getbestblockhash:1', 'getblockchaininfo:2', 'getmempoolinfo:1', 'getnetworkinfo:1', 'getrawmempool:1'])
    const plain = await runBix(syncArgs(node, db))
    assert.match(plain.stdout, /^mempool unchanged: 13 transactions at height 101 \(\w{64}\) in \d+ ms\n$/)
    await node.send(await node.newAddress(), 43_000)
    const changed = await runBix(syncArgs(node, db, '--quiet'))
    assert.match(changed.stdout, /^mempool \+1 -0: 14 transactions at height 101 /)
    assert.equal(changed.stderr, '')
  })

  test('a block found during the sync: the sync does not complete (exit 6, the old snapshot kept); with --index it indexes the block and goes again', async (t) => {
    // simulator: fault injection (answers slowed, and a block mined at the moment bix fetches)
    const node = await startFaultSimulator({matureBlocks: 101})
    t.after(() => node.stop())
    const sim = node.sim
    const db = tempDb(t)
    await index(node, db)
    await node.send(await node.newAddress(), 60_000)
    await syncJson(node, db)
    const kept = storedSnapshot(db)
    for (let i = 0; i < 4; i++) await node.send(await node.newAddress(), 61_000 + i)

    // the block arrives after the listing, while the new transactions are being fetched
    const mineDuringFetch = async () => {
      const fetches = sim.calls('getmempoolentry')
      await waitUntil(() => sim.calls('getmempoolentry') > fetches)
      sim.mine(1)
    }
    sim.faults.slow(150)
    const [refused] = await Promise.all([runBix(syncArgs(node, db, '--json')), mineDuringFetch()])
    assert.equal(refused.code, 6, refused.stdout + refused.stderr)
    assert.match(errorOf(refused).message, /^the node's tip moved from height 101 \(\w{64}\) to \w{64} during the mempool sync, which was not completed; run bix index first/)
    assert.deepEqual(storedSnapshot(db), kept, 'the previous snapshot and its meta are untouched')

    await index(node, db)
    for (let i = 0; i < 4; i++) await node.send(await node.newAddress(), 62_000 + i)
    const [again] = await Promise.all([runBix(syncArgs(node, db, '--json', '--index')), mineDuringFetch()])
    sim.faults.slow(0)
    assert.equal(again.code, 0, again.stdout + again.stderr)
    const r = JSON.parse(again.stdout) as SyncResult
    assert.deepEqual([r.attempts, r.indexed_blocks, r.tip.height, r.total], [2, 1, 103, 0])
    await assertMatchesNode(node, db)
  })

  test('a transaction gone between listing and fetching (-5) is left out with its child, and the sync completes', async (t) => {
    // two mature coinbases: `other` does not spend the parent's change
    // simulator: fault injection (a transaction evicted at the moment bix fetches)
    const node = await startFaultSimulator({matureBlocks: 102})
    t.after(() => node.stop())
    const sim = node.sim
    const db = tempDb(t)
    await index(node, db)
    const parent = sim.send({to: sim.newAddress(), value: 500_000})
    const child = sim.send({to: sim.newAddress(), value: 100_000, from: [{txid: parent.txid, vout: 0}]})
    const other = sim.send({to: sim.newAddress(), value: 90_000})
    assert.deepEqual(sim.chain.mempool.parents(child.txid), [parent.txid])

    sim.faults.slow(150)
    const fetching = sim.calls('getmempoolentry')
    const run = runBix(syncArgs(node, db, '--json', '--rpc-parallelism', '1'))
    await waitUntil(() => sim.calls('getmempoolentry') > fetching)
    assert.deepEqual(sim.dropFromMempool(parent.txid).sort(), [parent.txid, child.txid].sort())
    const r = await run
    sim.faults.slow(0)
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as SyncResult
    assert.deepEqual([result.added, result.vanished, result.total], [1, 2, 1])
    await assertMatchesNode(node, db)
    assert.ok(storedSnapshot(db).txs[0].startsWith(other.txid))
  })

  test('waits for the node to finish loading its mempool before trusting it', async (t) => {
    // simulator: fault injection (a mempool.dat still loading)
    const node = await startFaultSimulator({matureBlocks: 101})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    await node.send(await node.newAddress(), 80_000)
    node.sim.chain.mempool.loaded = false
    const run = spawnBix(syncArgs(node, db))
    await run.waitFor(/waiting for the node to finish loading its mempool/)
    assert.equal(node.sim.calls('getrawmempool'), 0)
    node.sim.chain.mempool.loaded = true
    const r = await run.done
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^mempool \+1 -0: 1 transaction at height 101/)
    await assertMatchesNode(node, db)
  })

  test('while another writer holds the index it exits 5; without an index it exits 7 and says to run bix index', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    const missing = await runBix(syncArgs(node, db))
    assert.equal(missing.code, 7)
    assert.match(missing.stderr, /^error: no index at .*index\.db; run bix index first, or bix sync-mempool --index\n$/)
    assert.equal(fs.existsSync(db), false, 'no database is created by a refused sync')

    await index(node, db)
    const lock = await acquireWriterLock(db, {command: 'index', wait: false})
    try {
      const busy = await runBix(syncArgs(node, db))
      assert.equal(busy.code, 5, busy.stderr)
      assert.match(busy.stderr, new RegExp(`pid ${process.pid}\\b`))
    } finally {
      lock.release()
    }
    await syncJson(node, db)
    await assertMatchesNode(node, db)
  })

  test('after a first bix index run killed at its end (every block in, txid_keys not built), it exits 6 saying so; --index finishes the run and syncs', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    const run = spawnBix(['index', ...node.cliArgs(), '--db', db, '--quiet'], {env: {BIX_TEST_PAUSE_IN: 'bulk-spends'}})
    await run.waitFor(/bix test pause: bulk-spends 1/, 'stderr', 60_000)
    run.kill('SIGKILL')
    await run.done
    const tip = await node.tipHash()

    const refused = await runBix(syncArgs(node, db))
    assert.equal(refused.code, 6, refused.stdout + refused.stderr)
    assert.equal(
      refused.stderr,
      `error: the index's first bix index run, at height ${fixture.height} (${tip}), has not finished; run bix index first, or bix sync-mempool --index\n`,
    )
    const synced = await syncJson(node, db, '--index')
    assert.equal(synced.indexed_blocks, 0, 'every block was in: the run only had its end to do')
    await assertMatchesNode(node, db)
  })
})
