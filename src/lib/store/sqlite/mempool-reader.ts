import type Database from 'better-sqlite3'

import {toDisplayHex} from '../../chain/hashes.js'
import {MEMPOOL_SYNCED_AT, MEMPOOL_TIP, type MempoolActivity, type MempoolSnapshotInfo} from '../index-store.js'
import type {IndexDb} from './database.js'
import {databaseError} from './sqlite-errors.js'

/**
 * The unconfirmed side of a script's activity, read from the index's copy of
 * the node's mempool (written by `bix sync-mempool`). A snapshot is only
 * meaningful against the chain it was taken on: once `bix index` has moved
 * the tip, some of its transactions may be confirmed or conflicted, so
 * readers use it only while MEMPOOL_TIP is the index's tip.
 */

interface MempoolStatements {
  count: Database.Statement<[], number>
  outputs: Database.Statement<[Buffer], {txid: Buffer; vout: number; value: number}>
  spends: Database.Statement<[Buffer], {txid: Buffer; vin: number; prev_txid: Buffer; prev_vout: number; value: number}>
  seen: Database.Statement<[Buffer], number>
}
const prepared = new WeakMap<Database.Database, MempoolStatements>()

/** The reader's statements, prepared once per database handle: a run over thousands of targets would otherwise spend most of its time preparing them. */
function statementsOf(sqlite: Database.Database): MempoolStatements {
  let statements = prepared.get(sqlite)
  if (!statements) {
    statements = {
      count: sqlite.prepare<[], number>('SELECT COUNT(*) FROM mempool_txs').pluck(),
      outputs: sqlite.prepare<[Buffer], {txid: Buffer; vout: number; value: number}>('SELECT txid, vout, value FROM mempool_outputs WHERE script_key = ?'),
      spends: sqlite.prepare<[Buffer], {txid: Buffer; vin: number; prev_txid: Buffer; prev_vout: number; value: number}>(
        'SELECT txid, vin, prev_txid, prev_vout, value FROM mempool_spends WHERE script_key = ?',
      ),
      seen: sqlite.prepare<[Buffer], number>('SELECT first_seen FROM mempool_txs WHERE txid = ?').pluck(),
    }
    prepared.set(sqlite, statements)
  }
  return statements
}

export function mempoolSnapshotInfo(db: IndexDb): MempoolSnapshotInfo {
  try {
    const syncedAt = db.meta(MEMPOOL_SYNCED_AT)
    const txCount = statementsOf(db.sqlite).count.get() ?? 0
    return {txCount, syncedAt: syncedAt === undefined ? null : Number(syncedAt), tipHash: db.meta(MEMPOOL_TIP) ?? null}
  } catch (err) {
    throw databaseError(err, db.path, 'reading')
  }
}

export function mempoolActivityOf(db: IndexDb, scriptKey: Buffer): MempoolActivity {
  try {
    const statements = statementsOf(db.sqlite)
    const outputs = statements.outputs.all(scriptKey)
    const spends = statements.spends.all(scriptKey).map((r) => ({txid: r.txid, vin: r.vin, prevTxid: r.prev_txid, prevVout: r.prev_vout, value: r.value}))
    const seenStmt = statements.seen
    const firstSeen = new Map<string, number>()
    for (const {txid} of [...outputs, ...spends]) {
      const key = toDisplayHex(txid)
      if (!firstSeen.has(key)) firstSeen.set(key, seenStmt.get(txid) ?? 0)
    }
    return {outputs, spends, firstSeen}
  } catch (err) {
    throw databaseError(err, db.path, 'reading')
  }
}
