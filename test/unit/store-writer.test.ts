import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, test} from 'node:test'

import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {type IndexedBlock, buildIndexedBlock, rowsOf, toIndexedBlock} from '../../src/lib/chain/indexed-block.js'
import type {IndexStore, IndexWrites, WriterOptions} from '../../src/lib/store/index-store.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {type IndexDb, openIndex} from '../../src/lib/store/sqlite/database.js'
import {txidKey} from '../../src/lib/store/output-ids.js'
import {BULK_LOAD, TX_NUM_OF_TXID} from '../../src/lib/store/sqlite/schema.js'
import {IndexWriter, type StaleSpends} from '../../src/lib/store/sqlite/writer.js'
import {indexDigest} from '../support/index-digest.js'
import {SKIP_MESSAGE, testPostgres} from '../support/postgres-server.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'

/**
 * The writer on real SQLite with the recorded Core chain: a reorg undone from
 * the abandoned blocks' own inputs, or by a scan when they cannot be had,
 * leaves exactly what indexing the winning branch from scratch leaves.
 */

const fixture = readFixtureChain()
const indexed = (b: {height: number; hex: string}): IndexedBlock => toIndexedBlock(parseBlock(Buffer.from(b.hex, 'hex')), b.height)
const forkHeight = fixture.stale[0].height - 1
const shared = fixture.blocks.filter((b) => b.height <= forkHeight).map(indexed)
const staleBranch = fixture.stale.map(indexed)
const winningBranch = fixture.blocks.filter((b) => b.height > forkHeight).map(indexed)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-writer-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))
let count = 0

function indexWith(steps: (writer: IndexWriter, db: IndexDb) => void, options?: WriterOptions): string {
  const file = path.join(dir, `index-${count++}.db`)
  const db = openIndex(file, {network: 'regtest', mode: 'write'})
  try {
    steps(new IndexWriter(db, options), db)
  } finally {
    db.close()
  }
  return indexDigest(file)
}

const spendsOf = (blocks: IndexedBlock[]): StaleSpends => ({
  spends: blocks.flatMap((b) => rowsOf(b).spends),
  coinbaseTxids: blocks.map((b) => rowsOf(b).txids[0]),
})

