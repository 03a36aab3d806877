import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {runBix, spawnBix} from '../support/cli.js'
import {indexDigest} from '../support/index-digest.js'
import {type FaultTestNode, startFaultSimulator} from '../support/test-node.js'
import {
  assertCleanFailure,
  assertConsistentMempool,
  assertConsistentPrefix,
  blocksServed,
  fileBytesDigest,
  indexArgs,
  mempoolDigest,
  seeded,
  tempDir,
  waitUntil,
} from './support.js'

/**
 * Ctrl-C during every command, at a moment when each is waiting on the node:
 * exit 130, one line saying so, and nothing half-written (an index is a
 * correct prefix that the next run completes, a mempool snapshot is the old
 * one or marked incomplete, a query or status leaves the database as it was).
 *
 * Simulator: fault injection, whatever BITCOIND says: each command is caught
 * waiting on an answer the simulator holds back (slowed answers, warm-up),
 * which real Core cannot be made to do at a chosen moment.
 */

let node: FaultTestNode
let hashes: string[]
let cleanIndex: string
let cleanMempool: string
let indexed: string
let dir: string

before(async () => {
  node = await startFaultSimulator({matureBlocks: 150})
  const sim = node.sim
  for (let i = 0; i < 120; i++) sim.send({to: sim.newAddress(), value: 20_000 + i})
  hashes = sim.chain.active.map((e) => e.hash)
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-rel-'))
  indexed = path.join(dir, 'index.db')
  const r = await runBix(['sync-mempool', ...node.cliArgs(), '--db', indexed, '--index', '--quiet'])
  assert.equal(r.code, 0, r.stderr)
  cleanIndex = indexDigest(indexed)
  cleanMempool = mempoolDigest(indexed)
})
after(async () => {
  await node?.stop()
  fs.rmSync(dir, {recursive: true, force: true})
})

/** A copy of the indexed (and synced) database, to be interrupted on. */
function copyOfIndexed(t: {after: (fn: () => void) => void}): string {
  const db = path.join(tempDir(t), 'index.db')
  fs.copyFileSync(indexed, db)
  return db
}

const INTERRUPTED = /^error: interrupted by SIGINT/

/** The txids (as displayed) of the mempool snapshot a database holds. */
function snapshotTxids(file: string): Set<string> {
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    const rows = db.prepare<[], Buffer>('SELECT txid FROM mempool_txs').pluck().all()
    return new Set(rows.map((txid) => Buffer.from(txid).reverse().toString('hex')))
  } finally {
    db.close()
  }
}

