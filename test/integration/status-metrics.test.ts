import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {openIndex} from '../../src/lib/store/sqlite/database.js'
import {runBix} from '../support/cli.js'
import {type TestNode, startTestNode} from '../support/test-node.js'
import {closedPort} from '../support/tiny-node.js'

/**
 * `bix status --prometheus` / `--textfile` as a monitoring setup uses them:
 * the output is what Prometheus's own checker accepts, every value is the
 * node's own answer (getblockchaininfo, getmempoolinfo, getnetworkinfo) or the
 * index's, and how each command last ended comes from `<db>.runs.json`.
 */

const hasPromtool = spawnSync('promtool', ['--version'], {stdio: 'ignore'}).status === 0
// CI installs promtool (.ci/run); only a clone without it may go without this check
const promtoolMissing = !hasPromtool && !process.env.CI && !process.env.BITCOIND && 'promtool is not installed (Debian: apt-get install prometheus)'

type Context = {after: (fn: () => void | Promise<void>) => void}

function tempDir(t: Context, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

interface Exposition {
  /** "name{label="v",…}" → value, labels in the order bix writes them */
  samples: Map<string, number>
  families: Map<string, {help?: string; type?: string}>
}

/** A reader of the text format strict enough to catch a sample printed before its HELP/TYPE. */
function parseExposition(text: string): Exposition {
  const samples = new Map<string, number>()
  const families = new Map<string, {help?: string; type?: string}>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\w+) (.+)$/.exec(line)
    if (meta) {
      const family = families.get(meta[2]) ?? {}
      if (meta[1] === 'HELP') family.help = meta[3]
      else family.type = meta[3]
      families.set(meta[2], family)
      continue
    }
    const sample = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line)
    assert.ok(sample, `not a sample line: ${line}`)
    const family = families.get(sample[1])
    assert.ok(family?.help && family.type === 'gauge', `${sample[1]} has no # HELP and # TYPE before it`)
    assert.match(sample[2] ?? '', /network="regtest"/, `${line} carries the network label`)
    samples.set(sample[1] + (sample[2] ?? ''), Number(sample[3]))
  }
  return {samples, families}
}

function value(e: Exposition, name: string, labels = ''): number | undefined {
  return e.samples.get(`${name}{network="regtest"${labels}}`)
}

function promtoolCheck(text: string): void {
  if (!hasPromtool) return
  const r = spawnSync('promtool', ['check', 'metrics'], {input: text, encoding: 'utf8'})
  assert.equal(r.status, 0, `promtool check metrics: ${r.stdout}${r.stderr}`)
}

