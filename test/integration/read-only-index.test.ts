import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import Database from 'better-sqlite3'

import {readIndex} from '../../src/lib/store/sqlite/database.js'
import {type BixOptions, runBix} from '../support/cli.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * An index bix may not write (a directory of another user, a read-only
 * mount, a backup or snapshot copied elsewhere, with or without its -wal)
 * answers `bix query address` and `bix status` exactly as the writable
 * original does, or says in one line why it cannot and what to do; it never
 * answers from less than the committed index. bix index on such a copy
 * exits 7 in one line. Runs on Core when BITCOIND is set.
 *
 * The tests run as root in CI, where file modes do not bite: bix then runs as
 * nobody on a directory root owns, and the read-only mount is a tmpfs.
 */

const IS_ROOT = process.getuid?.() === 0
const NOBODY = 65534
const AUTH = {user: 'bix-ro', password: 'read-only-tests'}
/** the node's flags, credentials included (nobody may not read its cookie, nor enter its datadir) */
const nodeArgs = () => ['--network', 'regtest', '--rpcport', String(node.rpcPort), '--rpcuser', AUTH.user, '--rpcpassword', AUTH.password]
/** as root, permissions only bite for another user */
const asOther: BixOptions = IS_ROOT ? {uid: NOBODY, gid: NOBODY, env: {HOME: '/nonexistent'}} : {}

let node: TestNode
let work: string
/** the writable original, indexed to the node's tip; nothing holds it open */
let original: string
/** addresses with confirmed, spent and unconfirmed activity */
let addresses: string[]
/** the original's answers, which every copy must give */
let expected: Answers
/** a copy taken while a reader held an old snapshot: index.db, -wal and -shm, the -wal holding blocks index.db lacks */
let snapshot: string
let snapshotExpected: Answers

interface Answers {
  query: unknown
  status: unknown
}

before(async () => {
  // readable by nobody: its parents are 0755, this directory too
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-ro-'))
  fs.chmodSync(work, 0o755)
  // rpcuser/rpcpassword: nobody may not read the node's cookie
  node = await startTestNode({matureBlocks: 101, auth: AUTH})
  addresses = [await node.newAddress('bech32'), await node.newAddress('legacy')]
  for (const a of addresses) await node.send(a, 150_000)
  await node.mine(1)
  await node.send(addresses[0], 70_000)

  original = path.join(writableDir('original'), 'index.db')
  await index(original)
  assert.equal((await runBix(['sync-mempool', ...nodeArgs(), '--db', original, '--quiet'])).code, 0)
  assert.equal(fs.existsSync(`${original}-wal`), false, 'premise: a finished bix index leaves no -wal')
  expected = await answers(original)

  // a copy with committed blocks only in its -wal: a reader's snapshot keeps them from being checkpointed
  const live = path.join(writableDir('live'), 'index.db')
  fs.copyFileSync(original, live)
  const reader = new Database(live, {readonly: true})
  reader.prepare('BEGIN').run()
  reader.prepare('SELECT COUNT(*) FROM blocks').get()
  await node.send(addresses[1], 90_000)
  await node.mine(2)
  await index(live)
  snapshot = writableDir('snapshot')
  for (const suffix of ['', '-wal', '-shm']) fs.copyFileSync(`${live}${suffix}`, path.join(snapshot, `index.db${suffix}`))
  reader.prepare('COMMIT').run()
  reader.close()
  snapshotExpected = await answers(live)
  assert.notDeepEqual(snapshotExpected, expected, 'premise: the later blocks change the answers')
})

after(async () => {
  await node?.stop()
  if (work) fs.rmSync(work, {recursive: true, force: true})
})

function writableDir(name: string): string {
  const dir = path.join(work, name)
  fs.mkdirSync(dir, {mode: 0o755})
  return dir
}

async function index(db: string): Promise<void> {
  const r = await runBix(['index', ...nodeArgs(), '--db', db, '--quiet'])
  assert.equal(r.code, 0, r.stderr)
}

/** A copy of `files` (suffixes of index.db) in a new directory under `work`, as root's 0555 directory. */
function readOnlyCopy(from: string, name: string, suffixes: string[]): string {
  const dir = writableDir(name)
  for (const suffix of suffixes) fs.copyFileSync(`${from}${suffix}`, path.join(dir, `index.db${suffix}`))
  for (const file of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, file), 0o644)
  fs.chmodSync(dir, 0o555)
  return path.join(dir, 'index.db')
}

/** What query address and status say of the index at `db`, less what changes with the clock or the file's place. */
async function answers(db: string, opts: BixOptions = {}): Promise<Answers> {
  const q = await runBix(['query', 'address', ...addresses, '--network', 'regtest', '--db', db, '--utxos', '--history', '--limit', '0', '--json', '--offline'], opts)
  assert.equal(q.code, 0, `query: ${q.stderr}`)
  const query = JSON.parse(q.stdout) as Array<{freshness: {mempool: {age_seconds?: number}}}>
  for (const report of query) delete report.freshness.mempool.age_seconds
  const s = await runBix(['status', ...nodeArgs(), '--db', db, '--json'], opts)
  assert.equal(s.code, 0, `status: ${s.stderr}`)
  const {index} = JSON.parse(s.stdout) as {index: {path?: string; size_bytes?: number}}
  delete index.path
  delete index.size_bytes
  return {query, status: index}
}

