import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {runBix, spawnBix} from '../support/cli.js'
import {ANSI, hasScript, runOnTerminal} from '../support/terminal.js'
import {type TestNode, rotateCookieCountingReads, startFaultSimulator, startTestNode} from '../support/test-node.js'
import {closedPort} from '../support/tiny-node.js'

/**
 * `bix wait-sync` run as a user runs it, against the simulator (or bitcoind
 * with BITCOIND set): it waits through a node that is down, warming up,
 * restarting or still in initial block download, and ends with exit 0 once
 * synced, 4 on --timeout, 2 or 3 at once when waiting cannot help. Warm-up,
 * 503s, headers far ahead and a cookie rotated mid-request are faults real Core
 * cannot give on demand: those tests ask for the simulator (and say so).
 */

interface WaitSyncJson {
  synced: true
  endpoint: string
  chain: string
  blocks: number
  headers: number
  verification_progress: number
  initial_block_download: boolean
  waited_seconds: number
}

interface ErrorJson {
  error: {kind: string; message: string; exit_code: number}
}

/** Polls often, so each test takes a second or two rather than the default interval's. */
const waitArgs = (node: TestNode, ...more: string[]) => ['wait-sync', ...node.cliArgs(), '--interval', '0.1', ...more]

/** A regtest datadir and port where nothing runs. */
async function nowhere(t: {after: (fn: () => void) => void}): Promise<string[]> {
  const datadir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-wait-sync-'))
  t.after(() => fs.rmSync(datadir, {recursive: true, force: true}))
  fs.mkdirSync(path.join(datadir, 'regtest'))
  // a cookie left behind by a bitcoind that crashed
  fs.writeFileSync(path.join(datadir, 'regtest', '.cookie'), `__cookie__:${'ab'.repeat(32)}`)
  return ['--datadir', datadir, '--network', 'regtest', '--rpcport', String(await closedPort())]
}

/**
 * Puts the node in initial block download, one block short of its headers;
 * returns what brings it out (mining that block). The simulator pretends; a
 * fresh bitcoind, whose only block is the 2011 genesis, really is in IBD
 * until it mines one.
 */
async function holdInInitialBlockDownload(node: TestNode): Promise<() => Promise<unknown>> {
  if (node.sim) {
    const target = (await node.tipHeight()) + 1
    node.sim.faults.initialBlockDownload(target)
    return () => node.mine(1)
  }
  const info = await node.rpc<{initialblockdownload: boolean}>('getblockchaininfo')
  assert.equal(info.initialblockdownload, true, 'a fresh bitcoind is in initial block download until it mines a block')
  return () => node.mine(1)
}

