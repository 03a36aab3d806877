import fs from 'node:fs'

import {toDisplayHex} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import {readIndex} from './database.js'
import {readLockHolder} from './lock.js'
import {mempoolSnapshotInfo} from './mempool-reader.js'
import {BULK_LOAD} from './schema.js'

/** What `bix status` shows about the index: read-only, cheap, and safe while `bix index` writes. */
export interface IndexSummary {
  path: string
  network: NetworkName
  schemaVersion: number
  /** null while the index holds no block */
  tipHeight: number | null
  tipHash: string | null
  /** true until the first `bix index` run has finished: its script index is built at the end, and queries wait for it */
  building: boolean
  /** the database file with its write-ahead log */
  sizeBytes: number
  /** the PID of the `bix index` or `bix sync-mempool` writing to it now */
  writerPid: number | null
  /** the index's copy of the node's mempool (null: never synced) */
  mempool: {txCount: number; syncedAt: number | null} | null
}

/** undefined when there is no database at `file`; BixError (DatabaseError, …) when there is one that cannot be read. */
export function describeIndex(file: string): IndexSummary | undefined {
  // only a file that is really not there is "no index"; one bix may not read is openIndex's to explain
  const missing = (() => {
    try {
      fs.statSync(file)
      return false
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      return code === 'ENOENT' || code === 'ENOTDIR'
    }
  })()
  if (missing) return undefined
  return readIndex(file, {}, (db) => {
    const tip = db.tip()
    const mempool = mempoolSnapshotInfo(db)
    return {
      path: file,
      network: db.network,
      schemaVersion: db.schemaVersion,
      tipHeight: tip?.height ?? null,
      tipHash: tip ? toDisplayHex(tip.hash) : null,
      building: db.meta(BULK_LOAD) === '1',
      sizeBytes: fileBytes(file) + fileBytes(`${file}-wal`),
      writerPid: readLockHolder(file)?.pid ?? null,
      mempool: mempool.syncedAt === null ? null : {txCount: mempool.txCount, syncedAt: mempool.syncedAt},
    }
  })
}

function fileBytes(file: string): number {
  return fs.statSync(file, {throwIfNoEntry: false})?.size ?? 0
}
