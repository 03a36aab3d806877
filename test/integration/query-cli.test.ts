import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {addressToScript} from '../../src/lib/chain/address.js'
import {runBix, spawnBix} from '../support/cli.js'
import {
  type CoreTruth,
  type MempoolTruth,
  type RpcNode,
  assertIndexAgrees,
  assertIndexAgreesWithCore,
  assertSameTruth,
  bixReports,
  coreChainStatsByHeight,
  coreMempoolTruth,
  coreTruth,
} from '../support/core-oracle.js'
import {type BuiltBlock, readScriptKindsFixture} from '../support/script-kinds-chain.js'
import {FIXTURE_DIR, readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * `bix query address` held to Bitcoin Core's own account of every output
 * script (test/support/core-oracle.ts: getblock 3, scantxoutset, the mempool
 * RPCs), on the recorded Core chain (after its reorg), on a Core-built chain
 * of non-address scripts with a reorg, and on wallet activity with an
 * invalidateblock reorg. With BITCOIND set the node is Core; without it the
 * simulator, whose answers are first held to the recordings of Core's
 * (chain-truth.json, script-kinds.json).
 */

const fixture = readFixtureChain()
const recorded = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'chain-truth.json'), 'utf8')) as {truth: CoreTruth; mempool: MempoolTruth}
const scriptKinds = readScriptKindsFixture()

interface Report {
  address: string | null
  scripthash: string
  script: string | null
  chain_stats: {funded_txo_count: number; funded_txo_sum: number; spent_txo_count: number; spent_txo_sum: number; tx_count: number}
  mempool_stats: {funded_txo_count: number; funded_txo_sum: number; spent_txo_count: number; spent_txo_sum: number; tx_count: number}
  balance: {confirmed: number; unconfirmed: number; total: number}
  utxos?: Array<{txid: string; vout: number; value: number; height: number | null}>
  history?: Array<{txid: string; height: number | null; time: number; value_change: number}>
  next_after?: {history?: string; utxos?: string}
  freshness: {index: {height: number; hash: string} | null; mempool: {synced_at: number | null; used: boolean}}
}

function tempDb(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-query-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'index.db')
}

async function index(node: TestNode, db: string): Promise<{reorgs: Array<{fork_height: number; undone: number}>}> {
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--json'])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as {reorgs: Array<{fork_height: number; undone: number}>}
}

/** Every answer of one `query address` run: an array, one report per target. */
async function query(node: TestNode, db: string, ...args: string[]): Promise<Report[]> {
  const r = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, '--json', ...args])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Report[]
}

/** The node's account of the recorded chain, held to the recording of Core's (on Core too: the recording must stay true). */
async function fixtureTruth(node: TestNode): Promise<CoreTruth> {
  const truth = await coreTruth(node)
  assertSameTruth(truth, recorded.truth)
  return truth
}

/** Hands blocks to the node as a peer would (submitblock); a block of a branch with less work is 'inconclusive'. */
async function submitBlocks(node: RpcNode, blocks: BuiltBlock[]): Promise<void> {
  for (const block of blocks) {
    const result = await node.rpc('submitblock', [block.hex])
    assert.ok(result === null || result === 'inconclusive', `block ${block.height} ${block.hash} refused: ${String(result)}`)
  }
}

/** Output scripts of the stale blocks' own transactions that the active chain never pays or spends (Core keeps stale blocks: getblock 3). */
async function staleOnlyScripts(node: RpcNode, staleHashes: string[], truth: CoreTruth): Promise<{txids: string[]; scripts: string[]}> {
  const active = new Set(truth.txids)
  const known = new Set(truth.scripts.map((s) => s.script))
  const txids: string[] = []
  const scripts = new Set<string>()
  for (const hash of staleHashes) {
    const block = await node.rpc<{tx: Array<{txid: string; vin: Array<{prevout?: {scriptPubKey: {hex: string}}}>; vout: Array<{scriptPubKey: {hex: string}}>}>}>('getblock', [hash, 3])
    for (const tx of block.tx) {
      if (active.has(tx.txid)) continue
      txids.push(tx.txid)
      for (const out of tx.vout) if (!known.has(out.scriptPubKey.hex)) scripts.add(out.scriptPubKey.hex)
      for (const input of tx.vin) if (input.prevout && !known.has(input.prevout.scriptPubKey.hex)) scripts.add(input.prevout.scriptPubKey.hex)
    }
  }
  return {txids, scripts: [...scripts]}
}