describe('the index writer', () => {
  const clean = indexWith((w) => w.applyBlocks([...shared, ...winningBranch]))

  test('a reorg undone from the stale blocks\' inputs ends identical to indexing the new branch from scratch', () => {
    const digest = indexWith((w) => {
      w.applyBlocks(shared)
      // one batch per block, as a run near the tip writes them
      for (const block of staleBranch) w.applyBlocks([block])
      w.undoAbove(forkHeight, spendsOf(staleBranch))
      w.applyBlocks(winningBranch)
    })
    assert.equal(digest, clean)
  })

  test('without the stale blocks, the scan for their spends ends identical too', () => {
    const digest = indexWith((w) => {
      w.applyBlocks([...shared, ...staleBranch])
      w.undoAbove(forkHeight)
      w.applyBlocks(winningBranch)
    })
    assert.equal(digest, clean)
  })

  test('a bulk load drops the script index and its end builds it again, with the same content as a run that kept it', () => {
    const file = path.join(dir, 'bulk.db')
    const db = openIndex(file, {network: 'regtest', mode: 'write'})
    try {
      const w = new IndexWriter(db)
      w.startBulkLoad()
      const hasIndex = () => db.sqlite.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'outputs_by_script'").pluck().get()
      assert.equal(hasIndex(), 0)
      assert.equal(db.meta(BULK_LOAD), '1')
      w.applyBlocks([...shared, ...winningBranch])
      w.finishBulkLoad()
      assert.equal(hasIndex(), 1)
      assert.equal(db.meta(BULK_LOAD), undefined)
    } finally {
      db.close()
    }
    assert.equal(indexDigest(file), clean)
  })

  /** Blocks in batches of `size`, as a first run writes them. */
  const inBatches = (w: IndexWriter, blocks: IndexedBlock[], size: number) => {
    for (let i = 0; i < blocks.length; i += size) w.applyBlocks(blocks.slice(i, i + size))
  }
  const waiting = (db: IndexDb) => db.sqlite.prepare<[], number>('SELECT COUNT(*) FROM bulk_spends').pluck().get()!

  // a first run marks spends of outputs at most nearSpendTxs older than their spender, and resolves the rest at its end
  for (const near of [1, 3, 40]) {
    test(`a first run that leaves spends older than ${near} transactions to its end ends identical to one that marks them all as it goes`, () => {
      const digest = indexWith(
        (w, db) => {
          w.startBulkLoad()
          inBatches(w, [...shared, ...winningBranch], 4)
          assert.ok(waiting(db) > 0, 'the premise: some spends wait for the end')
          w.finishBulkLoad()
          assert.equal(waiting(db), 0)
        },
        {nearSpendTxs: near, recentTxids: 16},
      )
      assert.equal(digest, clean)
    })
  }

  test('a first run resumed by a new writer (its recent txids forgotten) ends identical', () => {
    const digest = indexWith(
      (w, db) => {
        w.startBulkLoad()
        w.applyBlocks(shared.slice(0, 50))
        const resumed = new IndexWriter(db, {nearSpendTxs: 3})
        inBatches(resumed, [...shared.slice(50), ...winningBranch], 7)
        resumed.finishBulkLoad()
      },
      {nearSpendTxs: 3},
    )
    assert.equal(digest, clean)
  })

  for (const how of ['from the stale blocks\' inputs', 'without the stale blocks'] as const) {
    test(`a reorg during a first run, undone ${how}, ends identical to indexing the new branch`, () => {
      const digest = indexWith(
        (w, db) => {
          w.startBulkLoad()
          inBatches(w, shared, 5)
          for (const block of staleBranch) w.applyBlocks([block])
          const before = waiting(db)
          w.undoAbove(forkHeight, how === 'without the stale blocks' ? undefined : spendsOf(staleBranch))
          assert.ok(waiting(db) < before, 'the premise: the stale blocks left spends waiting, and the undo took them')
          w.applyBlocks(winningBranch)
          w.finishBulkLoad()
        },
        // the stale blocks spend outputs 4 to 260 transactions older: some marked as they went, some left to the end
        {nearSpendTxs: 40},
      )
      assert.equal(digest, clean)
    })
  }

  test('a first run\'s end refuses an output spent twice (both spends left to the end, or the first marked as it went) and a vout past the end, naming the block, and stays unfinished', () => {
    const sharedTxids = new Set(shared.flatMap((b) => rowsOf(b).txids.map((t) => t.toString('hex'))))
    const i = winningBranch.findIndex((b) => rowsOf(b).spends.some((sp) => sharedTxids.has(sp.prevTxid.toString('hex'))))
    const taken = rowsOf(winningBranch[i]).spends.find((sp) => sharedTxids.has(sp.prevTxid.toString('hex')))!
    const next = winningBranch[i + 1]
    const rows = rowsOf(next)
    const spending = (prevTxid: Buffer, prevVout: number) =>
      buildIndexedBlock({...next, ...rows, spends: [...rows.spends, {txIndex: next.txCount - 1, vin: 1000, prevTxid, prevVout}]})
    const shown = (txid: Buffer, vout: number) => `${Buffer.from(txid).reverse().toString('hex')}:${vout}`
    // how many transactions older than its first spender the output is: with a bound above that, the first spend is marked as the run goes
    const txNums = [...shared, ...winningBranch].flatMap((b) => rowsOf(b).txids.map((t) => t.toString('hex')))
    const firstSpender = txNums.indexOf(rowsOf(winningBranch[i]).txids[taken.txIndex].toString('hex'))
    const age = firstSpender - txNums.indexOf(taken.prevTxid.toString('hex'))
    for (const near of [1, age + 1]) {
      for (const [bad, message] of [
        [spending(taken.prevTxid, taken.prevVout), new RegExp(`^block ${next.height} spends output ${shown(taken.prevTxid, taken.prevVout)}, which the index holds as spent already`)],
        [spending(taken.prevTxid, 999), new RegExp(`^block ${next.height} spends unknown output ${shown(taken.prevTxid, 999)};`)],
      ] as const) {
        indexWith(
          (w, db) => {
            w.startBulkLoad()
            w.applyBlocks([...shared, ...winningBranch.slice(0, i + 1), bad])
            assert.throws(() => w.finishBulkLoad(), {name: 'DatabaseError', message}, `bound ${near}`)
            assert.equal(db.building(), true)
            assert.ok(waiting(db) > 0, 'the spends still wait, for a run that can finish')
          },
          {nearSpendTxs: near},
        )
      }
    }
  })

  test('an index of schema 2 upgrades to txid_keys, the 5-byte script index and spent_by as a tx_num, and ends identical to a new one', () => {
    const file = path.join(dir, 'schema-2.db')
    const built = openIndex(file, {network: 'regtest', mode: 'write'})
    // merged into the main tables (schema 5's recent ones are dropped below)
    new IndexWriter(built, {mergeRows: 1}).applyBlocks([...shared, ...winningBranch])
    // what bix of schema 2 left: the expression index, no txid_keys
    built.sqlite.exec(`DROP TABLE txid_keys; DROP TABLE bulk_spends; DROP TABLE recent_outputs; DROP TABLE recent_txid_keys; DROP TABLE recent_spends; CREATE INDEX txs_by_txid ON txs (substr(txid, 1, 8));
                       DROP INDEX outputs_by_script; CREATE INDEX outputs_by_script ON outputs (script_key);
                       UPDATE outputs SET spent_by = spent_by * 1048576 + 3 WHERE spent_by IS NOT NULL;
                       UPDATE meta SET value = '2' WHERE key = 'schema_version'`)
    built.close()

    const upgraded = openIndex(file, {network: 'regtest', mode: 'write'})
    try {
      assert.equal(upgraded.sqlite.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'txs_by_txid'").pluck().get(), 0)
      const scriptIndex = upgraded.sqlite.prepare("SELECT sql FROM sqlite_master WHERE name = 'outputs_by_script'").pluck().get()
      assert.match(String(scriptIndex), /substr\(script_key, 1, 5\)/)
      const find = upgraded.sqlite.prepare(TX_NUM_OF_TXID).pluck()
      const txids = [...shared, ...winningBranch].flatMap((b) => rowsOf(b).txids)
      txids.forEach((txid, txNum) => assert.equal(find.get({key: txidKey(txid), txid}), txNum))
    } finally {
      upgraded.close()
    }
    assert.equal(indexDigest(file), clean)
  })
})

describe('the recent tables a run after the first writes, and their merge (schema 5)', () => {
  const clean = indexWith((w) => w.applyBlocks([...shared, ...winningBranch]))
  const rows = (db: IndexDb, sql: string) => db.sqlite.prepare<[], number>(sql).pluck().get()!
  const mainRows = (db: IndexDb) => [rows(db, 'SELECT COUNT(*) FROM outputs'), rows(db, 'SELECT COUNT(spent_by) FROM outputs'), rows(db, 'SELECT COUNT(*) FROM txid_keys')]
  const recentRows = (db: IndexDb) => ['recent_outputs', 'recent_txid_keys', 'recent_spends'].map((t) => rows(db, `SELECT COUNT(*) FROM ${t}`))
  const firstRun = (w: IndexWriter, blocks: IndexedBlock[]) => {
    w.startBulkLoad()
    w.applyBlocks(blocks)
    w.finishBulkLoad()
  }

  test('a run after the first writes no row of the main tables; a merge moves every recent row into them and changes nothing readers see', () => {
    const digest = indexWith((w, db) => {
      firstRun(w, shared)
      const main = mainRows(db)
      for (const block of winningBranch) w.applyBlocks([block])
      assert.deepEqual(mainRows(db), main, 'outputs, their spends and txid_keys as the first run left them')
      const [outputs, keys, spends] = recentRows(db)
      assert.equal(keys, winningBranch.reduce((n, b) => n + b.txCount, 0))
      assert.ok(outputs > 0 && spends > 0, `the new outputs, and the spends of the first run's outputs, wait: ${recentRows(db)}`)
      const spentRecent = rows(db, 'SELECT COUNT(spent_by) FROM recent_outputs')
      const before = indexDigest(db.path)
      w.mergeRecent()
      assert.deepEqual(recentRows(db), [0, 0, 0])
      assert.deepEqual(mainRows(db), [main[0] + outputs, main[1] + spends + spentRecent, main[2] + keys])
      assert.equal(indexDigest(db.path), before)
    })
    assert.equal(digest, clean)
  })

  // 1: every batch merged; 3: merges between some blocks of each branch; default: none
  for (const mergeRows of [1, 3, undefined]) {
    test(`reorgs, shallow and deep, undone on both sides of a merge end identical to a clean index (merge after ${mergeRows ?? 'no'} rows)`, () => {
      for (const stale of [true, false]) {
        const digest = indexWith(
          (w) => {
            firstRun(w, shared.slice(0, -3))
            for (const block of [...shared.slice(-3), ...staleBranch]) w.applyBlocks([block])
            w.undoAbove(forkHeight, stale ? spendsOf(staleBranch) : undefined)
            for (const block of winningBranch) w.applyBlocks([block])
            // deeper than the first run's end: undone from the main tables too
            const again = [...shared.slice(-5), ...winningBranch]
            w.undoAbove(forkHeight - 5, stale ? spendsOf(again) : undefined)
            w.applyBlocks(again.slice(0, 2))
            for (const block of again.slice(2)) w.applyBlocks([block])
          },
          {mergeRows},
        )
        assert.equal(digest, clean, stale ? 'undone from the stale blocks' : 'undone by a scan')
      }
    })

    test(`an output of the first run spent again in a later batch is refused, the spend before merged or not (merge after ${mergeRows ?? 'no'} rows)`, () => {
      const sharedTxids = new Set(shared.flatMap((b) => rowsOf(b).txids.map((t) => t.toString('hex'))))
      const i = winningBranch.findIndex((b) => rowsOf(b).spends.some((sp) => sharedTxids.has(sp.prevTxid.toString('hex'))))
      const taken = rowsOf(winningBranch[i]).spends.find((sp) => sharedTxids.has(sp.prevTxid.toString('hex')))!
      const next = winningBranch[i + 1]
      const again = buildIndexedBlock({...next, ...rowsOf(next), spends: [...rowsOf(next).spends, {txIndex: next.txCount - 1, vin: 1000, prevTxid: taken.prevTxid, prevVout: taken.prevVout}]})
      indexWith(
        (w, db) => {
          firstRun(w, shared)
          w.applyBlocks(winningBranch.slice(0, i + 1))
          assert.throws(() => w.applyBlocks([again]), {name: 'DatabaseError', message: new RegExp(`^block ${next.height} spends output .* spent already`)})
          assert.equal(db.tip()?.height, winningBranch[i].height)
        },
        {mergeRows},
      )
    })
  }
})

/**
 * What both backends' writers refuse, with the same errors and nothing of the
 * batch written: a spend of an output the index holds as spent (across
 * batches, and twice within one), and a spend of an output it does not hold.
 */
const pg = testPostgres()

/** A batch, then the tip: a failure of the batch is thrown by one or the other. */
function applyThenAsk(w: IndexWrites, db: IndexStore, blocks: IndexedBlock[]): void {
  w.applyBlocks(blocks)
  db.tip()
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`the ${backend} writer refuses bad spends`, {skip: backend === 'postgres' && pg === undefined ? SKIP_MESSAGE : false}, () => {
    const open = (name: string): IndexStore =>
      openStore(backend === 'sqlite' ? path.join(dir, `${name}.db`) : pg!.createDatabase(`writer_${name.replaceAll('-', '_')}`), {network: 'regtest', mode: 'write'})

    test('undoing only part of what a reorg took is caught by the spend check of the next block, not silently kept', () => {
      const db = open('partial')
      try {
        // SQLite: merged, as an undo of spends not merged yet needs nothing of `stale` (recent_spends holds them by spender)
        const w = db.writer({mergeRows: 1})
        w.applyBlocks([...shared, ...staleBranch])
        // pretend the stale blocks spent nothing: their spends stay marked, and a winning block re-spending one is refused
        w.undoAbove(forkHeight, {spends: [], coinbaseTxids: []})
        // thrown by applyBlocks, or (PostgreSQL sends a batch and goes on) by the next call on the store
        assert.throws(() => applyThenAsk(w, db, winningBranch), {name: 'DatabaseError', message: /^block \d+ spends output [0-9a-f]{64}:\d+, which the index holds as spent already/})
        assert.equal(db.tip()?.height, forkHeight, 'nothing of the refused batch is written')
      } finally {
        db.close()
      }
    })

    test('two spends of one older output in one batch: the later block is named, and nothing of the batch is written', () => {
      const sharedTxids = new Set(shared.flatMap((b) => rowsOf(b).txids.map((t) => t.toString('hex'))))
      const takesShared = (b: IndexedBlock) => rowsOf(b).spends.find((s) => sharedTxids.has(s.prevTxid.toString('hex')))
      const i = winningBranch.findIndex((b) => takesShared(b) !== undefined)
      assert.ok(i >= 0 && i + 1 < winningBranch.length, 'the fixture has a block spending an older output, and one after it')
      const taken = takesShared(winningBranch[i])!
      const next = winningBranch[i + 1]
      const rows = rowsOf(next)
      const again = buildIndexedBlock({
        ...next,
        ...rows,
        spends: [...rows.spends, {txIndex: next.txCount - 1, vin: 1000, prevTxid: taken.prevTxid, prevVout: taken.prevVout}],
      })
      const db = open('double-spend')
      try {
        const w = db.writer()
        w.applyBlocks(shared)
        assert.throws(() => applyThenAsk(w, db, [...winningBranch.slice(0, i + 1), again]), {
          name: 'DatabaseError',
          message: new RegExp(`^block ${next.height} spends output .* spent already`),
        })
        assert.equal(db.tip()?.height, forkHeight)
      } finally {
        db.close()
      }
    })

    test('a spend of an output the index does not hold names the block and the outpoint, and nothing of the batch is written', () => {
      const next = winningBranch[0]
      const rows = rowsOf(next)
      const missing = Buffer.alloc(32, 0xab)
      const bad = buildIndexedBlock({...next, ...rows, spends: [...rows.spends, {txIndex: next.txCount - 1, vin: 1000, prevTxid: missing, prevVout: 0}]})
      const db = open('unknown-output')
      try {
        const w = db.writer()
        w.applyBlocks(shared)
        assert.throws(() => w.applyBlocks([bad]), {name: 'DatabaseError', message: new RegExp(`^block ${next.height} spends unknown output ${'ab'.repeat(32)}:0;`)})
        assert.equal(db.tip()?.height, forkHeight)
      } finally {
        db.close()
      }
    })

    test('a spend of a vout its transaction never had, or of the genesis coinbase, is refused by the writer that wrote the transaction and by a new one', () => {
      const next = winningBranch[0]
      const rows = rowsOf(next)
      const known = rowsOf(shared.at(-1)!).txids[0]
      const lastVout = rowsOf(shared.at(-1)!).outputs.filter((o) => o.txIndex === 0).length - 1
      const genesisCoinbase = rowsOf(shared[0]).txids[0]
      assert.equal(shared[0].height, 0)
      const spending = (prevTxid: Buffer, prevVout: number) =>
        buildIndexedBlock({...next, ...rows, spends: [...rows.spends, {txIndex: next.txCount - 1, vin: 1000, prevTxid, prevVout}]})
      let n = 0
      // the writer that wrote them may remember them (a failed batch makes it forget: a new index each time); a new writer must ask the index
      for (const writer of ['remembering', 'new'] as const) {
        for (const [prevTxid, prevVout] of [[known, 999], [known, lastVout + 1], [genesisCoinbase, 0], [known, lastVout]] as const) {
          const db = open(`vouts-${writer}-${n++}`)
          try {
            const first = db.writer()
            first.applyBlocks(shared)
            const w = writer === 'remembering' ? first : db.writer()
            if (prevVout === lastVout && prevTxid === known) {
              w.applyBlocks([spending(prevTxid, prevVout)])
              assert.equal(db.tip()?.height, next.height, 'the last output is there')
              continue
            }
            const shown = `${Buffer.from(prevTxid).reverse().toString('hex')}:${prevVout}`
            assert.throws(() => w.applyBlocks([spending(prevTxid, prevVout)]), {name: 'DatabaseError', message: new RegExp(`^block ${next.height} spends unknown output ${shown};`)}, `${writer} writer, ${shown}`)
            assert.equal(db.tip()?.height, forkHeight)
          } finally {
            db.close()
          }
        }
      }
    })
  })
}