describe('SIGINT during each command', () => {
  test('bix index: exit 130 naming the height; the index is a correct prefix and the next run completes it', async (t) => {
    const {int} = seeded(t, 'SIGINT index')
    const db = path.join(tempDir(t), 'index.db')
    const at = int(5, 140)
    node.sim.faults.slow(5)
    const base = blocksServed(node)
    const run = spawnBix(indexArgs(node, db, '--batch-blocks', String(int(1, 9)), '--source', int(0, 1) ? 'rpc' : 'rest', '--rpc-parallelism', '2'))
    await waitUntil(() => blocksServed(node) - base >= at)
    run.kill('SIGINT')
    const r = await run.done
    node.sim.faults.clear()
    const line = assertCleanFailure(r, 130, /^error: interrupted by SIGINT: the index (is at height \d+ \([0-9a-f]{64}\)|is empty); run bix index again to continue$/)
    const [, height, hash] = /height (\d+) \(([0-9a-f]{64})\)/.exec(line) ?? [undefined, '-1', undefined]
    assert.equal(assertConsistentPrefix(db, hashes, `SIGINT after ${at} blocks`), Number(height), 'the message names the height written')
    if (hash) assert.equal(hashes[Number(height)], hash)
    const resumed = await runBix(indexArgs(node, db, '--quiet'))
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.equal(indexDigest(db), cleanIndex)
  })

  test('bix sync-mempool: exit 130; the snapshot is the old one or marked incomplete, and the next sync makes it whole', async (t) => {
    const {int} = seeded(t, 'SIGINT sync-mempool')
    const sim = node.sim
    const db = copyOfIndexed(t)
    // new transactions for this run to fetch, and one gone from the node's mempool
    const sent = Array.from({length: int(300, 500)}, (_, i) => sim.send({to: sim.newAddress(), value: 30_000 + i}).txid)
    const before = mempoolDigest(db)
    sim.faults.slowAnswers('getmempoolentry', 300)
    const calls = sim.calls('getmempoolentry')
    const run = spawnBix(['sync-mempool', ...node.cliArgs(), '--db', db, '--rpc-parallelism', '1'])
    const wait = int(0, 1)
    await waitUntil(() => sim.calls('getmempoolentry') > calls + wait * 250)
    run.kill('SIGINT')
    const r = await run.done
    sim.faults.clear()
    assertCleanFailure(r, 130, INTERRUPTED)
    const complete = assertConsistentMempool(db, 'after SIGINT')
    if (complete) assert.equal(mempoolDigest(db), before, 'a snapshot that says it is complete is the previous one')
    const cut = snapshotTxids(db)
    assert.ok(sent.some((txid) => !cut.has(txid)), 'the interrupted sync did not get all the new transactions: SIGINT came mid-sync')
    const again = await runBix(['sync-mempool', ...node.cliArgs(), '--db', db, '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal((JSON.parse(again.stdout) as {total: number}).total, sim.chain.mempool.entries.size)
    // the reference: a fresh index synced now
    const reference = path.join(tempDir(t), 'index.db')
    assert.equal((await runBix(['sync-mempool', ...node.cliArgs(), '--db', reference, '--index', '--quiet'])).code, 0)
    assert.equal(mempoolDigest(db), mempoolDigest(reference), 'the repaired snapshot equals a clean sync\'s')
    assert.equal(indexDigest(db), indexDigest(reference))
    const repaired = snapshotTxids(db)
    assert.deepEqual(
      sent.filter((txid) => !repaired.has(txid)),
      [],
      'the next sync fetched every transaction the interrupted one had not',
    )
  })

  test('bix query address, waiting on the node for the freshness check: exit 130, the database untouched', async (t) => {
    const db = copyOfIndexed(t)
    const before = fileBytesDigest(db)
    const address = node.sim.newAddress()
    node.sim.faults.slowAnswers('getblockchaininfo', 5000)
    const calls = node.sim.calls('getblockchaininfo')
    const run = spawnBix(['query', 'address', ...node.cliArgs(), '--db', db, address])
    await waitUntil(() => node.sim.calls('getblockchaininfo') > calls)
    run.kill('SIGINT')
    const r = await run.done
    node.sim.faults.clear()
    assertCleanFailure(r, 130, INTERRUPTED)
    assert.equal(fileBytesDigest(db), before)
  })

  test('bix broadcast, waiting for the answer to sendrawtransaction: exit 130, and it says what it knows', async (t) => {
    const db = copyOfIndexed(t)
    const before = fileBytesDigest(db)
    const sim = node.sim
    const tx = sim.createTransaction({to: sim.newAddress(), value: 40_000})
    sim.faults.slowAnswers('sendrawtransaction', 5000)
    const calls = sim.calls('sendrawtransaction')
    const run = spawnBix(['broadcast', ...node.cliArgs(), '--db', db, tx.toHex()])
    await waitUntil(() => sim.calls('sendrawtransaction') > calls, 20_000)
    run.kill('SIGINT')
    const r = await run.done
    sim.faults.clear()
    assertCleanFailure(r, 130, new RegExp(`^error: interrupted by SIGINT while sending ${tx.getId()}, which the node may have taken; run the same broadcast again`))
    // and running it again finds out: the node had taken it
    const again = await runBix(['broadcast', ...node.cliArgs(), '--db', db, '--json', tx.toHex()])
    assert.equal(again.code, 0, again.stderr)
    assert.equal((JSON.parse(again.stdout) as Array<{status: string}>)[0].status, 'already-in-mempool')
  })

  test('bix wait-sync, waiting through warm-up: exit 130', async () => {
    node.sim.faults.warmup({message: 'Loading block index…'})
    const run = spawnBix(['wait-sync', ...node.cliArgs(), '--interval', '0.2'])
    await run.waitFor(/Loading block index/)
    run.kill('SIGINT')
    const r = await run.done
    node.sim.faults.clear()
    assertCleanFailure(r, 130, INTERRUPTED)
  })

  test('bix status, waiting on a slow node: exit 130, nothing printed as if it were the answer', async (t) => {
    const db = copyOfIndexed(t)
    const before = fileBytesDigest(db)
    node.sim.faults.slowAnswers('getblockchaininfo', 5000)
    node.sim.faults.slowAnswers('getnetworkinfo', 5000)
    const calls = node.sim.calls('getblockchaininfo') + node.sim.calls('getnetworkinfo')
    const run = spawnBix(['status', ...node.cliArgs(), '--db', db])
    await waitUntil(() => node.sim.calls('getblockchaininfo') + node.sim.calls('getnetworkinfo') > calls)
    run.kill('SIGINT')
    const r = await run.done
    node.sim.faults.clear()
    assertCleanFailure(r, 130, INTERRUPTED)
    assert.equal(fileBytesDigest(db), before)
  })

  test('bix index --wait-lock, waiting for another writer: exit 130, the other run unharmed', async (t) => {
    const db = path.join(tempDir(t), 'index.db')
    node.sim.faults.slow(10)
    const first = spawnBix(indexArgs(node, db, '--batch-blocks', '5', '--source', 'rpc', '--rpc-parallelism', '1'))
    const base = blocksServed(node)
    await waitUntil(() => blocksServed(node) - base >= 5)
    const waiting = spawnBix(indexArgs(node, db, '--wait-lock'))
    await waiting.waitFor(/waiting for the index run pid \d+ to finish/)
    waiting.kill('SIGINT')
    const w = await waiting.done
    assertCleanFailure(w, 130, INTERRUPTED)
    node.sim.faults.clear()
    const r = await first.done
    assert.equal(r.code, 0, r.stderr)
    assert.equal(indexDigest(db), cleanIndex)
  })
})
