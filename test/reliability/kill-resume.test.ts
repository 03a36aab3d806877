import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import Database from 'better-sqlite3'

import {BACKENDS, type Backend, assertConsistentPrefixOf, assertNoPassword, bulkLoadStateOf, cleanIndexDigest, indexContentDigest, newIndex, pg, skipUnlessInstalled, writerLockLeft} from '../support/backends.js'
import {type BixResult, runBix, spawnBix} from '../support/cli.js'
import {type CoreTruth, assertIndexAgrees, coreMempoolTruth, coreTruth} from '../support/core-oracle.js'
import {indexDigest} from '../support/index-digest.js'
import {type TestNode, startTestNode} from '../support/test-node.js'
import {assertCleanFailure, assertConsistentMempool, assertConsistentPrefix, fixture, indexArgs, mempoolDigest, seeded, tempDir} from './support.js'

/**
 * kill -9 of `bix index` and `bix sync-mempool`, on real Bitcoin Core when
 * BITCOIND is set (the simulator otherwise). Most kills land at a point the
 * process itself announces: BIX_TEST_PAUSE_IN (src/lib/test-pause.ts) stops
 * it inside an open write transaction, rows written and not committed, or
 * while the first run's script index is built, and the test kills it there.
 * The others fall at a random time, drawn from a seeded PRNG (printed).
 * Whatever the point, the database left behind is a correct prefix of
 * Core's chain without a trace of the uncommitted work, and after the next
 * run bix answers for every output script what Core says it owns
 * (test/support/core-oracle.ts), and the database is identical to a clean
 * run's (which catches differences no query shows). The kills of `bix
 * index` run on both backends, a SQLite file and a PostgreSQL database, one
 * test body; those of `bix sync-mempool` on SQLite.
 */

type KillPlace = 'write-transaction' | 'bulk-spends' | 'script-index' | 'merge-recent' | 'time'

/**
 * The kills of `bix index`: on new databases (the first run, which builds
 * the script index at its end), so many of each place; and sequences that
 * start from a complete index (outputs_by_script kept up to date row by
 * row), each a write-transaction kill and maybe a random one after it;
 * on SQLite, one more kills a catch-up inside its merge of the recent tables
 * (the CLI tests merge after 25 outputs: test/support/cli.ts).
 */
const FIRST_RUN_PLAN: Record<Backend, Record<Exclude<KillPlace, 'merge-recent'>, number>> = {
  sqlite: {'write-transaction': 4, 'bulk-spends': 3, 'script-index': 6, time: 5},
  // fewer random kills on PostgreSQL, to keep its half near a minute on a 2-core machine: every run and resume is slower
  // there (70 s with two random first-run kills under CI load, against 23 s for SQLite's fifteen), and each random kill
  // adds a resume. The kills at announced places keep their numbers, and so do the random kills after a complete run.
  // (the spends of old outputs left to a first run's end are SQLite's)
  postgres: {'write-transaction': 4, 'bulk-spends': 0, 'script-index': 6, time: 1},
}
const FROM_COMPLETE_SEQUENCES = 3
/** at least this many kills inside a write transaction, and while the script index is built */
const MIN_AT = 5
const hashes = fixture.blocks.map((b) => b.hash)

let node: TestNode
/** what Core says every output script of the node's chain owns */
let truth: CoreTruth

before(async () => {
  node = await startTestNode({fixtureChain: true})
  truth = await coreTruth(node)
})
after(() => node?.stop())
after(() => pg?.stop())

interface Killed {
  result: BixResult
  /** the line the paused process wrote, when the kill was at an announced place */
  pause?: string
}

/**
 * Runs bix and SIGKILLs it: once it announces the place named (a
 * BIX_TEST_PAUSE_IN value), or after `delayMs`. A run that ends before
 * announcing its place fails the test: the kill was meant to land there.
 */
