import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {openIndex} from '../../src/lib/store/sqlite/database.js'
import {type BixOptions, runBix, spawnBix} from '../support/cli.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {ANSI, hasScript, runOnTerminal} from '../support/terminal.js'
import {type TestNode, rotateCookieCountingReads, startFaultSimulator, startTestNode} from '../support/test-node.js'
import {closedPort} from '../support/tiny-node.js'

/**
 * `bix status` run as a user runs it, against the simulator (or bitcoind with
 * BITCOIND set): the node and the index at a glance, what it says when the
 * node is down, and that no secret ever reaches its output.
 */

const fixture = readFixtureChain()

interface StatusJson {
  node: null | {
    endpoint: string
    chain: string
    version: number
    version_text: string
    subversion: string
    blocks: number
    headers: number
    best_block_hash: string
    verification_progress: number
    initial_block_download: boolean
    pruned: boolean
    prune_height: number | null
    size_on_disk: number
    mempool: {loaded: boolean; tx_count: number; bytes: number; usage: number}
    peers: {inbound: number; outbound: number}
    uptime_seconds: number
    warnings: string[]
    rpc_round_trip_ms: number
  }
  node_error: string | null
  tried: {endpoints: string[]; credentials: string[]}
  index: null | {path: string; network: string; schema_version: number; tip_height: number | null; tip_hash: string | null; size_bytes: number; writer_pid: number | null}
  index_error: string | null
  lag: number | null
}

type Context = {after: (fn: () => void | Promise<void>) => void}

