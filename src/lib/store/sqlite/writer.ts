import type Database from 'better-sqlite3'

import {type IndexedBlock, SCRIPT_KEY_BYTES} from '../../chain/indexed-block.js'
import {BixError} from '../../errors.js'
import {pauseHere} from '../../test-pause.js'
import {checkContinues, doubleSpend, doubleSpendAt, unknownOutput, unknownOutputAt} from '../batch-checks.js'
import type {IndexWrites, StaleSpends, WriterOptions} from '../index-store.js'
import {TX_SHIFT, txNumOfId, txidKey, voutOfId} from '../output-ids.js'
import {RecentTxids} from '../recent-txids.js'
import {WalCheckpointer} from './checkpointer.js'
import type {IndexDb} from './database.js'
import {PagePrefetcher} from './page-prefetcher.js'
import {RowInserter} from './row-inserter.js'
import {BULK_LOAD, SCRIPT_INDEX, SCRIPT_INDEX_KEY, TXID_KEY_HOLDERS, TX_NUMS_OF_TXID, TX_NUM_OF_TXID, type TxidParams, fillTxidKeys, spentTxNum} from './schema.js'
import {databaseError, isDiskFull} from './sqlite-errors.js'

/**
 * The only code that changes the index. applyBlocks appends blocks in one
 * transaction, which also moves the tip, so a crash leaves the index at the
 * end of some batch; undoAbove takes blocks off the top for a reorg.
 *
 * Spends mark the output they take (outputs.spent_by). An output made and
 * spent within the same batch is written once, already spent; older ones are
 * updated in place, in id order at the end of the batch. Nothing is kept to
 * undo spends: a reorg un-spends the outputs that the abandoned blocks' own
 * inputs name (the node keeps stale blocks), or, when those blocks cannot be
 * had, finds them by their spender.
 *
 * A first run (a bulk load) reads nothing back at random: once the index
 * outgrows memory, a lookup of an old txid or a mark on an old output is a
 * disk read each, and the rate would fall with the chain's length. It marks
 * only spends of outputs at most NEAR_SPEND_TXS transactions older than their
 * spender (found in memory, their pages still cached), appends the others to
 * bulk_spends, and builds txid_keys not at all. Its end does both in sorted
 * passes: txid_keys by one sort of txs, then bulk_spends sorted by txid key
 * and joined with it in key order, sorted by output and marked in one pass
 * along outputs (finishBulkLoad).
 *
 * Runs after the first write what they add to the recent tables (migration
 * 5): the new outputs to recent_outputs, their txid keys to
 * recent_txid_keys, and a spend of an output of the main table to
 * recent_spends, after checking the output is there and unspent (a read, but
 * no write, of a random page). The main tables' pages are random to the
 * chain's order: once the index outgrows memory, writing into them was a disk
 * read and write per row, and each dirty page written twice more (the
 * write-ahead log, then the checkpoint). Once the recent tables hold
 * `mergeRows` outputs they are merged into the main ones by sorted passes,
 * a transaction each (mergeRecent), each page of the main tables read and
 * written once at most.
 */

export type {StaleSpends}

const DEFAULT_RECENT_TXIDS = 2 ** 19
/**
 * In a bulk load, a spend of an output this many transactions older than its
 * spender or more waits in bulk_spends for the load's end. Fixed, not tied to
 * the memory given: undoing a reorg during the load un-spends the outputs of
 * this many transactions below the reorg's first one, and must cover what
 * any earlier run marked.
 */
export const NEAR_SPEND_TXS = 2 ** 19
/**
 * The most page cache a bulk load keeps: it reads back only the outputs of
 * its last NEAR_SPEND_TXS transactions (~40 MiB of pages on mainnet-shaped
 * blocks) and the ends of the tables it appends to. Measured on the 30M
 * bench chain: 128 MiB cost 621 MB of peak RSS, 64 MiB a sixth of the rate,
 * 96 MiB neither.
 */
const BULK_CACHE_KIB = 96 * 1024
/** the page cache while the script index is built, which is also the size of the sorter's runs */
const SORT_RUN_KIB = 4096
/** meta key: how many transactions repeated the txid of an earlier one (BIP30) */
const DUPLICATE_TXIDS = 'duplicate_txids'

/**
 * Outputs of the batch, written at its end, so that an output spent inside
 * the batch is written once, already spent. They are found by tx_num: the
 * batch's transactions are consecutive and each one's outputs are
 * contiguous, so no map is needed.
 */
class PendingOutputs {
  ids: number[] = []
  keys: Buffer[] = []
  values: number[] = []
  spentBy: Array<number | null> = []
  /** tx_num of the batch's first transaction */
  firstTx = 0
  /** per transaction of the batch: where its outputs start in the arrays above, and how many it has */
  private starts: number[] = []
  private counts: number[] = []

  begin(firstTx: number): void {
    this.firstTx = firstTx
  }

  /** Outputs must come in order: by transaction, then vout. */
  add(txNum: number, vout: number, key: Buffer, value: number): void {
    const t = txNum - this.firstTx
    while (this.starts.length <= t) {
      this.starts.push(this.ids.length)
      this.counts.push(0)
    }
    this.counts[t]++
    this.ids.push(txNum * TX_SHIFT + vout)
    this.keys.push(key)
    this.values.push(value)
    this.spentBy.push(null)
  }

