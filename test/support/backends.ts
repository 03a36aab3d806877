/**
 * The two storage backends a test runs on, and what a test needs to look at
 * an index of either without caring which: a new index of its own, its tip,
 * a digest of everything it holds, and the name bix gives it in messages.
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

import {assertConsistentPrefix, bulkLoadState, indexHeight} from '../reliability/support.js'
import {type BixResult, runBix} from './cli.js'
import {indexDigest} from './index-digest.js'
import {SKIP_MESSAGE, testPostgres} from './postgres-server.js'
import type {TestNode} from './test-node.js'

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

/**
 * The index tables of a PostgreSQL index and their keys: the rows SQLite's
 * index-digest.ts reads, with a spend a row of `spends` instead of a column
 * of `outputs` (postgres/schema.ts). Not the mempool snapshot, nor `writer`
 * (who holds the writer lock).
 */
const PG_TABLES: Record<string, string> = {
  blocks: 'height',
  txs: 'tx_num',
  txid_keys: 'key, tx_num',
  outputs: 'id',
  spends: 'output_id',
}

/**
 * A digest of every row an index holds (meta without its creation time and
 * mempool keys), for comparing two indexes of one backend: a run that was
 * disturbed must end identical to a clean one.
 */
export function indexContentDigest(db: string): string {
  if (!isPostgres(db)) return indexDigest(db)
  // every table's rows in key order, hashed by the server: one line per table, then meta's rows
  const tables = Object.entries(PG_TABLES).map(
    ([table, key]) => `(SELECT '${table} ' || md5(COALESCE(string_agg(r::text, E'\\n' ORDER BY ${key.split(', ').map((k) => `r.${k}`).join(', ')}), '')) FROM ${table} r)`,
  )
  const meta = "(SELECT 'meta ' || COALESCE(string_agg(key || '=' || value, E'\\n' ORDER BY key), '') FROM meta WHERE key NOT IN ('created_at', 'mempool_synced_at', 'mempool_tip'))"
  // (left as text: a difference names its table)
  return pg!.psql(`SELECT concat_ws(E'\\n', ${[...tables, meta].join(', ')})`, databaseOf(db))
}

/** Indexes the node's chain into a new index of `backend` and returns its digest: what every other run must end equal to. */
export async function cleanIndexDigest(t: Cleanup, node: TestNode, backend: Backend): Promise<string> {
  const db = newIndex(t, backend)
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet'])
  assert.equal(r.code, 0, `the clean run failed: ${r.stderr}`)
  return indexContentDigest(db)
}

/**
 * Looks at an index a killed run left behind, read-only: the blocks it holds
 * are exactly the node's chain from genesis to its tip, nothing missing in
 * between, and every transaction of those blocks and no other (SQLite's
 * integrity check passes too). Returns the tip height (-1 for no index or
 * no blocks yet).
 */
export function assertConsistentPrefixOf(db: string, hashes: readonly string[], context: string): number {
  if (!isPostgres(db)) return assertConsistentPrefix(db, hashes, context)
  const name = databaseOf(db)
  if (pg!.psql("SELECT to_regclass('blocks') IS NOT NULL", name) !== 't') return -1
  const rows = pg!.psql("SELECT height || ' ' || encode(hash, 'hex') FROM blocks ORDER BY height", name)
    .split('\n')
    .filter((l) => l !== '')
  rows.forEach((row, i) => {
    const [height, hash] = row.split(' ')
    assert.equal(Number(height), i, `${context}: heights are contiguous from 0`)
    assert.equal(Buffer.from(hash, 'hex').reverse().toString('hex'), hashes[i], `${context}: block ${i} is the node's`)
  })
  const [txs, counted] = pg!.psql('SELECT (SELECT COUNT(*) FROM txs) || \' \' || (SELECT COALESCE(SUM(tx_count), 0) FROM blocks)', name).split(' ').map(Number)
  assert.equal(txs, counted, `${context}: every transaction of the blocks held, and no other`)
  return rows.length - 1
}

/** Whether an index is still in its first run's bulk load (the mark set, no script index), read-only. */
export function bulkLoadStateOf(db: string): {mark: boolean; scriptIndex: boolean} {
  if (!isPostgres(db)) return bulkLoadState(db)
  const [mark, scriptIndex] = pg!
    .psql("SELECT (SELECT value FROM meta WHERE key = 'bulk_load') IS NOT DISTINCT FROM '1', to_regclass('outputs_by_script') IS NOT NULL", databaseOf(db))
    .split('|')
  return {mark: mark === 't', scriptIndex: scriptIndex === 't'}
}

/** Whether an index's writer lock is held or left behind: SQLite's lock file, PostgreSQL's row in writer. */
export function writerLockLeft(db: string): boolean {
  if (!isPostgres(db)) return fs.existsSync(`${db}.lock`)
  // (a query of writer where there is none yet fails before any AND could skip it)
  if (pg!.psql("SELECT to_regclass('writer') IS NOT NULL", databaseOf(db)) !== 't') return false
  return pg!.psql('SELECT EXISTS (SELECT 1 FROM writer)', databaseOf(db)) === 't'
}
