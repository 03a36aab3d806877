import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {addressToScript} from '../../src/lib/chain/address.js'
import {type AddressOracle, buildAddressOracle} from '../support/address-oracle.js'
import {runBix, spawnBix} from '../support/cli.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * `bix query address` against an index of the recorded Core chain (reorg
 * included) and of wallet activity with an invalidateblock reorg: every
 * answer must equal the node's own scantxoutset and an account of the chain
 * made with bitcoinjs-lib. Runs against the simulator, or bitcoind with BITCOIND set.
 */

const fixture = readFixtureChain()

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

interface ScanResult {
  success: boolean
  unspents: Array<{txid: string; vout: number; amount: number; height: number; scriptPubKey: string}>
  total_amount: number
}

function tempDb(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-query-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'index.db')
}

const sats = (btc: number) => Math.round(btc * 1e8)

async function index(node: TestNode, db: string): Promise<void> {
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet'])
  assert.equal(r.code, 0, r.stderr)
}

async function query(node: TestNode, db: string, ...args: string[]): Promise<Report | Report[]> {
  const r = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, '--json', ...args])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Report | Report[]
}

/** Checks one address's report against scantxoutset (UTXOs, balance) and the oracle (stats, history). */
async function assertMatchesNode(node: TestNode, oracle: AddressOracle, address: string, report: Report): Promise<void> {
  const script = addressToScript(address, 'regtest').toString('hex')
  const scan = await node.rpc<ScanResult>('scantxoutset', ['start', [`addr(${address})`]])
  assert.ok(scan.success)
  const expectedUtxos = scan.unspents.map((u) => `${u.txid}:${u.vout}:${sats(u.amount)}:${u.height}`).sort()
  const gotUtxos = (report.utxos ?? []).map((u) => `${u.txid}:${u.vout}:${u.value}:${u.height}`).sort()
  assert.deepEqual(gotUtxos, expectedUtxos, `UTXOs of ${address}`)
  assert.equal(report.balance.confirmed, sats(scan.total_amount), `balance of ${address}`)

  const truth = oracle.byScript(script)
  const spent = truth.outputs.filter((o) => o.spentBy !== null)
  assert.deepEqual(report.chain_stats, {
    funded_txo_count: truth.outputs.length,
    funded_txo_sum: truth.outputs.reduce((sum, o) => sum + o.value, 0),
    spent_txo_count: spent.length,
    spent_txo_sum: spent.reduce((sum, o) => sum + o.value, 0),
    tx_count: truth.txs.size,
  }, `chain_stats of ${address}`)
  const expectedHistory = [...truth.txs.entries()]
    .map(([txid, t]) => `${txid}:${t.height}:${t.valueChange}`)
    .sort()
  const gotHistory = (report.history ?? []).map((h) => `${h.txid}:${h.height}:${h.value_change}`).sort()
  assert.deepEqual(gotHistory, expectedHistory, `history of ${address}`)
}

