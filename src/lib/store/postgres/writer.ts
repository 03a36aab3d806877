import {type IndexedBlock, SCRIPT_KEY_BYTES} from '../../chain/indexed-block.js'
import {pauseHere} from '../../test-pause.js'
import {checkContinues, doubleSpend, unknownOutput} from '../batch-checks.js'
import type {IndexWrites, StaleSpends, WriterOptions} from '../index-store.js'
import {TX_SHIFT, outputId, txidKey} from '../output-ids.js'
import {RecentTxids} from '../recent-txids.js'
import {CopyWriter} from './copy-writer.js'
import {PG_SCRIPT_INDEX, PG_TX_NUM_OF_Q} from './schema.js'
import {PG_BULK_LOAD, PG_SET_META, type PgIndexStore} from './store.js'

/**
 * The only code that changes a PostgreSQL index. applyBlocks appends blocks
 * in one transaction, which also moves the tip, so a crash leaves the index
 * at the end of some batch; undoAbove takes blocks off the top for a reorg.
 *
 * A batch is worked out in memory first: its transactions are numbered,
 * each spend's output is found (among the batch's own transactions, the
 * recent ones kept in memory, or, in one query for the whole batch, the
 * index), and then every table gets its rows by COPY. A spend is a row of
 * spends, never an update of outputs (schema.ts says why).
 */

const DEFAULT_RECENT_TXIDS = 2 ** 19
/** meta key: how many transactions repeated the txid of an earlier one (BIP30) */
const DUPLICATE_TXIDS = 'duplicate_txids'

interface Lookup {
  /** internal byte order */
  txid: Buffer
  /** filled in from the index: -1 when it holds no such transaction */
  txNum: number
  /** how many outputs the index holds for it (vouts 0..n-1) */
  outputCount: number
}

/** Spends of outputs written by earlier batches: their ids, and where each spend is (block of the batch, spend of the block). */
interface OlderSpends {
  ids: number[]
  where: Array<[number, number]>
}

class SpendRows {
  private ids: number[] = []
  private spenders: number[] = []

  add(outputId: number, spender: number): void {
    this.ids.push(outputId)
    this.spenders.push(spender)
  }

  /** The COPY payload, in output id order. */
  sorted(): Buffer {
    const {ids, spenders} = this
    const order = new Uint32Array(ids.length)
    for (let i = 0; i < order.length; i++) order[i] = i
    order.sort((a, b) => ids[a] - ids[b])
    const copy = new CopyWriter()
    for (const i of order) copy.row(2).int8(ids[i]).int8(spenders[i])
    return copy.finish()
  }
}

/** SQLSTATE unique_violation */
const UNIQUE_VIOLATION = '23505'

export class PgIndexWriter implements IndexWrites {
  private readonly recent: RecentTxids
  /** the output count of each transaction `recent` holds, in the slot of its tx_num (tx_num % capacity): so that a spend of one is checked without asking the server */
  private readonly recentOutputCounts: Uint32Array
  private nextTxNum = 0
  /** the tip as of the last batch sent */
  private tipHeight = -1
  private tipHash: Buffer | undefined

  constructor(
    private readonly store: PgIndexStore,
    options: WriterOptions = {},
  ) {
    if (store.mode !== 'write') throw new Error('PgIndexWriter needs an index opened for writing')
    this.recent = new RecentTxids(options.recentTxids ?? DEFAULT_RECENT_TXIDS)
    this.recentOutputCounts = new Uint32Array(this.recent.capacity)
    this.reload()
  }

  async close(): Promise<void> {}

  applyBlocks(blocks: readonly IndexedBlock[]): void {
    if (blocks.length === 0) return
    try {
      this.write(blocks)
    } catch (err) {
      // nothing of the batch was sent, or what was failed and the server rolled it back
      this.reload()
      throw err
    }
  }

