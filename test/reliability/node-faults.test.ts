import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {type BixResult, type RunningBix, runBix, spawnBix} from '../support/cli.js'
import {indexDigest} from '../support/index-digest.js'
import {closedPort} from '../support/tiny-node.js'
import {type FaultTestNode, startFaultSimulator} from '../support/test-node.js'
import {assertCleanFailure, assertConsistentPrefix, blocksServed, cleanDigest, fixture, indexArgs, seeded, tempDir, waitUntil} from './support.js'

/**
 * `bix index` against a node that misbehaves the ways real ones do: not there
 * at all, restarting mid-run (with a new cookie), warming up, answering 503 in
 * bursts, answering too slowly, sending damaged JSON, sending another block
 * than the one asked for. Every run ends either with an index identical to a
 * clean run's, or with one clear error line, the documented exit code and an
 * index that is a correct prefix of the chain, which the next run completes.
 *
 * Simulator: fault injection, whatever BITCOIND says: every test here makes the
 * node misbehave at a chosen point of a run, which real Core cannot do on demand.
 * Each run that rides a fault out also shows that the fault reached it: the
 * fault is injected while the run is still fetching, and the run's own
 * --verbose retry lines (or the simulator's counters) show its effect.
 */

const hashes = fixture.blocks.map((b) => b.hash)

let node: FaultTestNode
let clean: string

before(async () => {
  node = await startFaultSimulator({fixtureChain: true})
  clean = await cleanDigest({after}, node)
})
after(() => node?.stop())

/** A run with many small commits, slowed a little so that faults land in the middle of it. */
function slowIndex(db: string, ...more: string[]) {
  node.sim.faults.slow(4)
  const parallelism = more.includes('--rpc-parallelism') ? [] : ['--rpc-parallelism', '2']
  return spawnBix(indexArgs(node, db, '--batch-blocks', '4', ...parallelism, ...more), {timeoutMs: 90_000})
}

/**
 * Waits until the run has fetched `at` blocks since `base`, and insists it is
 * still running: a fault injected after the run has finished proves nothing.
 */
async function midRun(run: RunningBix, base: number, at: number): Promise<void> {
  await waitUntil(() => blocksServed(node) - base >= at || run.child.exitCode !== null)
  assert.equal(run.child.exitCode, null, `the run was still going after ${at} blocks, when the fault came`)
}

/** The run's own --verbose retry lines ("retry <method> on <endpoint> in <n> ms: <reason>") whose reason matches. */
const retries = (r: BixResult, reason: RegExp): number => r.stderr.split('\n').filter((l) => /^retry \S+ on \S+ in \d+ ms: /.test(l) && reason.test(l)).length

/** stderr without what --verbose adds: the retry lines and the RPC stats table at exit. */
const withoutVerbose = (stderr: string): string =>
  stderr
    .split(/^rpc method +calls +errors/m)[0]
    .split('\n')
    .filter((l) => !l.startsWith('retry '))
    .join('\n')

/** After the fault, with the node well again: the index is a correct prefix, and resuming ends identical to a clean run. */
async function assertResumesClean(db: string, context: string): Promise<void> {
  node.sim.faults.clear()
  assertConsistentPrefix(db, hashes, context)
  const resumed = await runBix(indexArgs(node, db, '--quiet'))
  assert.equal(resumed.code, 0, `${context}: resume: ${resumed.stderr}`)
  assert.equal(indexDigest(db), clean, `${context}: the resumed index equals a clean run's`)
}

/** RPC or REST, as the seed says: over many runs both are covered. */
const pickSource = (int: (lo: number, hi: number) => number) => (int(0, 1) === 0 ? 'rpc' : 'rest')

function assertCompleted(r: BixResult, db: string, context: string): void {
  assert.equal(r.code, 0, `${context}: ${r.stderr}`)
  assert.doesNotMatch(withoutVerbose(r.stderr), /error|warning/i, `${context}: ${r.stderr}`)
  assert.equal(indexDigest(db), clean, `${context}: the index equals a clean run's`)
}

