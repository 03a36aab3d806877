import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {runBix, spawnBix} from '../support/cli.js'
import {indexDigest} from '../support/index-digest.js'
import {type TestNode, startTestNode} from '../support/test-node.js'
import {assertConsistentMempool, assertConsistentPrefix, blocksServed, cleanDigest, fixture, indexArgs, mempoolDigest, seeded, tempDir, waitUntil} from './support.js'

/**
 * kill -9 at random points of `bix index`: while it creates the database,
 * between commits, in the middle of one, while it builds the script index at
 * the end of the first run. Each kill point is drawn from a seeded PRNG
 * (printed): after a random number of blocks served, or a random delay.
 * Whatever the point, the database left behind is a correct prefix of the
 * chain, and the next run ends identical to a clean run.
 */

const KILLS = 20
const hashes = fixture.blocks.map((b) => b.hash)

let node: TestNode
let clean: string

before(async () => {
  node = await startTestNode({fixtureChain: true})
  clean = await cleanDigest({after}, node)
})
after(() => node?.stop())

describe('SIGKILL during bix index', () => {
  test(`${KILLS} kills at random points; every resume ends identical to a clean run`, async (t) => {
    const {int, random} = seeded(t, 'kill points')
    const sim = node.sim!
    const log: string[] = []
    let kills = 0
    let landed = 0
    while (kills < KILLS) {
      const db = path.join(tempDir(t), 'index.db')
      // one to three kills in a row on the same database (each run resuming what the last one left), then a resume to the end
      for (let inRow = int(1, 3); inRow > 0 && kills < KILLS; inRow--) {
        kills++
        const source = random() < 0.5 ? 'rpc' : 'rest'
        const batch = String(int(1, 12))
        const byBlocks = random() < 0.6
        const left = fixture.height - assertConsistentPrefix(db, hashes, 'before the run')
        const point = byBlocks ? int(0, left) : int(300, 2000)
        sim.faults.slow(int(0, 3))
        const base = blocksServed(node)
        const run = spawnBix(indexArgs(node, db, '--batch-blocks', batch, '--source', source, '--rpc-parallelism', String(int(1, 4))))
        if (byBlocks) {
          await waitUntil(() => blocksServed(node) - base >= point || run.child.exitCode !== null, 30_000)
        } else {
          await new Promise((resolve) => setTimeout(resolve, point))
        }
        run.kill('SIGKILL')
        const r = await run.done
        sim.faults.clear()
        const what = `kill ${kills}: ${source}, batch ${batch}, after ${byBlocks ? `${point} blocks` : `${point} ms`}`
        if (r.signal === 'SIGKILL') landed++
        else assert.equal(r.code, 0, `${what}: the run ended before the kill, and should have succeeded: ${r.stderr}`)
        const height = assertConsistentPrefix(db, hashes, what)
        log.push(`${what}: ${r.signal === 'SIGKILL' ? `killed at height ${height}` : 'finished first'}`)
      }
      const height = assertConsistentPrefix(db, hashes, 'before the resume')
      const resumed = await runBix(indexArgs(node, db, '--json', '--batch-blocks', String(int(1, 50))))
      const what = `the resume after kill ${kills}`
      assert.equal(resumed.code, 0, `${what} failed: ${resumed.stderr}`)
      assert.equal((JSON.parse(resumed.stdout) as {startHeight: number}).startHeight, height, `${what} starts where the kill left the index`)
      assert.equal(indexDigest(db), clean, `${what}: the index differs from a clean run's`)
      assert.equal(fs.existsSync(`${db}.lock`), false, `${what} removed the stale lock`)
      log.push(`resumed from height ${height}: identical`)
    }
    t.diagnostic(log.join('\n'))
    // the draw must mostly land inside the run, or the test proves little
    assert.ok(landed >= KILLS / 2, `only ${landed} of ${KILLS} kills landed before the run ended:\n${log.join('\n')}`)
  })
})

