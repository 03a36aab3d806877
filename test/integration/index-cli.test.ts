import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {runBix, spawnBix} from '../support/cli.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startFaultSimulator, startTestNode} from '../support/test-node.js'

/**
 * `bix index` run as a user runs it, against the simulator (or bitcoind with
 * BITCOIND set): sources, --to-height, --json, the writer lock, Ctrl-C, bad
 * blocks from the node. Tests that catch a run midway slow the node down, and
 * those that send a wrong block damage its answers: they ask for the fault
 * simulator whatever BITCOIND says (each says so in its name).
 */

const fixture = readFixtureChain()

function tempDb(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-index-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'index.db')
}

const indexArgs = (node: TestNode, db: string, ...more: string[]) => ['index', ...node.cliArgs(), '--db', db, ...more]

interface Summary {
  network: string
  database: string
  database_bytes: number
  source: string
  source_reason: string
  start_height: number
  height: number
  hash: string | null
  node_height: number
  blocks: number
  transactions: number
  reorgs: Array<{fork_height: number; undone: number}>
  elapsed_ms: number
}

describe('bix index', () => {
  test('--json prints the summary: blocks, transactions, tip, source and database size', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    const r = await runBix(indexArgs(node, db, '--json', '--source', 'rpc'))
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as Summary
    assert.equal(s.network, 'regtest')
    assert.equal(s.database, db)
    assert.equal(s.source, 'rpc')
    assert.equal(s.start_height, -1)
    assert.equal(s.height, fixture.height)
    assert.equal(s.hash, fixture.tip)
    assert.equal(s.node_height, fixture.height)
    assert.equal(s.blocks, fixture.height + 1)
    assert.equal(s.transactions, 283)
    assert.deepEqual(s.reorgs, [])
    assert.ok(s.database_bytes > 0 && s.database_bytes === fs.statSync(db).size + (fs.statSync(`${db}-wal`, {throwIfNoEntry: false})?.size ?? 0))
    assert.equal(r.stderr, '', '--json prints no progress')
  })

  test('--to-height stops there; the next run goes on to the tip and says what it did', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    const first = await runBix(indexArgs(node, db, '--to-height', '100', '--json'))
    assert.equal(first.code, 0, first.stderr)
    assert.equal((JSON.parse(first.stdout) as Summary).height, 100)
    const second = await runBix(indexArgs(node, db))
    assert.equal(second.code, 0, second.stderr)
    assert.match(second.stdout, /indexed 47 blocks \(\d+ transactions\) in .* height 147 \(1c7076a1/)
    assert.match(second.stdout, /database: .*index\.db \(/)
    assert.match(second.stderr, /source: /)
    // the CLI tests merge the recent tables every 25 outputs (test/support/cli.ts); 47 blocks hold more
    assert.match(second.stderr, /^merging the [\d,]+ outputs of recent runs into the main tables/m)
    const third = await runBix(indexArgs(node, db))
    assert.match(third.stdout, /up to date at height 147/)
  })

  test('--quiet prints no progress and no source line, only the summary', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const r = await runBix(indexArgs(node, tempDb(t), '--quiet'))
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    assert.match(r.stdout, /indexed 148 blocks/)
  })

  test('--source auto says what it chose and why: REST when the node serves it and the index is not far behind', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const r = await runBix(indexArgs(node, tempDb(t)))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /source: rest \(the node serves REST; not its block files: only 148 blocks to index\)/)
  })

  test('--source auto falls back to RPC when REST is off, and --source rest is refused with the reason', async (t) => {
    const node = await startTestNode({fixtureChain: true, rest: false})
    t.after(() => node.stop())
    const r = await runBix(indexArgs(node, tempDb(t)))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /source: rpc \(the node does not serve REST \(start bitcoind with -rest=1 to use it\)/)
    const refused = await runBix(indexArgs(node, tempDb(t), '--source', 'rest'))
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /--source rest: the node does not serve REST/)
  })

  test('--source blk reads the node\'s block files; a blocks directory that is not there is refused', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const r = await runBix(indexArgs(node, tempDb(t), '--source', 'blk', '--json'))
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as Summary
    assert.equal(s.source, 'blk')
    assert.equal(s.hash, fixture.tip)
    const missing = await runBix(indexArgs(node, tempDb(t), '--source', 'blk', '--blocksdir', path.join(os.tmpdir(), 'no-such-blocks-dir')))
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /--source blk: no blocks directory at /)
  })

  test('a second index run on the same database exits 5 naming the first one\'s PID; --wait-lock waits for it (simulator: slowed node)', async (t) => {
    const node = await startFaultSimulator({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    node.sim.faults.slow(20)
    const first = spawnBix(indexArgs(node, db, '--rpc-parallelism', '1', '--source', 'rpc'))
    t.after(() => first.kill('SIGKILL'))
    const ended: string[] = []
    void first.done.then(() => ended.push('first'))
    await waitUntil(() => node.sim.calls('getblock') >= 3)
    const second = await runBix(indexArgs(node, db))
    assert.equal(second.code, 5, second.stderr)
    assert.match(second.stderr, new RegExp(`\\b${first.child.pid}\\b`))
    // (not --json, which is silent: the note that it waits is the evidence)
    const waiting = spawnBix(indexArgs(node, db, '--wait-lock'))
    void waiting.done.then(() => ended.push('waiting'))
    // the node stays slow until the waiting run has found the lock taken and said so
    await waiting.waitFor(new RegExp(`waiting for the index run pid ${first.child.pid} to finish`), 'stderr')
    assert.equal(first.child.exitCode, null, 'the first run was still writing when the second began to wait')
    node.sim.faults.slow(0)
    const [a, b] = await Promise.all([first.done, waiting.done])
    assert.equal(a.code, 0, a.stderr)
    assert.equal(b.code, 0, b.stderr)
    assert.deepEqual(ended, ['first', 'waiting'], 'the waiting run ended after the one it waited for')
    assert.match(b.stdout, new RegExp(`^up to date at height ${fixture.height} \\(${fixture.tip}\\)$`, 'm'), 'the waiting run found the work done')
  })

  test('Ctrl-C writes the batch in hand, exits 130 naming the height, and the next run finishes the job (simulator: slowed node)', async (t) => {
    const node = await startFaultSimulator({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    node.sim.faults.slow(10)
    const run = spawnBix(indexArgs(node, db, '--rpc-parallelism', '1', '--source', 'rpc', '--batch-blocks', '10'))
    await waitUntil(() => node.sim.calls('getblock') >= 35)
    run.kill('SIGINT')
    const r = await run.done
    assert.equal(r.code, 130, r.stderr)
    const match = /interrupted by SIGINT: the index is at height (\d+) \(([0-9a-f]{64})\); run bix index again to continue/.exec(r.stderr)
    assert.ok(match, r.stderr)
    const height = Number(match[1])
    // every block fetched and checked was written, not only whole batches
    assert.ok(height >= 30, `height ${height}`)
    assert.equal(match[2], fixture.blocks[height].hash)
    node.sim.faults.slow(0)
    const resumed = await runBix(indexArgs(node, db, '--json'))
    assert.equal(resumed.code, 0, resumed.stderr)
    const s = JSON.parse(resumed.stdout) as Summary
    assert.equal(s.start_height, height)
    assert.equal(s.hash, fixture.tip)
  })

  test('SIGTERM exits 143 the same way (simulator: slowed node)', async (t) => {
    const node = await startFaultSimulator({fixtureChain: true})
    t.after(() => node.stop())
    node.sim.faults.slow(10)
    const run = spawnBix(indexArgs(node, tempDb(t), '--rpc-parallelism', '1', '--source', 'rpc'))
    await waitUntil(() => node.sim.calls('getblock') >= 5)
    run.kill('SIGTERM')
    const r = await run.done
    assert.equal(r.code, 143, r.stderr)
    // blocks still being decoded when the signal came are not written: the index may still be empty
    assert.match(r.stderr, /interrupted by SIGTERM: (the index is at height \d+ \([0-9a-f]{64}\)|the index is empty); run bix index again to continue/)
  })

  test('a node that sends another block than the one asked for: BadBlock naming height and hash, exit 1, and a later run is clean (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    const first = await runBix(indexArgs(node, db, '--to-height', '50', '--source', 'rpc'))
    assert.equal(first.code, 0, first.stderr)
    node.sim.faults.wrongBlocks(1)
    const bad = await runBix(indexArgs(node, db, '--source', 'rpc', '--json'))
    assert.equal(bad.code, 1)
    const error = (JSON.parse(bad.stdout) as {error: {kind: string; message: string}}).error
    assert.equal(error.kind, 'BadBlock')
    assert.match(error.message, /height 51/)
    assert.match(error.message, new RegExp(fixture.blocks[51].hash))
    const again = await runBix(indexArgs(node, db, '--json'))
    assert.equal(again.code, 0, again.stderr)
    const s = JSON.parse(again.stdout) as Summary
    assert.equal(s.start_height, 50, 'nothing of the bad batch was written')
    assert.equal(s.hash, fixture.tip)
  })

  test('the same bad block over REST is refused the same way (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator({fixtureChain: true})
    t.after(() => node.stop())
    node.sim.faults.wrongBlocks(1)
    const bad = await runBix(indexArgs(node, tempDb(t), '--source', 'rest'))
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /error: bad block at height 0: .*rest\/block\/0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206\.bin sent \d+ bytes that are not block/)
  })
})

async function waitUntil(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
