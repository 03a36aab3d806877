import {BixError} from '../../errors.js'

/**
 * SQLite's failures as one-line DatabaseErrors that name the file. Anything
 * that is not an SQLite error (a bug, a BixError already) passes through.
 */

interface SqliteLikeError extends Error {
  code: string
}

export function isSqliteError(err: unknown): err is SqliteLikeError {
  return err instanceof Error && typeof (err as {code?: unknown}).code === 'string' && (err as unknown as {code: string}).code.startsWith('SQLITE_')
}

/** `doing` is what was attempted, e.g. "writing", "reading", "opening". */
export function databaseError(err: unknown, path: string, doing: string): unknown {
  if (!isSqliteError(err)) return err
  const code = err.code
  // extended codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED…) share their primary code's meaning
  const primary = code.split('_').slice(0, 2).join('_')
  switch (primary) {
    case 'SQLITE_NOTADB':
      return new BixError('DatabaseError', `${path} is not a bix index (not an SQLite database)`, {cause: err})
    case 'SQLITE_CONSTRAINT':
      // bix's own writes never break a constraint: rows it did not expect mean the file was damaged
      return new BixError('DatabaseError', `${path} is damaged (${err.message}); delete it and run bix index to rebuild it`, {cause: err})
    case 'SQLITE_CORRUPT':
      return new BixError('DatabaseError', `${path} is corrupted (${err.message}); delete it and run bix index to rebuild it`, {cause: err})
    case 'SQLITE_READONLY':
      return new BixError('DatabaseError', `cannot write ${path}: the file or its directory is read-only`, {cause: err})
    case 'SQLITE_CANTOPEN':
      return new BixError('DatabaseError', `cannot open ${path} (${err.message}): check that it exists and that you may read it`, {cause: err})
    case 'SQLITE_PERM':
    case 'SQLITE_AUTH':
      return new BixError('DatabaseError', `no permission to use ${path} (${err.message})`, {cause: err})
    case 'SQLITE_FULL':
      return new BixError('DatabaseError', `disk full while ${doing} ${path}`, {cause: err})
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new BixError('DatabaseError', `${path} stayed locked by another process while ${doing} it`, {cause: err})
    case 'SQLITE_IOERR':
      return new BixError('DatabaseError', `I/O error while ${doing} ${path} (${err.message})`, {cause: err})
    default:
      return new BixError('DatabaseError', `SQLite failed while ${doing} ${path}: ${err.message} (${code})`, {cause: err})
  }
}

/** True for SQLITE_FULL and its extended codes. */
export function isDiskFull(err: unknown): boolean {
  return isSqliteError(err) && err.code.startsWith('SQLITE_FULL')
}