function assertOneLine(r: {code: number | null; stderr: string; stdout: string}, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, r.stderr)
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '')
  assert.equal(lines.length, 1, r.stderr)
  assert.match(lines[0], pattern)
}

describe('a read-only index', () => {
  test('in a directory bix may not write, without a -wal: the same answers as the original, and nothing created beside it', async () => {
    const db = readOnlyCopy(original, 'no-wal', [''])
    assert.deepEqual(await answers(db, asOther), expected)
    assert.deepEqual(fs.readdirSync(path.dirname(db)), ['index.db'], 'no -shm, no -wal, no lock left behind')
  })

  test('bix index on it exits 7 in one line, and the copy is unchanged', async () => {
    const db = readOnlyCopy(original, 'index-refused', [''])
    const before = fs.readFileSync(db)
    assertOneLine(await runBix(['index', ...nodeArgs(), '--db', db], asOther), 7, /^error: cannot (create the lock|write) .*index\.db.*read-only/)
    assert.deepEqual(fs.readFileSync(db), before)
  })

  test('a snapshot taken with its -wal and -shm, in a read-only directory: read through the -wal, the same answers as the live index', async () => {
    const db = readOnlyCopy(path.join(snapshot, 'index.db'), 'with-wal', ['', '-wal', '-shm'])
    assert.deepEqual(await answers(db, asOther), snapshotExpected)
  })

  test('a snapshot with its -wal but no -shm, in a read-only directory: exit 7 saying the -wal holds index data and what to do, never an older answer', async () => {
    // premise: the file alone is an older index than file + -wal
    const alone = path.join(writableDir('file-alone'), 'index.db')
    fs.copyFileSync(path.join(snapshot, 'index.db'), alone)
    assert.notDeepEqual(await answers(alone), snapshotExpected, 'premise: the -wal holds blocks the file lacks')

    const db = readOnlyCopy(path.join(snapshot, 'index.db'), 'wal-no-shm', ['', '-wal'])
    const message = /^error: cannot read .*index\.db: index\.db-wal beside it holds \d+ bytes of index not yet in index\.db, .*copy index\.db and index\.db-wal together to a writable directory/
    assertOneLine(await runBix(['query', 'address', addresses[0], '--network', 'regtest', '--db', db, '--offline'], asOther), 7, message)
    // status still shows the node, and the index's trouble in its place
    const status = await runBix(['status', ...nodeArgs(), '--db', db], asOther)
    assert.equal(status.code, 7, status.stderr)
    assert.match(status.stdout, /^index +cannot read .*index\.db: index\.db-wal beside it holds \d+ bytes/m)
  })

  test('the same -wal copy in a writable directory (another host): read whole, the same answers as the live index', async () => {
    const dir = writableDir('elsewhere')
    for (const suffix of ['', '-wal']) fs.copyFileSync(path.join(snapshot, `index.db${suffix}`), path.join(dir, `index.db${suffix}`))
    assert.deepEqual(await answers(path.join(dir, 'index.db')), snapshotExpected)
  })

  test('on a read-only mount: the same answers; bix index exits 7 in one line', async (t) => {
    if (!IS_ROOT) return t.skip('mounting a tmpfs needs root')
    const mount = writableDir('mount')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mount])
    t.after(() => execFileSync('umount', [mount]))
    fs.copyFileSync(original, path.join(mount, 'index.db'))
    execFileSync('mount', ['-o', 'remount,ro', mount])
    const db = path.join(mount, 'index.db')
    // as root, whom no file mode stops: only the mount does
    assert.deepEqual(await answers(db), expected)
    assertOneLine(await runBix(['index', ...nodeArgs(), '--db', db]), 7, /^error: cannot (create the lock|write) .*index\.db.*read-only/)
    assert.deepEqual(fs.readdirSync(mount), ['index.db'])
  })

  test('a read-only copy that a writer changes while it is read (through another mount) is read again, never answered from a mix of two states', async (t) => {
    if (!IS_ROOT) return t.skip('mounting a tmpfs needs root')
    const mount = writableDir('remounted')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mount])
    t.after(() => execFileSync('umount', [mount]))
    const db = path.join(mount, 'index.db')
    fs.copyFileSync(original, db)
    execFileSync('mount', ['-o', 'remount,ro', mount])
    let reads = 0
    const height = readIndex(db, {}, (index) => {
      reads++
      if (reads === 1) {
        // what a checkpoint does to the file, from a writer that may write there
        execFileSync('mount', ['-o', 'remount,rw', mount])
        fs.utimesSync(db, new Date(), new Date(Date.now() + 5000))
        execFileSync('mount', ['-o', 'remount,ro', mount])
      }
      return index.tip()?.height
    })
    assert.equal(reads, 2, 'read again after the change')
    assert.equal(height, (expected.status as {tip_height: number}).tip_height)
  })
})