/** How many scripts a test held to whose answers: Core's, or the simulator's held to a recording of Core's. */
const log = (t: {diagnostic: (s: string) => void}, node: TestNode, what: string, n: number, recording = true) =>
  t.diagnostic(`${what}: ${n} scripts checked against ${node.kind === 'bitcoind' ? 'Core' : recording ? 'the simulator, held to recorded Core answers' : 'the simulator'}`)

describe('bix query address', () => {
  test('on the recorded Core chain after its reorg, every output script has exactly Core\'s chain_stats, UTXOs, balance and history; the stale branch shows nowhere', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const truth = await fixtureTruth(node)
    assert.equal(truth.tip.hash, fixture.tip)

    // the stale branch's own transactions (in neither the chain nor the mempool) pay and spend scripts that must show nothing of them
    const stale = await staleOnlyScripts(node, fixture.stale.map((b) => b.hash), truth)
    assert.equal(stale.txids.length, fixture.stale.length + 2, 'the stale coinbases and the 2 stale-only payments')
    const checked = await assertIndexAgrees(db, truth, {absent: stale.scripts})
    assert.equal(checked, truth.scripts.length + stale.scripts.length)
    assert.ok(truth.scripts.filter((s) => s.chain_stats.spent_txo_count > 0).length >= 40, 'scripts with spends among those checked')
    log(t, node, 'recorded chain', checked)
  })

  test('the genesis coinbase: Core shows its output in block 0 but never as a UTXO, and bix indexes none of it', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const truth = await fixtureTruth(node)
    const {genesis} = truth
    assert.equal(genesis.value, 50 * 1e8, 'getblock 3 of block 0 shows the 50 BTC output')
    const scan = await node.rpc<{unspents: unknown[]; total_amount: number}>('scantxoutset', ['start', [{desc: `raw(${genesis.script})`}]])
    assert.deepEqual(scan.unspents, [], 'Core\'s UTXO set lacks the genesis output')
    assert.equal(await node.rpc('gettxout', [genesis.txid, genesis.vout]), null)
    assert.equal(truth.scripts.find((s) => s.script === genesis.script), undefined, 'nothing else in this chain pays the genesis script')

    const [report] = await bixReports(db, [genesis.script])
    assert.deepEqual(report.chain_stats, {funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0, tx_count: 0})
    assert.deepEqual(report.history, [])
    assert.deepEqual(report.utxos, [])
    assert.equal(report.balance.total, 0)
    assert.equal(report.first_activity, null)
  })

  test('on a Core-built chain of P2PK, bare multisig, OP_TRUE, P2WSH, P2SH, P2TR, valued OP_RETURN and coinbases to them, bix agrees with Core on every script before and after its reorg', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    const db = tempDb(t)
    // the transactions Core's mempool policy refused went into blocks through generateblock
    assert.ok(Object.keys(scriptKinds.refusedByPolicy).length >= 4, JSON.stringify(scriptKinds.refusedByPolicy))

    await submitBlocks(node, [...scriptKinds.blocks, ...scriptKinds.stale])
    await index(node, db)
    const before = await coreTruth(node)
    assertSameTruth(before, scriptKinds.truthBeforeReorg)
    const checkedBefore = await assertIndexAgrees(db, before)

    await submitBlocks(node, scriptKinds.replacement)
    const {reorgs} = await index(node, db)
    assert.deepEqual(reorgs, [{fork_height: scriptKinds.stale[0].height - 1, undone: scriptKinds.stale.length}])
    const after = await coreTruth(node)
    assertSameTruth(after, scriptKinds.truth)
    for (const txid of scriptKinds.staleOnly) assert.ok(!after.txids.includes(txid), `${txid} is only in the stale branch`)
    const stale = await staleOnlyScripts(node, scriptKinds.stale.map((b) => b.hash), after)
    const checkedAfter = await assertIndexAgrees(db, after, {absent: stale.scripts})

    // what the chain was built to hold is all there, as Core says
    const of = (name: string) => after.scripts.find((s) => s.script === scriptKinds.scripts[name])
    for (const name of ['p2pk', 'multisig', 'opTrue', 'p2wshOpTrue', 'p2shOpTrue', 'p2pkh', 'p2shP2wpkh', 'p2tr', 'opReturnData', 'opReturnValued']) {
      assert.ok(of(name), `${name} has activity`)
    }
    for (const name of ['p2pk', 'multisig', 'opTrue', 'p2wshOpTrue', 'p2shOpTrue', 'p2pkh', 'p2shP2wpkh', 'p2tr']) assert.ok(of(name)!.chain_stats.spent_txo_count > 0, `${name} spent`)
    assert.equal(of('opReturnValued')!.chain_stats.funded_txo_sum, 1000)
    assert.deepEqual(of('opReturnValued')!.utxos, [], 'an OP_RETURN output is no UTXO, even with value')
    for (const {txid, after: height} of scriptKinds.reconfirmed) assert.ok(after.scripts.some((s) => s.history.some((h) => h.txid === txid && h.height === height)))
    log(t, node, 'script kinds chain before its reorg', checkedBefore)
    log(t, node, 'script kinds chain after its reorg', checkedAfter)
  })

  test('wallet payments, then a reorg made with invalidateblock: bix agrees with the node on every output script before and after', async (t) => {
    const node = await startTestNode({matureBlocks: 101})
    t.after(() => node.stop())
    const db = tempDb(t)
    const types = ['legacy', 'p2sh-segwit', 'bech32', 'bech32m'] as const
    const addresses = await Promise.all(types.map((type) => node.newAddress(type)))
    for (const [i, address] of addresses.entries()) await node.send(address, 100_000 * (i + 1))
    await node.mine(1)
    for (const [i, address] of addresses.entries()) await node.send(address, 20_000 * (i + 1))
    const [replaced] = await node.mine(1)
    await index(node, db)
    const checkedBefore = await assertIndexAgreesWithCore(db, node)

    // the last block goes away; its payments return to the mempool and are mined again in a replacement block,
    // paid to another address (the same coinbase, transactions and time would make the very block Core was told is invalid)
    await node.invalidate(replaced)
    await node.mine(2, await node.newAddress('bech32m'))
    assert.deepEqual((await index(node, db)).reorgs, [{fork_height: 102, undone: 1}])
    const checkedAfter = await assertIndexAgreesWithCore(db, node)
    log(t, node, 'wallet chain before its reorg', checkedBefore, false)
    log(t, node, 'wallet chain after its reorg', checkedAfter, false)
  })

  test('after bix sync-mempool, unconfirmed activity, balances and pending spends are the node\'s mempool\'s; once the index moves on they are left out', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const synced = await runBix(['sync-mempool', ...node.cliArgs(), '--db', db, '--quiet'])
    assert.equal(synced.code, 0, synced.stderr)
    const truth = await coreTruth(node)
    const pool = await coreMempoolTruth(node, truth)
    assertSameTruth(truth, recorded.truth, {live: pool, recorded: recorded.mempool})
    assert.ok(pool.scripts.length >= 3, `${pool.scripts.length} scripts the mempool touches`)
    assert.ok(pool.scripts.some((s) => s.pending_spends.some((p) => p.height !== null)), 'a confirmed UTXO the mempool spends')
    const checked = await assertIndexAgrees(db, truth, {mempool: pool})
    log(t, node, 'recorded chain and its mempool', checked)

    // a block later (mined by the node, indexed by bix), the snapshot no longer matches the index: left out, with a warning
    await node.mine(1)
    await index(node, db)
    // the mempool's transactions are confirmed now: the chain side answers for them
    assert.ok((await assertIndexAgreesWithCore(db, node)) > truth.scripts.length)
    const later = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, fixture.miner, '--json'])
    assert.equal(later.code, 0, later.stderr)
    assert.equal((JSON.parse(later.stdout) as Report[])[0].freshness.mempool.used, false)
    assert.match(later.stderr, /the mempool snapshot was taken at another index tip.*run bix sync-mempool/)
  })

  test('an address, its --scripthash and its --script get Core\'s answer for that script; the human answer shows balance and freshness', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const truth = await fixtureTruth(node)
    const address = fixture.addresses[8]
    const script = addressToScript(address, 'regtest').toString('hex')
    const core = truth.scripts.find((s) => s.script === script)
    assert.ok(core && core.chain_stats.tx_count > 0, `Core knows activity of ${address}`)
    const [byAddress] = await query(node, db, address)
    const [byHash] = await query(node, db, '--scripthash', byAddress.scripthash)
    const [byScript] = await query(node, db, '--script', script)
    for (const report of [byAddress, byHash, byScript]) {
      assert.deepEqual(report.chain_stats, core.chain_stats)
      assert.equal(report.balance.confirmed, core.utxos.reduce((sum, u) => sum + u.value, 0))
    }
    assert.equal(byHash.address, null)
    assert.equal(byScript.address, address)

    const human = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, address, '--history', '--utxos'])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^address\\s+${address}$`, 'm'))
    const balance = core.utxos.reduce((sum, u) => sum + u.value, 0)
    const btc = `${Math.floor(balance / 1e8).toLocaleString('en-US')}.${String(balance % 1e8).padStart(8, '0')}`
    assert.match(human.stdout, new RegExp(`^balance\\s+${btc.replace('.', '\\.')} BTC`, 'm'))
    assert.match(human.stdout, new RegExp(`^index\\s+height 147 \\(${fixture.tip}\\), regtest$`, 'm'))
    assert.match(human.stdout, /^mempool\s+never synced/m)
    assert.match(human.stdout, new RegExp(`^history \\(${core.history.length} shown, newest first\\)$`, 'm'))
  })

  test('--limit pages Core\'s history newest first, and --after continues it to the end without gaps', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const truth = await fixtureTruth(node)
    const miner = truth.scripts.find((s) => s.script === addressToScript(fixture.miner, 'regtest').toString('hex'))!
    const [all] = await query(node, db, fixture.miner, '--history', '--utxos', '--limit', '0')
    assert.ok(all.history!.length > 10)
    assert.deepEqual(all.history!.map(({txid, height, value_change}) => ({txid, height, value_change})), miner.history, 'newest first, as Core\'s chain orders them')
    assert.deepEqual([...all.utxos!].sort((a, b) => (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : a.vout - b.vout)), miner.utxos)

    const paged: string[] = []
    let after: string | undefined
    for (;;) {
      const [page] = await query(node, db, fixture.miner, '--history', '--limit', '15', ...(after ? ['--after', after] : []))
      assert.ok(page.history!.length <= 15)
      paged.push(...page.history!.map((h) => h.txid))
      after = page.next_after?.history
      if (!after) break
    }
    assert.deepEqual(paged, miner.history.map((h) => h.txid))

    const [firstUtxos] = await query(node, db, fixture.miner, '--utxos', '--limit', '3')
    assert.equal(firstUtxos.utxos!.length, 3)
    const [rest] = await query(node, db, fixture.miner, '--utxos', '--limit', '0', '--after', firstUtxos.next_after!.utxos!)
    assert.deepEqual([...firstUtxos.utxos!, ...rest.utxos!], all.utxos)
  })

  test('malformed addresses and addresses of another network exit 2 with the reason, on one line', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const cases: Array<[string[], RegExp]> = [
      [['bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'], /address bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq is for main, but the index is regtest/],
      [['bcrt1 q'], /"bcrt1 q": address contains spaces/],
      [['bcrt1qez24hd9mhd76slc7plhv6l9ls503d3ucvwelyz'], /checksum/i],
      [['not-an-address'], /address not-an-address has the invalid character/],
      [['--scripthash', 'abcd'], /--scripthash "abcd": .*64 hex/],
      [['--script', 'xyz'], /--script "xyz": not an even number of hex digits/],
      [[], /nothing to look up/],
      [[fixture.miner, '--history', '--after', 'f'.repeat(64)], /--after f{64}: not a transaction of this address's history/],
    ]
    for (const [args, reason] of cases) {
      const r = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, ...args])
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, reason)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.equal(r.stdout, '')
    }
  })

  test('a query needs no node; the index of another network is refused; a missing index says to run bix index', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const minerScript = addressToScript(fixture.miner, 'regtest').toString('hex')
    const core = (await fixtureTruth(node)).scripts.find((s) => s.script === minerScript)!
    await node.stop()
    const offline = await runBix(['query', 'address', '--network', 'regtest', '--db', db, fixture.miner, '--rpcport', '1', '--json'])
    assert.equal(offline.code, 0, offline.stderr)
    assert.deepEqual((JSON.parse(offline.stdout) as Report[])[0].chain_stats, core.chain_stats)
    assert.equal(offline.stderr, '', 'no warning when the node is simply not there')

    const wrong = await runBix(['query', 'address', '--network', 'main', '--db', db, 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'])
    assert.equal(wrong.code, 2, wrong.stderr)
    assert.match(wrong.stderr, /is for regtest, not main/)

    const missing = await runBix(['query', 'address', '--network', 'regtest', '--db', path.join(path.dirname(db), 'none.db'), fixture.miner])
    assert.equal(missing.code, 7, missing.stderr)
    assert.match(missing.stderr, /no index at .*none\.db; run bix index first/)
  })

  test('a lagging index says so when the node is reachable', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--to-height', '140'])
    assert.equal(r.code, 0, r.stderr)
    const q = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, fixture.miner])
    assert.equal(q.code, 0, q.stderr)
    assert.match(q.stderr, /warning: the index is 7 blocks behind the node \(index 140, node 147\); run bix index/)
    const quiet = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, fixture.miner, '--offline'])
    assert.equal(quiet.stderr, '')
  })

  test('simulator: fault injection — queries keep answering while an index run writes, and each answer is Core\'s chain up to the tip it names, never half a batch', async (t) => {
    // the simulator even with BITCOIND set: only it can be slowed down to keep an index run going
    const node = await startTestNode({fixtureChain: true, bitcoind: ''})
    t.after(() => node.stop())
    assert.ok(node.sim)
    const db = tempDb(t)
    const truth = await fixtureTruth(node)
    const minerScript = addressToScript(fixture.miner, 'regtest').toString('hex')
    const expected = await coreChainStatsByHeight(node, minerScript, truth.tip.height)
    const first = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--to-height', '20'])
    assert.equal(first.code, 0, first.stderr)
    node.sim.faults.slow(15)
    const run = spawnBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--source', 'rpc', '--rpc-parallelism', '1', '--batch-blocks', '5'])
    t.after(() => run.kill('SIGKILL'))
    let last = -1
    const heights = new Set<number>()
    const exited = run.done.then(() => true)
    while (!(await Promise.race([exited, new Promise<false>((resolve) => setTimeout(() => resolve(false), 200))]))) {
      const r = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, fixture.miner, '--json', '--offline'])
      assert.equal(r.code, 0, r.stderr)
      const [report] = JSON.parse(r.stdout) as Report[]
      const height = report.freshness.index!.height
      assert.ok(height >= last, 'the tip only moves forward')
      // a whole batch or nothing: the figures are those of Core's chain up to exactly that height
      assert.deepEqual(report.chain_stats, expected[height], `chain_stats at index height ${height}`)
      last = height
      heights.add(height)
    }
    assert.equal((await run.done).code, 0)
    assert.ok(heights.size >= 2, `answers at ${heights.size} index heights during the run`)
    assert.ok([...heights].some((h) => h > 20 && expected[h].tx_count !== expected[20].tx_count), 'an answer after a batch that changed the figures')
  })
})