  /** The error of the first of a batch's older spends whose output the index holds as spent (the batch rolled back), if any. */
  private doubleSpendError(blocks: readonly IndexedBlock[], older: OlderSpends): Error | undefined {
    if (older.ids.length === 0) return undefined
    const first = this.store.pg.query<{i: number}>(
      'SELECT q.i FROM unnest($1::bigint[], $2::int[]) AS q(id, i) WHERE EXISTS (SELECT 1 FROM spends s WHERE s.output_id = q.id) ORDER BY q.i LIMIT 1',
      [older.ids, older.ids.map((_, i) => i)],
    )[0]
    if (!first) return undefined
    const [b, spend] = older.where[first.i]
    try {
      doubleSpend(blocks[b], spend)
    } catch (err) {
      return err as Error
    }
    return undefined
  }

  startBulkLoad(): void {
    this.store.pg.transaction(() => {
      this.store.pg.exec(`DROP INDEX IF EXISTS ${PG_SCRIPT_INDEX.name}`)
      this.store.setMeta(PG_BULK_LOAD, '1')
    })
  }

  finishBulkLoad(): void {
    this.store.pg.transaction(() => {
      this.store.pg.exec(PG_SCRIPT_INDEX.create)
      this.store.setMeta(PG_BULK_LOAD, undefined)
      pauseHere('script-index', () => `${PG_SCRIPT_INDEX.name} built, not committed`)
    })
    // the planner's statistics, for the queries that follow the first build
    this.store.pg.exec('ANALYZE')
  }

  undoAbove(height: number, stale?: StaleSpends): void {
    try {
      this.store.pg.transaction(() => this.undo(height, stale))
    } finally {
      this.reload()
    }
  }