  /** The position of output (txNum, vout) among the batch's outputs, or -1 if the batch did not make it. */
  find(txNum: number, vout: number): number {
    const t = txNum - this.firstTx
    if (t < 0 || t >= this.starts.length || vout >= this.counts[t]) return -1
    const at = this.starts[t] + vout
    // vouts are dense except in the genesis block, whose output is not stored
    return this.ids[at] === txNum * TX_SHIFT + vout ? at : -1
  }

  /** True if the transaction belongs to this batch: its outputs are all here, so a miss means an unknown output. */
  holds(txNum: number): boolean {
    return txNum >= this.firstTx
  }

  clear(): void {
    this.ids = []
    this.keys = []
    this.values = []
    this.spentBy = []
    this.starts = []
    this.counts = []
  }
}

/** Spends of outputs written by earlier batches, applied together in id order (spendOlder). */
class OlderSpends {
  ids: number[] = []
  spenders: number[] = []
  /** where the spend is, for the error that names it: the block's position in the batch, the spend's in the block */
  blocks: number[] = []
  spendIndexes: number[] = []

  add(outputId: number, spender: number, block: number, spendIndex: number): void {
    this.ids.push(outputId)
    this.spenders.push(spender)
    this.blocks.push(block)
    this.spendIndexes.push(spendIndex)
  }

  clear(): void {
    this.ids = []
    this.spenders = []
    this.blocks = []
    this.spendIndexes = []
  }
}

/**
 * Recent rows are merged into the main tables once recent_outputs holds one
 * for every this many bytes of page cache: with their indexes, the txid keys
 * and the spends that come with them, the recent tables then take about half
 * of it.
 */
const CACHE_BYTES_PER_RECENT_OUTPUT = 160
/** and never before they hold this many (a merge reads pages of the main tables; a few thousand rows share few of them) */
const MIN_MERGE_ROWS = 65_536

/** how many outputs the recent tables hold when a writer with this much page cache merges them */
export function mergeRowsOf(cacheBytes: number): number {
  return Math.max(MIN_MERGE_ROWS, Math.floor(cacheBytes / CACHE_BYTES_PER_RECENT_OUTPUT))
}

/** an index this small is read whole in a moment: PagePrefetcher's threads would cost more than they save */
const PREFETCH_MIN_DB_BYTES = 64 * 1024 * 1024
/** batches a prefetching writer asks for are at least this many rows (about one mainnet block) */
const MIN_PREFETCH_BATCH_ROWS = 16_000
/** an index at most this many times its page cache (twice the run's --max-memory) is written in batches as large as memory allows */
const SMALL_INDEX_CACHES = 8

/** tests: prefetch on any index, with this many threads */
function prefetchThreadsForTests(): number | undefined {
  const threads = Number(process.env.BIX_TEST_PREFETCH_THREADS)
  return Number.isInteger(threads) && threads > 0 ? threads : undefined
}

/**
 * A test hook: BIX_TEST_NEAR_SPEND_TXS=<n> makes a bulk load leave spends of
 * outputs n transactions older than their spender to its end, so that a test
 * chain of a few hundred transactions goes through both paths. Unset, as for
 * every user, it changes nothing.
 */
function nearSpendTxsForTests(): number | undefined {
  const value = process.env.BIX_TEST_NEAR_SPEND_TXS
  return value && /^[1-9]\d*$/.test(value) ? Number(value) : undefined
}

/** tests: merge the recent tables once they hold this many outputs, so that small test chains go through merges */
function mergeRowsForTests(): number | undefined {
  const value = process.env.BIX_TEST_MERGE_ROWS
  return value && /^[1-9]\d*$/.test(value) ? Number(value) : undefined
}

export class IndexWriter implements IndexWrites {
  private readonly sqlite: Database.Database
  /** a long run, and one that reads ahead, checkpoints the write-ahead log on a thread of its own (a short one would spend more starting it than it saves) */
  private readonly checkpointer?: WalCheckpointer
  private readonly prefetcher?: PagePrefetcher
  readonly maxBatchRows?: number
  private readonly recent: RecentTxids
  private readonly pending = new PendingOutputs()
  private readonly olderSpends = new OlderSpends()
  private readonly insertBlock: Database.Statement
  private readonly txs: RowInserter
  /** a first run's outputs */
  private readonly outputs: RowInserter
  /** a later run's outputs, and txid keys */
  private readonly recentOutputs: RowInserter
  private readonly recentTxidKeys: RowInserter
  private readonly bulkSpends: RowInserter
  /** a first run loading (building() on the database): txid_keys and old spends wait for its end */
  private bulk: boolean
  /** see NEAR_SPEND_TXS; smaller only in tests */
  private readonly nearSpendTxs: number
  /** txid_keys rows of the batch, written sorted at its end (or once the batch outgrows `recent`) */
  private pendingKeys: number[] = []
  private pendingKeyTxNums: number[] = []
  private readonly findTx: Database.Statement<[TxidParams], number>
  private readonly keyHolders: Database.Statement<[{key: number}], number>
  private readonly spend: Database.Statement<[number, number]>
  private readonly outputSpentBy: Database.Statement<[number], {spent_by: number | null}>
  private readonly mainOutput: Database.Statement<[number], {spent_by: number | null; script_key: Buffer; value: number}>
  private readonly spendRecent: Database.Statement<[number, number]>
  private readonly recentSpentBy: Database.Statement<[number], {spent_by: number | null}>
  private readonly deferSpend: Database.Statement<[number, number, Buffer, number]>
  private readonly replaceRecent: Database.Statement<[number, number, number]>
  private readonly deferReplace: Database.Statement<[number, number, number]>
  private readonly firstTxAt: Database.Statement<[number], number>
  private readonly lastTxNum: Database.Statement<[], number | null>
  private readonly replace: Database.Statement<[number, number, number]>
  /** the next transaction's tx_num */
  private nextTxNum = 0
  /** outputs from this id on are in recent_outputs, those before in outputs */
  private recentFromId = 0
  /** rows of recent_outputs, and how many make the writer merge them (mergeRecent) */
  private recentRows = 0
  private readonly mergeRows: number
  private readonly onMerge?: (outputs: number) => void

