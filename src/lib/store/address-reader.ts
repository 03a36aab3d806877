import type Database from 'better-sqlite3'

import {BixError} from '../errors.js'
import type {IndexDb} from './database.js'
import {TX_SHIFT} from './schema.js'
import {databaseError} from './sqlite-errors.js'

/**
 * The confirmed side of a script's activity, read from the index: every
 * output paid to the script (with the input that spent it, if any), and the
 * lookups that turn tx_nums into txids and blocks for display. Read-only,
 * and safe while `bix index` writes (WAL).
 */

export interface ScriptOutput {
  /** tx_num · 2^20 + vout */
  id: number
  value: number
  /** spending tx_num · 2^20 + vin; null while unspent */
  spentBy: number | null
}

export interface BlockOfTx {
  height: number
  /** internal byte order */
  hash: Buffer
  /** the header's timestamp, unix seconds */
  time: number
}

export const txNumOf = (packedId: number) => Math.floor(packedId / TX_SHIFT)
export const positionOf = (packedId: number) => packedId % TX_SHIFT

export class AddressReader {
  private readonly outputsStmt: Database.Statement<[Buffer], {id: number; value: number; spent_by: number | null}>
  private readonly txidStmt: Database.Statement<[number], Buffer>
  private readonly blockStmt: Database.Statement<[number], {height: number; hash: Buffer; header: Buffer}>
  private readonly txNumStmt: Database.Statement<[Buffer, Buffer], number>
  private readonly blocks = new Map<number, BlockOfTx>()

  constructor(private readonly db: IndexDb) {
    const s = db.sqlite
    this.outputsStmt = s.prepare('SELECT id, value, spent_by FROM outputs WHERE script_key = ? ORDER BY id')
    this.txidStmt = s.prepare<[number], Buffer>('SELECT txid FROM txs WHERE tx_num = ?').pluck()
    this.blockStmt = s.prepare('SELECT height, hash, header FROM blocks WHERE first_tx <= ? ORDER BY first_tx DESC LIMIT 1')
    this.txNumStmt = s
      .prepare<[Buffer, Buffer], number>('SELECT tx_num FROM txs WHERE substr(txid, 1, 8) = substr(?, 1, 8) AND txid = ? ORDER BY tx_num DESC LIMIT 1')
      .pluck()
  }

  /** Every output the script was paid, oldest first. */
  outputsOf(scriptKey: Buffer): ScriptOutput[] {
    return this.reading(() => this.outputsStmt.all(scriptKey).map((r) => ({id: r.id, value: r.value, spentBy: r.spent_by})))
  }

  /** internal byte order */
  txidOf(txNum: number): Buffer {
    const txid = this.reading(() => this.txidStmt.get(txNum))
    if (!txid) throw damaged(this.db.path, `transaction ${txNum} is missing`)
    return txid
  }

  /** The tx_num of a confirmed transaction, undefined if the index does not hold it. */
  txNumOf(txid: Buffer): number | undefined {
    return this.reading(() => this.txNumStmt.get(txid, txid)) ?? undefined
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