async function runAndKill(args: string[], at: {pause: string} | {delayMs: number}): Promise<Killed> {
  const run = spawnBix(args, {env: {BIX_TEST_PAUSE_IN: 'pause' in at ? at.pause : undefined}})
  let pause: string | undefined
  if ('pause' in at) {
    const stderr = await run.waitFor(/^bix test pause: .*$/m, 'stderr', 60_000)
    pause = stderr.match(/^bix test pause: .*$/m)![0]
  } else {
    await new Promise((resolve) => setTimeout(resolve, at.delayMs))
  }
  run.kill('SIGKILL')
  return {result: await run.done, pause}
}

/** Heights A..B of the batch a paused write transaction held, from its announcement. */
function pausedBatch(pause: string): {from: number; to: number} {
  const m = pause.match(/write-transaction \d+: blocks (\d+)\.\.(\d+) written, not committed/)
  assert.ok(m, `not a write transaction's pause: ${pause}`)
  return {from: Number(m[1]), to: Number(m[2])}
}

/**
 * What a user sees of an index a kill left in its first run: a query exits 5
 * (the index is still being built), and status says it is building, with
 * no writer holding it.
 */
async function assertStillBuilding(db: string, what: string): Promise<void> {
  const query = assertNoPassword(await runBix(['query', 'address', ...node.cliArgs(), '--db', db, fixture.addresses[0]]))
  assertCleanFailure(query, 5, /the index is still being built/, `${what}: a query meanwhile`)
  const status = assertNoPassword(await runBix(['status', ...node.cliArgs(), '--db', db, '--json']))
  assert.equal(status.code, 0, `${what}: status: ${status.stderr}`)
  const {building, writer_pid} = (JSON.parse(status.stdout) as {index: {building: boolean; writer_pid: number | null}}).index
  assert.deepEqual({building, writer_pid}, {building: true, writer_pid: null}, `${what}: status meanwhile`)
}