describe('node faults during bix index', () => {
  test('a node that is not there at start: exit 3 naming the endpoint, and no database is created', async (t) => {
    const port = await closedPort()
    const db = path.join(tempDir(t), 'index.db')
    const args = ['index', '--network', 'regtest', '--rpcport', String(port), '--rpcuser', 'u', '--rpcpassword', 'p', '--db', db]
    const started = Date.now()
    const [plain, json] = await Promise.all([runBix(args), runBix([...args, '--json'])])
    assertCleanFailure(plain, 3, new RegExp(`cannot reach bitcoind at 127\\.0\\.0\\.1:${port} \\(connection refused\\)`))
    assert.ok(Date.now() - started < 15_000)
    assert.equal(json.code, 3)
    assert.deepEqual(Object.keys(JSON.parse(json.stdout).error).sort(), ['exit_code', 'kind', 'message'])
    assert.equal(JSON.parse(json.stdout).error.kind, 'NodeUnreachable')
    assert.equal(fs.existsSync(db), false, 'nothing written')
    assert.equal(fs.existsSync(`${db}.lock`), false, 'no lock left')
  })

  test('the node restarts mid-index (down briefly, new cookie): the run rides it out', async (t) => {
    const {int} = seeded(t, 'restart mid-index')
    const source = pickSource(int)
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const at = int(10, 110)
    const run = slowIndex(db, '--verbose', '--source', source)
    await midRun(run, base, at)
    const cookieBefore = fs.readFileSync(node.cookiePath, 'utf8')
    // a second down: full-jitter backoff could give up sooner than that
    await node.sim.restart({downMs: 1000})
    assert.notEqual(fs.readFileSync(node.cookiePath, 'utf8'), cookieBefore, 'a restart writes a new cookie')
    const r = await run.done
    assertCompleted(r, db, `${source}, restart after ${at} blocks`)
    assert.ok(retries(r, /connection refused|no cookie file/) >= 1, `the run met the node down and retried: ${r.stderr}`)
  })

  test('the cookie is rotated under a running index: the new one is read and the run goes on', async (t) => {
    const {int} = seeded(t, 'cookie rotation')
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const run = slowIndex(db, '--source', 'rpc')
    let rotatedAt = 0
    for (const at of [int(5, 50), int(60, 110)]) {
      await midRun(run, base, at)
      node.sim.rotateCookie()
      rotatedAt = blocksServed(node)
    }
    assertCompleted(await run.done, db, 'cookie rotated twice')
    // only the second cookie opens the node now: blocks fetched after it was written were fetched with it
    assert.ok(blocksServed(node) > rotatedAt, 'the run fetched blocks with the rotated cookie')
  })

  test('the node goes away for longer than bix retries: exit 3 in one line, the index is a correct prefix, the next run completes it', async (t) => {
    const {int} = seeded(t, 'long outage')
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const at = int(20, 110)
    const run = slowIndex(db, '--source', 'rpc')
    await waitUntil(() => blocksServed(node) - base >= at)
    // longer than the retries last (their waits add up to 3.75 s at most)
    const restarted = node.sim.restart({downMs: 5000})
    const r = await run.done
    await restarted
    // bitcoind deletes its cookie when it stops: either is what bix last saw
    assertCleanFailure(r, 3, /cannot reach bitcoind at 127\.0\.0\.1:\d+ \(connection refused\)|cannot read cookie file \S+ \(no such file\); is bitcoind running/)
    await assertResumesClean(db, `outage after ${at} blocks`)
  })

  test('warm-up: a node loading for a second is waited for; restarted into warm-up mid-run too', async (t) => {
    const db = path.join(tempDir(t), 'index.db')
    node.sim.faults.warmup({ms: 1000})
    const first = await runBix(indexArgs(node, db, '--verbose', '--batch-blocks', '10'))
    assertCompleted(first, db, 'warm-up at start')
    assert.ok(retries(first, /Loading block index/) >= 1, `the run met the warm-up and waited: ${first.stderr}`)

    const {int} = seeded(t, 'restart into warm-up')
    const db2 = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const at = int(10, 110)
    const run = slowIndex(db2, '--verbose', '--source', 'rpc')
    await midRun(run, base, at)
    await node.sim.restart({downMs: 100, warmup: {ms: 700, message: 'Verifying blocks…'}})
    const r = await run.done
    assertCompleted(r, db2, `restart into warm-up after ${at} blocks`)
    assert.ok(retries(r, /Verifying blocks|connection refused|no cookie file/) >= 1, `the run met the restart and retried: ${r.stderr}`)
  })

  test('a node that stays in warm-up: exit 3 saying so and pointing at wait-sync, which waits for it', async (t) => {
    const db = path.join(tempDir(t), 'index.db')
    node.sim.faults.warmup({message: 'Loading block index…'})
    try {
      assertCleanFailure(await runBix(indexArgs(node, db)), 3, /is still starting; wait for it with bix wait-sync/)
      assert.equal(fs.existsSync(db), false)
      const waiting = spawnBix(['wait-sync', ...node.cliArgs(), '--interval', '0.2', '--timeout', '30'])
      await waiting.waitFor(/Loading block index/)
      node.sim.faults.endWarmup()
      const r = await waiting.done
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /synced: regtest at height 147/)
    } finally {
      node.sim.faults.clear()
    }
  })

  test('503 "work queue depth exceeded" in bursts at random moments: the index completes, identical', async (t) => {
    const {int} = seeded(t, '503 bursts')
    const source = pickSource(int)
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const run = slowIndex(db, '--verbose', '--source', source, '--rpc-parallelism', '4')
    const points = [int(1, 40), int(41, 80), int(81, 110)]
    let refused = 0
    for (const at of points) {
      await midRun(run, base, at)
      const burst = int(2, 4)
      node.sim.faults.workQueueFull(burst)
      refused += burst
      // the burst is spent before the next is set, so that each adds its own 503s
      await waitUntil(() => run.child.exitCode !== null || blocksServed(node) - base >= at + burst)
    }
    const r = await run.done
    assertCompleted(r, db, `${source}: bursts after ${points.join(', ')} blocks`)
    assert.equal(retries(r, /HTTP 503 Work queue depth exceeded/), refused, `every 503 the node sent was retried: ${r.stderr}`)
  })

  test('a 503 storm that does not end: exit 3 "overloaded" with the remedy; nothing wrong written', async (t) => {
    const {int} = seeded(t, '503 storm')
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const at = int(10, 120)
    const run = slowIndex(db, '--source', 'rpc')
    await waitUntil(() => blocksServed(node) - base >= at)
    node.sim.faults.workQueueFull(1_000_000)
    assertCleanFailure(await run.done, 3, /is overloaded; lower --rpc-parallelism, or raise rpcworkqueue/)
    await assertResumesClean(db, `storm from ${at} blocks`)
  })

  test('answers slower than --rpc-timeout for a while: retried, the index completes, identical', async (t) => {
    const {int} = seeded(t, 'slow spell')
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const at = int(10, 120)
    const run = slowIndex(db, '--verbose', '--source', 'rpc', '--rpc-timeout', '1')
    await midRun(run, base, at)
    node.sim.faults.slow(1600)
    await new Promise((resolve) => setTimeout(resolve, 1200))
    node.sim.faults.slow(4)
    const r = await run.done
    assertCompleted(r, db, `slow spell after ${at} blocks`)
    assert.ok(retries(r, /no answer within 1\.0 s/) >= 1, `the run timed out on the slow answers and retried: ${r.stderr}`)
  })

  test('a node that stays slower than --rpc-timeout: exit 3 suggesting --rpc-timeout; nothing wrong written', async (t) => {
    const {int} = seeded(t, 'slow node')
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const at = int(10, 120)
    const run = slowIndex(db, '--source', 'rpc', '--rpc-timeout', '1')
    await waitUntil(() => blocksServed(node) - base >= at)
    node.sim.faults.slow(1500)
    assertCleanFailure(await run.done, 3, /no answer to \S+ from bitcoind at 127\.0\.0\.1:\d+ \(no answer within 1\.0 s\); raise --rpc-timeout/)
    await assertResumesClean(db, `slow from ${at} blocks`)
  })

  test('truncated, garbled and cut-off JSON answers now and then: retried like a dropped connection, the index completes', async (t) => {
    const {int} = seeded(t, 'damaged JSON')
    const kinds = ['truncate', 'garble', 'short'] as const
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    // the first answer too: the preflight's
    node.sim.faults.corruptBodies(1, kinds[int(0, 2)])
    const run = slowIndex(db, '--verbose', '--source', 'rpc')
    const points = [int(1, 45), int(46, 90), int(91, 110)]
    for (const [i, at] of points.entries()) {
      await midRun(run, base, at)
      const damaged = int(1, 2)
      node.sim.faults.corruptBodies(damaged, kinds[i])
      await waitUntil(() => run.child.exitCode !== null || blocksServed(node) - base >= at + damaged)
    }
    const r = await run.done
    assertCompleted(r, db, `damaged after ${points.join(', ')} blocks`)
    // the truncated and the cut-off answers cannot be read, and each is retried with a line. A garbled one is not
    // always seen as such (seed 1907010381: neither a retry nor a refetch line, and one getblock per block and
    // retry): what holds it is the index above, identical to a clean one. The preflight's damage is not counted
    const refetched = r.stderr.split('\n').filter((l) => /^refetch block \d+: .*not hex/.test(l)).length
    assert.ok(retries(r, /malformed JSON|connection closed|connection reset/) + refetched >= points.length - 1, `the damaged answers were retried: ${r.stderr}`)
  })

  test('a node whose answers are always damaged: one clear line, exit 3, nothing wrong written', async (t) => {
    const {int} = seeded(t, 'always damaged JSON')
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const at = int(10, 120)
    const run = slowIndex(db, '--source', 'rpc')
    await waitUntil(() => blocksServed(node) - base >= at)
    node.sim.faults.corruptBodies(1_000_000, 'garble')
    assertCleanFailure(await run.done, 3, /malformed JSON/)
    await assertResumesClean(db, `garbled from ${at} blocks`)
  })

  test('a block that is not the one asked for, at a random height: BadBlock naming it, nothing of it written; the next run completes', async (t) => {
    const {int} = seeded(t, 'wrong block')
    const source = pickSource(int)
    const db = path.join(tempDir(t), 'index.db')
    const base = blocksServed(node)
    const at = int(5, 140)
    const run = slowIndex(db, '--source', source)
    await waitUntil(() => blocksServed(node) - base >= at)
    node.sim.faults.wrongBlocks(1)
    const r = await run.done
    node.sim.faults.clear()
    const line = assertCleanFailure(r, 1, /^error: bad block at height (\d+): /, source)
    const bad = Number(/height (\d+)/.exec(line)![1])
    assert.match(line, new RegExp(hashes[bad]), 'the message names the block asked for')
    const height = assertConsistentPrefix(db, hashes, source)
    assert.ok(height < bad, `${source}: nothing at or above the bad block ${bad} was written (tip ${height})`)
    await assertResumesClean(db, `${source}: wrong block after ${at}`)
  })
})

