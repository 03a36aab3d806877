import {pauseHere} from '../../test-pause.js'
import {MEMPOOL_SYNCED_AT, MEMPOOL_TIP, type MempoolChange, type MempoolWrites, type OutputValue} from '../index-store.js'
import {TX_SHIFT, txidKey} from '../output-ids.js'
import {CopyWriter} from './copy-writer.js'
import {PG_TX_NUM_OF_TXID} from './schema.js'
import type {PgIndexStore} from './store.js'

/**
 * The mempool snapshot in PostgreSQL: as in SQLite (sqlite/mempool-writer.ts
 * says how a sync is made crash-safe), with each change's new rows loaded by
 * COPY and its removals one statement per table.
 */
export class PgMempoolWriter implements MempoolWrites {
  constructor(private readonly store: PgIndexStore) {
    if (store.mode !== 'write') throw new Error('PgMempoolWriter needs an index opened for writing')
  }

  txids(): Buffer[] {
    return this.store.pg.query<{txid: Buffer}>('SELECT txid FROM mempool_txs').map((r) => r.txid)
  }

  output(txid: Buffer, vout: number): OutputValue | undefined {
    const pg = this.store.pg
    const confirmed =
      vout < TX_SHIFT
        ? pg.query<{script_key: Buffer; value: number}>(
            `SELECT o.script_key, o.value FROM outputs o WHERE o.id = (${PG_TX_NUM_OF_TXID}) * ${TX_SHIFT} + $3`,
            [txidKey(txid), txid, vout],
          )[0]
        : undefined
    const row = confirmed ?? pg.query<{script_key: Buffer; value: number}>('SELECT script_key, value FROM mempool_outputs WHERE txid = $1 AND vout = $2', [txid, vout])[0]
    return row && {scriptKey: row.script_key, value: Number(row.value)}
  }

  apply(change: MempoolChange): void {
    const pg = this.store.pg
    pg.transaction(() => {
      if (change.remove.length > 0) {
        const txids = [...change.remove]
        pg.run('DELETE FROM mempool_txs WHERE txid = ANY($1::bytea[])', [txids])
        pg.run('DELETE FROM mempool_outputs WHERE txid = ANY($1::bytea[])', [txids])
        pg.run('DELETE FROM mempool_spends WHERE txid = ANY($1::bytea[])', [txids])
      }
      if (change.add.length > 0) {
        const txs = new CopyWriter()
        const outputs = new CopyWriter()
        const spends = new CopyWriter()
        for (const tx of change.add) {
          txs.row(4).bytea(tx.txid).int8(tx.firstSeen).int4(tx.vsize).int8(tx.fee)
          tx.outputs.forEach((out, vout) => outputs.row(4).bytea(tx.txid).int4(vout).bytea(out.scriptKey).int8(out.value))
          tx.spends.forEach((spend, vin) => spends.row(6).bytea(tx.txid).int4(vin).bytea(spend.prevTxid).int4(spend.prevVout).bytea(spend.scriptKey).int8(spend.value))
        }
        pg.copyIn('COPY mempool_txs (txid, first_seen, vsize, fee) FROM STDIN (FORMAT binary)', txs.finish())
        pg.copyIn('COPY mempool_outputs (txid, vout, script_key, value) FROM STDIN (FORMAT binary)', outputs.finish())
        pg.copyIn('COPY mempool_spends (txid, vin, prev_txid, prev_vout, script_key, value) FROM STDIN (FORMAT binary)', spends.finish())
      }
      if (change.complete) {
        this.store.setMeta(MEMPOOL_SYNCED_AT, String(change.complete.syncedAt))
        this.store.setMeta(MEMPOOL_TIP, change.complete.tipHash)
      } else {
        this.store.setMeta(MEMPOOL_SYNCED_AT, undefined)
        this.store.setMeta(MEMPOOL_TIP, undefined)
      }
      pauseHere('mempool-transaction', () => `${change.remove.length} removed, ${change.add.length} added${change.complete ? ', complete' : ''}, not committed`)
    })
  }
}
