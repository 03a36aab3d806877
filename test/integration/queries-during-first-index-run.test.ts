import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {runBix, spawnBix} from '../support/cli.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {startTestNode} from '../support/test-node.js'

/**
 * The first `bix index` run on an empty database builds the script index
 * only at its end, so until then a query cannot be answered: it says so (exit
 * 5, one line) and so does `bix status`; once the run is over the same query
 * answers what the node says.
 *
 * Simulator even with BITCOIND set: the run is held in progress by slowing
 * the node's answers (faults.slow), which Core cannot do on demand.
 */

const fixture = readFixtureChain()

interface ScanResult {
  success: boolean
  total_amount: number
}

interface StatusIndex {
  path: string
  tip_height: number | null
  building: boolean
  writer_pid: number | null
}

async function waitUntil(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('queries during the first bix index run', () => {
  test('query address says the index is still being built (exit 5, one line), status says so too, and after the run the same query answers (simulator: slowed node)', async (t) => {
    const node = await startTestNode({fixtureChain: true, simulator: true})
    t.after(() => node.stop())
    const sim = node.sim!
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-first-run-'))
    t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
    const db = path.join(dir, 'index.db')
    const env = {BIX_DATA_DIR: path.join(dir, 'data')}

    // one block at a time, a batch every 5 blocks: after 20 blocks fetched, some batches are written
    sim.faults.slow(40)
    const run = spawnBix(['index', ...node.cliArgs(), '--db', db, '--source', 'rpc', '--rpc-parallelism', '1', '--batch-blocks', '5', '--quiet'], {env, timeoutMs: 300_000})
    t.after(() => run.kill('SIGKILL'))
    await waitUntil(() => sim.calls('getblock') >= 20)
    // a second per block from here: the 120-odd blocks left keep the run going for minutes, far longer than the checks take
    sim.faults.slow(1000)

    const query = ['query', 'address', ...node.cliArgs(), '--db', db, fixture.miner, '--offline']
    const busy = await runBix(query, {env})
    assert.equal(busy.code, 5, busy.stderr)
    assert.equal(busy.stdout, '')
    assert.match(busy.stderr, /^error: the index is still being built \(its first bix index run, at height \d+, has not finished\); queries work once it has\n$/)
    const busyJson = await runBix([...query, '--json'], {env})
    assert.equal(busyJson.code, 5)
    assert.deepEqual((JSON.parse(busyJson.stdout) as {error: {kind: string; exit_code: number}}).error.kind, 'IndexBusy')

    const status = await runBix(['status', ...node.cliArgs(), '--db', db], {env})
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, /^building +the first bix index run has not finished; queries answer once it has$/m)
    assert.match(status.stdout, new RegExp(`^writer +bix index running \\(pid ${run.child.pid}\\)$`, 'm'))
    const statusJson = await runBix(['status', ...node.cliArgs(), '--db', db, '--json'], {env})
    const during = (JSON.parse(statusJson.stdout) as {index: StatusIndex}).index
    assert.equal(during.path, db)
    assert.equal(during.building, true)
    assert.equal(during.writer_pid, run.child.pid)
    assert.ok(during.tip_height !== null && during.tip_height < fixture.height, `tip ${during.tip_height} while the run goes on`)
    assert.equal(run.child.exitCode, null, 'the run was still going through every check above')

    sim.faults.slow(0)
    const done = await run.done
    assert.equal(done.code, 0, done.stderr)

    const answered = await runBix([...query, '--json'], {env})
    assert.equal(answered.code, 0, answered.stderr)
    const [report] = JSON.parse(answered.stdout) as Array<{balance: {confirmed: number}; freshness: {index: {height: number; hash: string}}}>
    const scan = await node.rpc<ScanResult>('scantxoutset', ['start', [`addr(${fixture.miner})`]])
    assert.ok(scan.success)
    assert.equal(report.balance.confirmed, Math.round(scan.total_amount * 1e8), 'the node\'s own balance of the address')
    assert.deepEqual(report.freshness.index, {height: fixture.height, hash: await node.tipHash()})

    const after = await runBix(['status', ...node.cliArgs(), '--db', db, '--json'], {env})
    assert.equal((JSON.parse(after.stdout) as {index: StatusIndex}).index.building, false)
    const afterHuman = await runBix(['status', ...node.cliArgs(), '--db', db], {env})
    assert.doesNotMatch(afterHuman.stdout, /^building/m)
    assert.match(afterHuman.stdout, /^writer +none$/m)
  })
})
