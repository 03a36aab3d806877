/**
 * What the reliability tests share: seeded randomness (the seed is printed so
 * a failure can be replayed with BIX_RELIABILITY_SEED), temporary places,
 * the shape of a clean failure (one line on stderr, the documented exit
 * code, no stack trace), and ways to look at an index without changing it.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'

import {BULK_LOAD, SCRIPT_INDEX} from '../../src/lib/store/sqlite/schema.js'
import {prng} from '../support/chain-fixtures.js'
import type {BixResult} from '../support/cli.js'
import {runBix} from '../support/cli.js'
import {indexDigest} from '../support/index-digest.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import type {TestNode} from '../support/test-node.js'

export const fixture = readFixtureChain()

interface Cleanup {
  after: (fn: () => void | Promise<void>) => void
  diagnostic?: (message: string) => void
}

/**
 * A seeded PRNG for one test; the seed comes from BIX_RELIABILITY_SEED or
 * the clock, and is printed (stderr and the test's diagnostics) either way.
 */
export function seeded(t: Cleanup, what: string): {seed: number; random: () => number; int: (lo: number, hi: number) => number} {
  const fromEnv = process.env.BIX_RELIABILITY_SEED
  const seed = fromEnv ? Number(fromEnv) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0
  const line = `${what}: seed ${seed} (replay with BIX_RELIABILITY_SEED=${seed})`
  t.diagnostic?.(line)
  const random = prng(seed)
  return {seed, random, int: (lo, hi) => lo + Math.floor(random() * (hi - lo + 1))}
}

/** A fresh directory, removed when the test ends. */
export function tempDir(t: Cleanup, prefix = 'bix-rel-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

export const indexArgs = (node: TestNode, db: string, ...more: string[]) => ['index', ...node.cliArgs(), '--db', db, ...more]

/** Runs bix index to the node's tip on a new database and returns its digest: what every other run must end equal to. */
export async function cleanDigest(t: Cleanup, node: TestNode, ...more: string[]): Promise<string> {
  const db = path.join(tempDir(t, 'bix-clean-'), 'index.db')
  const r = await runBix(indexArgs(node, db, '--quiet', ...more))
  assert.equal(r.code, 0, `the clean run failed: ${r.stderr}`)
  return indexDigest(db)
}

/**
 * A failure as the README promises it: the documented exit code, exactly one
 * line on stderr starting "error: ", no stack trace, nothing on stdout.
 */
export function assertCleanFailure(r: BixResult, code: number, pattern?: RegExp, context = ''): string {
  const where = `${context ? context + ': ' : ''}stdout ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`
  assert.equal(r.timedOut, false, `timed out; ${where}`)
  assert.equal(r.code, code, `exit code; ${where}`)
  assert.doesNotMatch(r.stderr, /\n\s+at |Error: .*\n.*node:internal|TypeError|RangeError|SqliteError/, `a stack trace or a raw exception; ${where}`)
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '')
  const errors = lines.filter((l) => l.startsWith('error: '))
  assert.equal(errors.length, 1, `one error line; ${where}`)
  assert.equal(lines.at(-1), errors[0], `the error line comes last; ${where}`)
  if (pattern) assert.match(errors[0], pattern, where)
  assert.equal(r.stdout, '', `nothing on stdout; ${where}`)
  return errors[0]
}

/** sha256 of a file's bytes (and of its -wal, if any): for databases bix must not touch at all. */
export function fileBytesDigest(file: string): string {
  const hash = createHash('sha256')
  for (const f of [file, `${file}-wal`]) {
    hash.update(f.endsWith('-wal') ? 'wal\n' : 'db\n')
    if (fs.existsSync(f)) hash.update(fs.readFileSync(f))
  }
  return hash.digest('hex')
}

/**
 * Looks at a database a killed run left behind, read-only: SQLite's own
 * integrity check passes, and the blocks it holds are exactly the node's
 * chain from genesis to its tip, with nothing missing in between.
 * Returns the tip height (-1 for no file or no blocks yet).
 */
export function assertConsistentPrefix(file: string, hashes: readonly string[], context: string): number {
  if (!fs.existsSync(file)) return -1
  return readAsNextRunWould(file, (db) => {
    const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()
    if (!tables.includes('blocks')) return -1
    assert.equal(db.pragma('integrity_check', {simple: true}), 'ok', `${context}: integrity_check`)
    const rows = db.prepare<[], {height: number; hash: Buffer}>('SELECT height, hash FROM blocks ORDER BY height').all()
    rows.forEach((row, i) => {
      assert.equal(row.height, i, `${context}: heights are contiguous from 0`)
      assert.equal(Buffer.from(row.hash).reverse().toString('hex'), hashes[i], `${context}: block ${i} is the node's`)
    })
    const txs = db.prepare<[], number>('SELECT COUNT(*) FROM txs').pluck().get()
    const counted = db.prepare<[], number | null>('SELECT SUM(tx_count) FROM blocks').pluck().get() ?? 0
    assert.equal(txs, counted, `${context}: every transaction of the blocks held, and no other`)
    return rows.length - 1
  })
}

