import assert from 'node:assert/strict'
import {after, describe, test} from 'node:test'

import {BACKENDS, type Backend, assertNoPassword, cleanIndexDigest, indexContentDigest, newIndex, pg, skipUnlessInstalled, tipOf} from '../support/backends.js'
import {type BixResult, runBix, spawnBix} from '../support/cli.js'
import {assertIndexAgreesWithCore} from '../support/core-oracle.js'
import {blockWork} from '../support/simnode/block-codec.js'
import {type FaultTestNode, startFaultSimulator} from '../support/test-node.js'
import {fixture, indexArgs, seeded, waitUntil} from './support.js'

/**
 * The node reorganises while bix index runs: deeper than one write batch,
 * several times in one run, and onto a branch with fewer blocks but more
 * work (a shorter chain: the index is then ahead of the node's tip). Every
 * run ends identical to a clean index of the node's final chain, and
 * queries answer what the node's own account of that chain says (core-oracle).
 * Each test runs on both backends: a SQLite file and a PostgreSQL database.
 *
 * Real Core on regtest cannot make the shorter branch (every block must
 * carry the regtest powLimit bits, so more work needs more blocks); the
 * simulator mines it with harder bits, which bix has to accept by work.
 *
 * Simulator: fault injection, whatever BITCOIND says: the reorgs mid-run land
 * at a chosen moment of a run the simulator slows down, and the shorter,
 * heavier branches are ones Core's regtest cannot mine.
 */

interface Summary {
  height: number
  hash: string
  reorgs: Array<{fork_height: number; undone: number}>
}

async function fixtureNode(t: {after: (fn: () => Promise<void>) => void}): Promise<FaultTestNode> {
  const node = await startFaultSimulator({fixtureChain: true})
  t.after(() => node.stop())
  return node
}

/** Spawns a slow index run with small batches and resolves once it has committed past `height`. */
async function indexPast(node: FaultTestNode, db: string, height: number, batch: number) {
  node.sim.faults.slow(6)
  const run = spawnBix(indexArgs(node, db, '--json', '--batch-blocks', String(batch), '--source', 'rpc', '--rpc-parallelism', '2'), {timeoutMs: 90_000})
  await waitUntil(() => tipOf(db) > height || run.child.exitCode !== null, 30_000, `index past ${height}`)
  assert.equal(run.child.exitCode, null, `the run ended before height ${height}: ${run.stderr()}`)
  return run
}

/** The run ended well, at the node's tip, identical to a clean index (of the same backend) of the node's chain as it is now. */
async function assertEndsClean(t: {after: (fn: () => void) => void}, backend: Backend, node: FaultTestNode, db: string, r: BixResult, what: string): Promise<Summary> {
  assertNoPassword(r)
  assert.equal(r.code, 0, `${what}: ${r.stderr}`)
  const summary = JSON.parse(r.stdout) as Summary
  node.sim.faults.clear()
  assert.equal(summary.hash, await node.tipHash(), `${what}: the index ends at the node's tip`)
  assert.equal(indexContentDigest(db), await cleanIndexDigest(t, node, backend), `${what}: the index equals a clean run on the new chain`)
  return summary
}

for (const backend of BACKENDS) {
  describe(`${backend}: reorgs while bix index runs`, {skip: skipUnlessInstalled(backend)}, () => {
    test('a reorg deeper than one batch, of blocks already written: undone, the run ends identical to a clean one, and queries match the node\'s account of every script', async (t) => {
      const {int} = seeded(t, `${backend}: deep reorg mid-run`)
      const node = await fixtureNode(t)
      const db = newIndex(t, backend)
      const batch = int(2, 6)
      const depth = int(3 * batch, 45)
      const fork = fixture.height - depth
      const run = await indexPast(node, db, fork + batch + 1, batch)
      const written = tipOf(db)
      node.sim.reorg({depth})
      const summary = await assertEndsClean(t, backend, node, db, await run.done, `depth ${depth}, batch ${batch}, ${written} written`)
      assert.ok(summary.reorgs.length >= 1, 'the run saw the reorg')
      assert.equal(summary.reorgs[0].fork_height, fork, 'undone down to the fork')
      assert.ok(summary.reorgs[0].undone > batch, `more than one batch undone (${summary.reorgs[0].undone})`)
      assert.equal(summary.height, fixture.height + 1)
      await assertIndexAgreesWithCore(db, node)
    })

    test('three reorgs of random depth at random moments of one run', async (t) => {
      const {int} = seeded(t, `${backend}: reorg storm`)
      const node = await fixtureNode(t)
      const sim = node.sim
      const db = newIndex(t, backend)
      const run = await indexPast(node, db, 20, int(1, 5))
      const done: string[] = []
      for (let i = 0; i < 3 && run.child.exitCode === null; i++) {
        await waitUntil(() => tipOf(db) >= sim.chain.height - int(5, 60) || run.child.exitCode !== null, 30_000)
        const depth = int(1, 30)
        const blocks = int(1, depth + 3)
        sim.reorg({depth, blocks})
        done.push(`depth ${depth} → ${blocks} blocks`)
      }
      await assertEndsClean(t, backend, node, db, await run.done, done.join(', '))
    })

    test('onto a branch with fewer blocks but more work, while the index is past the new tip', async (t) => {
      const {int} = seeded(t, `${backend}: shorter chain mid-run`)
      const node = await fixtureNode(t)
      const sim = node.sim
      const db = newIndex(t, backend)
      const depth = int(15, 40)
      const blocks = int(1, 5)
      const newTip = fixture.height - depth + blocks
      const run = await indexPast(node, db, newTip + 2, int(1, 4))
      const oldWork = sim.chain.active.slice(-depth).reduce((sum, e) => sum + blockWork(e.bits), 0n)
      const {connected} = sim.reorg({depth, blocks})
      const newWork = connected.map((h) => sim.chain.get(h)!).reduce((sum, e) => sum + blockWork(e.bits), 0n)
      assert.ok(newWork > oldWork && connected.length < depth, 'the simulator made a shorter branch with more work')
      const summary = await assertEndsClean(t, backend, node, db, await run.done, `${depth} blocks replaced by ${blocks}`)
      assert.equal(summary.height, newTip)
      assert.equal(summary.reorgs.at(-1)?.fork_height, fixture.height - depth)
    })

    test('a shorter, heavier chain found between runs: the next run undoes down to the fork, and queries match the node\'s account of every script of the new chain', async (t) => {
      const {int} = seeded(t, `${backend}: shorter chain between runs`)
      const node = await fixtureNode(t)
      const db = newIndex(t, backend)
      assert.equal(assertNoPassword(await runBix(indexArgs(node, db, '--quiet', '--batch-blocks', '5'))).code, 0)
      // the fixture's wallet activity starts above height 101: a fork at 101 (depth 46) left 3 scripts to compare
      const depth = int(5, 40)
      const blocks = int(1, Math.max(1, depth - 2))
      node.sim.reorg({depth, blocks})
      const r = await runBix(indexArgs(node, db, '--json', '--batch-blocks', '3'))
      const summary = await assertEndsClean(t, backend, node, db, r, `${depth} → ${blocks}`)
      assert.deepEqual(summary.reorgs, [{fork_height: fixture.height - depth, undone: depth}])

      // every output script of the new chain, as the node's getblock 3 and scantxoutset tell it
      const checked = await assertIndexAgreesWithCore(db, node)
      assert.ok(checked > 10, `${checked} scripts checked`)
    })
  })
}

after(() => pg?.stop())