for (const backend of BACKENDS) {
  describe(`${backend}: SIGKILL during bix index`, {skip: skipUnlessInstalled(backend)}, () => {
    test('kills inside write transactions (of a first run and after a complete one), while the script index is built, and at random times; every resume answers as Core, and queries meanwhile exit 5', async (t) => {
      const {int, random} = seeded(t, `${backend}: kill points`)
      const started = Date.now()
      const clean = await cleanIndexDigest(t, node, backend)
      // how long a clean first run takes: random kills are drawn within it
      const cleanMs = Date.now() - started
      const shuffle = <T>(list: T[]): T[] => {
        for (let i = list.length - 1; i > 0; i--) {
          const j = int(0, i)
          ;[list[i], list[j]] = [list[j], list[i]]
        }
        return list
      }
      // a write transaction comes first, while blocks are left; the script index is built once they are all in
      const order: KillPlace[] = ['write-transaction', 'bulk-spends', 'script-index', 'time']
      const firstRuns = shuffle(Object.entries(FIRST_RUN_PLAN[backend]).flatMap(([place, n]) => Array<KillPlace>(n).fill(place as KillPlace)))
      const sequences: Array<{fromComplete: boolean; kills: KillPlace[]}> = []
      // one to three kills in a row on the same database (each run resuming what the last one left), then a resume to the end
      while (firstRuns.length > 0) sequences.push({fromComplete: false, kills: firstRuns.splice(0, int(1, 3)).sort((a, b) => order.indexOf(a) - order.indexOf(b))})
      for (let i = 0; i < FROM_COMPLETE_SEQUENCES; i++) {
        sequences.push({fromComplete: true, kills: random() < 0.5 ? ['write-transaction', 'time'] : ['write-transaction']})
      }
      if (backend === 'sqlite') sequences.push({fromComplete: true, kills: ['merge-recent']})
      shuffle(sequences)
      const landed = {'write-transaction, first run': 0, 'write-transaction, after a complete run': 0, 'bulk-spends': 0, 'script-index': 0, 'merge-recent': 0, 'time, killed': 0, 'time, finished first': 0}
      const log: string[] = []
      let kills = 0
      /** the places after whose first kill in a first run a query and status were run (once each: two more bix runs every kill cost PostgreSQL's half much) */
      const seenBuilding = new Set<KillPlace>()
      for (const {fromComplete, kills: sequence} of sequences) {
        const db = newIndex(t, backend)
        if (fromComplete) {
          const height = int(0, fixture.height - 20)
          const r = assertNoPassword(await runBix(indexArgs(node, db, '--quiet', '--to-height', String(height))))
          assert.equal(r.code, 0, r.stderr)
          assert.deepEqual(bulkLoadStateOf(db), {mark: false, scriptIndex: true}, 'a complete index keeps its script index up to date')
          log.push(`a complete index to height ${height}`)
        }
        for (const place of sequence) {
          kills++
          const before = assertConsistentPrefixOf(db, hashes, 'before the run')
          const bulk = before < 0 || bulkLoadStateOf(db).mark
          const batch = int(1, 12)
          const source = random() < 0.5 ? 'rpc' : 'rest'
          const args = indexArgs(node, db, '--batch-blocks', String(batch), '--source', source, '--rpc-parallelism', String(int(1, 4)))
          const what = `kill ${kills}: ${source}, batch ${batch}`
          if (place === 'write-transaction') {
            const nth = int(1, Math.ceil((fixture.height - before) / batch))
            const {result, pause} = await runAndKill(args, {pause: `write-transaction:${nth}`})
            assert.equal(result.signal, 'SIGKILL', `${what}: ${result.stderr}`)
            const {from, to} = pausedBatch(pause!)
            const height = assertConsistentPrefixOf(db, hashes, what)
            assert.equal(height, from - 1, `${what}: killed inside the write transaction of blocks ${from}..${to}, none of them stays`)
            assert.equal(bulk, !fromComplete, `${what}: a first run bulk-loads, a run after a complete one does not`)
            if (bulk && !seenBuilding.has(place)) {
              await assertStillBuilding(db, what)
              seenBuilding.add(place)
            }
            landed[bulk ? 'write-transaction, first run' : 'write-transaction, after a complete run']++
            log.push(`${what}: inside write transaction ${nth} (blocks ${from}..${to}${bulk ? '' : ', with the script index'}), index at ${height}`)
          } else if (place === 'bulk-spends') {
            assert.ok(bulk, `${what}: a bulk-spends kill needs a first run`)
            const {result, pause} = await runAndKill(args, {pause: 'bulk-spends'})
            assert.equal(result.signal, 'SIGKILL', `${what}: ${result.stderr}`)
            assert.match(pause!, /bulk-spends 1: the old spends marked, not committed/)
            assert.equal(assertConsistentPrefixOf(db, hashes, what), fixture.height, `${what}: every block was committed before the old spends were marked`)
            assert.deepEqual(bulkLoadStateOf(db), {mark: true, scriptIndex: false}, `${what}: the next run still has the end of the first run to do`)
            landed['bulk-spends']++
            log.push(`${what}: inside the transaction that marks the old spends`)
          } else if (place === 'script-index') {
            assert.ok(bulk, `${what}: a script-index kill needs a first run`)
            const {result, pause} = await runAndKill(args, {pause: 'script-index'})
            assert.equal(result.signal, 'SIGKILL', `${what}: ${result.stderr}`)
            assert.match(pause!, /script-index 1: outputs_by_script built, not committed/)
            assert.equal(assertConsistentPrefixOf(db, hashes, what), fixture.height, `${what}: every block was committed before the script index`)
            assert.deepEqual(bulkLoadStateOf(db), {mark: true, scriptIndex: false}, `${what}: the uncommitted script index left no trace, and the next run still has it to build`)
            if (!seenBuilding.has(place)) {
              await assertStillBuilding(db, what)
              seenBuilding.add(place)
            }
            landed['script-index']++
            log.push(`${what}: inside the script index's transaction`)
          } else if (place === 'merge-recent') {
            assert.ok(!bulk, `${what}: a merge-recent kill needs a run after a complete one`)
            const {result, pause} = await runAndKill(args, {pause: 'merge-recent'})
            assert.equal(result.signal, 'SIGKILL', `${what}: ${result.stderr}`)
            assert.match(pause!, /merge-recent 1: the recent txid keys and spends merged, the outputs not committed/)
            const height = assertConsistentPrefixOf(db, hashes, what)
            assert.ok(height > before, `${what}: the batches before the merge stay committed (index at ${height}, ${before} before the run)`)
            landed['merge-recent']++
            log.push(`${what}: inside the merge of the recent tables, index at ${height}`)
          } else {
            const delayMs = int(0, Math.round(cleanMs * 1.2))
            const {result} = await runAndKill(args, {delayMs})
            if (result.signal !== 'SIGKILL') assert.equal(result.code, 0, `${what}: the run ended before the kill, and should have succeeded: ${result.stderr}`)
            const height = assertConsistentPrefixOf(db, hashes, what)
            const state = height < 0 ? undefined : bulkLoadStateOf(db)
            landed[result.signal === 'SIGKILL' ? 'time, killed' : 'time, finished first']++
            const where =
              result.signal !== 'SIGKILL' ? 'finished first' : height < 0 ? 'killed before the first commit' : `killed at height ${height}${state?.mark ? ', script index not built' : ''}`
            log.push(`${what}: after ${delayMs} ms, ${where}`)
          }
        }
        const height = assertConsistentPrefixOf(db, hashes, 'before the resume')
        const resumed = assertNoPassword(await runBix(indexArgs(node, db, '--json', '--batch-blocks', String(int(1, 50))), {timeoutMs: 120_000}))
        const what = `the resume after kill ${kills}`
        assert.equal(resumed.code, 0, `${what} failed: ${resumed.stderr}`)
        assert.equal((JSON.parse(resumed.stdout) as {start_height: number}).start_height, height, `${what} starts where the kill left the index`)
        assert.equal(indexContentDigest(db), clean, `${what}: the index differs from a clean run's`)
        assert.deepEqual(bulkLoadStateOf(db), {mark: false, scriptIndex: true}, `${what}: the script index is built and the first run over`)
        assert.equal(writerLockLeft(db), false, `${what} removed the stale lock`)
        const scripts = await assertIndexAgrees(db, truth)
        log.push(`resumed from height ${height}: bix answers as Core for all ${scripts} scripts; identical to a clean run`)
      }
      t.diagnostic(`${backend} on ${node.kind}, ${Math.round((Date.now() - started) / 1000)} s: kills landed ${JSON.stringify(landed)}`)
      for (const line of log) t.diagnostic(line)
      const inWrites = landed['write-transaction, first run'] + landed['write-transaction, after a complete run']
      assert.ok(inWrites >= MIN_AT, `only ${inWrites} kills inside a write transaction:\n${log.join('\n')}`)
      assert.ok(landed['write-transaction, after a complete run'] >= FROM_COMPLETE_SEQUENCES, `only ${landed['write-transaction, after a complete run']} kills inside a write transaction after a complete run`)
      assert.equal(landed['bulk-spends'], FIRST_RUN_PLAN[backend]['bulk-spends'], 'every bulk-spends kill landed')
      assert.equal(landed['merge-recent'], backend === 'sqlite' ? 1 : 0, 'the merge-recent kill landed')
      assert.ok(landed['script-index'] >= MIN_AT, `only ${landed['script-index']} kills while the script index was built:\n${log.join('\n')}`)
      assert.deepEqual([...seenBuilding].sort(), ['script-index', 'write-transaction'], 'a query and status ran after a kill at each announced place of a first run')
    })
  })
}

