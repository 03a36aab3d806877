import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import Database from 'better-sqlite3'

import {BixError} from '../../src/lib/errors.js'
import {findForkHeight} from '../../src/lib/index/fork.js'
import {openIndex} from '../../src/lib/store/sqlite/database.js'
import {type BixOptions, type BixResult, runBix} from '../support/cli.js'
import {indexDigest} from '../support/index-digest.js'
import {type TestNode, startTestNode} from '../support/test-node.js'
import {assertCleanFailure, fileBytesDigest, fixture, seeded, tempDir} from './support.js'

/**
 * The index database in trouble: a full disk, a read-only file or
 * directory, bytes overwritten, a file that is not an index, an index of
 * another network, one made by a newer bix. Each gets one clear line and
 * its documented exit code (7, or 2 for a network mismatch), and nothing
 * already indexed is lost: the index reads the same before and after, and
 * once the trouble is gone the next run goes on from it.
 *
 * bix runs as root in CI, where file modes do not bite: the permission
 * tests then run bix as nobody, and the disk-full tests mount a small tmpfs.
 */

const IS_ROOT = process.getuid?.() === 0
const NOBODY = 65534
const AUTH = {user: 'bix-test', password: 'db-tests-password'}

let node: TestNode
let clean: string
/** an index of the whole fixture chain, to copy */
let full: string
/** the same at height 100, so that a run has blocks to write */
let partial: string
let dir: string

before(async () => {
  node = await startTestNode({fixtureChain: true, auth: AUTH})
  dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'bix-rel-db-'))
  full = path.join(dir, 'full.db')
  partial = path.join(dir, 'partial.db')
  const [a, b] = await Promise.all([runBix(bix(full, '--quiet')), runBix(bix(partial, '--quiet', '--to-height', '100'))])
  assert.equal(a.code, 0, a.stderr)
  assert.equal(b.code, 0, b.stderr)
  clean = indexDigest(full)
})
after(async () => {
  await node?.stop()
  fs.rmSync(dir, {recursive: true, force: true})
})

/** no --datadir: the simulator's is root's, and some of these runs are nobody's */
const nodeArgs = () => ['--network', 'regtest', '--rpcport', String(node.rpcPort), '--rpcuser', AUTH.user, '--rpcpassword', AUTH.password]
const bix = (db: string, ...more: string[]) => ['index', ...nodeArgs(), '--db', db, ...more]
const query = (db: string, ...more: string[]) => ['query', 'address', '--network', 'regtest', '--offline', '--db', db, fixture.addresses[0], ...more]
const status = (db: string) => ['status', ...nodeArgs(), '--db', db]

function copy(from: string, to: string): string {
  fs.copyFileSync(from, to)
  return to
}

/** index, query and status on a database in trouble: each exits `code` with one line matching `pattern`, and the file is as it was. */
async function assertRefusedByAll(db: string, code: number, pattern: RegExp, opts: BixOptions = {}): Promise<void> {
  const before = fileBytesDigest(db)
  const [indexRun, queryRun, statusRun] = await Promise.all([runBix(bix(db), opts), runBix(query(db), opts), runBix(status(db), opts)])
  assertCleanFailure(indexRun, code, pattern, 'index')
  assertCleanFailure(queryRun, code, pattern, 'query address')
  // status shows the node all the same, and the index's trouble in its report
  assert.equal(statusRun.code, code, `status: ${statusRun.stdout}${statusRun.stderr}`)
  assert.match(statusRun.stdout, new RegExp(pattern.source.replace(/^\^error: /, '')))
  assert.doesNotMatch(statusRun.stderr, /\n\s+at /)
  assert.equal(fileBytesDigest(db), before, 'the file was not touched')
}

