import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, test} from 'node:test'

import {addressToScript} from '../../src/lib/chain/address.js'
import {BACKENDS, type Backend, assertNoPassword, newIndex, pg, shownAs, skipUnlessInstalled} from '../support/backends.js'
import {type BixOptions, type BixResult, runBix, spawnBix} from '../support/cli.js'
import {type BixReport, type CoreTruth, type MempoolTruth, assertIndexAgrees, assertSameTruth, bixReports, coreChainStatsByHeight, coreMempoolTruth, coreTruth} from '../support/core-oracle.js'
import {SKIP_MESSAGE} from '../support/postgres-server.js'
import {FIXTURE_DIR} from '../support/simnode/fixture-chain.js'
import {type TestNode, startFaultSimulator, startTestNode} from '../support/test-node.js'
import {assertCleanFailure, fixture} from '../reliability/support.js'

/**
 * Every promise the index makes, kept the same by both backends: a SQLite
 * file and a PostgreSQL database (--db postgres://...). One test body per
 * scenario, run once per backend; answers are held to the node's (Bitcoin
 * Core's with BITCOIND set, else the simulator's, itself held to the
 * recording of Core's chain), and the two backends' answers to each other.
 * PostgreSQL is a throwaway server on a Unix socket (test/support/postgres-server.ts).
 * Reorgs, kill -9 of bix index, and several bix processes at once are held
 * to the same promises on both backends in test/reliability (reorgs.test.ts,
 * kill-resume.test.ts, concurrency.test.ts).
 */

const recorded = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'chain-truth.json'), 'utf8')) as {truth: CoreTruth; mempool: MempoolTruth}

/** bix as a user runs it; no PostgreSQL password ever shows in what it prints. */
async function bix(args: string[], opts?: BixOptions): Promise<BixResult> {
  return assertNoPassword(await runBix(args, opts))
}

async function index(node: TestNode, db: string, ...more: string[]): Promise<{height: number; hash: string; reorgs: Array<{fork_height: number; undone: number}>}> {
  const r = await bix(['index', ...node.cliArgs(), '--db', db, '--json', ...more], {timeoutMs: 120_000})
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout)
}

async function queryJson<T>(node: TestNode, db: string, command: string[], ...args: string[]): Promise<T> {
  const r = await bix(['query', ...command, ...node.cliArgs(), '--db', db, '--json', ...args])
  assert.equal(r.code, 0, r.stderr + r.stdout)
  return JSON.parse(r.stdout) as T
}

/** The node's account of the recorded chain, held to the recording of Core's (on Core too). */
async function fixtureTruth(node: TestNode): Promise<CoreTruth> {
  const truth = await coreTruth(node)
  assertSameTruth(truth, recorded.truth)
  return truth
}

/** Every script's answer, without the parts that say when it was asked: for comparing two indexes of one chain. */
async function answers(db: string, scripts: string[]): Promise<string> {
  const reports = await bixReports(db, scripts)
  return JSON.stringify(reports.map(({freshness: _, ...rest}: BixReport & {freshness?: unknown}) => rest))
}

/** What each backend answered for the recorded chain, compared once both have. */
const answered = new Map<Backend, string>()

