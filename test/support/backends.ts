/**
 * The two storage backends a test runs on, and what a test needs to look at
 * an index of either without caring which: a new index of its own, its tip,
 * and the name bix gives it in messages.
 *
 * A test file parametrised by backend writes one test body per scenario and
 * runs it once per backend:
 *
 *   for (const backend of BACKENDS) {
 *     describe(`${backend}: …`, {skip: skipUnlessInstalled(backend)}, () => { test(…, (t) => { const db = newIndex(t, backend) … }) })
 *   }
 *   after(() => pg?.stop())
 *
 * PostgreSQL is a throwaway server of the test process (postgres-server.ts),
 * started when this module is first imported; where its binaries are not
 * installed the PostgreSQL half is skipped with SKIP_MESSAGE.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {indexHeight} from '../reliability/support.js'
import type {BixResult} from './cli.js'
import {SKIP_MESSAGE, testPostgres} from './postgres-server.js'

export type Backend = 'sqlite' | 'postgres'
export const BACKENDS: Backend[] = ['sqlite', 'postgres']

/** This test process's PostgreSQL server; undefined where PostgreSQL is not installed. */
export const pg = testPostgres()

/** describe()'s skip option for a backend's half of a file: the PostgreSQL half without PostgreSQL. */
export const skipUnlessInstalled = (backend: Backend): string | false => (backend === 'postgres' && !pg ? SKIP_MESSAGE : false)

interface Cleanup {
  after: (fn: () => void | Promise<void>) => void
}

/** A new, empty index for a test: a file in a temporary directory, or a PostgreSQL database of its own. */
export function newIndex(t: Cleanup, backend: Backend): string {
  if (backend === 'postgres') return pg!.createDatabase(`bix_${randomBytes(6).toString('hex')}`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-backends-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'index.db')
}

const isPostgres = (db: string) => /^postgres(?:ql)?:\/\//.test(db)

/** The database a postgres:// URL names (URLs with an empty host, as libpq writes a Unix socket's, are not WHATWG URLs). */
const databaseOf = (url: string): string => decodeURIComponent(/^postgres(?:ql)?:\/\/[^/]*\/([^?]*)/.exec(url)![1])

/** How bix names an index in what it prints: the file's path, or the URL with its password masked. */
export const shownAs = (db: string): string => (isPostgres(db) ? db.replace(`:${pg!.password}@`, ':***@') : db)

/** The index's tip height without bix (-1 when it has none yet, or cannot be read at this instant): how a test sees a run's progress. */
export function tipOf(db: string): number {
  if (!isPostgres(db)) return indexHeight(db)
  try {
    return Number(pg!.psql('SELECT COALESCE(MAX(height), -1) FROM blocks', databaseOf(db)))
  } catch {
    return -1
  }
}

/** A bix result, checked to print no PostgreSQL password anywhere. */
export function assertNoPassword(r: BixResult): BixResult {
  if (pg) {
    for (const stream of [r.stdout, r.stderr]) assert.ok(!stream.includes(pg.password), `the PostgreSQL password was printed: ${stream}`)
  }
  return r
}
