import os from 'node:os'

import {sleep} from '../../abortable.js'
import {BixError} from '../../errors.js'
import type {AcquireOptions, LockHolder, WriterLock} from '../index-store.js'
import {PgConnection, maskUrl} from './connection.js'

/**
 * One writer per PostgreSQL index: a session-level advisory lock, held on a
 * connection of its own for as long as the writer runs. The server lets it
 * go when that connection ends, however the writer ended (kill -9, a lost
 * host), so a lock is never stale. Who holds it (host, PID, command) is a
 * row of `writer`, for the message another writer gets; the row counts only
 * while its backend holds the lock.
 */

/** the advisory lock's key, one per database: "bix" */
const LOCK_KEY = 0x626978
const POLL_MS = 250
/** how long a writer that holds the lock may take to record itself in `writer`, and how often to look meanwhile */
const HOLDER_GRACE_MS = 2000
const HOLDER_POLL_MS = 20

const HOLDER = `SELECT w.host, w.pid, w.command, w.since FROM writer w
                 WHERE EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.pid = w.backend_pid
                                AND l.classid = 0 AND l.objid = ${LOCK_KEY} AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`

export async function acquirePgWriterLock(url: string, options: AcquireOptions): Promise<WriterLock> {
  const pg = PgConnection.open(url)
  try {
    let told = false
    const started = Date.now()
    for (;;) {
      if (options.signal?.aborted) throw options.signal.reason
      if (pg.query<{got: boolean}>('SELECT pg_try_advisory_lock($1) AS got', [LOCK_KEY])[0].got) break
      const holder = writerOn(pg)
      // the holder takes the lock, then records itself: one just started is named a moment later
      if (!holder && Date.now() - started < HOLDER_GRACE_MS) {
        await sleep(HOLDER_POLL_MS, options.signal)
        continue
      }
      if (!options.wait) {
        const who = holder ? `another bix ${holder.command ?? 'writer'} (pid ${holder.pid} on ${holder.host}, since ${holder.since})` : 'another bix writer'
        throw new BixError('IndexBusy', `${who} is writing ${maskUrl(url)}; wait for it, or use --wait-lock`)
      }
      if (!told && holder) {
        told = true
        options.onWait?.(holder)
      }
      await sleep(POLL_MS, options.signal)
    }
    pg.exec(`CREATE TABLE IF NOT EXISTS writer (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), host text NOT NULL, pid integer NOT NULL,
                                                command text NOT NULL, since text NOT NULL, backend_pid integer NOT NULL)`)
    pg.run(
      `INSERT INTO writer (host, pid, command, since, backend_pid) VALUES ($1, $2, $3, $4, pg_backend_pid())
       ON CONFLICT (only_row) DO UPDATE SET host = excluded.host, pid = excluded.pid, command = excluded.command, since = excluded.since, backend_pid = excluded.backend_pid`,
      [os.hostname(), process.pid, options.command, new Date().toISOString()],
    )
  } catch (err) {
    pg.close()
    throw err
  }
  let released = false
  return {
    release() {
      if (released) return
      released = true
      try {
        pg.run('DELETE FROM writer WHERE backend_pid = pg_backend_pid()')
      } finally {
        // closing the session lets the advisory lock go, whatever the statement above did
        pg.close()
      }
    },
  }
}

/** The live writer of the index on the other end of `pg`, or undefined when there is none. */
export function writerOn(pg: PgConnection): LockHolder | undefined {
  // a role that may not read writer (a reader granted less than SELECT on all tables) learns nothing, without an error that would end its read transaction
  const readable = "SELECT CASE WHEN to_regclass('writer') IS NULL THEN false ELSE has_table_privilege('writer', 'SELECT') END AS found"
  if (!pg.query<{found: boolean}>(readable)[0].found) return undefined
  const row = pg.query<{host: string; pid: number; command: string; since: string}>(HOLDER)[0]
  return row && {host: row.host, pid: Number(row.pid), command: row.command, since: row.since}
}

/** Whether the database at `url` holds an index; true also when the server cannot be asked (opening it then says why). */
export function pgIndexExists(url: string): boolean {
  let pg: PgConnection | undefined
  try {
    pg = PgConnection.open(url)
    return pg.query<{found: boolean}>("SELECT to_regclass('meta') IS NOT NULL AS found")[0].found
  } catch {
    return true
  } finally {
    pg?.close()
  }
}