describe('disk full', () => {
  let mnt: string | undefined

  before(() => {
    if (!IS_ROOT) return
    mnt = fs.mkdtempSync(path.join(dir, 'tmpfs-'))
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0755', 'tmpfs', mnt], {stdio: 'pipe'})
    } catch {
      mnt = undefined
    }
  })
  after(() => {
    if (mnt) execFileSync('umount', ['-l', mnt])
  })

  /** Fills what is left of the filesystem; returns a function that frees it again. */
  function fill(where: string): () => void {
    const filler = path.join(where, 'filler')
    const fd = fs.openSync(filler, 'w')
    const chunk = Buffer.alloc(64 * 1024, 0xaa)
    try {
      for (;;) fs.writeSync(fd, chunk)
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC')
    }
    // the last few bytes too, page by page
    try {
      for (;;) fs.writeSync(fd, chunk.subarray(0, 512))
    } catch {
      // full
    } finally {
      fs.closeSync(fd)
    }
    return () => fs.rmSync(filler)
  }

  /** Room for the lock file and SQLite's shared-memory file, not for the index to grow. */
  function fillLeaving(where: string, bytes: number): () => void {
    const free = fill(where)
    const filler = path.join(where, 'filler')
    fs.truncateSync(filler, Math.max(0, fs.statSync(filler).size - bytes))
    return free
  }

  test('an index run that cannot write: exit 7 "disk full", the index as it was, and the next run (with room) goes on from it', async (t) => {
    if (!mnt) return t.skip('needs root to mount a small tmpfs')
    const {int} = seeded(t, 'disk full')
    const db = copy(partial, path.join(mnt, 'index.db'))
    const before = indexDigest(db)
    const free = fillLeaving(mnt, 48 * 1024)
    const r = await runBix(bix(db, '--batch-blocks', String(int(1, 20))))
    assertCleanFailure(r, 7, /disk full while writing .*index\.db; nothing after height 100 was written/)
    assert.equal(indexDigest(db), before, 'nothing already indexed was lost')
    // the index still answers while the disk is full
    const q = await runBix(query(db, '--json'))
    assert.equal(q.code, 0, q.stderr)
    free()
    const resumed = await runBix(bix(db, '--json'))
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.equal(JSON.parse(resumed.stdout).start_height, 100)
    assert.equal(indexDigest(db), clean)
    fs.rmSync(db)
  })

  test('a first run on a disk with no room for the index: exit 7, and nothing is left that stops a later run', async (t) => {
    if (!mnt) return t.skip('needs root to mount a small tmpfs')
    const db = path.join(mnt, 'new', 'index.db')
    const free = fillLeaving(mnt, 48 * 1024)
    assertCleanFailure(await runBix(bix(db)), 7, /disk full/)
    free()
    const r = await runBix(bix(db, '--quiet'))
    assert.equal(r.code, 0, r.stderr)
    assert.equal(indexDigest(db), clean)
    fs.rmSync(path.dirname(db), {recursive: true})
  })

  test('a disk without room even for the lock file: exit 7 "disk full", the index as it was', async (t) => {
    if (!mnt) return t.skip('needs root to mount a small tmpfs')
    const db = copy(partial, path.join(mnt, 'index.db'))
    const before = indexDigest(db)
    const free = fill(mnt)
    try {
      assertCleanFailure(await runBix(bix(db)), 7, /disk full/)
      assert.equal(indexDigest(db), before)
    } finally {
      free()
      fs.rmSync(db)
      fs.rmSync(`${db}.lock`, {force: true})
    }
  })

  test('the disk fills up in the middle of a first run: exit 7, and after making room the next run completes it', async (t) => {
    if (!mnt) return t.skip('needs root to mount a small tmpfs')
    const db = path.join(mnt, 'grow', 'index.db')
    fs.mkdirSync(path.dirname(db))
    // leave room for the first blocks only
    const free = fill(mnt)
    fs.truncateSync(path.join(mnt, 'filler'), Math.max(0, fs.statSync(path.join(mnt, 'filler')).size - 400 * 1024))
    const r = await runBix(bix(db, '--batch-blocks', '2'))
    assertCleanFailure(r, 7, /disk full/)
    free()
    const resumed = await runBix(bix(db, '--quiet'))
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.equal(indexDigest(db), clean)
  })
})