describe('bix query address', () => {
  test('on the recorded Core chain, every address has exactly the node\'s balance, UTXOs and history; nothing of the stale branch shows', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const oracle = await buildAddressOracle(node)
    const reports = (await query(node, db, ...fixture.addresses, fixture.miner, '--utxos', '--history', '--limit', '0')) as Report[]
    assert.equal(reports.length, fixture.addresses.length + 1)

    let active = 0
    for (const [i, address] of [...fixture.addresses, fixture.miner].entries()) {
      assert.equal(reports[i].address, address)
      assert.equal(reports[i].freshness.index?.hash, fixture.tip)
      await assertMatchesNode(node, oracle, address, reports[i])
      if (reports[i].chain_stats.tx_count > 0) active++
    }
    assert.ok(active >= 30, `${active} addresses with activity`)

    // the stale branch's own transactions (in neither the chain nor the mempool) appear nowhere
    const staleOnly = new Set<string>()
    const {Block} = await import('bitcoinjs-lib')
    for (const block of fixture.stale) for (const tx of Block.fromHex(block.hex).transactions!) if (!oracle.txids.has(tx.getId())) staleOnly.add(tx.getId())
    assert.ok(staleOnly.size >= 2)
    for (const report of reports) for (const h of report.history!) assert.ok(!staleOnly.has(h.txid), `stale ${h.txid} in the history of ${report.address}`)
  })

  test('wallet payments, then a reorg made with invalidateblock: the answers follow the node', async (t) => {
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

    // the last block goes away; its payments return to the mempool and are mined again one block later
    await node.invalidate(replaced)
    await node.mine(2)
    const again = await runBix(['index', ...node.cliArgs(), '--db', db, '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual((JSON.parse(again.stdout) as {reorgs: unknown[]}).reorgs, [{forkHeight: 102, undone: 1}])
    const oracle = await buildAddressOracle(node)
    const reports = (await query(node, db, ...addresses, '--utxos', '--history', '--limit', '0')) as Report[]
    for (const [i, address] of addresses.entries()) await assertMatchesNode(node, oracle, address, reports[i])
  })

  test('after bix sync-mempool, unconfirmed activity shows as the node\'s mempool says, and is left out once the index moves on', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const synced = await runBix(['sync-mempool', ...node.cliArgs(), '--db', db, '--quiet'])
    assert.equal(synced.code, 0, synced.stderr)
    const oracle = await buildAddressOracle(node)

    // what the node's mempool pays to and takes from each address, worked out with bitcoinjs-lib
    const {Transaction} = await import('bitcoinjs-lib')
    const pool = new Map<string, {funded: number; fundedSum: number; spent: number; spentSum: number; txs: Set<string>}>()
    const mempoolTxs = new Map<string, InstanceType<typeof Transaction>>()
    for (const txid of await node.rpc<string[]>('getrawmempool')) mempoolTxs.set(txid, Transaction.fromHex(await node.rpc<string>('getrawtransaction', [txid])))
    const scriptOf = (txid: string, vout: number): {script: string; value: number} => {
      const parent = mempoolTxs.get(txid)
      if (parent) return {script: Buffer.from(parent.outs[vout].script).toString('hex'), value: Number(parent.outs[vout].value)}
      for (const address of [...fixture.addresses, fixture.miner]) {
        const script = addressToScript(address, 'regtest').toString('hex')
        const out = oracle.byScript(script).outputs.find((o) => o.txid === txid && o.vout === vout)
        if (out) return {script, value: out.value}
      }
      return {script: '', value: 0}
    }
    const entry = (script: string) => {
      let e = pool.get(script)
      if (!e) pool.set(script, (e = {funded: 0, fundedSum: 0, spent: 0, spentSum: 0, txs: new Set()}))
      return e
    }
    for (const [txid, tx] of mempoolTxs) {
      for (const out of tx.outs) {
        const e = entry(Buffer.from(out.script).toString('hex'))
        e.funded++
        e.fundedSum += Number(out.value)
        e.txs.add(txid)
      }
      for (const input of tx.ins) {
        const prev = scriptOf(Buffer.from(input.hash).reverse().toString('hex'), input.index)
        const e = entry(prev.script)
        e.spent++
        e.spentSum += prev.value
        e.txs.add(txid)
      }
    }

    const addresses = [...fixture.addresses, fixture.miner]
    const reports = (await query(node, db, ...addresses, '--utxos', '--history', '--limit', '0')) as Report[]
    let touched = 0
    for (const [i, address] of addresses.entries()) {
      const report = reports[i]
      assert.ok(report.freshness.mempool.used)
      const e = pool.get(addressToScript(address, 'regtest').toString('hex'))
      assert.deepEqual(
        report.mempool_stats,
        {funded_txo_count: e?.funded ?? 0, funded_txo_sum: e?.fundedSum ?? 0, spent_txo_count: e?.spent ?? 0, spent_txo_sum: e?.spentSum ?? 0, tx_count: e?.txs.size ?? 0},
        `mempool_stats of ${address}`,
      )
      const unconfirmed = report.history!.filter((h) => h.height === null).map((h) => h.txid).sort()
      assert.deepEqual(unconfirmed, [...(e?.txs ?? [])].sort(), `unconfirmed history of ${address}`)
      assert.equal(report.balance.total, report.balance.confirmed + (e ? e.fundedSum - e.spentSum : 0))
      // nothing spendable is spent by the mempool, and every UTXO the mempool spends is listed as pending
      const pending = new Set((report as Report & {pending_spends: Array<{txid: string; vout: number}>}).pending_spends.map((p) => `${p.txid}:${p.vout}`))
      for (const u of report.utxos!) assert.ok(!pending.has(`${u.txid}:${u.vout}`))
      if (e) touched++
    }
    assert.ok(touched >= 3, `${touched} addresses with unconfirmed activity`)

    // a block later (mined by the node, indexed by bix), the snapshot no longer matches the index: left out, with a warning
    await node.mine(1)
    await index(node, db)
    const later = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, fixture.miner, '--json'])
    assert.equal(later.code, 0, later.stderr)
    assert.equal((JSON.parse(later.stdout) as Report).freshness.mempool.used, false)
    assert.match(later.stderr, /the mempool snapshot was taken at another index tip.*run bix sync-mempool/)
  })

  test('--scripthash and --script find the same outputs as the address; the human answer shows balance and freshness', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const address = fixture.addresses[8]
    const byAddress = (await query(node, db, address)) as Report
    const script = addressToScript(address, 'regtest').toString('hex')
    const byHash = (await query(node, db, '--scripthash', byAddress.scripthash)) as Report
    const byScript = (await query(node, db, '--script', script)) as Report
    assert.deepEqual(byHash.chain_stats, byAddress.chain_stats)
    assert.deepEqual(byScript.chain_stats, byAddress.chain_stats)
    assert.equal(byHash.address, null)
    assert.equal(byScript.address, address)

    const human = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, address, '--history', '--utxos'])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^address\\s+${address}$`, 'm'))
    assert.match(human.stdout, /^balance\s+[\d,]+\.\d{8} BTC/m)
    assert.match(human.stdout, new RegExp(`^index\\s+height 147 \\(${fixture.tip}\\), regtest$`, 'm'))
    assert.match(human.stdout, /^mempool\s+never synced/m)
    assert.match(human.stdout, /^history \(\d+ shown, newest first\)$/m)
  })

  test('--limit pages the history newest first, and --after continues it to the end without gaps', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    await index(node, db)
    const all = (await query(node, db, fixture.miner, '--history', '--utxos', '--limit', '0')) as Report
    assert.ok(all.history!.length > 10)
    const heights = all.history!.map((h) => h.height!)
    assert.deepEqual(heights, [...heights].sort((a, b) => b - a), 'newest first')

    const paged: string[] = []
    let after: string | undefined
    for (;;) {
      const page = (await query(node, db, fixture.miner, '--history', '--limit', '15', ...(after ? ['--after', after] : []))) as Report
      paged.push(...page.history!.map((h) => h.txid))
      after = page.next_after?.history
      if (!after) break
    }
    assert.deepEqual(paged, all.history!.map((h) => h.txid))

    const firstUtxos = (await query(node, db, fixture.miner, '--utxos', '--limit', '3')) as Report
    const rest = (await query(node, db, fixture.miner, '--utxos', '--limit', '0', '--after', firstUtxos.next_after!.utxos!)) as Report
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
    await node.stop()
    const offline = await runBix(['query', 'address', '--network', 'regtest', '--db', db, fixture.miner, '--rpcport', '1', '--json'])
    assert.equal(offline.code, 0, offline.stderr)
    assert.ok((JSON.parse(offline.stdout) as Report).chain_stats.tx_count > 0)
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

  test('queries keep answering while an index run writes, and never see half a batch', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    if (!node.sim) return t.skip('needs the simulator to slow the node down')
    const db = tempDb(t)
    const first = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--to-height', '20'])
    assert.equal(first.code, 0, first.stderr)
    node.sim.faults.slow(15)
    const run = spawnBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--source', 'rpc', '--rpc-parallelism', '1', '--batch-blocks', '5'])
    t.after(() => run.kill('SIGKILL'))
    let last = -1
    let answers = 0
    const exited = run.done.then(() => true)
    while (!(await Promise.race([exited, new Promise<false>((resolve) => setTimeout(() => resolve(false), 200))]))) {
      const r = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, fixture.miner, '--json', '--offline'])
      assert.equal(r.code, 0, r.stderr)
      const report = JSON.parse(r.stdout) as Report
      const height = report.freshness.index!.height
      assert.ok(height >= last, 'the tip only moves forward')
      // a whole batch or nothing: every block up to the tip is there, so the coinbases paid so far are counted
      assert.ok(report.chain_stats.funded_txo_count > 0)
      last = height
      answers++
    }
    assert.equal((await run.done).code, 0)
    assert.ok(answers >= 2, `${answers} answers during the run`)
  })
})
