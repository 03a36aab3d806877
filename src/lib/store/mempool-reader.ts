import type {IndexDb} from './database.js'

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

export function mempoolSnapshotInfo(db: IndexDb): MempoolSnapshotInfo {
  const syncedAt = db.meta(MEMPOOL_SYNCED_AT)
  const txCount = db.sqlite.prepare<[], number>('SELECT COUNT(*) FROM mempool_txs').pluck().get() ?? 0
  return {txCount, syncedAt: syncedAt === undefined ? null : Number(syncedAt), tipHash: db.meta(MEMPOOL_TIP) ?? null}
}