/** how many kills of `bix sync-mempool` land where */
const MEMPOOL_PLAN: Record<'mempool-transaction' | 'write-transaction' | 'time', number> = {'mempool-transaction': 3, 'write-transaction': 2, time: 3}

/** The node's active chain, by height. */
async function chainHashes(n: TestNode): Promise<string[]> {
  const tip = await n.tipHeight()
  const out: string[] = []
  for (let h = 0; h <= tip; h++) out.push(await n.rpc<string>('getblockhash', [h]))
  return out
}

/** The mempool snapshot in an index equals the node's mempool, as the node lists it (getrawmempool true): txids, sizes, fees, times of entry. */
async function assertSnapshotIsNodeMempool(file: string, n: TestNode, context: string): Promise<number> {
  const entries = await n.rpc<Record<string, {vsize: number; time: number; fees: {base: number}}>>('getrawmempool', [true])
  const expected = Object.entries(entries)
    .map(([txid, e]) => `${txid} vsize ${e.vsize} fee ${Math.round(e.fees.base * 1e8)} time ${e.time}`)
    .sort()
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    const rows = db.prepare<[], {txid: Buffer; first_seen: number; vsize: number; fee: number}>('SELECT txid, first_seen, vsize, fee FROM mempool_txs').all()
    const actual = rows.map((r) => `${Buffer.from(r.txid).reverse().toString('hex')} vsize ${r.vsize} fee ${r.fee} time ${r.first_seen}`).sort()
    assert.deepEqual(actual, expected, `${context}: the snapshot is the node's mempool`)
  } finally {
    db.close()
  }
  return expected.length
}

