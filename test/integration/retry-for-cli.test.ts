import assert from 'node:assert/strict'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {type BixResult, runBix, spawnBix} from '../support/cli.js'
import {indexDigest} from '../support/index-digest.js'
import {type TestNode, startTestNode} from '../support/test-node.js'
import {assertCleanFailure, assertConsistentPrefix, blocksServed, cleanDigest, fixture, indexArgs, tempDir, waitUntil} from '../reliability/support.js'

/**
 * --retry-for: a command waits that long for a node that is down, restarting
 * or warming up, says so on stderr without flooding it, and then exits 3.
 * Simulator: fault injection, even with BITCOIND set: only the simulator can
 * stay down for a chosen number of seconds or warm up on demand.
 *
 * Without --retry-for a run gives up after one round of backoff, 2 to 4 s
 * (the controls below show each outage outlasts that); the outages here last
 * 6 s. Times are asserted as ratios of the window, never tightly.
 */

const hashes = fixture.blocks.map((b) => b.hash)
/** longer than the client's own round of retries (at most 3.75 s of waits) */
const OUTAGE_MS = 6000

let node: TestNode
let clean: string

before(async () => {
  node = await startTestNode({fixtureChain: true, bitcoind: ''})
  clean = await cleanDigest({after}, node)
})
after(() => node?.stop())

const lines = (stderr: string, pattern: RegExp) => stderr.split('\n').filter((l) => pattern.test(l))
const WAIT_STARTS = /^node not answering \(.*\); waiting up to \S+ for it \(--retry-for\)$/
const STILL_WAITING = /^still waiting for the node after /
const BACK = /^the node answers again after /

/** The node goes away for `ms` (refusing connections, its cookie gone), then comes back with a new cookie. */
const outage = (ms: number, warmupMs?: number) => node.sim!.restart({downMs: ms, warmup: warmupMs ? {ms: warmupMs} : undefined})

function assertCompleted(r: BixResult, db: string, context: string): void {
  assert.equal(r.code, 0, `${context}: ${r.stderr}`)
  assert.doesNotMatch(r.stderr, /error/i, context)
  assert.equal(indexDigest(db), clean, `${context}: the index equals a clean run's`)
}