describe('bix status --prometheus', () => {
  let node: TestNode
  let db: string
  let dir: string
  let indexRun: {started: number; ended: number}

  before(async () => {
    node = await startTestNode({matureBlocks: 101})
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-metrics-'))
    db = path.join(dir, 'index.db')
    const started = Date.now() / 1000
    const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet'])
    assert.equal(r.code, 0, r.stderr)
    indexRun = {started, ended: Date.now() / 1000}
    // a transaction in both mempools, then two blocks the index has not seen
    await node.send(await node.newAddress(), 50_000)
    const synced = await runBix(['sync-mempool', ...node.cliArgs(), '--db', db, '--quiet'])
    assert.equal(synced.code, 0, synced.stderr)
    await node.mine(2)
    await node.send(await node.newAddress(), 70_000)
  })
  after(async () => {
    await node?.stop()
    if (dir) fs.rmSync(dir, {recursive: true, force: true})
  })

  test('what promtool accepts, every value being the node\'s own answer or the index\'s', {skip: promtoolMissing}, async () => {
    const syncedBefore = Date.now() / 1000
    const r = await runBix(['status', ...node.cliArgs(), '--db', db, '--prometheus'])
    assert.equal(r.code, 0, r.stderr)
    promtoolCheck(r.stdout)
    const m = parseExposition(r.stdout)

    const chain = await node.rpc<{blocks: number; headers: number; verificationprogress: number; initialblockdownload: boolean}>('getblockchaininfo')
    const mempool = await node.rpc<{size: number; bytes: number; usage: number}>('getmempoolinfo')
    const network = await node.rpc<{connections_in: number; connections_out: number}>('getnetworkinfo')
    assert.equal(value(m, 'bix_node_up'), 1)
    assert.equal(value(m, 'bix_node_blocks'), chain.blocks)
    assert.equal(value(m, 'bix_node_headers'), chain.headers)
    assert.ok(Math.abs(value(m, 'bix_node_verification_progress')! - chain.verificationprogress) < 1e-3)
    assert.equal(value(m, 'bix_node_initial_block_download'), chain.initialblockdownload ? 1 : 0)
    assert.equal(value(m, 'bix_node_peers', ',direction="inbound"'), network.connections_in)
    assert.equal(value(m, 'bix_node_peers', ',direction="outbound"'), network.connections_out)
    assert.equal(mempool.size, 1, 'the transaction sent after the last block waits in the mempool')
    assert.equal(value(m, 'bix_node_mempool_transactions'), mempool.size)
    assert.equal(value(m, 'bix_node_mempool_bytes'), mempool.bytes)
    assert.equal(value(m, 'bix_node_mempool_usage_bytes'), mempool.usage)
    const roundTrip = value(m, 'bix_node_rpc_round_trip_seconds')!
    assert.ok(roundTrip > 0 && roundTrip < 2, `round trip ${roundTrip} s, in seconds not milliseconds`)

    const index = openIndex(db, {mode: 'read'})
    const tip = index.tip()!.height
    index.close()
    assert.equal(value(m, 'bix_index_up'), 1)
    assert.equal(value(m, 'bix_index_tip_height'), tip)
    assert.equal(tip, chain.blocks - 2, 'the index is two blocks behind, as the test made it')
    assert.equal(value(m, 'bix_index_lag_blocks'), chain.blocks - tip)
    const bytes = fs.statSync(db).size + (fs.statSync(`${db}-wal`, {throwIfNoEntry: false})?.size ?? 0)
    assert.equal(value(m, 'bix_index_database_bytes'), bytes)
    assert.equal(value(m, 'bix_index_writer_active'), 0)
    assert.equal(value(m, 'bix_index_mempool_transactions'), 1, 'the snapshot taken before the two blocks')
    const age = value(m, 'bix_index_mempool_snapshot_age_seconds')!
    assert.ok(age >= 0 && age <= Date.now() / 1000 - indexRun.ended + 1, `snapshot age ${age} s`)

    // the index run, as recorded at its exit
    const ended = value(m, 'bix_command_last_run_end_timestamp_seconds', ',command="index"')!
    assert.ok(ended >= indexRun.started && ended <= indexRun.ended, `index ended at ${ended}, ran ${indexRun.started}–${indexRun.ended}`)
    assert.equal(value(m, 'bix_command_last_run_exit_code', ',command="index"'), 0)
    const took = value(m, 'bix_command_last_run_duration_seconds', ',command="index"')!
    assert.ok(took > 0 && took <= indexRun.ended - indexRun.started, `index took ${took} s`)
    assert.equal(value(m, 'bix_command_last_run_exit_code', ',command="sync-mempool"'), 0)
    assert.ok(value(m, 'bix_command_last_run_end_timestamp_seconds', ',command="sync-mempool"')! <= syncedBefore)
  })

  test('a failed run is recorded with its exit code, in a file only its owner reads', async () => {
    const r = await runBix(['query', 'address', 'not-an-address', '--network', 'regtest', '--db', db])
    assert.equal(r.code, 2, r.stderr)
    const runs = JSON.parse(fs.readFileSync(`${db}.runs.json`, 'utf8')) as {runs: Record<string, {exitCode: number}>}
    assert.equal(runs.runs['query address'].exitCode, 2)
    assert.equal(runs.runs.index.exitCode, 0, 'the other commands\' entries are kept')
    assert.equal(fs.statSync(`${db}.runs.json`).mode & 0o777, 0o600)
    const s = await runBix(['status', ...node.cliArgs(), '--db', db, '--prometheus'])
    assert.equal(value(parseExposition(s.stdout), 'bix_command_last_run_exit_code', ',command="query address"'), 2)
  })

  test('a damaged or unwritable runs file neither breaks a command nor the metrics', async (t) => {
    const copyDir = tempDir(t, 'bix-metrics-damaged-')
    const copy = path.join(copyDir, 'index.db')
    for (const suffix of ['', '-wal']) if (fs.existsSync(db + suffix)) fs.copyFileSync(db + suffix, copy + suffix)
    fs.writeFileSync(`${copy}.runs.json`, '{"runs": {"index": {"endedAt": "yesterday"')
    const s = await runBix(['status', ...node.cliArgs(), '--db', copy, '--prometheus'])
    assert.equal(s.code, 0, s.stderr)
    const m = parseExposition(s.stdout)
    assert.equal(value(m, 'bix_index_up'), 1)
    assert.equal(m.families.has('bix_command_last_run_exit_code'), false, 'no run is made up from a damaged file')
    // status's own exit replaced the damaged file with a sound one
    const runs = JSON.parse(fs.readFileSync(`${copy}.runs.json`, 'utf8')) as {runs: Record<string, {exitCode: number}>}
    assert.deepEqual(Object.keys(runs.runs), ['status'])

    // a directory where the file should be: the record is lost, the answer is not
    fs.rmSync(`${copy}.runs.json`)
    fs.mkdirSync(`${copy}.runs.json`)
    const q = await runBix(['query', 'address', await node.newAddress(), '--network', 'regtest', '--db', copy])
    assert.equal(q.code, 0, q.stderr)
    assert.equal(q.stderr, '')
    assert.deepEqual(fs.readdirSync(copyDir).filter((f) => f.includes('.tmp')), [], 'no temporary file left behind')
  })

  test('with the node down: bix_node_up 0, the index metrics still there, the textfile written, exit 0', {skip: promtoolMissing}, async (t) => {
    const out = tempDir(t, 'bix-textfile-')
    const file = path.join(out, 'bix.prom')
    fs.writeFileSync(file, 'stale\n')
    const port = await closedPort()
    const r = await runBix(['status', '--network', 'regtest', '--rpcport', String(port), '--rpcuser', 'u', '--rpcpassword', 'p', '--db', db, '--textfile', file])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, '', '--textfile alone prints nothing, for cron')
    const text = fs.readFileSync(file, 'utf8')
    promtoolCheck(text)
    const m = parseExposition(text)
    assert.equal(value(m, 'bix_node_up'), 0)
    assert.equal(m.families.has('bix_node_blocks'), false, 'no node value is made up')
    assert.equal(m.families.has('bix_index_lag_blocks'), false, 'no lag without the node')
    assert.equal(value(m, 'bix_index_up'), 1)
    const index = openIndex(db, {mode: 'read'})
    assert.equal(value(m, 'bix_index_tip_height'), index.tip()!.height)
    index.close()
    assert.equal(fs.statSync(file).mode & 0o777, 0o644, 'readable by node_exporter\'s user')
    assert.deepEqual(fs.readdirSync(out), ['bix.prom'], 'the temporary file was renamed, not left beside it')

    // the same run without --textfile reports the dead node as status always has
    const plain = await runBix(['status', '--network', 'regtest', '--rpcport', String(port), '--rpcuser', 'u', '--rpcpassword', 'p', '--db', db])
    assert.equal(plain.code, 3)
  })

  test('a --textfile bix cannot write: exit 2, one line naming the file', async (t) => {
    const file = path.join(tempDir(t, 'bix-textfile-'), 'missing-dir', 'bix.prom')
    const r = await runBix(['status', ...node.cliArgs(), '--db', db, '--textfile', file])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^error: cannot write the metrics to .*missing-dir\/bix\.prom \(ENOENT\)/)
    assert.equal(r.stderr.trim().split('\n').length, 1)
  })
})