/** A directory whose mode a test takes away: given back before it is removed. */
function lockedDir(t: {after: (fn: () => void) => void}): string {
  // (not under `dir`, which is root's 0700: bix runs as nobody here and must reach it)
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-rel-locked-'))
  t.after(() => {
    fs.chmodSync(d, 0o700)
    fs.rmSync(d, {recursive: true, force: true})
  })
  return d
}

describe('read-only', () => {
  /** As root, permissions only bite for another user: bix runs as nobody on files it may not write. */
  const asOther: BixOptions = IS_ROOT ? {uid: NOBODY, gid: NOBODY, env: {HOME: '/nonexistent'}} : {}

  function ownedByOther(p: string): void {
    if (IS_ROOT) fs.chownSync(p, NOBODY, NOBODY)
  }

  test('a read-only database file: index exits 7 saying so, the index unchanged; queries still answer', async (t) => {
    const d = tempDir(t)
    ownedByOther(d)
    const db = copy(partial, path.join(d, 'index.db'))
    // root's 0644 file in nobody's directory: readable, not writable by bix
    if (!IS_ROOT) fs.chmodSync(db, 0o444)
    else fs.chmodSync(db, 0o644)
    const before = indexDigest(db)
    assertCleanFailure(await runBix(bix(db), asOther), 7, /cannot write .*index\.db: the file (or its directory )?is read-only/)
    assert.equal(indexDigest(db), before)
    const q = await runBix(query(db, '--json'), asOther)
    assert.equal(q.code, 0, q.stderr)
    assert.equal(JSON.parse(q.stdout)[0].freshness.index.height, 100)
  })

  test('a read-only directory: index exits 7 naming it, the index unchanged', async (t) => {
    const d = lockedDir(t)
    const db = copy(partial, path.join(d, 'index.db'))
    ownedByOther(db)
    fs.chmodSync(d, 0o555)
    const before = indexDigest(db)
    assertCleanFailure(await runBix(bix(db), asOther), 7, /cannot create the lock .*index\.db\.lock: the directory is read-only or not yours/)
    assert.equal(indexDigest(db), before)
  })

  test('a query of an index in a read-only directory answers from it, creating nothing beside it (copies with a -wal: test/integration/read-only-index.test.ts)', async (t) => {
    const d = lockedDir(t)
    const db = copy(partial, path.join(d, 'index.db'))
    ownedByOther(db)
    fs.chmodSync(d, 0o555)
    // (read as bytes: opening it with SQLite as root would create the -shm and spoil the case)
    const before = fileBytesDigest(db)
    assert.deepEqual(fs.readdirSync(d), ['index.db'])
    const q = await runBix(query(db, '--json'), asOther)
    assert.equal(q.code, 0, q.stderr)
    assert.equal(JSON.parse(q.stdout)[0].freshness.index.height, 100)
    assert.deepEqual(fs.readdirSync(d), ['index.db'])
    assert.equal(fileBytesDigest(db), before)
  })

  test('an index behind a directory bix may not enter: exit 7 saying so, not "no index, run bix index first"', async (t) => {
    if (!IS_ROOT) return t.skip('needs another user: as its owner, bix may always enter the directory')
    const d = lockedDir(t)
    copy(partial, path.join(d, 'index.db'))
    fs.chmodSync(d, 0o700)
    const r = await runBix(query(path.join(d, 'index.db')), asOther)
    assertCleanFailure(r, 7, /permission|not allowed|may not|cannot (open|read|enter)/)
    assert.doesNotMatch(r.stderr, /run bix index first/)
  })

  test('a database path whose directory cannot be created: exit 7', async (t) => {
    const d = lockedDir(t)
    fs.chmodSync(d, 0o555)
    assertCleanFailure(await runBix(bix(path.join(d, 'sub', 'index.db')), asOther), 7, /cannot create|read-only|not yours/)
  })

  test('a database path through a file: exit 7 saying so', async (t) => {
    const file = path.join(tempDir(t), 'a-file')
    fs.writeFileSync(file, 'x')
    assertCleanFailure(await runBix(bix(path.join(file, 'index.db'))), 7, /part of its path is a file/)
  })
})