describe('--retry-for', () => {
  test('each command that talks to the node says its default and why in --help; a bad value is exit 2 in one line, from the flag or BIX_RETRY_FOR', async () => {
    const help = async (command: string) => (await runBix([command, '--help'])).stdout.replace(/\s+/g, ' ')
    for (const command of ['index', 'sync-mempool', 'broadcast']) {
      assert.match(await help(command), /--retry-for=<value> \[default: 30s, env: BIX_RETRY_FOR\] wait this long for a node that is down, restarting or warming up .* short by default|--retry-for=<value> \[default: 30s, env: BIX_RETRY_FOR\] .* rides out a node restart/, command)
    }
    assert.match(await help('status'), /--retry-for=<value> \[default: 0s, env: BIX_RETRY_FOR\] .* none by default: status tells how the node is now/)
    assert.match(await help('wait-sync'), /It has no --retry-for: waiting through outages is what it does, for as long as --timeout allows/)
    assert.doesNotMatch(await help('wait-sync'), /--retry-for=/)
    assert.doesNotMatch(await help('query address'), /--retry-for=/)

    const db = path.join(tempDir({after}), 'index.db')
    assertCleanFailure(await runBix(indexArgs(node, db, '--retry-for', '5x')), 2, /--retry-for must be a duration such as 90s, 10m, 1h or a number of seconds \(got "5x"\)/)
    assertCleanFailure(await runBix(indexArgs(node, db), {env: {BIX_RETRY_FOR: '-1'}}), 2, /--retry-for must be a duration/)
    assertCleanFailure(await runBix(indexArgs(node, db, '--retry-for', '2d')), 2, /--retry-for must be a duration/)
  })

  test('a node that is down at start and back after 6 s: index waits for it and completes; without a window the same outage is exit 3', async (t) => {
    const dir = tempDir(t)
    const [waiting, control] = [path.join(dir, 'waiting.db'), path.join(dir, 'control.db')]
    const back = outage(OUTAGE_MS)
    const started = Date.now()
    // BIX_RETRY_FOR unset: index's own default (30 s) is what rides this out
    const [r, c] = await Promise.all([runBix(indexArgs(node, waiting), {env: {BIX_RETRY_FOR: undefined}}), runBix(indexArgs(node, control, '--retry-for', '0'))])
    await back
    assertCompleted(r, waiting, 'default window')
    assert.ok(Date.now() - started >= OUTAGE_MS, 'it did wait for the node')
    assert.equal(lines(r.stderr, WAIT_STARTS).length, 1, r.stderr)
    assert.match(lines(r.stderr, WAIT_STARTS)[0], /waiting up to 30s/)
    assert.equal(lines(r.stderr, BACK).length, 1, r.stderr)
    assertCleanFailure(c, 3, /cannot (reach bitcoind|read cookie file)/, 'the control, --retry-for 0')
  })

  test('a node warming up for 6 s (RPC -28): index waits and says what the node is doing', async (t) => {
    const db = path.join(tempDir(t), 'index.db')
    const back = outage(100, OUTAGE_MS)
    const r = await runBix(indexArgs(node, db, '--retry-for', '1m'))
    await back
    assertCompleted(r, db, 'warm-up')
    assert.match(lines(r.stderr, WAIT_STARTS).join('\n'), /Loading block index/)
  })

  test('a restart mid-index longer than the old window but shorter than --retry-for: the run rides it out, identical to a clean run', async (t) => {
    const db = path.join(tempDir(t), 'index.db')
    node.sim!.faults.slow(4)
    t.after(() => node.sim!.faults.clear())
    const base = blocksServed(node)
    const run = spawnBix(indexArgs(node, db, '--batch-blocks', '4', '--rpc-parallelism', '2', '--source', 'rpc', '--retry-for', '45s'), {timeoutMs: 90_000})
    await waitUntil(() => blocksServed(node) - base >= 40 || run.child.exitCode !== null)
    await outage(OUTAGE_MS, 1000)
    const r = await run.done
    assertCompleted(r, db, 'restart mid-index')
    assert.equal(lines(r.stderr, WAIT_STARTS).length, 1, r.stderr)
    assert.ok(lines(r.stderr, BACK).length >= 1, r.stderr)
  })

  test('an outage that outlasts --retry-for: exit 3 after about the window, saying how long it waited; a line every ~15 s, none under --quiet; the index is a correct prefix', async (t) => {
    const dir = tempDir(t)
    const [loud, quiet] = [path.join(dir, 'loud.db'), path.join(dir, 'quiet.db')]
    const windowMs = 30_000
    // back well after the window: a run that ignored it would end later, and with exit 0
    const gone = outage(windowMs + 12_000)
    const started = Date.now()
    const [r, q] = await Promise.all([runBix(indexArgs(node, loud, '--retry-for', '30s')), runBix(indexArgs(node, quiet, '--retry-for', '30', '--quiet'))])
    const elapsed = Date.now() - started
    assert.ok(elapsed >= windowMs && elapsed < windowMs * 2, `gave up after ${elapsed} ms, for a window of ${windowMs} ms`)
    for (const [result, db] of [
      [r, loud],
      [q, quiet],
    ] as const) {
      const line = lines(result.stderr, /^error: /)[0] ?? ''
      assert.match(line, /^error: (cannot reach bitcoind at 127\.0\.0\.1:\d+ \(connection refused\)|cannot read cookie file).* \(waited 30s, --retry-for\)$/, result.stderr)
      assert.equal(result.code, 3)
      assertConsistentPrefix(db, hashes, 'after giving up')
    }
    // one line when the wait began, then one per ~15 s: not one per retry (a retry every 2-4 s)
    assert.equal(lines(r.stderr, WAIT_STARTS).length, 1, r.stderr)
    const still = lines(r.stderr, STILL_WAITING).length
    assert.ok(still >= 1 && still <= windowMs / 15_000, `${still} "still waiting" lines in ${windowMs} ms:\n${r.stderr}`)
    assert.equal(lines(r.stderr, BACK).length, 0)
    assertCleanFailure(q, 3, /waited 30s/, '--quiet: only the error line')
    await gone
  })

  test('status waits with --retry-for and reports the node; without it, it fails fast', async (t) => {
    const db = path.join(tempDir(t), 'none.db')
    const back = outage(4000)
    const started = Date.now()
    const [waited, fast] = await Promise.all([
      runBix(['status', ...node.cliArgs(), '--db', db, '--json', '--retry-for', '1m']),
      runBix(['status', ...node.cliArgs(), '--db', db, '--json'], {env: {BIX_RETRY_FOR: undefined}}),
    ])
    await back
    assert.equal(waited.code, 0, waited.stderr)
    assert.equal(JSON.parse(waited.stdout).node.chain, 'regtest')
    assert.equal(fast.code, 3, fast.stderr)
    assert.equal(JSON.parse(fast.stdout).node, null)
    assert.ok(Date.now() - started >= 4000)
  })
})