  constructor(
    private readonly db: IndexDb,
    options: WriterOptions = {},
  ) {
    if (db.mode !== 'write') throw new Error('IndexWriter needs an index opened for writing')
    const sqlite = db.sqlite
    this.sqlite = sqlite
    this.recent = new RecentTxids(options.recentTxids ?? DEFAULT_RECENT_TXIDS)
    this.insertBlock = sqlite.prepare('INSERT INTO blocks (height, hash, header, first_tx, tx_count) VALUES (?, ?, ?, ?, ?)')
    this.txs = new RowInserter(sqlite, 'txs', ['tx_num', 'txid'])
    this.outputs = new RowInserter(sqlite, 'outputs', ['id', 'script_key', 'value', 'spent_by'])
    this.recentOutputs = new RowInserter(sqlite, 'recent_outputs', ['id', 'script_key', 'value', 'spent_by'])
    this.recentTxidKeys = new RowInserter(sqlite, 'recent_txid_keys', ['key', 'tx_num'])
    this.bulkSpends = new RowInserter(sqlite, 'bulk_spends', ['id', 'prev_key', 'prev_txid', 'prev_vout'])
    this.bulk = false
    if (db.building()) this.bulkMode()
    this.nearSpendTxs = Math.min(NEAR_SPEND_TXS, options.nearSpendTxs ?? nearSpendTxsForTests() ?? NEAR_SPEND_TXS)
    this.findTx = sqlite.prepare<[TxidParams], number>(TX_NUM_OF_TXID).pluck()
    this.keyHolders = sqlite.prepare<[{key: number}], number>(TXID_KEY_HOLDERS).pluck()
    this.spend = sqlite.prepare('UPDATE outputs SET spent_by = ? WHERE id = ? AND spent_by IS NULL')
    this.outputSpentBy = sqlite.prepare('SELECT spent_by FROM outputs WHERE id = ?')
    this.spendRecent = sqlite.prepare('UPDATE recent_outputs SET spent_by = ? WHERE id = ? AND spent_by IS NULL')
    this.recentSpentBy = sqlite.prepare('SELECT spent_by FROM recent_outputs WHERE id = ?')
    this.mainOutput = sqlite.prepare('SELECT spent_by, script_key, value FROM outputs WHERE id = ?')
    this.deferSpend = sqlite.prepare('INSERT OR IGNORE INTO recent_spends (output_id, spender, script_key, value) VALUES (?, ?, ?, ?)')
    this.replaceRecent = sqlite.prepare('UPDATE recent_outputs SET spent_by = ? WHERE id >= ? AND id < ? AND spent_by IS NULL')
    this.deferReplace = sqlite.prepare(
      'INSERT OR IGNORE INTO recent_spends (output_id, spender, script_key, value) SELECT id, ?, script_key, value FROM outputs WHERE id >= ? AND id < ? AND spent_by IS NULL',
    )
    this.firstTxAt = sqlite.prepare<[number], number>('SELECT first_tx FROM blocks WHERE height = ?').pluck()
    this.lastTxNum = sqlite.prepare<[], number | null>('SELECT MAX(tx_num) FROM txs').pluck()
    this.replace = sqlite.prepare('UPDATE outputs SET spent_by = ? WHERE id >= ? AND id < ? AND spent_by IS NULL')
    this.reload()
    const cacheBytes = -Number(sqlite.pragma('cache_size', {simple: true})) * 1024
    this.mergeRows = options.mergeRows ?? mergeRowsForTests() ?? mergeRowsOf(cacheBytes)
    this.onMerge = options.onMerge
    const testThreads = prefetchThreadsForTests()
    const dbBytes = options.prefetch && !this.bulk ? db.sizeBytes() : undefined
    if (dbBytes !== undefined && (testThreads !== undefined || dbBytes >= PREFETCH_MIN_DB_BYTES)) {
      const cacheRows = Math.max(MIN_PREFETCH_BATCH_ROWS, Math.floor(cacheBytes / Number(sqlite.pragma('page_size', {simple: true}))))
      // A row reads a page or so: a batch whose pages outgrew the cache would find the first ones read gone when it
      // writes. An index the run's memory could nearly hold has fewer pages than that, and there fewer, larger batches
      // write fewer pages (each batch writes every page it changed again).
      if (dbBytes > SMALL_INDEX_CACHES * cacheBytes) this.maxBatchRows = cacheRows
      this.prefetcher = new PagePrefetcher(db.path, cacheRows, testThreads)
    }
    // small batches each dirty as many pages as they read: checkpointing them on the writer's thread would take as long again
    if (options.longRun || this.prefetcher) this.checkpointer = new WalCheckpointer(db)
  }