for (const backend of BACKENDS) {
  describe(`${backend} index`, {skip: skipUnlessInstalled(backend)}, () => {
    test('on the recorded Core chain, query address, tx and outpoint answer as the node does, and status shows the tip and a masked URL', async (t) => {
      const node = await startTestNode({fixtureChain: true})
      t.after(() => node.stop())
      const db = newIndex(t, backend)
      const summary = await index(node, db)
      const truth = await fixtureTruth(node)
      assert.deepEqual({height: summary.height, hash: summary.hash}, truth.tip)
      const checked = await assertIndexAgrees(db, truth)
      assert.equal(checked, truth.scripts.length)
      answered.set(backend, await answers(db, truth.scripts.map((s) => s.script)))

      // addresses by name, with their UTXO sets, against scantxoutset
      const addresses = fixture.addresses.slice(0, 6)
      const reports = await queryJson<BixReport[]>(node, db, ['address'], ...addresses, '--utxos')
      for (const [i, address] of addresses.entries()) {
        const scan = await node.rpc<{unspents: Array<{txid: string; vout: number; amount: number}>; total_amount: number}>('scantxoutset', ['start', [`addr(${address})`]])
        const utxos = scan.unspents.map((u) => `${u.txid}:${u.vout}:${Math.round(u.amount * 1e8)}`).sort()
        assert.deepEqual(reports[i].utxos!.map((u) => `${u.txid}:${u.vout}:${u.value}`).sort(), utxos, `${address}'s UTXOs`)
        assert.equal(reports[i].balance.confirmed, Math.round(scan.total_amount * 1e8), `${address}'s balance`)
      }

      // a transaction that spends: Core names its block; its inputs are outputs bix calls spent by it, its outputs unspent as gettxout says
      const spender = truth.txids.find((txid) => truth.scripts.some((s) => s.chain_stats.spent_txo_count > 0 && s.history.some((h) => h.txid === txid && h.value_change < 0)))
      assert.ok(spender, 'a transaction that spends a confirmed output')
      const core = await node.rpc<{blockhash: string; confirmations: number; vin: Array<{txid: string; vout: number}>; vout: Array<{value: number; scriptPubKey: {hex: string}}>}>('getrawtransaction', [spender, 1])
      const coreHeight = (await node.rpc<{height: number}>('getblockheader', [core.blockhash])).height
      const [tx] = await queryJson<Array<{txid: string; status: {confirmed: boolean; block_height: number; block_hash: string}; confirmations: number; vin: Array<{txid: string; vout: number}>; vout: Array<{value: number; scriptpubkey: string}>; outspends: Array<{spent: boolean}>}>>(node, db, ['tx'], spender)
      assert.deepEqual(tx.status, {...tx.status, confirmed: true, block_hash: core.blockhash, block_height: coreHeight})
      assert.equal(tx.confirmations, core.confirmations)
      assert.deepEqual(tx.vin.map((i) => `${i.txid}:${i.vout}`), core.vin.map((i) => `${i.txid}:${i.vout}`))
      assert.deepEqual(tx.vout.map((o) => `${o.scriptpubkey}:${o.value}`), core.vout.map((o) => `${o.scriptPubKey.hex}:${Math.round(o.value * 1e8)}`))
      for (const [vout, outspend] of tx.outspends.entries()) {
        const unspent: boolean = (await node.rpc('gettxout', [spender, vout, false])) !== null
        assert.equal(outspend.spent, !unspent, `${spender}:${vout} spent`)
      }
      const spent = `${core.vin[0].txid}:${core.vin[0].vout}`
      const unspentUtxo = truth.scripts.flatMap((s) => s.utxos)[0]
      assert.ok(await node.rpc('gettxout', [unspentUtxo.txid, unspentUtxo.vout, false]), 'Core holds the UTXO')
      const outpoints = await queryJson<Array<{txid: string; vout: number; spent: boolean; spender: {txid: string; vin: number | null; status: {block_hash?: string}} | null}>>(node, db, ['outpoint'], spent, `${unspentUtxo.txid}:${unspentUtxo.vout}`)
      assert.deepEqual(outpoints.map((o) => [o.spent, o.spender?.txid ?? null, o.spender?.vin ?? null, o.spender?.status.block_hash ?? null]), [
        [true, spender, 0, core.blockhash],
        [false, null, null, null],
      ])

      const status = await bix(['status', ...node.cliArgs(), '--db', db, '--json'])
      assert.equal(status.code, 0, status.stderr)
      const {index: summaryOf} = JSON.parse(status.stdout) as {index: {path: string; tip_height: number; tip_hash: string; building: boolean}}
      assert.deepEqual({height: summaryOf.tip_height, hash: summaryOf.tip_hash, building: summaryOf.building}, {...truth.tip, building: false})
      assert.equal(summaryOf.path, shownAs(db))
      const human = await bix(['status', ...node.cliArgs(), '--db', db])
      assert.equal(human.code, 0, human.stderr)
      assert.ok(human.stdout.includes(summaryOf.path), `the human status names the index: ${human.stdout}`)
      t.diagnostic(`${checked} scripts checked against ${node.kind === 'bitcoind' ? 'Core' : 'the simulator, held to recorded Core answers'}`)
    })

    test('a reorg made with invalidateblock between runs: the next run undoes it, and every script answers as the node\'s new chain', async (t) => {
      const node = await startTestNode({matureBlocks: 101})
      t.after(() => node.stop())
      const db = newIndex(t, backend)
      const addresses = await Promise.all((['legacy', 'p2sh-segwit', 'bech32', 'bech32m'] as const).map((type) => node.newAddress(type)))
      for (const [i, address] of addresses.entries()) await node.send(address, 100_000 * (i + 1))
      await node.mine(1)
      for (const [i, address] of addresses.entries()) await node.send(address, 20_000 * (i + 1))
      const [replaced] = await node.mine(1)
      await index(node, db)
      const before = await coreTruth(node)
      await assertIndexAgrees(db, before)

      await node.invalidate(replaced)
      await node.mine(2, await node.newAddress('bech32m'))
      const {reorgs, hash} = await index(node, db)
      assert.deepEqual(reorgs, [{fork_height: 102, undone: 1}])
      assert.equal(hash, await node.tipHash())
      const checked = await assertIndexAgrees(db, await coreTruth(node))
      assert.ok(checked > addresses.length)
    })

    test('after bix sync-mempool, unconfirmed activity is the node\'s mempool\'s', async (t) => {
      const node = await startTestNode({fixtureChain: true})
      t.after(() => node.stop())
      const db = newIndex(t, backend)
      await index(node, db)
      const synced = await bix(['sync-mempool', ...node.cliArgs(), '--db', db, '--json'])
      assert.equal(synced.code, 0, synced.stderr)
      const truth = await coreTruth(node)
      const pool = await coreMempoolTruth(node, truth)
      assertSameTruth(truth, recorded.truth, {live: pool, recorded: recorded.mempool})
      assert.ok(pool.scripts.length >= 3, `${pool.scripts.length} scripts the mempool touches`)
      await assertIndexAgrees(db, truth, {mempool: pool})

      // by name too: a script the mempool pays shows it in mempool_stats and its unconfirmed balance
      const touched = pool.scripts.find((s) => s.mempool_stats.funded_txo_count > 0)!
      const [report] = await queryJson<BixReport[]>(node, db, ['address'], '--script', touched.script)
      assert.deepEqual(report.mempool_stats, touched.mempool_stats)
      assert.equal(report.balance.unconfirmed, touched.mempool_stats.funded_txo_sum - touched.mempool_stats.spent_txo_sum)
      assert.equal((report as {freshness: {mempool: {used: boolean}}}).freshness.mempool.used, true)
    })

    test('status --prometheus reports how the last index and query runs on this index ended, from this host\'s record', async (t) => {
      const node = await startTestNode({fixtureChain: true})
      t.after(() => node.stop())
      const db = newIndex(t, backend)
      // bix's data directory of its own: a PostgreSQL index's record is kept there
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-backends-data-'))
      t.after(() => fs.rmSync(dataDir, {recursive: true, force: true}))
      const env = {BIX_DATA_DIR: dataDir}
      const indexed = await bix(['index', ...node.cliArgs(), '--db', db, '--quiet'], {env})
      assert.equal(indexed.code, 0, indexed.stderr)
      const bad = await bix(['query', 'address', ...node.cliArgs(), '--db', db, '--offline', 'not-an-address'], {env})
      assert.equal(bad.code, 2, bad.stderr)
      const status = await bix(['status', ...node.cliArgs(), '--db', db, '--prometheus'], {env})
      assert.equal(status.code, 0, status.stderr)
      const exitOf = (command: string) => Number(new RegExp(`^bix_command_last_run_exit_code\\{[^}]*command="${command}"[^}]*\\} (\\d+)$`, 'm').exec(status.stdout)?.[1])
      assert.equal(exitOf('index'), 0, status.stdout)
      assert.equal(exitOf('query address'), 2, status.stdout)
      // another host (another data directory) has no record of these runs
      const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-backends-data-'))
      t.after(() => fs.rmSync(elsewhere, {recursive: true, force: true}))
      const other = await bix(['status', ...node.cliArgs(), '--db', db, '--prometheus'], {env: {BIX_DATA_DIR: elsewhere}})
      assert.equal(other.code, 0, other.stderr)
      if (backend === 'postgres') assert.doesNotMatch(other.stdout, /bix_command_last_run_exit_code\{[^}]*command="index"/)
    })

    test('a query --file while bix index undoes a reorg answers for one chain at one tip: the old one, or the new one, never a mix', async (t) => {
      // simulator: fault injection (a reorg at a chosen moment, slowed answers so that queries overlap its undo)
      const node = await startFaultSimulator({fixtureChain: true})
      t.after(() => node.stop())
      const db = newIndex(t, backend)
      await index(node, db)
      const watched = fixture.addresses.slice(0, 8)
      const scripts = watched.map((a) => addressToScript(a, 'regtest').toString('hex'))
      const oldHashes = fixture.blocks.map((b) => b.hash)
      const oldStats = await Promise.all(scripts.map((script) => coreChainStatsByHeight(node, script, fixture.height)))
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bix-targets-')), 'targets.txt')
      t.after(() => fs.rmSync(path.dirname(file), {recursive: true, force: true}))
      fs.writeFileSync(file, Array.from({length: 10}, () => watched).flat().join('\n') + '\n')

      type Answer = Array<BixReport & {address: string; freshness: {index: {height: number; hash: string}}}>
      const seen: Answer[] = []
      let running = true
      const queries = (async () => {
        while (running) seen.push(await queryJson<Answer>(node, db, ['address'], '--offline', '--file', file))
      })()
      await new Promise((resolve) => setTimeout(resolve, 300))
      node.sim.faults.slow(30)
      node.sim.reorg({depth: 40, blocks: 41})
      const run = spawnBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--batch-blocks', '1', '--source', 'rpc', '--rpc-parallelism', '1'], {timeoutMs: 120_000})
      const r = assertNoPassword(await run.done)
      // a last query or two after the run, on the new chain
      await new Promise((resolve) => setTimeout(resolve, 1000))
      running = false
      await queries
      node.sim.faults.clear()
      assert.equal(r.code, 0, r.stderr)

      const newTip = await node.tipHeight()
      const newHashes = await Promise.all(Array.from({length: newTip + 1}, (_, h) => node.rpc<string>('getblockhash', [h])))
      const newStats = await Promise.all(scripts.map((script) => coreChainStatsByHeight(node, script, newTip)))
      const chains = new Set<string>()
      for (const reports of seen) {
        const {height, hash} = reports[0].freshness.index
        assert.ok(reports.every((rep) => rep.freshness.index.hash === hash), 'one tip for the whole answer')
        const old = oldHashes[height] === hash
        assert.ok(old || newHashes[height] === hash, `tip ${height} ${hash} is of the old chain or the new one`)
        chains.add(`${old ? 'old' : 'new'} ${height}`)
        for (const report of reports) {
          const i = watched.indexOf(report.address)
          assert.deepEqual(report.chain_stats, (old ? oldStats : newStats)[i][height], `${report.address} at ${old ? 'old' : 'new'} tip ${height}`)
        }
      }
      t.diagnostic(`answers at ${[...chains].join(', ')}`)
      assert.ok([...chains].some((c) => c.startsWith('old')) && [...chains].some((c) => c.startsWith('new')), `answers on both sides of the reorg: ${[...chains].join(', ')}`)
    })

    if (backend === 'postgres') {
      test('a hot standby answers queries while bix index writes on the primary, each at one tip of the chain, and as the primary does once it has caught up', async (t) => {
        // simulator: fault injection (slowed answers keep the run going while queries read the replica)
        const node = await startFaultSimulator({fixtureChain: true})
        t.after(() => node.stop())
        const db = newIndex(t, backend)
        const start = 60
        await index(node, db, '--to-height', String(start))
        const standby = pg!.startStandby()
        t.after(() => standby.stop())
        const replica = standby.urlOf(db)
        assert.notEqual(replica, db)
        standby.catchUp()

        const targets = fixture.addresses.slice(0, 8)
        node.sim.faults.slow(50)
        const run = spawnBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--batch-blocks', '1', '--source', 'rpc', '--rpc-parallelism', '1'], {timeoutMs: 120_000})
        const seen = new Map<number, BixReport[]>()
        while (run.child.exitCode === null) {
          const reports = await queryJson<Array<BixReport & {freshness: {index: {height: number; hash: string}}}>>(node, replica, ['address'], '--offline', ...targets)
          const height = reports[0].freshness.index.height
          assert.ok(reports.every((r) => r.freshness.index.height === height), 'one tip for the whole answer')
          assert.equal(reports[0].freshness.index.hash, fixture.blocks[height].hash)
          seen.set(height, reports)
        }
        node.sim.faults.clear()
        const r = assertNoPassword(await run.done)
        assert.equal(r.code, 0, r.stderr)
        assert.ok(seen.size >= 2, `queries on the replica saw the index move (${[...seen.keys()].join(', ')})`)
        const top = Math.max(...seen.keys())
        for (const address of targets) {
          const byHeight = await coreChainStatsByHeight(node, addressToScript(address, 'regtest').toString('hex'), top)
          for (const [height, reports] of seen) {
            for (const report of reports.filter((rep) => rep.address === address)) assert.deepEqual(report.chain_stats, byHeight[height], `${address} at ${height}`)
          }
        }

        standby.catchUp()
        const scripts = fixture.addresses.map((a) => addressToScript(a, 'regtest').toString('hex'))
        assert.equal(await answers(replica, scripts), await answers(db, scripts))
        const status = await bix(['status', ...node.cliArgs(), '--db', replica, '--json'])
        assert.equal(status.code, 0, status.stderr)
        const {tip_height: height, tip_hash: hash} = (JSON.parse(status.stdout) as {index: {tip_height: number; tip_hash: string}}).index
        assert.deepEqual({height, hash}, {height: fixture.height, hash: fixture.blocks[fixture.height].hash})
        t.diagnostic(`the replica answered at heights ${[...seen.keys()].sort((a, b) => a - b).join(', ')}`)
      })

      test('a wrong password or a database that is not there: exit 7 with one line naming the server, never the password', async (t) => {
        const db = newIndex(t, backend)
        const wrong = 'Wr0ngPassw0rd'
        for (const [url, pattern] of [
          [db.replace(`:${pg!.password}@`, `:${wrong}@`), /^error: PostgreSQL at \S+ refused user "bix": password authentication failed/],
          [db.replace(/\/(bix_[0-9a-f]+)\?/, '/$1_missing?'), /^error: PostgreSQL at \S+: database "bix_[0-9a-f]+_missing" does not exist/],
          [db, /^error: postgres:\/\/bix:\*\*\*@\/bix_[0-9a-f]+\?host=\S+ holds no bix index; run bix index first$/],
        ] as const) {
          const r = await bix(['query', 'address', '--network', 'regtest', '--offline', '--db', url, fixture.addresses[0]])
          assertCleanFailure(r, 7, pattern)
          assert.ok(!r.stderr.includes(wrong), r.stderr)
        }
      })

      test('a role with SELECT grants alone: query address and status work, bix index exits 7 with one line', async (t) => {
        const node = await startTestNode({fixtureChain: true})
        t.after(() => node.stop())
        const db = newIndex(t, backend)
        await index(node, db)
        const readOnly = pg!.createReadOnlyRole(db, `reader_${crypto.randomBytes(4).toString('hex')}`)
        const rolePassword = /:\/\/[^:]+:([^@]+)@/.exec(readOnly)![1]

        const truth = await fixtureTruth(node)
        const targets = fixture.addresses.slice(0, 6)
        const asOwner = await queryJson<BixReport[]>(node, db, ['address'], ...targets, '--utxos')
        const asReader = await queryJson<BixReport[]>(node, readOnly, ['address'], ...targets, '--utxos')
        assert.deepEqual(asReader, asOwner)
        const status = await bix(['status', ...node.cliArgs(), '--db', readOnly, '--json'])
        assert.equal(status.code, 0, status.stderr)
        const {tip_height: height, tip_hash: hash} = (JSON.parse(status.stdout) as {index: {tip_height: number; tip_hash: string}}).index
        assert.deepEqual({height, hash}, truth.tip)

        await node.mine(1)
        const refused = await bix(['index', ...node.cliArgs(), '--db', readOnly])
        const line = assertCleanFailure(refused, 7, /permission|read-only|cannot write/i)
        assert.ok(!line.includes(rolePassword), 'the role\'s password is not in the message')
        t.diagnostic(line)
      })
    }
  })
}

test('PostgreSQL and SQLite give the same answers for every script of the recorded chain', {skip: pg ? false : SKIP_MESSAGE}, () => {
  assert.equal(answered.size, 2, 'both backends indexed the recorded chain')
  assert.equal(answered.get('postgres'), answered.get('sqlite'))
})

after(() => pg?.stop())
