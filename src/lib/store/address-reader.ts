import type Database from 'better-sqlite3'

import {BixError} from '../errors.js'
import type {IndexDb} from './database.js'
import {TX_NUM_OF_TXID, TX_SHIFT, scriptKeyIs, txidKey} from './schema.js'
import {databaseError} from './sqlite-errors.js'

/**
 * The confirmed side of a script's activity, read from the index: every
 * output paid to the script (with the input that spent it, if any), and the
 * lookups that turn tx_nums into txids and blocks for display. Read-only,
 * and safe while `bix index` writes (WAL).
 */

export interface BlockOfTx {
  height: number
  /** internal byte order */
  hash: Buffer
  /** the header's timestamp, unix seconds */
  time: number
}

export const txNumOf = (packedId: number) => Math.floor(packedId / TX_SHIFT)
export const positionOf = (packedId: number) => packedId % TX_SHIFT

export interface ChainActivity {
  funded_txo_count: number
  funded_txo_sum: number
  spent_txo_count: number
  spent_txo_sum: number
  /** transactions that paid or spent the script */
  tx_count: number
  /** the oldest and newest of them, undefined without any */
  firstTxNum?: number
  lastTxNum?: number
}

export interface TxChange {
  txNum: number
  /** satoshis paid to the script minus satoshis spent from it */
  delta: number
}

/** SQLite's LIMIT for "no limit" */
const NO_LIMIT = -1

export class AddressReader {
  private readonly statsStmt: Database.Statement<[{key: Buffer}], {funded: number; fundedSum: number | null; spent: number; spentSum: number | null}>
  private readonly txSpanStmt: Database.Statement<[{key: Buffer}], {txs: number; first: number | null; last: number | null}>
  private readonly historyStmt: Database.Statement<[{key: Buffer; before: number; limit: number}], {t: number; delta: number}>
  private readonly unspentStmt: Database.Statement<[{key: Buffer; before: number; limit: number}], {id: number; value: number}>
  private readonly valueStmt: Database.Statement<[number], {value: number; spent_by: number | null; script_key: Buffer}>
  private readonly txidStmt: Database.Statement<[number], Buffer>
  private readonly blockStmt: Database.Statement<[number], {height: number; hash: Buffer; header: Buffer}>
  private readonly txNumStmt: Database.Statement<[number, Buffer], number>
  private readonly txNumsStmt: Database.Statement<[number, Buffer], number>
  private readonly blocks = new Map<number, BlockOfTx>()

  constructor(private readonly db: IndexDb) {
    const s = db.sqlite
    // everything is summed and grouped inside SQLite: 100,000 rows never become JS objects
    this.statsStmt = s.prepare(
      `SELECT COUNT(*) AS funded, SUM(value) AS fundedSum, COUNT(spent_by) AS spent,
              SUM(CASE WHEN spent_by IS NOT NULL THEN value END) AS spentSum
       FROM outputs WHERE ${scriptKeyIs('@key')}`,
    )
    const changes = `SELECT id / ${TX_SHIFT} AS t, value AS delta FROM outputs WHERE ${scriptKeyIs('@key')}
                     UNION ALL
                     SELECT spent_by AS t, -value AS delta FROM outputs WHERE ${scriptKeyIs('@key')} AND spent_by IS NOT NULL`
    this.txSpanStmt = s.prepare(`SELECT COUNT(DISTINCT t) AS txs, MIN(t) AS first, MAX(t) AS last FROM (${changes})`)
    this.historyStmt = s.prepare(`SELECT t, SUM(delta) AS delta FROM (${changes}) WHERE t < @before GROUP BY t ORDER BY t DESC LIMIT @limit`)
    this.unspentStmt = s.prepare(
      `SELECT id, value FROM outputs WHERE ${scriptKeyIs('@key')} AND spent_by IS NULL AND id < @before ORDER BY id DESC LIMIT @limit`,
    )
    this.valueStmt = s.prepare('SELECT value, spent_by, script_key FROM outputs WHERE id = ?')
    this.txidStmt = s.prepare<[number], Buffer>('SELECT txid FROM txs WHERE tx_num = ?').pluck()
    this.blockStmt = s.prepare('SELECT height, hash, header FROM blocks WHERE first_tx <= ? ORDER BY first_tx DESC LIMIT 1')
    this.txNumStmt = s.prepare<[number, Buffer], number>(TX_NUM_OF_TXID).pluck()
    this.txNumsStmt = s
      .prepare<[number, Buffer], number>('SELECT k.tx_num FROM txid_keys k JOIN txs t ON t.tx_num = k.tx_num WHERE k.key = ? AND t.txid = ? ORDER BY k.tx_num')
      .pluck()
  }