  /** whether batches are read ahead on threads (WriterOptions.prefetch), and still are */
  get readsAhead(): boolean {
    return this.prefetcher?.working ?? false
  }

  /** A block a coming batch will hold: a prefetching writer reads its pages while the batches before it are written. */
  readAhead(block: IndexedBlock): void {
    if (!this.bulk) this.prefetcher?.readAhead(block)
  }

  async close(): Promise<void> {
    await this.prefetcher?.close()
    await this.checkpointer?.close()
  }

  /**
   * Appends `blocks` (consecutive, continuing the tip) in one transaction.
   * Throws TipMismatch when they do not continue the tip, DatabaseError when
   * a spend names an output the index does not hold; either way nothing of
   * the batch is written.
   */
  applyBlocks(blocks: readonly IndexedBlock[]): void {
    if (blocks.length === 0) return
    const before = this.db.tip()
    // a first run reads nothing back at random (startBulkLoad)
    if (!this.bulk) this.prefetcher?.warm(blocks)
    try {
      this.sqlite.transaction(() => this.write(blocks, before?.height ?? -1, before?.hash)).immediate()
      this.checkpointer?.request()
    } catch (err) {
      this.reload()
      if (isDiskFull(err)) {
        const where = before ? `nothing after height ${before.height} was written` : 'nothing was written'
        throw new BixError('DatabaseError', `disk full while writing ${this.db.path}; ${where}`, {cause: err})
      }
      throw databaseError(err, this.db.path, 'writing')
    }
    if (this.recentRows >= this.mergeRows) {
      this.onMerge?.(this.recentRows)
      this.mergeRecent()
    }
  }

  /**
   * Moves the recent tables into the main ones: txid keys in key order, then
   * the spends on outputs in id order, then the outputs in script order, so
   * that each pass goes along its B-tree once rather than to a random page per
   * row. Each table is moved in a transaction of its own, which a crash
   * leaves undone; readers see the same rows between them. (One transaction
   * would hold every page the merge changes in the write-ahead log at once.)
   * The outputs go into outputs' last pages in script order rather than id
   * order (100,000 of them took 8 % more pages than in id order, table and
   * index together).
   */
  mergeRecent(): void {
    const step = (sql: string, beforeCommit?: () => void) => {
      this.inTransaction(() => {
        this.sqlite.exec(sql)
        beforeCommit?.()
      })
      this.checkpointer?.request()
    }
    step('INSERT INTO txid_keys (key, tx_num) SELECT key, tx_num FROM recent_txid_keys ORDER BY key, tx_num; DELETE FROM recent_txid_keys')
    step(`UPDATE outputs SET spent_by = (SELECT r.spender FROM recent_spends r WHERE r.output_id = outputs.id)
            WHERE id IN (SELECT output_id FROM recent_spends);
          DELETE FROM recent_spends`)
    step(
      `INSERT INTO outputs (id, script_key, value, spent_by)
         SELECT id, script_key, value, spent_by FROM recent_outputs ORDER BY ${SCRIPT_INDEX_KEY}, id;
       DELETE FROM recent_outputs`,
      () => pauseHere('merge-recent', () => 'the recent txid keys and spends merged, the outputs not committed'),
    )
    this.reload()
  }

  /**
   * The first run on an empty index appends hundreds of millions of outputs:
   * keeping outputs_by_script up to date row by row costs a random B-tree
   * insert each, building it once at the end is one sort, several times
   * faster and a third smaller. The index is dropped together with setting
   * the BULK_LOAD mark, so a run killed meanwhile leaves the mark and the
   * next run goes on loading; finishBulkLoad builds it and clears the mark.
   */
  startBulkLoad(): void {
    this.inTransaction(() => {
      this.sqlite.exec(`DROP INDEX IF EXISTS ${SCRIPT_INDEX.name}`)
      this.db.setMeta(BULK_LOAD, '1')
    })
    this.bulkMode()
  }

  private bulkMode(): void {
    this.bulk = true
    const cache = this.sqlite.pragma('cache_size', {simple: true}) as number
    if (-cache > BULK_CACHE_KIB) this.sqlite.pragma(`cache_size = -${BULK_CACHE_KIB}`)
  }

