import type {IndexDb} from './database.js'

/**
 * Runs `work` inside one read transaction, so that every answer it gives
 * reflects the same index tip while `bix index` commits batch after batch —
 * also when the work awaits between answers (reading targets from a file,
 * waiting for stdout to drain). SQLite's WAL keeps the snapshot for as long
 * as the transaction is open; the first read below is what pins it.
 */
export async function withReadSnapshot<T>(db: IndexDb, work: () => Promise<T>): Promise<T> {
  db.sqlite.exec('BEGIN')
  try {
    db.tip()
    return await work()
  } finally {
    if (db.sqlite.inTransaction) db.sqlite.exec('COMMIT')
  }
}