describe('node faults during bix broadcast', () => {
  test('the answer to sendrawtransaction arrives damaged: broadcast looks the transaction up and reports it sent, not failed', async (t) => {
    // simulator: fault injection (an answer damaged after the node acted on the request)
    const wallet = await startFaultSimulator({matureBlocks: 101})
    t.after(() => wallet.stop())
    const sim = wallet.sim
    const tx = sim.createTransaction({to: sim.newAddress(), value: 25_000})
    sim.faults.slow(300)
    const run = spawnBix(['broadcast', ...wallet.cliArgs(), '--json', tx.toHex()])
    // the request has arrived and waits 300 ms before it is executed and answered: that answer is the one damaged
    await waitUntil(() => sim.calls('sendrawtransaction') >= 1)
    sim.faults.corruptBodies(1, 'truncate')
    const r = await run.done
    sim.faults.clear()
    assert.equal(r.code, 0, r.stderr)
    const [report] = JSON.parse(r.stdout) as Array<{txid: string; status: string; note?: string}>
    assert.equal(report.txid, tx.getId())
    assert.equal(report.status, 'sent')
    assert.match(report.note ?? '', /confirmed by lookup/)
    assert.ok(sim.chain.mempool.has(tx.getId()))
    assert.equal(sim.calls('sendrawtransaction'), 1, 'not sent twice')
  })
})