  /**
   * Three sorted passes, each its own transaction, each one redone from the
   * start by the next run if this one dies in it (BULK_LOAD stays set until
   * the last commits): txid_keys, the old spends, the script index.
   */
  finishBulkLoad(): void {
    // Small sorted runs, sorted and merged by helper threads (the decoder's core is idle by now):
    // 3.4 s instead of 9 s for 3M outputs, where one big in-memory run sorts on one thread
    const cache = this.sqlite.pragma('cache_size', {simple: true}) as number
    this.sqlite.pragma('threads = 4')
    this.sqlite.pragma(`cache_size = -${SORT_RUN_KIB}`)
    try {
      this.inTransaction(() => this.buildTxidKeys())
      this.inTransaction(() => {
        this.markBulkSpends()
        this.replaceDuplicateTxids()
        pauseHere('bulk-spends', () => 'the old spends marked, not committed')
      })
      this.inTransaction(() => {
        this.sqlite.exec(SCRIPT_INDEX.create)
        this.db.setMeta(BULK_LOAD, undefined)
        pauseHere('script-index', () => `${SCRIPT_INDEX.name} built, not committed`)
      })
      this.bulk = false
    } finally {
      this.sqlite.pragma(`cache_size = ${cache}`)
      this.reload()
    }
  }

  /** txid_keys from scratch (a bulk load by an older bix wrote some as it went). */
  private buildTxidKeys(): void {
    this.sqlite.exec('DELETE FROM txid_keys')
    fillTxidKeys(this.sqlite)
  }

  /**
   * Resolves bulk_spends and marks the outputs they take. The spends are
   * sorted by txid key (an index of their own) and read in that order, so the
   * lookups walk txid_keys from start to end; the outputs found are sorted by
   * id into bulk_resolved and marked in one pass along outputs. A key held by
   * one transaction settles the lookup (a spend always takes an earlier
   * transaction's output); a key shared by several (a few thousand on mainnet)
   * is settled by their full txids, the latest one before the spender winning
   * as in Core. A spend no transaction answers, one of an output the index
   * does not hold, and two spends of one output fail the whole step with the
   * errors a batch gives.
   */
  private markBulkSpends(): void {
    const s = this.sqlite
    // the full txid stays out of the index: read from the row (a deferred seek) only for a key several transactions share
    s.exec('CREATE INDEX bulk_spends_by_key ON bulk_spends (prev_key, prev_vout)')
    // NOT NULL and OR IGNORE: a spend nothing answers is left out rather than filtered by a WHERE, which would
    // evaluate the lookups twice; it and a second spend of one output show as fewer rows than spends
    s.exec('CREATE TABLE bulk_resolved (output_id INTEGER NOT NULL PRIMARY KEY, spender INTEGER NOT NULL) WITHOUT ROWID')
    const resolved = `
      SELECT d.prev_txid, d.prev_vout, d.id / ${TX_SHIFT} AS spender,
        CASE (SELECT COUNT(*) FROM txid_keys k WHERE k.key = d.prev_key)
          WHEN 1 THEN (SELECT k.tx_num FROM txid_keys k WHERE k.key = d.prev_key AND k.tx_num < d.id / ${TX_SHIFT})
          ELSE (SELECT k.tx_num FROM txid_keys k JOIN txs t ON t.tx_num = k.tx_num
                WHERE k.key = d.prev_key AND t.txid = d.prev_txid AND k.tx_num < d.id / ${TX_SHIFT} ORDER BY k.tx_num DESC LIMIT 1)
        END AS prev_tx_num
      FROM bulk_spends d INDEXED BY bulk_spends_by_key`
    const spends = s.prepare<[], number>('SELECT COUNT(*) FROM bulk_spends').pluck().get()!
    const found = s.prepare(`INSERT OR IGNORE INTO bulk_resolved (output_id, spender) SELECT prev_tx_num * ${TX_SHIFT} + prev_vout, spender FROM (${resolved}) ORDER BY 1`).run().changes
    if (found < spends) {
      const lost = s.prepare<[], {prev_txid: Buffer; prev_vout: number; spender: number}>(`SELECT * FROM (${resolved}) WHERE prev_tx_num IS NULL LIMIT 1`).get()
      if (lost) unknownOutputAt(this.heightOfTx(lost.spender), lost.prev_txid, lost.prev_vout)
      const twice = s
        .prepare<[], {output_id: number; spender: number}>(`SELECT prev_tx_num * ${TX_SHIFT} + prev_vout AS output_id, MAX(spender) AS spender
                     FROM (${resolved}) GROUP BY 1 HAVING COUNT(*) > 1 LIMIT 1`)
        .get()!
      this.failBulkSpend('spent', twice.output_id, twice.spender)
    }
    // in output order, a seek each: an UPDATE … FROM is planned as a scan of every output, probing bulk_resolved
    const marked = s
      .prepare(`UPDATE outputs SET spent_by = (SELECT r.spender FROM bulk_resolved r WHERE r.output_id = outputs.id)
                WHERE id IN (SELECT output_id FROM bulk_resolved) AND spent_by IS NULL`)
      .run().changes
    if (marked < found) {
      const bad = s
        .prepare<[], {output_id: number; spender: number; held: number}>(`SELECT r.output_id, r.spender, o.id IS NOT NULL AS held
                     FROM bulk_resolved r LEFT JOIN outputs o ON o.id = r.output_id WHERE o.spent_by IS NOT r.spender LIMIT 1`)
        .get()!
      this.failBulkSpend(bad.held ? 'spent' : 'unknown', bad.output_id, bad.spender)
    }
    s.exec('DROP TABLE bulk_resolved; DROP INDEX bulk_spends_by_key; DELETE FROM bulk_spends')
  }

