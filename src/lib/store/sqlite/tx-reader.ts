import type Database from 'better-sqlite3'

import {BixError} from '../../errors.js'
import type {IndexedTxOutput, TxPlace, TxReads} from '../index-store.js'
import type {IndexDb} from './database.js'
import {TX_SHIFT, txidKey} from '../output-ids.js'
import {ALL_OUTPUTS, TX_NUM_OF_TXID, type TxidParams} from './schema.js'
import {databaseError} from './sqlite-errors.js'

/**
 * One confirmed transaction as the index holds it: where it is (block,
 * place in the block) and its outputs with their values and spenders. The
 * index keeps no scripts and no spending input's position: those are read
 * from the blocks (the query library fetches them). Read-only, safe while
 * `bix index` writes (WAL).
 */

export class TxReader implements TxReads {
  private readonly txNumStmt: Database.Statement<[TxidParams], number>
  private readonly txidStmt: Database.Statement<[number], Buffer>
  private readonly blockStmt: Database.Statement<[number], {height: number; hash: Buffer; header: Buffer; first_tx: number}>
  private readonly outputsStmt: Database.Statement<[number, number], {id: number; value: number; spent_by: number | null}>
  private readonly outputStmt: Database.Statement<[number], {value: number; spent_by: number | null}>

  constructor(private readonly db: IndexDb) {
    const s = db.sqlite
    this.txNumStmt = s.prepare<[TxidParams], number>(TX_NUM_OF_TXID).pluck()
    this.txidStmt = s.prepare<[number], Buffer>('SELECT txid FROM txs WHERE tx_num = ?').pluck()
    this.blockStmt = s.prepare('SELECT height, hash, header, first_tx FROM blocks WHERE first_tx <= ? ORDER BY first_tx DESC LIMIT 1')
    this.outputsStmt = s.prepare(`SELECT id, value, spent_by FROM ${ALL_OUTPUTS} WHERE id >= ? AND id < ? ORDER BY id`)
    this.outputStmt = s.prepare(`SELECT value, spent_by FROM ${ALL_OUTPUTS} WHERE id = ?`)
  }

  /** The tx_num of a confirmed transaction (the latest of a BIP30 pair), undefined if the index does not hold it. */
  txNumOf(txid: Buffer): number | undefined {
    return this.reading(() => this.txNumStmt.get({key: txidKey(txid), txid})) ?? undefined
  }

  /** Where transaction `txNum` is. */
  place(txNum: number): TxPlace {
    return this.reading(() => {
      const txid = this.txidStmt.get(txNum)
      const block = this.blockStmt.get(txNum)
      if (!txid || !block) throw damaged(this.db.path, `transaction ${txNum} or its block is missing`)
      return {txNum, txid, height: block.height, blockHash: block.hash, blockTime: block.header.readUInt32LE(68), position: txNum - block.first_tx}
    })
  }

  /** The transaction's outputs the index holds, by vout (the genesis coinbase's output is not indexed). */
  outputs(txNum: number): IndexedTxOutput[] {
    return this.reading(() =>
      this.outputsStmt.all(txNum * TX_SHIFT, (txNum + 1) * TX_SHIFT).map((r) => ({vout: r.id - txNum * TX_SHIFT, value: r.value, spentBy: r.spent_by})),
    )
  }

  /** One output, undefined when the index has no such output. */
  output(txNum: number, vout: number): IndexedTxOutput | undefined {
    // no transaction has 2^20 outputs; a larger vout would name another transaction's output id
    if (vout >= TX_SHIFT) return undefined
    const row = this.reading(() => this.outputStmt.get(txNum * TX_SHIFT + vout))
    return row && {vout, value: row.value, spentBy: row.spent_by}
  }

  private reading<T>(read: () => T): T {
    try {
      return read()
    } catch (err) {
      if (err instanceof BixError) throw err
      throw databaseError(err, this.db.path, 'reading')
    }
  }
}

const damaged = (file: string, what: string) => new BixError('DatabaseError', `${file} is damaged: ${what}; delete it and run bix index to rebuild it`)