/**
 * Reads a database a killed run left behind without changing it. A run
 * killed while it put a new file in WAL mode leaves a hot rollback journal,
 * which a read-only connection cannot roll back (SQLITE_READONLY_ROLLBACK):
 * then a copy of the two files is read instead, rolled back there as the
 * next run will roll back the original.
 */
function readAsNextRunWould<T>(file: string, read: (db: Database.Database) => T): T {
  const hotJournal = fs.existsSync(`${file}-journal`)
  const dir = hotJournal ? fs.mkdtempSync(path.join(os.tmpdir(), 'bix-hot-journal-')) : undefined
  try {
    let target = file
    if (dir) {
      target = path.join(dir, path.basename(file))
      fs.copyFileSync(file, target)
      fs.copyFileSync(`${file}-journal`, `${target}-journal`)
    }
    const db = new Database(target, {readonly: !dir, fileMustExist: true})
    try {
      return read(db)
    } finally {
      db.close()
    }
  } finally {
    if (dir) fs.rmSync(dir, {recursive: true, force: true})
  }
}

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Blocks the node has served so far, over RPC and REST. */
export const blocksServed = (node: TestNode): number => (node.sim ? node.sim.calls('getblock') + node.sim.calls('rest/block') : 0)

/** Whether a database is still in its first run's bulk load (the mark set, no script index), read-only. */
export function bulkLoadState(file: string): {mark: boolean; scriptIndex: boolean} {
  return readAsNextRunWould(file, (db) => {
    const mark = db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(BULK_LOAD) === '1'
    const scriptIndex = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?").get(SCRIPT_INDEX.name) !== undefined
    return {mark, scriptIndex}
  })
}

/** The tip height of an index, read-only, -1 when there is none yet (or it cannot be read at this instant). */
export function indexHeight(file: string): number {
  if (!fs.existsSync(file)) return -1
  try {
    const db = new Database(file, {readonly: true, fileMustExist: true})
    try {
      return db.prepare<[], number | null>('SELECT MAX(height) FROM blocks').pluck().get() ?? -1
    } finally {
      db.close()
    }
  } catch {
    return -1
  }
}

/** Runs `jobs` with at most `width` at a time, keeping their order in the results. */
export async function inParallel<T>(width: number, jobs: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(jobs.length)
  let next = 0
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await jobs[i]()
    }
  }
  await Promise.all(Array.from({length: Math.min(width, jobs.length)}, lane))
  return results
}

/**
 * The mempool snapshot an index holds (its three tables, row by row, and the
 * tip it was taken on), without the time it was taken: two syncs of the same
 * mempool give the same digest.
 */
export function mempoolDigest(file: string): string {
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    const hash = createHash('sha256')
    for (const table of ['mempool_txs', 'mempool_outputs', 'mempool_spends']) {
      hash.update(`${table}\n`)
      const columns = db.prepare(`SELECT * FROM ${table} LIMIT 0`).columns().length
      const order = Array.from({length: columns}, (_, i) => i + 1).join(', ')
      for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).raw().iterate()) {
        hash.update(JSON.stringify((row as unknown[]).map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : v))) + '\n')
      }
    }
    hash.update(`tip ${db.prepare<[], string>("SELECT value FROM meta WHERE key = 'mempool_tip'").pluck().get() ?? '-'}\n`)
    return hash.digest('hex')
  } finally {
    db.close()
  }
}

/**
 * A snapshot a killed or interrupted sync left behind holds no part of a
 * transaction without the rest, and claims to be complete only with its tip.
 * Returns whether it claims to be a complete sync.
 */
export function assertConsistentMempool(file: string, context: string): boolean {
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    const orphans = (table: string) =>
      db.prepare<[], number>(`SELECT COUNT(*) FROM ${table} WHERE txid NOT IN (SELECT txid FROM mempool_txs)`).pluck().get()
    assert.equal(orphans('mempool_outputs'), 0, `${context}: outputs of transactions not in the snapshot`)
    assert.equal(orphans('mempool_spends'), 0, `${context}: spends of transactions not in the snapshot`)
    const withoutOutputs = db
      .prepare<[], number>('SELECT COUNT(*) FROM mempool_txs WHERE txid NOT IN (SELECT txid FROM mempool_outputs)')
      .pluck()
      .get()
    assert.equal(withoutOutputs, 0, `${context}: transactions written without their outputs`)
    const meta = (key: string) => db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(key)
    const synced = meta('mempool_synced_at') !== undefined
    assert.equal(synced, meta('mempool_tip') !== undefined, `${context}: synced_at and tip go together`)
    return synced
  } finally {
    db.close()
  }
}
