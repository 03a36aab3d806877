import {toDisplayHex} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import type {BackendName} from './index-store.js'
import {readStore, storeExists} from './open-store.js'

/** What `bix status` shows about the index: read-only, cheap, and safe while `bix index` writes. */
export interface IndexSummary {
  backend: BackendName
  /** a file's path, or a PostgreSQL URL with its password masked */
  path: string
  network: NetworkName
  schemaVersion: number
  /** null while the index holds no block */
  tipHeight: number | null
  tipHash: string | null
  /** true until the first `bix index` run has finished: its script index is built at the end, and queries wait for it */
  building: boolean
  /** bytes on disk: the database file with its write-ahead log, or the PostgreSQL database's tables and indexes */
  sizeBytes: number
  /** the PID of the `bix index` or `bix sync-mempool` writing to it now */
  writerPid: number | null
  /** the index's copy of the node's mempool (null: never synced) */
  mempool: {txCount: number; syncedAt: number | null} | null
}

/** undefined when there is no index at `db`; BixError (DatabaseError, …) when there is one that cannot be read. */
export function describeIndex(db: string): IndexSummary | undefined {
  if (!storeExists(db)) return undefined
  return readStore(db, {}, (store) => {
    const tip = store.tip()
    const mempool = store.mempoolInfo()
    return {
      backend: store.backend,
      path: store.location,
      network: store.network,
      schemaVersion: store.schemaVersion,
      tipHeight: tip?.height ?? null,
      tipHash: tip ? toDisplayHex(tip.hash) : null,
      building: store.building(),
      sizeBytes: store.sizeBytes(),
      writerPid: store.writerHolder()?.pid ?? null,
      mempool: mempool.syncedAt === null ? null : {txCount: mempool.txCount, syncedAt: mempool.syncedAt},
    }
  })
}