  /**
   * A batch in three steps. First what needs no server: numbering, the rows of
   * blocks, txs, txid_keys and outputs; this runs while the server still
   * writes the batch before, which was sent without waiting. Then, once that
   * one is known to be committed, one query for the spent outputs of older
   * transactions the writer does not remember, and the checks and rows of the
   * spends. Then BEGIN, a COPY per table and COMMIT, sent without waiting: what
   * fails there is thrown, named, by the next call on the connection (the
   * next batch, or the caller asking for the tip), and the server has rolled
   * it back.
   */
  private write(blocks: readonly IndexedBlock[]): void {
    const pg = this.store.pg
    const firstTx = this.nextTxNum

    // 1. number the transactions and find every spent output's transaction: in the batch, in `recent`, or left to one query
    const lookups: Lookup[] = []
    const lookupOf = new Map<string, Lookup>()
    const batchTxNums = new Map<string, number>()
    const deferred = (txid: Buffer): Lookup => {
      const key = txid.toString('latin1')
      let lookup = lookupOf.get(key)
      if (!lookup) {
        lookup = {txid: Buffer.from(txid), txNum: -1, outputCount: 0}
        lookupOf.set(key, lookup)
        lookups.push(lookup)
      }
      return lookup
    }
    /** a spend's or a coinbase's earlier transaction: a tx_num, or a lookup still to be answered */
    type Found = number | Lookup
    const find = (bytes: Buffer, at: number): Found => {
      const txid = bytes.subarray(at, at + 32)
      const inBatch = batchTxNums.get(txid.toString('latin1'))
      if (inBatch !== undefined) return inBatch
      const recent = this.recent.get(bytes, at)
      if (recent >= 0) return recent
      return deferred(txid)
    }
    const coinbaseEarlier: Found[] = []
    const spendFrom: Found[][] = []
    let prevHeight = this.tipHeight
    let prevHash = this.tipHash
    let txNum = firstTx
    for (const block of blocks) {
      checkContinues(block, prevHeight, prevHash, this.store.network)
      coinbaseEarlier.push(block.txCount > 0 ? find(block.txids, 0) : -1)
      for (let i = 0; i < block.txCount; i++) batchTxNums.set(block.txids.subarray(i * 32, i * 32 + 32).toString('latin1'), txNum + i)
      txNum += block.txCount
      const from: Found[] = []
      for (let s = 0; s < block.spends.count; s++) from.push(find(block.spends.prevTxids, s * 32))
      spendFrom.push(from)
      prevHeight = block.height
      prevHash = block.hash
    }
    const nextTxNum = txNum

    // 2. the rows that need nothing from the server: blocks, txs, txid_keys (sorted, so that its index takes them in one ordered pass), outputs
    const blockRows = new CopyWriter()
    const txRows = new CopyWriter()
    const outputRows = new CopyWriter()
    const keys: number[] = []
    const keyTxNums: number[] = []
    /** outputs of the batch by id, and whether a spend of the batch took them */
    const made = new Map<number, boolean>()
    /** each block's first tx_num */
    const blockFirsts: number[] = []
    txNum = firstTx
    for (const block of blocks) {
      blockFirsts.push(txNum)
      blockRows.row(5).int4(block.height).bytea(block.hash).bytea(block.header).int8(txNum).int4(block.txCount)
      for (let i = 0; i < block.txCount; i++) {
        txRows.row(2).int8(txNum + i).bytea(block.txids.subarray(i * 32, i * 32 + 32))
        keys.push(txidKey(block.txids, i * 32))
        keyTxNums.push(txNum + i)
      }
      // Core never puts the genesis coinbase's output in the UTXO set: it is unspendable
      if (block.height > 0) {
        const {outputs} = block
        for (let o = 0; o < outputs.count; o++) {
          const id = outputId(txNum + outputs.txIndex[o], outputs.vout[o])
          made.set(id, false)
          outputRows.row(3).int8(id).bytea(outputs.scriptKeys.subarray(o * SCRIPT_KEY_BYTES, (o + 1) * SCRIPT_KEY_BYTES)).int8(outputs.value[o])
        }
      }
      txNum += block.txCount
    }
    const order = Array.from(keys.keys()).sort((x, y) => keys[x] - keys[y] || keyTxNums[x] - keyTxNums[y])
    const keyRows = new CopyWriter()
    for (const i of order) keyRows.row(2).int8(keys[i]).int8(keyTxNums[i])

    // 3. the batch before is committed (or its failure is thrown here); then the older transactions the writer does not remember
    pg.settle()
    if (lookups.length > 0) {
      // each transaction's outputs are vouts 0..n-1 (every output is a row, but the genesis coinbase's): n is its highest id's vout + 1, one index probe
      const rows = pg.query<{i: number; tx_num: number; outputs: number}>(
        `SELECT q.i, found.tx_num,
                (SELECT coalesce(max(o.id) + 1 - found.tx_num * $4::bigint, 0) FROM outputs o
                  WHERE o.id >= found.tx_num * $4::bigint AND o.id < (found.tx_num + 1) * $4::bigint) AS outputs
           FROM unnest($1::bigint[], $2::bytea[], $3::int[]) AS q(key, txid, i)
           CROSS JOIN LATERAL (${PG_TX_NUM_OF_Q}) AS found`,
        [lookups.map((l) => txidKey(l.txid)), lookups.map((l) => l.txid), lookups.map((_, i) => i), TX_SHIFT],
      )
      for (const row of rows) {
        lookups[row.i].txNum = Number(row.tx_num)
        lookups[row.i].outputCount = Number(row.outputs)
      }
    }
    const txNumOf = (found: Found) => (typeof found === 'number' ? found : found.txNum)
    /** how many outputs an earlier batch's transaction has: `recent`'s from memory, the others as the lookup found */
    const outputCountOf = (found: Found) => (typeof found === 'number' ? this.recentOutputCounts[found % this.recent.capacity] : found.outputCount)

    // 4. the spends, checked against the batch's outputs, or the older ones' transactions (that none is spent already, the spends table's key checks)
    /** the batch's spends (output id, spender), written in id order: one ordered pass through the spends key instead of a random insert each */
    const spendRows = new SpendRows()
    /** outputs of earlier batches that the batch spends, with where each spend is (block, spend): for naming a double spend */
    const older: OlderSpends = {ids: [], where: []}
    const olderSeen = new Set<number>()
    let duplicates = 0
    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b]
      const blockFirst = blockFirsts[b]
      const blockEnd = blockFirst + block.txCount
      const earlier = txNumOf(coinbaseEarlier[b])
      if (earlier >= 0) {
        // BIP30: a coinbase repeating an earlier txid overwrites that transaction's unspent outputs, as in Core
        this.replaceOutputs(earlier, blockFirst, made, olderSeen, spendRows)
        duplicates++
      }
      const from = spendFrom[b]
      for (let s = 0; s < block.spends.count; s++) {
        const spender = blockFirst + block.spends.txIndex[s]
        const prevTxNum = txNumOf(from[s])
        if (prevTxNum < 0) unknownOutput(block, s)
        const id = outputId(prevTxNum, block.spends.prevVout[s])
        if (prevTxNum >= firstTx) {
          // an output of this block or an earlier one of the batch
          const spent = prevTxNum < blockEnd ? made.get(id) : undefined
          if (spent === undefined) unknownOutput(block, s)
          if (spent) doubleSpend(block, s)
          made.set(id, true)
        } else {
          // an output of an earlier batch exists when its vout is below its transaction's output count
          if (block.spends.prevVout[s] >= outputCountOf(from[s])) unknownOutput(block, s)
          if (olderSeen.has(id)) doubleSpend(block, s)
          olderSeen.add(id)
          older.ids.push(id)
          older.where.push([b, s])
        }
        spendRows.add(id, spender)
      }
    }
    const duplicatesBefore = duplicates > 0 ? Number(this.store.meta(DUPLICATE_TXIDS) ?? 0) : 0

    // 5. one transaction, sent without waiting: the next call on the connection learns how it went
    pg.whenSentFails((err) => {
      this.reload()
      // the spends table's key refused a spend of an output the index holds as spent: name it, as SQLite's writer does
      if (err.code === UNIQUE_VIOLATION) return this.doubleSpendError(blocks, older) ?? err
      return err
    })
    pg.send('BEGIN')
    pg.sendCopyIn('COPY blocks (height, hash, header, first_tx, tx_count) FROM STDIN (FORMAT binary)', blockRows.finish())
    pg.sendCopyIn('COPY txs (tx_num, txid) FROM STDIN (FORMAT binary)', txRows.finish())
    pg.sendCopyIn('COPY txid_keys (key, tx_num) FROM STDIN (FORMAT binary)', keyRows.finish())
    pg.sendCopyIn('COPY outputs (id, script_key, value) FROM STDIN (FORMAT binary)', outputRows.finish())
    pg.sendCopyIn('COPY spends (output_id, spent_by) FROM STDIN (FORMAT binary)', spendRows.sorted())
    if (duplicates > 0) pg.send(PG_SET_META, [DUPLICATE_TXIDS, String(duplicatesBefore + duplicates)])
    pauseHere('write-transaction', () => {
      pg.settle()
      return `blocks ${blocks[0].height}..${blocks[blocks.length - 1].height} written, not committed`
    })
    // a COMMIT of a transaction that failed is a ROLLBACK: the connection is ready for the next batch either way
    pg.send('COMMIT')

    // the writer's memory moves on as if it is committed; should it not be, the handler above reloads it
    let first = firstTx
    const {capacity} = this.recent
    for (const block of blocks) {
      for (let i = 0; i < block.txCount; i++) {
        this.recent.add(first + i, block.txids.subarray(i * 32, i * 32 + 32))
        this.recentOutputCounts[(first + i) % capacity] = 0
      }
      // as the outputs table holds them: none for the genesis block
      if (block.height > 0) {
        const {outputs} = block
        for (let o = 0; o < outputs.count; o++) {
          const slot = (first + outputs.txIndex[o]) % capacity
          this.recentOutputCounts[slot] = Math.max(this.recentOutputCounts[slot], outputs.vout[o] + 1)
        }
      }
      first += block.txCount
    }
    this.nextTxNum = nextTxNum
    this.tipHeight = prevHeight
    this.tipHash = prevHash
  }

  /**
   * The unspent outputs of transaction `earlier` are taken by the coinbase
   * `newTxNum` that repeats its txid: a spends row each. Outputs the batch
   * itself made and spent so far, or the index holds spent, are left alone.
   */
  private replaceOutputs(earlier: number, newTxNum: number, made: Map<number, boolean>, olderSeen: Set<number>, spendRows: SpendRows): void {
    const from = outputId(earlier, 0)
    const to = outputId(earlier + 1, 0)
    for (const [id, spent] of made) {
      if (id >= from && id < to && !spent) {
        made.set(id, true)
        spendRows.add(id, newTxNum)
      }
    }
    const unspent = this.store.pg.query<{id: number}>(
      'SELECT o.id FROM outputs o WHERE o.id >= $1 AND o.id < $2 AND NOT EXISTS (SELECT 1 FROM spends s WHERE s.output_id = o.id) ORDER BY o.id',
      [from, to],
    )
    for (const row of unspent) {
      const id = Number(row.id)
      if (olderSeen.has(id)) continue
      olderSeen.add(id)
      spendRows.add(id, newTxNum)
    }
  }

  private undo(height: number, stale: StaleSpends | undefined): void {
    const store = this.store
    const pg = store.pg
    const tip = store.tip()
    if (!tip || tip.height <= height) return
    const firstUndone = Number(pg.query<{first_tx: number}>('SELECT first_tx FROM blocks WHERE height = $1', [height + 1])[0].first_tx)
    const boundary = outputId(firstUndone, 0)
    // spends by the undone transactions: of their own outputs (removed below with them), and of older ones
    pg.run('DELETE FROM spends WHERE output_id >= $1', [boundary])
    if (stale) {
      const ids: number[] = []
      const txids = [...stale.spends.map((s) => s.prevTxid), ...stale.coinbaseTxids]
      const txNums = this.lookUp(txids, firstUndone)
      stale.spends.forEach((spend, i) => {
        const txNum = txNums[i]
        if (txNum >= 0) ids.push(outputId(txNum, spend.prevVout))
      })
      if (ids.length > 0) pg.run('DELETE FROM spends WHERE output_id = ANY($1::bigint[]) AND spent_by >= $2', [ids, firstUndone])
      // a coinbase repeating an earlier txid (BIP30) had taken over that transaction's outputs
      for (const earlier of txNums.slice(stale.spends.length)) {
        if (earlier >= 0) pg.run('DELETE FROM spends WHERE output_id >= $1 AND output_id < $2 AND spent_by >= $3', [outputId(earlier, 0), outputId(earlier + 1, 0), firstUndone])
      }
    } else {
      pg.run('DELETE FROM spends WHERE spent_by >= $1', [firstUndone])
    }
    pg.run('DELETE FROM outputs WHERE id >= $1', [boundary])
    const undone = pg.query<{tx_num: number; txid: Buffer}>('SELECT tx_num, txid FROM txs WHERE tx_num >= $1', [firstUndone])
    if (undone.length > 0) {
      pg.run('DELETE FROM txid_keys k USING unnest($1::bigint[], $2::bigint[]) AS q(key, tx_num) WHERE k.key = q.key AND k.tx_num = q.tx_num', [
        undone.map((r) => txidKey(r.txid)),
        undone.map((r) => Number(r.tx_num)),
      ])
    }
    pg.run('DELETE FROM txs WHERE tx_num >= $1', [firstUndone])
    pg.run('DELETE FROM blocks WHERE height > $1', [height])
  }

  /** tx_nums (below `below`) of the latest transactions with these txids, -1 for those the index lacks. */
  private lookUp(txids: readonly Buffer[], below: number): number[] {
    const found = txids.map(() => -1)
    if (txids.length === 0) return found
    const rows = this.store.pg.query<{i: number; tx_num: number}>(
      `SELECT q.i, (SELECT k.tx_num FROM txid_keys k JOIN txs t ON t.tx_num = k.tx_num
                     WHERE k.key = q.key AND t.txid = q.txid AND k.tx_num < $4 ORDER BY k.tx_num DESC LIMIT 1) AS tx_num
         FROM unnest($1::bigint[], $2::bytea[], $3::int[]) AS q(key, txid, i)`,
      [txids.map((t) => txidKey(t)), txids, txids.map((_, i) => i), below],
    )
    for (const row of rows) if (row.tx_num !== null) found[row.i] = Number(row.tx_num)
    return found
  }

  /** Re-reads what the writer keeps in memory: after an undo, and after a batch that failed and was rolled back. */
  private reload(): void {
    const last = this.store.pg.query<{last: number | null}>('SELECT max(tx_num) AS last FROM txs')[0].last
    this.nextTxNum = last === null ? 0 : Number(last) + 1
    const tip = this.store.tip()
    this.tipHeight = tip?.height ?? -1
    this.tipHash = tip?.hash
    this.recent.reset(this.nextTxNum)
  }
}
