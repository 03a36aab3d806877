import type Database from 'better-sqlite3'

import {BixError} from '../../errors.js'
import {pauseHere} from '../../test-pause.js'
import {MEMPOOL_SYNCED_AT, MEMPOOL_TIP, type MempoolChange, type MempoolWrites, type OutputValue} from '../index-store.js'
import type {IndexDb} from './database.js'

import {TX_SHIFT, txidKey} from '../output-ids.js'
import {ALL_OUTPUTS, TX_NUM_OF_TXID, type TxidParams} from './schema.js'
import {databaseError, isDiskFull} from './sqlite-errors.js'

/**
 * The only code that changes the index's copy of the mempool
 * (mempool_txs, mempool_outputs, mempool_spends and the MEMPOOL_* meta keys).
 *
 * A sync writes one or more changes, each in one transaction, and each
 * transaction leaves a consistent snapshot: a transaction is there with all
 * its outputs and spends or not at all, and a child is only written with or
 * after its in-mempool parents. Only the change that completes a sync sets
 * MEMPOOL_SYNCED_AT and MEMPOOL_TIP; any other change removes them, so a
 * snapshot left half-updated by a kill never claims a sync that did not end.
 *
 * It also answers the two reads a sync needs from the database: which
 * transactions the snapshot holds, and the script and value of an output
 * a new transaction spends (confirmed, or in the snapshot).
 */

export class MempoolWriter implements MempoolWrites {
  private readonly sqlite: Database.Database
  private readonly allTxids: Database.Statement<[], Buffer>
  private readonly mempoolOutput: Database.Statement<[Buffer, number], {script_key: Buffer; value: number}>
  private readonly confirmedOutput: Database.Statement<[TxidParams & {vout: number}], {script_key: Buffer; value: number}>
  private readonly insertTx: Database.Statement<[Buffer, number, number, number]>
  private readonly insertOutput: Database.Statement<[Buffer, number, Buffer, number]>
  private readonly insertSpend: Database.Statement<[Buffer, number, Buffer, number, Buffer, number]>
  private readonly deleteTx: Database.Statement<[Buffer]>
  private readonly deleteOutputs: Database.Statement<[Buffer]>
  private readonly deleteSpends: Database.Statement<[Buffer]>

  constructor(private readonly db: IndexDb) {
    if (db.mode !== 'write') throw new Error('MempoolWriter needs an index opened for writing')
    const s = db.sqlite
    this.sqlite = s
    this.allTxids = s.prepare<[], Buffer>('SELECT txid FROM mempool_txs').pluck()
    this.mempoolOutput = s.prepare('SELECT script_key, value FROM mempool_outputs WHERE txid = ? AND vout = ?')
    // the latest transaction with this txid (a BIP30 duplicate replaced the earlier one), then its output by id
    this.confirmedOutput = s.prepare(
      `SELECT script_key, value FROM ${ALL_OUTPUTS}
        WHERE id = (${TX_NUM_OF_TXID}) * ${TX_SHIFT} + @vout`,
    )
    this.insertTx = s.prepare('INSERT INTO mempool_txs (txid, first_seen, vsize, fee) VALUES (?, ?, ?, ?)')
    this.insertOutput = s.prepare('INSERT INTO mempool_outputs (txid, vout, script_key, value) VALUES (?, ?, ?, ?)')
    this.insertSpend = s.prepare('INSERT INTO mempool_spends (txid, vin, prev_txid, prev_vout, script_key, value) VALUES (?, ?, ?, ?, ?, ?)')
    this.deleteTx = s.prepare('DELETE FROM mempool_txs WHERE txid = ?')
    this.deleteOutputs = s.prepare('DELETE FROM mempool_outputs WHERE txid = ?')
    this.deleteSpends = s.prepare('DELETE FROM mempool_spends WHERE txid = ?')
  }

  /** Every txid in the snapshot (internal byte order); read them all before writing. */
  *txids(): Generator<Buffer> {
    try {
      yield* this.allTxids.iterate()
    } catch (err) {
      throw databaseError(err, this.db.path, 'reading')
    }
  }

  /** Script key and value of an output: confirmed in the index, or made by a transaction of the snapshot. */
  output(txid: Buffer, vout: number): OutputValue | undefined {
    try {
      const row = this.confirmedOutput.get({key: txidKey(txid), txid, vout}) ?? this.mempoolOutput.get(txid, vout)
      return row && {scriptKey: row.script_key, value: row.value}
    } catch (err) {
      throw databaseError(err, this.db.path, 'reading')
    }
  }

  /** One change, in one transaction. */
  apply(change: MempoolChange): void {
    try {
      this.sqlite.transaction(() => this.write(change)).immediate()
    } catch (err) {
      if (isDiskFull(err)) throw new BixError('DatabaseError', `disk full while writing the mempool snapshot to ${this.db.path}; nothing of this batch was written`, {cause: err})
      throw databaseError(err, this.db.path, 'writing')
    }
  }

  private write(change: MempoolChange): void {
    for (const txid of change.remove) {
      this.deleteTx.run(txid)
      this.deleteOutputs.run(txid)
      this.deleteSpends.run(txid)
    }
    for (const tx of change.add) {
      this.insertTx.run(tx.txid, tx.firstSeen, tx.vsize, tx.fee)
      tx.outputs.forEach((out, vout) => this.insertOutput.run(tx.txid, vout, out.scriptKey, out.value))
      tx.spends.forEach((spend, vin) => this.insertSpend.run(tx.txid, vin, spend.prevTxid, spend.prevVout, spend.scriptKey, spend.value))
    }
    if (change.complete) {
      this.db.setMeta(MEMPOOL_SYNCED_AT, String(change.complete.syncedAt))
      this.db.setMeta(MEMPOOL_TIP, change.complete.tipHash)
    } else {
      this.db.setMeta(MEMPOOL_SYNCED_AT, undefined)
      this.db.setMeta(MEMPOOL_TIP, undefined)
    }
    pauseHere('mempool-transaction', () => `${change.remove.length} removed, ${change.add.length} added${change.complete ? ', complete' : ''}, not committed`)
  }
}