describe('damaged and foreign files', () => {
  test('bytes overwritten in the header: exit 7 from index, query and status; the file left as it was', async (t) => {
    const db = copy(full, path.join(tempDir(t), 'index.db'))
    const fd = fs.openSync(db, 'r+')
    fs.writeSync(fd, Buffer.from('this is no header'), 0, 16, 0)
    fs.closeSync(fd)
    await assertRefusedByAll(db, 7, /^error: .*index\.db is not a bix index \(not an SQLite database\)/)
  })

  test('the schema page overwritten: exit 7 "corrupted", nothing touched', async (t) => {
    const db = copy(full, path.join(tempDir(t), 'index.db'))
    const fd = fs.openSync(db, 'r+')
    fs.writeSync(fd, Buffer.alloc(1000, 0x5a), 0, 1000, 120)
    fs.closeSync(fd)
    await assertRefusedByAll(db, 7, /^error: .*index\.db is corrupted \(.*\); delete it and run bix index to rebuild it/)
  })

  test('the blocks table damaged: the index run says "corrupted" (exit 7) and writes nothing', async (t) => {
    const db = copy(partial, path.join(tempDir(t), 'index.db'))
    const sqlite = new Database(db, {readonly: true})
    const root = sqlite.prepare<[], number>("SELECT rootpage FROM sqlite_master WHERE name = 'blocks'").pluck().get()!
    const pageSize = sqlite.pragma('page_size', {simple: true}) as number
    sqlite.close()
    const fd = fs.openSync(db, 'r+')
    // the page header and cell pointers: the b-tree no longer makes sense
    fs.writeSync(fd, Buffer.alloc(64, 0xee), 0, 64, (root - 1) * pageSize)
    fs.closeSync(fd)
    const before = fileBytesDigest(db)
    assertCleanFailure(await runBix(bix(db)), 7, /index\.db is corrupted \(.*\); delete it and run bix index to rebuild it/)
    assert.equal(fileBytesDigest(db), before)
  })

  test('an index whose blocks table lost rows (damage SQLite does not notice): exit 7 naming the damage, never a TypeError', async () => {
    const err = await findForkHeight({
      storedHeight: 100,
      nodeHeight: 147,
      // a damaged leaf page: the range query comes back short
      storedHashes: (from, to) => Array.from({length: Math.max(0, to - from)}, () => Buffer.alloc(32, 1)),
      nodeHashes: async (heights) => heights.map(() => Buffer.alloc(32, 2)),
    }).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof BixError, `a BixError, not ${String(err)}`)
    assert.equal(err.exitCode, 7)
    assert.match(err.message, /damaged|corrupted/)
  })

  test('random pages overwritten (seeded): every run ends 7 with one clear line, or 0 with the right answer; never a crash', async (t) => {
    const {int, random, seed} = seeded(t, 'page damage')
    // what the undamaged index answers: a run that ends 0 must answer exactly that
    const undamaged = await runBix(query(partial))
    assert.equal(undamaged.code, 0, undamaged.stderr)
    const pageSize = new Database(partial, {readonly: true}).pragma('page_size', {simple: true}) as number
    const pages = fs.statSync(partial).size / pageSize
    const outcomes: string[] = []
    for (let round = 0; round < 4; round++) {
      const db = copy(partial, path.join(tempDir(t), 'index.db'))
      const page = int(1, pages - 1)
      const fd = fs.openSync(db, 'r+')
      const junk = Buffer.from(Array.from({length: int(4, pageSize)}, () => Math.floor(random() * 256)))
      fs.writeSync(fd, junk, 0, junk.length, page * pageSize + int(0, pageSize - junk.length))
      fs.closeSync(fd)
      const before = fileBytesDigest(db)
      const what = `seed ${seed} round ${round}: ${junk.length} bytes on page ${page + 1} of ${pages}`
      for (const args of [query(db), bix(db, '--batch-blocks', '5')]) {
        const r: BixResult = await runBix(args)
        if (r.code === 0 && args[0] === 'query') {
          assert.equal(r.stdout, undamaged.stdout, `${what}: a query that ends 0 answers as the undamaged index does`)
          outcomes.push(`${what}: query 0`)
          continue
        }
        if (r.code === 0) {
          // (damage on a page this run never reads can stay unseen: SQLite has no checksums; what it wrote is checked)
          assert.match(r.stdout, new RegExp(`: height ${fixture.height} \\(${fixture.tip}\\)$`, 'm'), `${what}: an index run that ends 0 reached the node's tip`)
          outcomes.push(`${what}: index 0`)
          continue
        }
        // (damage found only midway may come after some batches were written: SQLite cannot see it sooner)
        assertCleanFailure(r, 7, /corrupted|not a bix index|damaged|malformed/, `${what}, ${args[0]}`)
        outcomes.push(`${what}: ${args[0]} 7${fileBytesDigest(db) === before ? '' : ' (after writing)'}`)
      }
    }
    t.diagnostic(outcomes.join('\n'))
  })

  test('a file that is not SQLite: exit 7 from index, query and status, left as it was', async (t) => {
    const text = path.join(tempDir(t), 'notes.db')
    fs.writeFileSync(text, 'my notes, not an index\n'.repeat(500))
    await assertRefusedByAll(text, 7, /^error: .*notes\.db is not a bix index \(not an SQLite database\)/)
  })

  test('an SQLite database that is not an index: exit 7, and the file left exactly as it was', async (t) => {
    const other = path.join(tempDir(t), 'other.db')
    const sqlite = new Database(other)
    sqlite.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts (name) VALUES ('alice')")
    sqlite.close()
    await assertRefusedByAll(other, 7, /^error: .*other\.db is an SQLite database but not a bix index/)
    assert.deepEqual(fs.readdirSync(path.dirname(other)), ['other.db'], 'no -wal or -shm left beside it')
  })

  test('an index of another network: exit 2 naming both networks, the file untouched', async (t) => {
    const db = path.join(tempDir(t), 'signet.db')
    openIndex(db, {network: 'signet', mode: 'write'}).close()
    await assertRefusedByAll(db, 2, /^error: index .*signet\.db is for signet, not regtest; use another --db or --network/)
  })

  test('an index that says it is regtest, with another genesis block: exit 2, untouched', async (t) => {
    const db = copy(full, path.join(tempDir(t), 'index.db'))
    const sqlite = new Database(db)
    sqlite.prepare("UPDATE meta SET value = ? WHERE key = 'genesis_hash'").run('000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f')
    sqlite.close()
    const before = indexDigest(db)
    const r = await runBix(bix(db))
    assertCleanFailure(r, 2, /genesis block 000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f is not regtest's/)
    assert.equal(indexDigest(db), before)
  })

  test('an index made by a newer bix: exit 7 "upgrade bix", nothing lost', async (t) => {
    const db = copy(full, path.join(tempDir(t), 'index.db'))
    const sqlite = new Database(db)
    sqlite.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run()
    sqlite.close()
    const before = indexDigest(db)
    await assertRefusedByAll(db, 7, /^error: .*index\.db was made by a newer bix \(schema 99\); upgrade bix/)
    assert.equal(indexDigest(db), before)
  })
})