  chainActivity(scriptKey: Buffer): ChainActivity {
    return this.reading(() => {
      const stats = this.statsStmt.get({key: scriptKey})!
      const span = this.txSpanStmt.get({key: scriptKey})!
      return {
        funded_txo_count: stats.funded,
        funded_txo_sum: stats.fundedSum ?? 0,
        spent_txo_count: stats.spent,
        spent_txo_sum: stats.spentSum ?? 0,
        tx_count: span.txs,
        firstTxNum: span.first ?? undefined,
        lastTxNum: span.last ?? undefined,
      }
    })
  }

  /** The script's transactions older than `beforeTxNum` (all when undefined), newest first, at most `limit` (0: all). */
  history(scriptKey: Buffer, beforeTxNum: number | undefined, limit: number): TxChange[] {
    return this.reading(() =>
      this.historyStmt.all({key: scriptKey, before: beforeTxNum ?? Number.MAX_SAFE_INTEGER, limit: limit > 0 ? limit : NO_LIMIT}).map((r) => ({txNum: r.t, delta: r.delta})),
    )
  }

  /** Unspent outputs of the script with ids below `beforeId` (all when undefined), newest first, at most `limit` (0: all). */
  unspent(scriptKey: Buffer, beforeId: number | undefined, limit: number): Array<{id: number; value: number}> {
    return this.reading(() => this.unspentStmt.all({key: scriptKey, before: beforeId ?? Number.MAX_SAFE_INTEGER, limit: limit > 0 ? limit : NO_LIMIT}))
  }

  /** One output by id: undefined when the index has no such output. */
  output(id: number): {value: number; spentBy: number | null; scriptKey: Buffer} | undefined {
    const row = this.reading(() => this.valueStmt.get(id))
    return row && {value: row.value, spentBy: row.spent_by, scriptKey: row.script_key}
  }

  /** internal byte order */
  txidOf(txNum: number): Buffer {
    const txid = this.reading(() => this.txidStmt.get(txNum))
    if (!txid) throw damaged(this.db.path, `transaction ${txNum} is missing`)
    return txid
  }

  /** The tx_num of a confirmed transaction, undefined if the index does not hold it. */
  txNumOf(txid: Buffer): number | undefined {
    return this.reading(() => this.txNumStmt.get(txidKey(txid), txid)) ?? undefined
  }

  /** Every tx_num of a confirmed txid, oldest first: one, or two for a coinbase repeated by a BIP30 duplicate. */
  txNumsOf(txid: Buffer): number[] {
    return this.reading(() => this.txNumsStmt.all(txidKey(txid), txid))
  }

  blockOf(txNum: number): BlockOfTx {
    const row = this.reading(() => this.blockStmt.get(txNum))
    if (!row) throw damaged(this.db.path, `no block holds transaction ${txNum}`)
    let block = this.blocks.get(row.height)
    if (!block) {
      block = {height: row.height, hash: row.hash, time: row.header.readUInt32LE(68)}
      this.blocks.set(row.height, block)
    }
    return block
  }

  private reading<T>(read: () => T): T {
    try {
      return read()
    } catch (err) {
      throw databaseError(err, this.db.path, 'reading')
    }
  }
}

const damaged = (file: string, what: string) => new BixError('DatabaseError', `${file} is damaged: ${what}; delete it and run bix index to rebuild it`)