function tempDir(t: Context, prefix = 'bix-status-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

/** A bix data dir of its own, so the default index path is never the user's. */
function isolated(t: Context, more: BixOptions = {}): BixOptions {
  return {...more, env: {BIX_DATA_DIR: tempDir(t, 'bix-data-'), ...more.env}}
}

/** Builds an index of the node's chain with `bix index`; returns its path. */
async function buildIndex(t: Context, node: TestNode): Promise<string> {
  const db = path.join(tempDir(t, 'bix-index-'), 'index.db')
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet'])
  assert.equal(r.code, 0, r.stderr)
  return db
}

/** A datadir as a stopped bitcoind leaves it after a crash: the cookie still there, nobody listening. */
function deadNodeDatadir(t: Context, cookieSecret: string): string {
  const datadir = tempDir(t, 'bix-dead-node-')
  fs.mkdirSync(path.join(datadir, 'regtest'))
  fs.writeFileSync(path.join(datadir, 'regtest', '.cookie'), `__cookie__:${cookieSecret}`, {mode: 0o600})
  return datadir
}

const SECRET_COOKIE = 'f00dfeed'.repeat(8)
const SECRET_PASSWORD = 'pa55-Wd-nobody-must-see'

describe('bix status', () => {
  test('a synced node: network, version, blocks and headers, mempool, peers and round trip on stdout, nothing on stderr', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const r = await runBix(['status', ...node.cliArgs()], isolated(t))
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    const out = r.stdout
    assert.match(out, new RegExp(`^node +${node.rpcUrl.replaceAll('.', '\\.')} \\(regtest\\)$`, 'm'))
    assert.match(out, /^version +\d+\.\d+\.\d+ \/Satoshi:[\d.]+\/$/m)
    assert.match(out, new RegExp(`^blocks +${fixture.height} of ${fixture.height} headers, synced$`, 'm'))
    assert.match(out, /^verified +\d+\.\d\d%$/m, 'not in initial block download')
    assert.match(out, /^pruned +no$/m)
    assert.match(out, new RegExp(`^mempool +${fixture.mempool.length} tx, \\d+ B$`, 'm'))
    assert.match(out, /^peers +\d+ in, \d+ out$/m)
    assert.match(out, /^rpc +[\d.]+ ms round trip$/m)
    assert.match(out, /^index +none yet for regtest \(bix index builds it\)$/m)
    assert.doesNotMatch(out, ANSI, 'no colour off a terminal')
  })

  test('--json: the same facts as fields, what was tried, and no index yet', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const uptimeBefore = await node.rpc<number>('uptime')
    const started = performance.now()
    const r = await runBix(['status', ...node.cliArgs(), '--json'], isolated(t))
    const runMs = performance.now() - started
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    const s = JSON.parse(r.stdout) as StatusJson
    // the node's own answers, asked after the run (nothing changes on an idle regtest node but the clock)
    type Info = Record<string, unknown> & {warnings: string | string[]}
    const [net, chain, mempool, uptimeAfter] = await Promise.all([
      node.rpc<Info>('getnetworkinfo'),
      node.rpc<Info>('getblockchaininfo'),
      node.rpc<Record<string, unknown>>('getmempoolinfo'),
      node.rpc<number>('uptime'),
    ])
    const warningsOf = (w: string | string[]) => (Array.isArray(w) ? w : w ? [w] : [])
    assert.ok(s.node)
    assert.equal(s.node.endpoint, node.rpcUrl)
    assert.equal(s.node.chain, 'regtest')
    assert.equal(s.node.blocks, fixture.height)
    assert.equal(s.node.headers, fixture.height)
    assert.equal(s.node.best_block_hash, await node.tipHash())
    assert.equal(s.node.initial_block_download, false)
    assert.equal(s.node.pruned, false)
    assert.equal(s.node.version, net.version)
    assert.equal(s.node.subversion, net.subversion)
    // the node says its version in words too: "/Satoshi:31.99.0/"
    assert.ok((net.subversion as string).includes(`:${s.node.version_text}`), `${s.node.version_text} in ${String(net.subversion)}`)
    assert.equal(s.node.verification_progress, chain.verificationprogress)
    assert.equal(s.node.size_on_disk, chain.size_on_disk)
    assert.equal(s.node.mempool.tx_count, fixture.mempool.length)
    assert.deepEqual(s.node.mempool, {loaded: mempool.loaded, tx_count: mempool.size, bytes: mempool.bytes, usage: mempool.usage})
    assert.deepEqual(s.node.peers, {inbound: net.connections_in, outbound: net.connections_out})
    assert.deepEqual(new Set(s.node.warnings), new Set([...warningsOf(chain.warnings), ...warningsOf(net.warnings)]))
    assert.ok(s.node.uptime_seconds >= uptimeBefore && s.node.uptime_seconds <= uptimeAfter, `uptime ${s.node.uptime_seconds} between ${uptimeBefore} and ${uptimeAfter}`)
    // a round trip of the run's own: longer than nothing, shorter than the whole run
    assert.ok(s.node.rpc_round_trip_ms > 0 && s.node.rpc_round_trip_ms < runMs, `round trip ${s.node.rpc_round_trip_ms} ms in a run of ${runMs.toFixed(0)} ms`)
    assert.equal(s.node_error, null)
    assert.deepEqual(s.tried, {endpoints: [node.rpcUrl], credentials: [`cookie file ${node.cookiePath}`]})
    assert.equal(s.index, null)
    assert.equal(s.index_error, null)
    assert.equal(s.lag, null)
  })

  test('with an index: its file, tip, size and lag behind the node', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(3)
    const db = await buildIndex(t, node)
    const tip = await node.tipHash()

    const current = await runBix(['status', ...node.cliArgs(), '--db', db], isolated(t))
    assert.equal(current.code, 0, current.stderr)
    assert.match(current.stdout, new RegExp(`^index +${db} \\(regtest, schema \\d+\\)$`, 'm'))
    assert.match(current.stdout, new RegExp(`^tip +3 ${tip}$`, 'm'))
    assert.match(current.stdout, /^lag +up to date with the node$/m)
    assert.match(current.stdout, /^size +[\d.]+ (B|KiB|MiB)$/m)
    assert.match(current.stdout, /^writer +none$/m)

    await node.mine(2)
    const behind = await runBix(['status', ...node.cliArgs(), '--db', db, '--json'], isolated(t))
    assert.equal(behind.code, 0, behind.stderr)
    const s = JSON.parse(behind.stdout) as StatusJson
    assert.equal(s.node?.blocks, 5)
    assert.equal(s.index?.path, db)
    assert.equal(s.index?.network, 'regtest')
    assert.equal(s.index?.tip_height, 3)
    assert.equal(s.index?.tip_hash, tip)
    assert.ok((s.index?.size_bytes ?? 0) > 0)
    assert.equal(s.lag, 2)
    const human = await runBix(['status', ...node.cliArgs(), '--db', db], isolated(t))
    assert.match(human.stdout, /^lag +2 blocks behind the node$/m)
  })

  test('the node down: says which endpoint and credential source it tried, still shows the index, exits 3', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(2)
    const db = await buildIndex(t, node)
    const tip = await node.tipHash()
    await node.stop()

    const port = await closedPort()
    const datadir = deadNodeDatadir(t, SECRET_COOKIE)
    const started = Date.now()
    const r = await runBix(['status', '--datadir', datadir, '--network', 'regtest', '--rpcport', String(port), '--db', db], isolated(t))
    assert.equal(r.code, 3, r.stderr)
    // a limit the user sees: a node that refuses connections is reported at once, not after the retry backoff (which lasts seconds)
    assert.ok(Date.now() - started < 15_000, 'fails fast')
    const cookieFile = path.join(datadir, 'regtest', '.cookie')
    assert.match(r.stdout, new RegExp(`^node +unavailable: cannot reach bitcoind at 127\\.0\\.0\\.1:${port} \\(connection refused\\)`, 'm'))
    assert.match(r.stdout, new RegExp(`^tried +http://127\\.0\\.0\\.1:${port} \\(regtest\\) with cookie file ${cookieFile}$`, 'm'))
    assert.match(r.stdout, new RegExp(`^index +${db} \\(regtest, schema \\d+\\)$`, 'm'))
    assert.match(r.stdout, new RegExp(`^tip +2 ${tip}$`, 'm'))
    assert.doesNotMatch(r.stdout, /^lag/m, 'no lag without the node')

    const j = await runBix(['status', '--datadir', datadir, '--network', 'regtest', '--rpcport', String(port), '--db', db, '--json'], isolated(t))
    assert.equal(j.code, 3, j.stderr)
    const s = JSON.parse(j.stdout) as StatusJson
    assert.equal(s.node, null)
    assert.match(s.node_error ?? '', /connection refused/)
    assert.deepEqual(s.tried, {endpoints: [`http://127.0.0.1:${port}`], credentials: [`cookie file ${cookieFile}`]})
    assert.equal(s.index?.tip_height, 2)
    assert.equal(s.lag, null)
    for (const output of [r.stdout, r.stderr, j.stdout, j.stderr]) assert.ok(!output.includes(SECRET_COOKIE), 'the cookie value is never shown')
  })

  test('no bitcoind ever started here: the missing cookie is named, exit 3', async (t) => {
    const datadir = tempDir(t)
    const r = await runBix(['status', '--datadir', datadir, '--network', 'regtest', '--rpcport', String(await closedPort())], isolated(t))
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stdout, new RegExp(`^node +unavailable: cannot read cookie file ${path.join(datadir, 'regtest', '.cookie')} \\(no such file\\)`, 'm'))
    assert.match(r.stdout, /^index +none yet for regtest/m)
  })

  test('a password, from flags, bitcoin.conf or inside --rpc-url, appears in no output, even for a bad flag under --json', async (t) => {
    const port = await closedPort()
    const datadir = tempDir(t)
    fs.writeFileSync(path.join(datadir, 'bitcoin.conf'), `regtest=1\nrpcuser=alice\nrpcpassword=${SECRET_PASSWORD}-conf\n`)
    const runs = await Promise.all([
      runBix(['status', '--datadir', datadir, '--rpcport', String(port), '--rpcuser', 'bob', '--rpcpassword', SECRET_PASSWORD], isolated(t)),
      runBix(['status', '--datadir', datadir, '--rpcport', String(port), '--json'], isolated(t)),
      runBix(['status', '--datadir', datadir, '--rpc-url', `http://carol:${SECRET_PASSWORD}@127.0.0.1:${port}`, '--json'], isolated(t)),
      runBix(['status', '--datadir', datadir, '--rpcpassword', SECRET_PASSWORD, '--no-such-flag', '--json'], isolated(t)),
      runBix(['status', '--datadir', datadir, '--rpcpassword', SECRET_PASSWORD, '--no-such-flag'], isolated(t)),
    ])
    const [flags, conf, url, badFlagJson, badFlag] = runs
    assert.deepEqual(
      runs.map((r) => r.code),
      [3, 3, 3, 2, 2],
    )
    assert.match(flags.stdout, /with rpcuser\/rpcpassword from flags$/m)
    assert.deepEqual((JSON.parse(conf.stdout) as StatusJson).tried.credentials, [`rpcuser/rpcpassword from bitcoin.conf ${path.join(datadir, 'bitcoin.conf')}`])
    assert.deepEqual((JSON.parse(url.stdout) as StatusJson).tried, {endpoints: [`http://127.0.0.1:${port}`], credentials: ['rpcuser/rpcpassword from URL']})
    assert.deepEqual(JSON.parse(badFlagJson.stdout), {
      error: {kind: 'BadInput', message: 'Nonexistent flag: --no-such-flag', exit_code: 2},
    })
    for (const r of runs) {
      assert.ok(!r.stdout.includes(SECRET_PASSWORD) && !r.stderr.includes(SECRET_PASSWORD), `a password in the output of:\n${r.stdout}\n${r.stderr}`)
    }
    assert.match(badFlag.stderr, /Nonexistent flag: --no-such-flag/)
  })

  test('a node on another network than --network: the node is shown, the mismatch refused, exit 2', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(1)
    // --network main looks for the cookie in the datadir itself: point at the node's
    const args = ['status', '--datadir', node.datadir, '--network', 'main', '--rpcport', String(node.rpcPort), '--rpccookiefile', node.cookiePath]
    const r = await runBix(args, isolated(t))
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stdout, /^node +\S+ \(regtest\)$/m)
    assert.match(r.stdout, /^error +the node runs regtest but --network is main$/m)
    const j = await runBix([...args, '--json'], isolated(t))
    assert.equal(j.code, 2)
    const s = JSON.parse(j.stdout) as StatusJson
    assert.equal(s.node?.chain, 'regtest')
    assert.equal(s.node_error, 'the node runs regtest but --network is main')
  })

  test('an index of another network than the node\'s: shown, and refused with exit 2', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(1)
    const db = path.join(tempDir(t), 'signet.db')
    openIndex(db, {mode: 'write', network: 'signet'}).close()
    const r = await runBix(['status', ...node.cliArgs(), '--db', db], isolated(t))
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stdout, /^blocks +1 of 1 headers, synced$/m, 'the node part is whole')
    assert.match(r.stdout, new RegExp(`^index +${db} \\(signet, schema \\d+\\)$`, 'm'))
    assert.match(r.stdout, new RegExp(`^error +index ${db} is for signet, not regtest; use another --db or --network$`, 'm'))
    const j = await runBix(['status', ...node.cliArgs(), '--db', db, '--json'], isolated(t))
    assert.equal(j.code, 2)
    const s = JSON.parse(j.stdout) as StatusJson
    assert.equal(s.index?.network, 'signet')
    assert.equal(s.index_error, `index ${db} is for signet, not regtest; use another --db or --network`)
    assert.equal(s.lag, null, 'no lag between different chains')
  })

  test('failover: the first --rpc-url is dead, the second answers', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(1)
    const dead = `http://127.0.0.1:${await closedPort()}`
    const r = await runBix(['status', '--datadir', node.datadir, '--network', 'regtest', '--rpc-url', `${dead},${node.rpcUrl}`, '--json'], isolated(t))
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as StatusJson
    assert.equal(s.node?.endpoint, node.rpcUrl)
    assert.equal(s.node?.blocks, 1)
    assert.deepEqual(s.tried.endpoints, [dead, node.rpcUrl])
  })

  test('a cookie that rotates while the answers are on their way: one 401, one fresh read, and the status is shown (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator()
    t.after(() => node.stop())
    const sim = node.sim
    // the node checks credentials after the delay, so the rotation lands between sending and checking;
    // status asks four things at once, then times one more uptime alone: that one is under way with the old cookie
    sim.faults.slow(300)
    const run = spawnBix(['status', ...node.cliArgs(), '--json'], isolated(t))
    await waitUntil(() => sim.calls('uptime') >= 2 || run.child.exitCode !== null)
    const refusedBefore = sim.faults.authFailures
    const cookie = rotateCookieCountingReads(node)
    await waitUntil(() => sim.faults.authFailures > refusedBefore || run.child.exitCode !== null)
    sim.faults.slow(0)
    const r = await run.done
    await cookie.stop()
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.equal(sim.faults.authFailures - refusedBefore, 1, 'one request went with the old cookie and was refused')
    assert.equal(cookie.reads(), 1, 'the new cookie was read once, and used from then on')
    assert.equal((JSON.parse(r.stdout) as StatusJson).node?.chain, 'regtest')
  })

  test('a node still warming up is reported as such, exit 3 (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator()
    t.after(() => node.stop())
    node.sim.faults.warmup({message: 'Verifying blocks…'})
    const r = await runBix(['status', ...node.cliArgs()], isolated(t))
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stdout, /^node +unavailable: bitcoind at 127\.0\.0\.1:\d+ \(Verifying blocks…\) is still starting; wait for it with bix wait-sync/m)
  })

  test('a node slower than --rpc-timeout: status gives up after that long, says so, exit 3 (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator()
    t.after(() => node.stop())
    node.sim.faults.slow(30_000)
    const started = Date.now()
    const r = await runBix(['status', ...node.cliArgs(), '--rpc-timeout', '1'], isolated(t))
    assert.equal(r.code, 3, r.stderr)
    // a ratio: the node would answer after 30 s; status, told to wait 1 s, is done in well under half of that
    assert.ok(Date.now() - started < 15_000, `${Date.now() - started} ms`)
    assert.match(r.stdout, /^node +unavailable: no answer to \w+ from bitcoind at 127\.0\.0\.1:\d+ \(no answer within 1\.0 s\); raise --rpc-timeout if the node is busy$/m)
  })

  test('--verbose puts the per-method RPC counts on stderr, stdout stays the report', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(1)
    const r = await runBix(['status', ...node.cliArgs(), '--verbose', '--json'], isolated(t))
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as StatusJson).node?.blocks, 1)
    assert.match(r.stderr, /^rpc method +calls +errors/m)
    assert.match(r.stderr, /^getblockchaininfo +1 +0 /m)
    assert.match(r.stderr, /^uptime +2 +0 /m)
  })

  test('--help has a summary, the flags and examples', async () => {
    const r = await runBix(['status', '--help'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^Show the node and the index on one screen\.$/m)
    assert.match(r.stdout, /--rpccookiefile/)
    assert.match(r.stdout, /--db=<value>/)
    assert.match(r.stdout, /^EXAMPLES\n/m)
    assert.match(r.stdout, /\$ bix status --network regtest --json/)
  })

  test('on a terminal: colours, unless NO_COLOR is set', {skip: !hasScript && 'needs util-linux script for a terminal'}, async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(1)
    const env = {BIX_DATA_DIR: tempDir(t, 'bix-data-')}
    const coloured = await runOnTerminal(['status', ...node.cliArgs()], {env})
    assert.equal(coloured.code, 0, coloured.output)
    assert.match(coloured.output, /\x1b\[32msynced\x1b\[39m/)
    const plain = await runOnTerminal(['status', ...node.cliArgs()], {env: {...env, NO_COLOR: ''}})
    assert.equal(plain.code, 0, plain.output)
    assert.match(plain.output, /headers, synced/)
    assert.doesNotMatch(plain.output, ANSI)
  })
})

async function waitUntil(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