  private failBulkSpend(why: 'spent' | 'unknown', outputId: number, spender: number): never {
    const txid = this.sqlite.prepare<[number], Buffer>('SELECT txid FROM txs WHERE tx_num = ?').pluck().get(txNumOfId(outputId))!
    const height = this.heightOfTx(spender)
    if (why === 'unknown') unknownOutputAt(height, txid, voutOfId(outputId))
    doubleSpendAt(height, txid, voutOfId(outputId))
  }

  private heightOfTx(txNum: number): number {
    return this.sqlite.prepare<[number], number>('SELECT height FROM blocks WHERE first_tx <= ? ORDER BY first_tx DESC LIMIT 1').pluck().get(txNum)!
  }

  /**
   * BIP30 for a bulk load, which leaves it to its end: a transaction repeating
   * an earlier one's txid (only coinbases can: mainnet blocks 91842 and 91880)
   * takes what is left unspent of the earlier one's outputs (replaceOutputs).
   * Every spend is marked by now, and none after the repeat takes the earlier
   * one's outputs: they resolve to the latest transaction with the txid.
   */
  private replaceDuplicateTxids(): void {
    const s = this.sqlite
    const shared = s.prepare<[], number>('SELECT key FROM txid_keys GROUP BY key HAVING COUNT(*) > 1').pluck().all()
    const holders = s.prepare<[number], {tx_num: number; txid: Buffer}>('SELECT k.tx_num, t.txid FROM txid_keys k JOIN txs t ON t.tx_num = k.tx_num WHERE k.key = ? ORDER BY k.tx_num')
    let duplicates = 0
    for (const key of shared) {
      const txs = holders.all(key)
      for (let later = 1; later < txs.length; later++) {
        for (let earlier = later - 1; earlier >= 0; earlier--) {
          if (!txs[earlier].txid.equals(txs[later].txid)) continue
          this.replace.run(txs[later].tx_num, txs[earlier].tx_num * TX_SHIFT, (txs[earlier].tx_num + 1) * TX_SHIFT)
          duplicates++
          break
        }
      }
    }
    this.db.setMeta(DUPLICATE_TXIDS, duplicates > 0 ? String(duplicates) : undefined)
  }

  private inTransaction(work: () => void): void {
    try {
      this.sqlite.transaction(work).immediate()
    } catch (err) {
      if (isDiskFull(err)) throw new BixError('DatabaseError', `disk full while writing ${this.db.path}`, {cause: err})
      throw databaseError(err, this.db.path, 'writing')
    }
  }

  /**
   * Removes every block above `height` with its transactions and outputs,
   * and un-spends what they spent, in one transaction. With `stale` (what
   * those blocks spent) this touches only the rows involved; without, it
   * scans the whole outputs table once (minutes on a mainnet-sized index).
   */
  undoAbove(height: number, stale?: StaleSpends): void {
    try {
      this.sqlite.transaction(() => this.undo(height, stale)).immediate()
      this.checkpointer?.request()
    } catch (err) {
      throw databaseError(err, this.db.path, 'writing')
    } finally {
      this.reload()
    }
  }

