import {BixError} from '../../errors.js'
import type {IndexDb} from './database.js'

/**
 * Runs `work` inside one read transaction, so that every answer it gives
 * reflects the same index tip while `bix index` commits batch after batch —
 * also when the work awaits between answers (reading targets from a file,
 * waiting for stdout to drain). SQLite's WAL keeps the snapshot for as long
 * as the transaction is open; the first read below is what pins it.
 *
 * A read-only copy opened immutable has no such guard: if a writer changed it
 * meanwhile, the answers may mix two states. readIndex reads such a copy
 * again; answers already streamed cannot be taken back, so this says so.
 */
export async function withReadSnapshot<T>(db: IndexDb, work: () => Promise<T>): Promise<T> {
  db.sqlite.exec('BEGIN')
  let value: T
  try {
    db.tip()
    value = await work()
  } finally {
    if (db.sqlite.inTransaction) db.sqlite.exec('COMMIT')
  }
  if (db.changedSinceOpen()) {
    throw new BixError('DatabaseError', `${db.path} changed while bix read it as a read-only copy (is a bix index writing it?); the answers above may mix two states, try again`)
  }
  return value
}
