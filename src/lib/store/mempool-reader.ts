import type Database from 'better-sqlite3'

import {toDisplayHex} from '../chain/hashes.js'
import type {IndexDb} from './database.js'
import {databaseError} from './sqlite-errors.js'

/**
 * The unconfirmed side of a script's activity, read from the index's copy of
 * the node's mempool (written by `bix sync-mempool`). A snapshot is only
 * meaningful against the chain it was taken on: once `bix index` has moved
 * the tip, some of its transactions may be confirmed or conflicted, so
 * readers use it only while MEMPOOL_TIP is the index's tip.
 */

/** meta keys the mempool sync writes */
export const MEMPOOL_SYNCED_AT = 'mempool_synced_at'
export const MEMPOOL_TIP = 'mempool_tip'

export interface MempoolSnapshotInfo {
  txCount: number
  /** unix seconds of the last completed sync; null: never synced */
  syncedAt: number | null
  /** display hex of the index tip the snapshot was taken against */
  tipHash: string | null
}

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

/** True when the snapshot was completed against the index's current tip. */
export function mempoolSnapshotIsCurrent(info: MempoolSnapshotInfo, indexTipHash: Buffer | undefined): boolean {
  return info.syncedAt !== null && indexTipHash !== undefined && info.tipHash === toDisplayHex(indexTipHash)
}

export interface MempoolOutput {
  /** internal byte order */
  txid: Buffer
  vout: number
  value: number
}

export interface MempoolSpend {
  /** the spending mempool transaction, internal byte order */
  txid: Buffer
  vin: number
  prevTxid: Buffer
  prevVout: number
  /** the value of the output spent */
  value: number
}

export interface MempoolActivity {
  outputs: MempoolOutput[]
  spends: MempoolSpend[]
  /** txid (display hex) → when the node first saw it (unix seconds), for every transaction above */
  firstSeen: Map<string, number>
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
