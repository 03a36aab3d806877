import type {NetworkName} from '../chain/networks.js'
import type {AcquireOptions, IndexStore, OpenOptions, WriterLock} from './index-store.js'
import {cleartextPostgresWarning, maskUrl} from './postgres/connection.js'
import {acquirePgWriterLock, pgIndexExists} from './postgres/lock.js'
import {openPgIndex} from './postgres/store.js'
import {openIndex, readIndex} from './sqlite/database.js'
import * as fileLock from './sqlite/lock.js'

/**
 * Where an index is and how to open it: `--db` (or BIX_DB) names a file
 * (SQLite, the default) or a PostgreSQL database by URL (postgres:// or
 * postgresql://). The one place that knows both backends.
 */

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db)
}

export function openStore(db: string, options: OpenOptions): IndexStore {
  return isPostgresUrl(db) ? openPgIndex(db, options) : openIndex(db, options)
}

/** One consistent read of the index: `read` runs in one read transaction (one snapshot). */
export function readStore<T>(db: string, options: {network?: NetworkName}, read: (store: IndexStore) => T): T {
  if (!isPostgresUrl(db)) return readIndex(db, options, read)
  const store = openPgIndex(db, {...options, mode: 'read'})
  try {
    return store.read(() => read(store))
  } finally {
    store.close()
  }
}

/** Takes the index's single-writer lock (IndexBusy when another writer holds it, unless options.wait). */
export function acquireWriterLock(db: string, options: AcquireOptions): Promise<WriterLock> {
  return isPostgresUrl(db) ? acquirePgWriterLock(db, options) : fileLock.acquireWriterLock(db, options)
}

/** Whether there is an index at `db`: false only when there really is none (one that cannot be read is openStore's to explain). */
export function storeExists(db: string): boolean {
  return isPostgresUrl(db) ? pgIndexExists(db) : fileLock.fileExists(db)
}

/** The one-line warning for an index reached unencrypted over a network, if it is. */
export function storeTransportWarning(db: string): string | undefined {
  return isPostgresUrl(db) ? cleartextPostgresWarning(db) : undefined
}

/** `db` as output and messages show it: a file's path, or a PostgreSQL URL with its password masked. */
export function storeLabel(db: string): string {
  return isPostgresUrl(db) ? maskUrl(db) : db
}