describe('--retry-for with sync-mempool and broadcast', () => {
  let wallet: TestNode
  before(async () => {
    wallet = await startTestNode({sim: {}, bitcoind: ''})
    wallet.sim!.mine(130)
  })
  after(() => wallet?.stop())

  const coinsLeft = () => wallet.sim!.chain.spendableCoins(wallet.sim!.wallet.scripts()).map(({txid, vout}) => ({txid, vout}))
  let used = 0
  const payment = (feeRate?: number) => {
    const coin = coinsLeft()[used++]
    return wallet.sim!.createTransaction({to: wallet.sim!.newAddress('bech32m'), value: 2_500_000n, feeRate, from: [coin]})
  }

  test('broadcast and sync-mempool wait through a 6 s restart (BIX_RETRY_FOR) and finish their work', async (t) => {
    const db = path.join(tempDir(t), 'index.db')
    assert.equal((await runBix(['index', ...wallet.cliArgs(), '--db', db, '--quiet'])).code, 0)
    const tx = payment()
    const back = wallet.sim!.restart({downMs: OUTAGE_MS})
    const env = {BIX_RETRY_FOR: '1m'}
    const sent = await runBix(['broadcast', ...wallet.cliArgs(), '--db', db, tx.toHex()], {env})
    await back
    assert.equal(sent.code, 0, sent.stderr)
    assert.equal(wallet.sim!.chain.mempool.has(tx.getId()), true)
    assert.equal(lines(sent.stderr, WAIT_STARTS).length, 1, sent.stderr)

    const again = wallet.sim!.restart({downMs: OUTAGE_MS})
    const synced = await runBix(['sync-mempool', ...wallet.cliArgs(), '--db', db], {env})
    await again
    assert.equal(synced.code, 0, synced.stderr)
    assert.equal(lines(synced.stderr, WAIT_STARTS).length, 1, synced.stderr)
  })

  test('what the node means is never retried, whatever the window: a rejection (-26) is exit 8 at once, sent once', async () => {
    const before = wallet.sim!.calls('sendrawtransaction')
    const started = Date.now()
    const r = await runBix(['broadcast', ...wallet.cliArgs(), '--db', '/nonexistent/index.db', payment(0).toHex(), '--retry-for', '1h'])
    assert.equal(r.code, 8, r.stderr)
    assert.match(r.stdout, /\[node code -26\]/)
    assert.equal(wallet.sim!.calls('sendrawtransaction') - before, 1, 'sent exactly once')
    assert.ok(Date.now() - started < 20_000)
    assert.equal(lines(r.stderr, WAIT_STARTS).length, 0)
  })
})
