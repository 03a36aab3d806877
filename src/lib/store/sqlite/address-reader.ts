import type Database from 'better-sqlite3'

import {BixError} from '../../errors.js'
import type {AddressReads, BlockOfTx, ChainActivity, OutputRef, TxChange, UnspentOutput} from '../index-store.js'
import type {IndexDb} from './database.js'
import {TX_SHIFT, outputId, txNumOfId, txidKey, voutOfId} from '../output-ids.js'
import {ALL_OUTPUTS, TX_NUMS_OF_TXID, TX_NUM_OF_TXID, type TxidParams, scriptKeyIs} from './schema.js'
import {databaseError} from './sqlite-errors.js'

/**
 * The confirmed side of a script's activity, read from the index: every
 * output paid to the script (with the input that spent it, if any), and the
 * lookups that turn tx_nums into txids and blocks for display. Read-only,
 * and safe while `bix index` writes (WAL).
 */

/** SQLite's LIMIT for "no limit" */
const NO_LIMIT = -1

export class AddressReader implements AddressReads {
  private readonly statsStmt: Database.Statement<[{key: Buffer}], {funded: number; fundedSum: number | null; spent: number; spentSum: number | null}>
  private readonly txSpanStmt: Database.Statement<[{key: Buffer}], {txs: number; first: number | null; last: number | null}>
  private readonly historyStmt: Database.Statement<[{key: Buffer; before: number; limit: number}], {t: number; delta: number}>
  private readonly unspentStmt: Database.Statement<[{key: Buffer; before: number; limit: number}], {id: number; value: number}>
  private readonly valueStmt: Database.Statement<[number], {value: number; spent_by: number | null; script_key: Buffer}>
  private readonly txidStmt: Database.Statement<[number], Buffer>
  private readonly blockStmt: Database.Statement<[number], {height: number; hash: Buffer; header: Buffer}>
  private readonly txNumStmt: Database.Statement<[TxidParams], number>
  private readonly txNumsStmt: Database.Statement<[TxidParams], number>
  private readonly blocks = new Map<number, BlockOfTx>()

  constructor(private readonly db: IndexDb) {
    const s = db.sqlite
    // everything is summed and grouped inside SQLite: 100,000 rows never become JS objects. Each table is read on its
    // own (main, recent, the recent spends of main outputs): no row of one looks into another
    const stats = (table: string) => `SELECT COUNT(*) AS funded, SUM(value) AS fundedSum, COUNT(spent_by) AS spent,
                                             SUM(CASE WHEN spent_by IS NOT NULL THEN value END) AS spentSum
                                      FROM ${table} WHERE ${scriptKeyIs('@key')}`
    this.statsStmt = s.prepare(
      `SELECT SUM(funded) AS funded, SUM(fundedSum) AS fundedSum, SUM(spent) AS spent, SUM(spentSum) AS spentSum FROM (
         ${stats('outputs')} UNION ALL ${stats('recent_outputs')}
         UNION ALL SELECT 0, NULL, COUNT(*), SUM(value) FROM recent_spends WHERE ${scriptKeyIs('@key')})`,
    )
    const changes = `SELECT id / ${TX_SHIFT} AS t, value AS delta FROM outputs WHERE ${scriptKeyIs('@key')}
                     UNION ALL SELECT id / ${TX_SHIFT}, value FROM recent_outputs WHERE ${scriptKeyIs('@key')}
                     UNION ALL SELECT spent_by, -value FROM outputs WHERE ${scriptKeyIs('@key')} AND spent_by IS NOT NULL
                     UNION ALL SELECT spent_by, -value FROM recent_outputs WHERE ${scriptKeyIs('@key')} AND spent_by IS NOT NULL
                     UNION ALL SELECT spender, -value FROM recent_spends WHERE ${scriptKeyIs('@key')}`
    this.txSpanStmt = s.prepare(`SELECT COUNT(DISTINCT t) AS txs, MIN(t) AS first, MAX(t) AS last FROM (${changes})`)
    this.historyStmt = s.prepare(`SELECT t, SUM(delta) AS delta FROM (${changes}) WHERE t < @before GROUP BY t ORDER BY t DESC LIMIT @limit`)
    // each half read in id order by its own index, the two merged: no sort of every output of the script
    this.unspentStmt = s.prepare(
      `SELECT o.id, o.value FROM outputs o WHERE ${scriptKeyIs('@key')} AND o.spent_by IS NULL AND o.id < @before
                                         AND NOT EXISTS (SELECT 1 FROM recent_spends r WHERE r.output_id = o.id)
       UNION ALL
       SELECT id, value FROM recent_outputs WHERE ${scriptKeyIs('@key')} AND spent_by IS NULL AND id < @before
       ORDER BY 1 DESC LIMIT @limit`,
    )
    this.valueStmt = s.prepare(`SELECT value, spent_by, script_key FROM ${ALL_OUTPUTS} WHERE id = ?`)
    this.txidStmt = s.prepare<[number], Buffer>('SELECT txid FROM txs WHERE tx_num = ?').pluck()
    this.blockStmt = s.prepare('SELECT height, hash, header FROM blocks WHERE first_tx <= ? ORDER BY first_tx DESC LIMIT 1')
    this.txNumStmt = s.prepare<[TxidParams], number>(TX_NUM_OF_TXID).pluck()
    this.txNumsStmt = s.prepare<[TxidParams], number>(`${TX_NUMS_OF_TXID} ORDER BY 1`).pluck()
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

  history(scriptKey: Buffer, beforeTxNum: number | undefined, limit: number): TxChange[] {
    return this.reading(() =>
      this.historyStmt.all({key: scriptKey, before: beforeTxNum ?? Number.MAX_SAFE_INTEGER, limit: limit > 0 ? limit : NO_LIMIT}).map((r) => ({txNum: r.t, delta: r.delta})),
    )
  }

  unspent(scriptKey: Buffer, before: OutputRef | undefined, limit: number): UnspentOutput[] {
    const beforeId = before ? outputId(before.txNum, before.vout) : Number.MAX_SAFE_INTEGER
    const rows = this.reading(() => this.unspentStmt.all({key: scriptKey, before: beforeId, limit: limit > 0 ? limit : NO_LIMIT}))
    return rows.map((r) => ({txNum: txNumOfId(r.id), vout: voutOfId(r.id), value: r.value}))
  }

  output(txNum: number, vout: number): {value: number; spentBy: number | null; scriptKey: Buffer} | undefined {
    // no transaction has 2^20 outputs; a larger vout would name another transaction's output id
    if (vout >= TX_SHIFT) return undefined
    const row = this.reading(() => this.valueStmt.get(outputId(txNum, vout)))
    return row && {value: row.value, spentBy: row.spent_by, scriptKey: row.script_key}
  }

  txidOf(txNum: number): Buffer {
    const txid = this.reading(() => this.txidStmt.get(txNum))
    if (!txid) throw damaged(this.db.path, `transaction ${txNum} is missing`)
    return txid
  }

  txNumOf(txid: Buffer): number | undefined {
    return this.reading(() => this.txNumStmt.get({key: txidKey(txid), txid})) ?? undefined
  }

  txNumsOf(txid: Buffer): number[] {
    return this.reading(() => this.txNumsStmt.all({key: txidKey(txid), txid}))
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