  private write(blocks: readonly IndexedBlock[], tipHeight: number, tipHash: Buffer | undefined): void {
    const pending = this.pending
    pending.begin(this.nextTxNum)
    let prevHeight = tipHeight
    let prevHash = tipHash
    let duplicates = 0
    const older = this.olderSpends
    try {
      for (let b = 0; b < blocks.length; b++) {
        const block = blocks[b]
        checkContinues(block, prevHeight, prevHash, this.db.network)
        const firstTx = this.nextTxNum
        const {txids, outputs, spends} = block
        this.insertBlock.run(block.height, block.hash, block.header, firstTx, block.txCount)

        // BIP30: only a coinbase can repeat an earlier txid (mainnet blocks 91842 and 91880); a bulk load leaves it to its end
        const earlier = block.txCount > 0 && !this.bulk ? this.lookUp(txids, 0) : -1
        if (earlier >= 0) {
          // the spends so far come first: an output they took is not the duplicate's to replace
          this.spendOlder(blocks)
          this.replaceOutputs(earlier, firstTx)
          duplicates++
        }

        for (let i = 0; i < block.txCount; i++) {
          const txid = txids.subarray(i * 32, i * 32 + 32)
          this.txs.add2(firstTx + i, txid)
          this.recent.add(firstTx + i, txid)
          if (this.bulk) continue
          this.pendingKeys.push(txidKey(txids, i * 32))
          this.pendingKeyTxNums.push(firstTx + i)
        }
        // lookUp finds the batch's transactions in `recent`, as long as it holds them all
        if (this.pendingKeys.length >= this.recent.capacity) this.writeKeys()
        this.nextTxNum = firstTx + block.txCount

        // Core never puts the genesis coinbase's output in the UTXO set: it is unspendable
        if (block.height > 0) {
          const keys = outputs.scriptKeys
          for (let o = 0; o < outputs.count; o++) {
            pending.add(firstTx + outputs.txIndex[o], outputs.vout[o], keys.subarray(o * SCRIPT_KEY_BYTES, (o + 1) * SCRIPT_KEY_BYTES), outputs.value[o])
          }
        }

        let position = 0
        for (let s = 0; s < spends.count; s++) {
          const spender = firstTx + spends.txIndex[s]
          position = s > 0 && spends.txIndex[s - 1] === spends.txIndex[s] ? position + 1 : 0
          const prevVout = spends.prevVout[s]
          let prevTxNum: number
          if (this.bulk) {
            prevTxNum = this.recent.get(spends.prevTxids, s * 32)
            if (prevTxNum < 0 || prevTxNum < spender - this.nearSpendTxs) {
              // also when not found (-1): the end of the load resolves it, or names it unknown
              this.bulkSpends.add4(spender * TX_SHIFT + position, txidKey(spends.prevTxids, s * 32), spends.prevTxids.subarray(s * 32, s * 32 + 32), prevVout)
              continue
            }
          } else {
            prevTxNum = this.lookUpSpent(spends.prevTxids, s * 32)
            if (prevTxNum < 0) unknownOutput(block, s)
          }
          if (pending.holds(prevTxNum)) {
            const at = pending.find(prevTxNum, prevVout)
            if (at < 0) unknownOutput(block, s)
            if (pending.spentBy[at] !== null) doubleSpend(block, s)
            pending.spentBy[at] = spender
          } else {
            older.add(prevTxNum * TX_SHIFT + prevVout, spender, b, s)
          }
        }
        prevHeight = block.height
        prevHash = block.hash
      }

      this.spendOlder(blocks)
      const outputs = this.bulk ? this.outputs : this.recentOutputs
      for (let i = 0; i < pending.ids.length; i++) outputs.add4(pending.ids[i], pending.keys[i], pending.values[i], pending.spentBy[i])
      outputs.flush()
      if (!this.bulk) this.recentRows += pending.ids.length

      this.txs.flush()
      this.writeKeys()
      this.bulkSpends.flush()

      if (duplicates > 0) this.db.setMeta(DUPLICATE_TXIDS, String(Number(this.db.meta(DUPLICATE_TXIDS) ?? 0) + duplicates))
      pauseHere('write-transaction', () => `blocks ${blocks[0].height}..${blocks[blocks.length - 1].height} written, not committed`)
    } finally {
      pending.clear()
      older.clear()
      this.txs.clear()
      this.outputs.clear()
      this.recentOutputs.clear()
      this.recentTxidKeys.clear()
      this.bulkSpends.clear()
      this.pendingKeys = []
      this.pendingKeyTxNums = []
    }
  }

  /**
   * Marks the outputs of earlier batches that this batch's spends take, in
   * id order: neighbouring outputs share pages, so one ordered pass touches
   * each page once where block order would jump around the table. After the
   * first run, an output of the main table is checked (there, unspent) and
   * its spend goes to recent_spends.
   */
  private spendOlder(blocks: readonly IndexedBlock[]): void {
    const older = this.olderSpends
    const order = new Uint32Array(older.ids.length)
    for (let i = 0; i < order.length; i++) order[i] = i
    // by output, then in block order: of two spends of one output, the later one is the double spend
    order.sort((a, b) => older.ids[a] - older.ids[b] || a - b)
    for (const i of order) {
      const outputId = older.ids[i]
      const spender = older.spenders[i]
      const block = blocks[older.blocks[i]]
      if (this.bulk) {
        if (this.spend.run(spender, outputId).changes === 1) continue
        if (this.outputSpentBy.get(outputId)) doubleSpend(block, older.spendIndexes[i])
      } else if (outputId >= this.recentFromId) {
        if (this.spendRecent.run(spender, outputId).changes === 1) continue
        if (this.recentSpentBy.get(outputId)) doubleSpend(block, older.spendIndexes[i])
      } else {
        const row = this.mainOutput.get(outputId)
        if (row && row.spent_by === null && this.deferSpend.run(outputId, spender, row.script_key, row.value).changes === 1) continue
        if (row) doubleSpend(block, older.spendIndexes[i])
      }
      unknownOutput(block, older.spendIndexes[i])
    }
    older.clear()
  }

  /** The pending txid_keys rows, in key order: one ordered pass through the B-tree rather than a random insert each. */
  private writeKeys(): void {
    const keys = this.pendingKeys
    const txNums = this.pendingKeyTxNums
    const order = new Uint32Array(keys.length)
    for (let i = 0; i < order.length; i++) order[i] = i
    order.sort((a, b) => keys[a] - keys[b] || txNums[a] - txNums[b])
    for (const i of order) this.recentTxidKeys.add2(keys[i], txNums[i])
    this.recentTxidKeys.flush()
    this.pendingKeys = []
    this.pendingKeyTxNums = []
  }

  /** tx_num of the latest transaction with the txid at bytes[at..at+32], -1 if the index has none. */
  private lookUp(bytes: Buffer, at: number): number {
    const recent = this.recent.get(bytes, at)
    if (recent >= 0) return recent
    // not among the recent transactions, so not among the batch's: written already, if at all
    return this.findTx.get({key: txidKey(bytes, at), txid: bytes.subarray(at, at + 32)}) ?? -1
  }