describe('SIGKILL at the end of a first run', () => {
  test('killed as it starts building the script index: the next run builds it, identical to a clean run', async (t) => {
    const db = path.join(tempDir(t), 'index.db')
    const run = spawnBix(indexArgs(node, db, '--batch-blocks', '10'))
    await run.waitFor(/building the script index/)
    run.kill('SIGKILL')
    const r = await run.done
    assert.ok(r.signal === 'SIGKILL' || r.code === 0, r.stderr)
    assert.equal(assertConsistentPrefix(db, hashes, 'killed while building the script index'), fixture.height)
    const resumed = await runBix(indexArgs(node, db, '--quiet'))
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.equal(indexDigest(db), clean)
    const q = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, '--offline', fixture.addresses[0]])
    assert.equal(q.code, 0, q.stderr)
  })
})

const MEMPOOL_KILLS = 8

describe('SIGKILL during bix sync-mempool', () => {
  test(`${MEMPOOL_KILLS} kills at random points, the node's mempool and chain changing between them; every resume ends identical to a clean sync`, async (t) => {
    const {int, random} = seeded(t, 'sync-mempool kill points')
    const wallet = await startTestNode({matureBlocks: 150})
    t.after(() => wallet.stop())
    const sim = wallet.sim!
    const send = (n: number) => {
      for (let i = 0; i < n; i++) sim.send({to: sim.newAddress(), value: 10_000 + int(0, 50_000)})
    }
    send(300)
    const db = path.join(tempDir(t), 'index.db')
    const sync = (...more: string[]) => ['sync-mempool', ...wallet.cliArgs(), '--db', db, '--index', ...more]
    const log: string[] = []
    let landed = 0
    let reference: {state: string; index: string; mempool: string} | undefined
    for (let kill = 1; kill <= MEMPOOL_KILLS; kill++) {
      // the node moves on between runs, so each has work: new transactions, sometimes a block that confirms the old ones
      if (random() < 0.3) sim.mine(1)
      send(int(40, 150))
      const byCalls = random() < 0.5
      const batches = Math.ceil(sim.chain.mempool.entries.size / 250)
      const point = byCalls ? int(0, batches - 1) : int(300, 1500)
      sim.faults.slowAnswers('getmempoolentry', int(300, 700))
      sim.faults.slow(int(0, 3))
      const calls = sim.calls('getmempoolentry')
      const run = spawnBix(sync('--rpc-parallelism', String(int(1, 3))))
      if (byCalls) await waitUntil(() => sim.calls('getmempoolentry') - calls > point * 250 || run.child.exitCode !== null, 30_000)
      else await new Promise((resolve) => setTimeout(resolve, point))
      run.kill('SIGKILL')
      const r = await run.done
      sim.faults.clear()
      const what = `kill ${kill}: after ${byCalls ? `${point * 250}+ mempool entries` : `${point} ms`}`
      if (r.signal === 'SIGKILL') landed++
      else assert.equal(r.code, 0, `${what}: the run ended before the kill and should have succeeded: ${r.stderr}`)
      const height = assertConsistentPrefix(db, sim.chain.active.map((e) => e.hash), what)
      const complete = height >= 0 && assertConsistentMempool(db, what)
      log.push(`${what}: ${r.signal === 'SIGKILL' ? `killed, index at ${height}, snapshot ${complete ? 'complete' : 'incomplete'}` : 'finished first'}`)

      const resumed = await runBix(sync('--json'))
      assert.equal(resumed.code, 0, `${what}: the resume failed: ${resumed.stderr}`)
      // a clean index and sync of the node as it is now (the same until the node changes again)
      const state = `${sim.chain.tip.hash} ${sim.chain.mempool.entries.size}`
      if (reference?.state !== state) {
        const file = path.join(tempDir(t), 'index.db')
        assert.equal((await runBix(['sync-mempool', ...wallet.cliArgs(), '--db', file, '--index', '--quiet'])).code, 0)
        reference = {state, index: indexDigest(file), mempool: mempoolDigest(file)}
      }
      assert.equal(indexDigest(db), reference.index, `${what}: the index differs from a clean one`)
      assert.equal(mempoolDigest(db), reference.mempool, `${what}: the snapshot differs from a clean sync's`)
      assert.equal((JSON.parse(resumed.stdout) as {total: number}).total, sim.chain.mempool.entries.size)
    }
    t.diagnostic(log.join('\n'))
    assert.ok(landed >= MEMPOOL_KILLS / 2, `only ${landed} of ${MEMPOOL_KILLS} kills landed:\n${log.join('\n')}`)
  })
})