describe('bix wait-sync', () => {
  test('a synced node: exit 0 at once, the result on stdout, nothing on stderr off a terminal', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(2)
    const r = await runBix(waitArgs(node))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^synced: regtest at height 2 \(waited \d+ ms\)\n$/)
    assert.doesNotMatch(r.stderr, ANSI)

    // a long --interval: an answer that came after a second poll would show it
    const j = await runBix(['wait-sync', ...node.cliArgs(), '--interval', '5', '--json'])
    assert.equal(j.code, 0, j.stderr)
    assert.equal(j.stderr, '')
    const s = JSON.parse(j.stdout) as WaitSyncJson
    assert.deepEqual(
      {synced: s.synced, endpoint: s.endpoint, chain: s.chain, blocks: s.blocks, headers: s.headers, ibd: s.initial_block_download},
      {synced: true, endpoint: node.rpcUrl, chain: 'regtest', blocks: 2, headers: 2, ibd: false},
    )
    assert.ok(s.verification_progress > 0 && s.verification_progress <= 1)
    assert.ok(s.waited_seconds >= 0 && s.waited_seconds < 5, `a synced node is taken at its first answer, without waiting an interval (waited ${s.waited_seconds} s)`)
  })

  test('through warm-up (-28): says what the node is doing on stderr, then exits 0 (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator()
    t.after(() => node.stop())
    const sim = node.sim
    sim.faults.warmup({message: 'Verifying blocks…'})
    const run = spawnBix(waitArgs(node))
    t.after(() => run.kill('SIGKILL'))
    await run.waitFor(/^warming up: Verifying blocks…$/m)
    sim.faults.endWarmup()
    const r = await run.done
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^synced: regtest at height 0 \(waited [\d.]+ (ms|s)\)\n$/, 'stdout holds the result only')
    assert.doesNotMatch(r.stderr, ANSI)

    sim.faults.warmup({message: 'Loading block index…'})
    const json = spawnBix(waitArgs(node, '--json'))
    t.after(() => json.kill('SIGKILL'))
    const before = sim.calls('getblockchaininfo')
    await waitUntil(() => sim.calls('getblockchaininfo') >= before + 3)
    sim.faults.endWarmup()
    const j = await json.done
    assert.equal(j.code, 0, j.stderr)
    assert.equal(j.stderr, '', '--json prints no progress')
    assert.ok((JSON.parse(j.stdout) as WaitSyncJson).waited_seconds > 0)
  })

  test('a 503 storm (work queue full): the wait says the node is busy and rides it out (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator()
    t.after(() => node.stop())
    node.sim.faults.workQueueFull(6)
    const r = await runBix(waitArgs(node))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /^node busy: HTTP 503 Work queue depth exceeded$/m)
    assert.match(r.stdout, /^synced: regtest at height 0 /)
  })

  test('initial block download with headers ahead: shows blocks/headers while it catches up, exits 0 once there (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator()
    t.after(() => node.stop())
    await node.mine(1)
    node.sim.faults.initialBlockDownload(4)
    const run = spawnBix(waitArgs(node))
    t.after(() => run.kill('SIGKILL'))
    await run.waitFor(/^syncing 1\/4 blocks \(25\.0%\)$/m)
    await node.mine(1)
    await run.waitFor(/^syncing 2\/4 blocks \(50\.0%\)/m)
    await node.mine(2)
    const r = await run.done
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^synced: regtest at height 4 \(waited [\d.]+ s\)\n$/, 'stdout holds the result only')
  })

  test('--timeout while the node stays behind: exit 4, saying how far it got; --json keeps exit 4', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await holdInInitialBlockDownload(node)
    const started = Date.now()
    const r = await runBix(waitArgs(node, '--timeout', '1'))
    assert.equal(r.code, 4, r.stderr)
    // a limit the user sees: --timeout 1 must not hold a script up for ten
    assert.ok(Date.now() - started < 10_000)
    assert.match(r.stderr, /^error: timed out after 1\.\d s waiting for bitcoind at http:\/\/127\.0\.0\.1:\d+ to sync; last: syncing \d+\/\d+ blocks/m)
    assert.equal(r.stdout, '')

    const j = await runBix(waitArgs(node, '--timeout', '1', '--json'))
    assert.equal(j.code, 4)
    const {error} = JSON.parse(j.stdout) as ErrorJson
    assert.equal(error.kind, 'TimedOut')
    assert.equal(error.exit_code, 4)
    assert.match(error.message, /last: syncing/)
    assert.equal(j.stderr, '', '--json prints no progress')
  })

  test('--timeout with no node at all: exit 4, the last reason is the refused connection; --quiet leaves only the error', async (t) => {
    const args = await nowhere(t)
    const r = await runBix(['wait-sync', ...args, '--interval', '0.2', '--timeout', '1'])
    assert.equal(r.code, 4, r.stderr)
    assert.match(r.stderr, /^node unreachable: connection refused$/m)
    assert.match(r.stderr, /last: node unreachable: connection refused$/m)
    const quiet = await runBix(['wait-sync', ...args, '--interval', '0.2', '--timeout', '1', '--quiet'])
    assert.equal(quiet.code, 4)
    assert.match(quiet.stderr, /^error: timed out after [\d.]+ s waiting for bitcoind at http:\/\/127\.0\.0\.1:\d+ to sync; last: node unreachable: connection refused\n$/)
  })

  test('the node restarted mid-wait (refused, new cookie, warm-up): the wait goes on and ends once synced', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    const release = await holdInInitialBlockDownload(node)
    const run = spawnBix(waitArgs(node))
    t.after(() => run.kill('SIGKILL'))
    await run.waitFor(/^syncing /m)
    if (node.sim) await node.sim.restart({downMs: 500, warmup: {ms: 500}})
    else await node.restart()
    await run.waitFor(/^syncing (.|\n)*^(node unreachable|warming up|connection lost)(.|\n)*^syncing /m)
    await release()
    const r = await run.done
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^synced: regtest at height \d+ /)
    if (node.sim) {
      // a poll caught in the middle of the shutdown may see its connection dropped: that is the node going away too
      const phases = r.stderr
        .split('\n')
        .map((line) => /^(syncing|node unreachable|connection lost|warming up)/.exec(line)?.[1]?.replace('connection lost', 'node unreachable'))
        .filter(Boolean)
      assert.deepEqual(
        phases.filter((p, i) => p !== phases[i - 1]),
        ['syncing', 'node unreachable', 'warming up', 'syncing'],
        r.stderr,
      )
    }
  })

  test('a cookie that rotates under a request in flight: one 401, one fresh read, and the wait goes on (simulator: fault injection)', async (t) => {
    const node = await startFaultSimulator()
    t.after(() => node.stop())
    const sim = node.sim
    const release = await holdInInitialBlockDownload(node)
    const run = spawnBix(waitArgs(node))
    t.after(() => run.kill('SIGKILL'))
    await run.waitFor(/^syncing /m)
    // credentials are checked after the delay: a request that has just arrived sees the new cookie
    sim.faults.slow(300)
    const before = sim.calls('getblockchaininfo')
    await waitUntil(() => sim.calls('getblockchaininfo') > before, 5)
    const refusedBefore = sim.faults.authFailures
    const cookie = rotateCookieCountingReads(node)
    await waitUntil(() => sim.faults.authFailures > refusedBefore)
    sim.faults.slow(0)
    // a few more polls with the new cookie before the wait ends
    const polls = sim.calls('getblockchaininfo')
    await waitUntil(() => sim.calls('getblockchaininfo') >= polls + 3)
    const reads = cookie.reads()
    // (before this test's own client reads the cookie again, to mine)
    await cookie.stop()
    await release()
    const r = await run.done
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stderr, /authorization failed/)
    assert.equal(sim.faults.authFailures - refusedBefore, 1, 'the one request under way with the old cookie was refused, and no other')
    assert.equal(reads, 1, 'the new cookie was read once, and used from then on')
  })

  test('wrong credentials end the wait at once with exit 3: waiting would not fix them', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    const started = Date.now()
    // a long --interval: a wait that polled again before giving up would take longer than one
    const r = await runBix(['wait-sync', ...node.cliArgs(), '--interval', '5', '--rpcuser', 'nobody', '--rpcpassword', 'not-the-password', '--json'])
    assert.equal(r.code, 3, r.stdout)
    const {error} = JSON.parse(r.stdout) as ErrorJson
    assert.equal(error.kind, 'AuthFailed')
    assert.equal(error.exit_code, 3)
    assert.match(error.message, /rpcuser\/rpcpassword from flags were rejected/)
    assert.ok(!r.stdout.includes('not-the-password'))
    assert.ok(Date.now() - started < 5000, `ended before a second poll (${Date.now() - started} ms)`)
  })

  test('failover: the first --rpc-url is dead, the wait ends on the second', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    await node.mine(1)
    const dead = `http://127.0.0.1:${await closedPort()}`
    const r = await runBix(['wait-sync', '--datadir', node.datadir, '--network', 'regtest', '--rpc-url', `${dead},${node.rpcUrl}`, '--interval', '0.1', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as WaitSyncJson
    assert.equal(s.endpoint, node.rpcUrl)
    assert.equal(s.blocks, 1)
  })

  test('a node on another network than --network: refused at once, exit 2 (also under --json)', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    const args = ['wait-sync', '--datadir', node.datadir, '--network', 'signet', '--rpcport', String(node.rpcPort), '--rpccookiefile', node.cookiePath]
    const r = await runBix(args)
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /^error: the node runs regtest but --network is signet$/m)
    const j = await runBix([...args, '--json'])
    assert.equal(j.code, 2)
    assert.deepEqual(JSON.parse(j.stdout), {error: {kind: 'WrongNetwork', message: 'the node runs regtest but --network is signet', exit_code: 2}})
  })

  test('bad flags are exit 2, with the one JSON error shape under --json', async () => {
    const r = await runBix(['wait-sync', '--interval', '0', '--json'])
    assert.equal(r.code, 2)
    const {error} = JSON.parse(r.stdout) as ErrorJson
    assert.deepEqual([error.kind, error.exit_code], ['BadInput', 2])
    assert.match(error.message, /--interval must be a number of seconds, at least 0\.1 \(got "0"\)/)
    const timeout = await runBix(['wait-sync', '--timeout', 'soon', '--json'])
    assert.equal(timeout.code, 2)
    assert.deepEqual(Object.keys((JSON.parse(timeout.stdout) as ErrorJson).error), ['kind', 'message', 'exit_code'])
  })

  test('Ctrl-C ends the wait promptly with exit 130', async (t) => {
    const run = spawnBix(['wait-sync', ...(await nowhere(t)), '--interval', '5'])
    await run.waitFor(/^node unreachable/m)
    const interrupted = Date.now()
    run.kill('SIGINT')
    const r = await run.done
    assert.equal(r.code, 130, r.stderr)
    // a limit the user sees: Ctrl-C answered within 2 s, not at the end of the 5 s interval it came in
    assert.ok(Date.now() - interrupted < 2000, `${Date.now() - interrupted} ms`)
    assert.match(r.stderr, /^error: interrupted by SIGINT$/m)
  })

  test('--help has a summary, the exit codes and examples', async () => {
    const r = await runBix(['wait-sync', '--help'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^Wait until bitcoind answers and has finished initial block download\.$/m)
    assert.match(r.stdout, /--timeout=<value> +give up after this many seconds \(exit code 4\)/)
    assert.match(r.stdout, /^EXAMPLES\n/m)
    assert.match(r.stdout, /\$ bix wait-sync --network regtest --timeout 600 && bix index/)
  })

  test('on a terminal: a spinner and colour; with NO_COLOR, or no width, plain lines', {skip: !hasScript && 'needs util-linux script for a terminal'}, async (t) => {
    const args = ['wait-sync', ...(await nowhere(t)), '--interval', '0.2', '--timeout', '1']
    const fancy = await runOnTerminal(args)
    assert.equal(fancy.code, 4, fancy.output)
    assert.match(fancy.output, /\x1b\[31merror: timed out/)
    assert.doesNotMatch(fancy.output, /^node unreachable: connection refused\r?$/m, 'the spinner draws the state in place')
    const plain = await runOnTerminal(args, {env: {NO_COLOR: '1'}})
    assert.equal(plain.code, 4, plain.output)
    assert.match(plain.output, /^node unreachable: connection refused\r?$/m)
    assert.doesNotMatch(plain.output, ANSI)
    // a terminal that reports no size (docker run -t does that): a spinner there never stops redrawing
    const narrow = await runOnTerminal(args, {columns: 0, timeoutMs: 15_000})
    assert.equal(narrow.code, 4, narrow.output.slice(0, 2000))
    assert.match(narrow.output, /^node unreachable: connection refused\r?$/m)
  })
})

async function waitUntil(condition: () => boolean, everyMs = 10, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
