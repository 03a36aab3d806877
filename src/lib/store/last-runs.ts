import {createHash} from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

import {writeFileAtomic} from '../atomic-file.js'
import {maskUrl} from './postgres/connection.js'
import {isPostgresUrl} from './open-store.js'

/**
 * How each bix command last ended, kept beside the index (`<db>.runs.json`)
 * so that `bix status --prometheus` can tell a monitor that the cron'd
 * `bix index` failed or stopped running. A small JSON file rather than a table:
 * it must be writable when the database is not (damaged, locked, missing).
 * For a PostgreSQL index it is this host's record, in bix's data directory
 * (`postgres/<hash of the URL without its password>.runs.json`): each host
 * monitors the runs it makes.
 */
export interface LastRun {
  /** unix seconds */
  endedAt: number
  exitCode: number
  durationSeconds: number
}

/** command ("index", "query address") → its last run */
export type LastRuns = Record<string, LastRun>

/** The record's file for the index `db` (a file's absolute path or a PostgreSQL URL); `dataDir` is bix's data directory. */
export function lastRunsPath(db: string, dataDir: string): string {
  if (!isPostgresUrl(db)) return `${db}.runs.json`
  const identity = createHash('sha256').update(maskUrl(db)).digest('hex').slice(0, 16)
  return path.join(dataDir, 'postgres', `${identity}.runs.json`)
}

/** {} for a missing, unreadable or damaged file: the record is a convenience, never a reason to fail. */
export function readLastRuns(file: string): LastRuns {
  let parsed: unknown
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return {}
  }
  const runs = (parsed as {runs?: unknown} | null)?.runs
  if (typeof runs !== 'object' || runs === null) return {}
  const valid: LastRuns = {}
  for (const [command, run] of Object.entries(runs)) {
    if (isLastRun(run)) valid[command] = {endedAt: run.endedAt, exitCode: run.exitCode, durationSeconds: run.durationSeconds}
  }
  return valid
}

/**
 * Records one run, keeping the other commands' entries. Throws what the file
 * system says (the caller decides that it does not matter); two commands
 * ending in the same millisecond may lose one entry, not the file.
 */
export function recordLastRun(file: string, command: string, run: LastRun): void {
  const runs = {...readLastRuns(file), [command]: run}
  fs.mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  writeFileAtomic(file, JSON.stringify({version: 1, runs}, null, 2) + '\n', 0o600)
}

function isLastRun(value: unknown): value is LastRun {
  const run = value as Partial<LastRun> | null
  return (
    typeof run === 'object' &&
    run !== null &&
    Number.isFinite(run.endedAt) &&
    Number.isInteger(run.exitCode) &&
    Number.isFinite(run.durationSeconds)
  )
}
