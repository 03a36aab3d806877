import type {NetworkName} from '../chain/networks.js'
import type {AcquireOptions, IndexStore, LockHolder, OpenOptions, WriterLock} from './index-store.js'
import {openIndex, readIndex} from './sqlite/database.js'
import * as fileLock from './sqlite/lock.js'

/**
 * Where an index is and how to open it: `--db` (or BIX_DB) names a file
 * (SQLite, the default) or a PostgreSQL server by URL. The one place that
 * knows both backends.
 */

export function openStore(db: string, options: OpenOptions): IndexStore {
  return openIndex(db, options)
}

/** One consistent read of the index: `read` runs in one read transaction. */
export function readStore<T>(db: string, options: {network?: NetworkName}, read: (store: IndexStore) => T): T {
  return readIndex(db, options, read)
}

/** Takes the index's single-writer lock (IndexBusy when another writer holds it, unless options.wait). */
export function acquireWriterLock(db: string, options: AcquireOptions): Promise<WriterLock> {
  return fileLock.acquireWriterLock(db, options)
}

/** Who holds the writer lock now, if anyone. */
export function writerLockHolder(db: string): LockHolder | undefined {
  return fileLock.readLockHolder(db)
}

/** Whether an index exists at `db` (only a file that is really not there is "no index": one that cannot be read is openStore's to explain). */
export function storeExists(db: string): boolean {
  return fileLock.fileExists(db)
}

/** `db` as output and messages show it: a file's path, or a PostgreSQL URL with its password masked. */
export function storeLabel(db: string): string {
  return db
}