  /** lookUp for the txid a spend names, which trusts a key one transaction holds (spentTxNum, as at a first run's end). */
  private lookUpSpent(bytes: Buffer, at: number): number {
    const recent = this.recent.get(bytes, at)
    if (recent >= 0) return recent
    return spentTxNum(this.keyHolders, this.findTx, bytes.subarray(at, at + 32)) ?? -1
  }

  /**
   * A coinbase repeating the txid of transaction `earlier` overwrites its
   * unspent outputs, as in Core (BIP30): they are marked spent by the new
   * coinbase (spent_by = its tx_num; for the main table's, in recent_spends).
   * Those coins are gone from the UTXO set. A first run does this at its end.
   */
  private replaceOutputs(earlier: number, newTxNum: number): void {
    const from = earlier * TX_SHIFT
    const to = from + TX_SHIFT
    const pending = this.pending
    for (let i = 0; i < pending.ids.length; i++) {
      const id = pending.ids[i]
      if (id >= from && id < to && pending.spentBy[i] === null) pending.spentBy[i] = newTxNum
    }
    this.replaceRecent.run(newTxNum, from, to)
    this.deferReplace.run(newTxNum, from, to)
  }

  private undo(height: number, stale: StaleSpends | undefined): void {
    const tip = this.db.tip()
    if (!tip || tip.height <= height) return
    const firstUndone = this.firstTxAt.get(height + 1)!
    const boundary = firstUndone * TX_SHIFT
    const s = this.sqlite
    if (this.bulk) {
      s.prepare('DELETE FROM bulk_spends WHERE id >= ?').run(boundary)
      // what the load marked as it went: outputs at most NEAR_SPEND_TXS older than their spender
      s.prepare('UPDATE outputs SET spent_by = NULL WHERE id >= ? AND spent_by >= ?').run(Math.max(0, firstUndone - NEAR_SPEND_TXS) * TX_SHIFT, firstUndone)
    }
    // spends and BIP30 replacements by the undone blocks that no merge has moved into outputs yet
    s.prepare('DELETE FROM recent_spends WHERE spender >= ?').run(firstUndone)
    s.prepare('UPDATE recent_outputs SET spent_by = NULL WHERE spent_by >= ?').run(firstUndone)
    if (stale) {
      // only outputs older than the undone blocks need un-spending: their own outputs go below
      const unspend = s.prepare('UPDATE outputs SET spent_by = NULL WHERE id = ? AND spent_by >= ?')
      const unreplace = s.prepare('UPDATE outputs SET spent_by = NULL WHERE id >= ? AND id < ? AND spent_by >= ?')
      for (const spend of stale.spends) {
        const txNum = this.findTx.get({key: txidKey(spend.prevTxid), txid: spend.prevTxid})
        if (txNum !== undefined && txNum < firstUndone) unspend.run(txNum * TX_SHIFT + spend.prevVout, firstUndone)
      }
      for (const txid of stale.coinbaseTxids) {
        const earlier = s
          .prepare<[TxidParams & {before: number}], number>(`SELECT tx_num FROM (${TX_NUMS_OF_TXID}) WHERE tx_num < @before ORDER BY tx_num DESC LIMIT 1`)
          .pluck()
          .get({key: txidKey(txid), txid, before: firstUndone})
        if (earlier !== undefined) unreplace.run(earlier * TX_SHIFT, (earlier + 1) * TX_SHIFT, firstUndone)
      }
    } else if (!this.bulk) {
      s.prepare('UPDATE outputs SET spent_by = NULL WHERE spent_by >= ?').run(firstUndone)
    }
    s.prepare('DELETE FROM outputs WHERE id >= ?').run(boundary)
    s.prepare('DELETE FROM recent_outputs WHERE id >= ?').run(boundary)
    const deleteKey = s.prepare<[number, number]>('DELETE FROM txid_keys WHERE key = ? AND tx_num = ?')
    const deleteRecentKey = s.prepare<[number, number]>('DELETE FROM recent_txid_keys WHERE key = ? AND tx_num = ?')
    for (const tx of s.prepare<[number], {tx_num: number; txid: Buffer}>('SELECT tx_num, txid FROM txs WHERE tx_num >= ?').all(firstUndone)) {
      const key = txidKey(tx.txid)
      if (deleteRecentKey.run(key, tx.tx_num).changes === 0) deleteKey.run(key, tx.tx_num)
    }
    s.prepare('DELETE FROM txs WHERE tx_num >= ?').run(firstUndone)
    s.prepare('DELETE FROM blocks WHERE height > ?').run(height)
  }

  /** Re-reads what the writer keeps in memory: after an undo, and after a batch that failed and was rolled back. */
  private reload(): void {
    const last = this.lastTxNum.get()
    this.nextTxNum = last === null || last === undefined ? 0 : last + 1
    this.recent.reset(this.nextTxNum)
    const recent = this.sqlite.prepare<[], {rows: number; first: number | null}>('SELECT COUNT(*) AS rows, MIN(id) AS first FROM recent_outputs').get()!
    this.recentRows = recent.rows
    this.recentFromId = recent.first ?? this.nextTxNum * TX_SHIFT
  }
}