/** Transactions in an index's mempool snapshot (0 before there is a database). */
function snapshotSize(file: string): number {
  if (!fs.existsSync(file)) return 0
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    return db.prepare<[], number>('SELECT COUNT(*) FROM mempool_txs').pluck().get()!
  } finally {
    db.close()
  }
}

describe('SIGKILL during bix sync-mempool', () => {
  const total = Object.values(MEMPOOL_PLAN).reduce((a, b) => a + b, 0)
  test(`${total} kills inside its write transactions and at random times, the node's mempool and chain changing between them; every resume holds the node's mempool`, async (t) => {
    const {int, random} = seeded(t, 'sync-mempool kill points')
    const log: string[] = []
    const testStarted = Date.now()
    // 100 mature coinbases, so the wallet pays mostly from confirmed coins rather than from long chains of unconfirmed change
    // (a few hundred transactions are enough: the kills land by the pause hook, not by how long a sync takes)
    const wallet = await startTestNode({matureBlocks: 200})
    t.after(() => wallet.stop())
    const active = await chainHashes(wallet)
    log.push(`node started with 200 blocks in ${Date.now() - testStarted} ms`)
    const payees = await Promise.all(Array.from({length: 8}, () => wallet.newAddress()))
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) await wallet.send(payees[int(0, payees.length - 1)], 10_000 + int(0, 50_000))
    }
    const mine = async () => void active.push(...(await wallet.mine(1)))
    const setupStarted = Date.now()
    await send(60)
    log.push(`60 transactions sent in ${Date.now() - setupStarted} ms`)

    const plan = Object.entries(MEMPOOL_PLAN).flatMap(([place, n]) => Array<string>(n).fill(place))
    for (let i = plan.length - 1; i > 0; i--) {
      const j = int(0, i)
      ;[plan[i], plan[j]] = [plan[j], plan[i]]
    }
    const db = path.join(tempDir(t), 'index.db')
    const sync = (...more: string[]) => ['sync-mempool', ...wallet.cliArgs(), '--db', db, '--index', ...more]
    const landed = {'write-transaction': 0, 'mempool-transaction': 0, 'time, killed': 0, 'time, finished first': 0}
    let runMs = 3000
    let reference: {state: string; index: string; mempool: string} | undefined
    for (const [k, place] of plan.entries()) {
      const what = `kill ${k + 1}`
      const roundStarted = Date.now()
      // the node moves on between runs, so each has work: new transactions, and a block (which confirms the old ones) before a write-transaction kill
      if (place === 'write-transaction' || random() < 0.3) await mine()
      await send(int(10, 30))
      const heightBefore = assertConsistentPrefix(db, active, `${what}, before the run`)
      const snapshotBefore = heightBefore >= 0 ? mempoolDigest(db) : undefined
      const args = sync('--rpc-parallelism', String(int(1, 3)))
      if (place === 'time') {
        const delayMs = int(0, Math.round(runMs * 1.2))
        const {result} = await runAndKill(args, {delayMs})
        if (result.signal !== 'SIGKILL') assert.equal(result.code, 0, `${what}: the run ended before the kill and should have succeeded: ${result.stderr}`)
        landed[result.signal === 'SIGKILL' ? 'time, killed' : 'time, finished first']++
        log.push(`${what}: after ${delayMs} ms, ${result.signal === 'SIGKILL' ? 'killed' : 'finished first'}`)
      } else {
        const {result, pause} = await runAndKill(args, {pause: place})
        assert.equal(result.signal, 'SIGKILL', `${what}: ${result.stderr}`)
        if (place === 'write-transaction') {
          const {from} = pausedBatch(pause!)
          assert.equal(assertConsistentPrefix(db, active, what), from - 1, `${what}: none of the uncommitted batch stays`)
        } else {
          assert.match(pause!, /mempool-transaction 1: \d+ removed, \d+ added, complete, not committed/)
          assert.equal(assertConsistentPrefix(db, active, what), active.length - 1, `${what}: the index reached the tip before the snapshot was written`)
        }
        // the kill fell inside the transaction: the snapshot is the one before the run (or none yet)
        if (snapshotBefore) assert.equal(mempoolDigest(db), snapshotBefore, `${what}: the uncommitted change left no trace`)
        else assert.equal(snapshotSize(db), 0, `${what}: the uncommitted first snapshot left no trace`)
        landed[place as 'write-transaction' | 'mempool-transaction']++
        log.push(`${what}: ${pause}`)
      }
      const height = assertConsistentPrefix(db, active, what)
      const complete = height >= 0 && assertConsistentMempool(db, what)
      log.push(`  index at ${height}, snapshot ${complete ? 'complete' : 'incomplete'}; the node changed and the kill landed ${Date.now() - roundStarted} ms into the round`)

      const started = Date.now()
      const resumed = await runBix(sync('--json'))
      runMs = Date.now() - started
      assert.equal(resumed.code, 0, `${what}: the resume failed: ${resumed.stderr}`)
      assert.equal(assertConsistentPrefix(db, active, `${what}, resumed`), active.length - 1, `${what}: the resume indexed to the node's tip`)
      const size = await assertSnapshotIsNodeMempool(db, wallet, `${what}, resumed`)
      assert.equal((JSON.parse(resumed.stdout) as {total: number}).total, size)
      const chain = await coreTruth(wallet)
      const scripts = await assertIndexAgrees(db, chain, {mempool: await coreMempoolTruth(wallet, chain)})
      // and identical to a clean index and sync of the node as it is now (the same until the node changes again)
      const state = `${active.at(-1)} ${size}`
      if (reference?.state !== state) {
        const file = path.join(tempDir(t), 'index.db')
        assert.equal((await runBix(['sync-mempool', ...wallet.cliArgs(), '--db', file, '--index', '--quiet'])).code, 0)
        reference = {state, index: indexDigest(file), mempool: mempoolDigest(file)}
      }
      assert.equal(indexDigest(db), reference.index, `${what}: the index differs from a clean one`)
      assert.equal(mempoolDigest(db), reference.mempool, `${what}: the snapshot differs from a clean sync's`)
      log.push(`  resumed in ${runMs} ms: bix answers as Core for all ${scripts} scripts, mempool included; round over after ${Date.now() - roundStarted} ms`)
    }
    t.diagnostic(`on ${wallet.kind}: kills landed ${JSON.stringify(landed)}`)
    for (const line of log) t.diagnostic(line)
    assert.equal(landed['write-transaction'], MEMPOOL_PLAN['write-transaction'])
    assert.equal(landed['mempool-transaction'], MEMPOOL_PLAN['mempool-transaction'])
  })
})
