import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import crypto from 'node:crypto'
import {test} from 'node:test'

import {PgConnection, PostgresError, maskUrl, opensPostgres} from '../../src/lib/store/postgres/connection.js'
import {CopyWriter} from '../../src/lib/store/postgres/copy-writer.js'
import {testPostgres} from '../support/postgres-server.js'

/** PgConnection against a real PostgreSQL server, started for this file (skipped where none is installed). */

const server = testPostgres()
const skip = server === undefined
let databases = 0
const freshDatabase = () => server!.createDatabase(`conn_${++databases}`)

function withConnection(work: (db: PgConnection, url: string) => void): void {
  const url = freshDatabase()
  const db = PgConnection.open(url)
  try {
    work(db, url)
  } finally {
    db.close()
  }
}

test('parameters and rows make the round trip: bigint as numbers, bytea as Buffers, NULL as null', {skip}, () => {
  withConnection((db) => {
    db.exec('CREATE TABLE t (id bigint PRIMARY KEY, key bytea NOT NULL, note text); CREATE INDEX t_key ON t (key)')
    const key = Buffer.from('00ff10a5deadbeef', 'hex')
    assert.equal(db.run('INSERT INTO t VALUES ($1, $2, $3), ($4, $5, NULL)', [2 ** 53 - 1, key, 'é€', 7, Buffer.alloc(0)]), 2)
    const rows = db.query<{id: number; key: Buffer; note: string | null}>('SELECT id, key, note FROM t ORDER BY id')
    assert.deepEqual(rows, [
      {id: 7, key: Buffer.alloc(0), note: null},
      {id: 2 ** 53 - 1, key, note: 'é€'},
    ])
    assert.ok(Buffer.isBuffer(rows[1]!.key), 'bytea comes back as a Buffer')
    assert.equal(typeof rows[1]!.id, 'number')
    assert.deepEqual(db.query('SELECT id FROM t WHERE key = $1', [key]), [{id: 2 ** 53 - 1}])
    // past 2^53 a number would be wrong: it comes back as a bigint instead
    assert.deepEqual(db.query('SELECT 9007199254740993::bigint AS big'), [{big: 9007199254740993n}])
    assert.equal(db.run('UPDATE t SET note = $1 WHERE id > $2', ['x', 0]), 2)
  })
})

test('copyIn loads 200,000 rows of a binary COPY exactly as written', {skip}, () => {
  withConnection((db) => {
    db.exec('CREATE TABLE outputs (id bigint, script_key bytea, value bigint, spent_by bigint)')
    const rows = 200_000
    const copy = new CopyWriter(1024) // small, so that it has to grow
    const keys = crypto.createHash('sha256')
    let valueSum = 0n
    let spent = 0
    let maxSpent = 0
    for (let id = 1; id <= rows; id++) {
      const key = crypto.createHash('sha256').update(String(id)).digest().subarray(0, 8)
      keys.update(key.toString('hex'))
      const value = id * 1_000_003
      valueSum += BigInt(value)
      const spentBy = id % 3 === 0 ? null : id + 2 ** 40
      if (spentBy !== null) {
        spent++
        maxSpent = spentBy
      }
      copy.row(4).int8(id).bytea(key).int8(value).int8OrNull(spentBy)
    }
    assert.equal(copy.rows, rows)
    assert.equal(db.copyIn('COPY outputs (id, script_key, value, spent_by) FROM STDIN (FORMAT binary)', copy.finish()), rows)
    assert.equal(copy.rows, 0, 'finish() starts the writer over')
    const [summary] = db.query<{n: number; spent: number; value_sum: string; max_spent: number; keys: string}>(
      "SELECT count(*) AS n, count(spent_by) AS spent, sum(value)::text AS value_sum, max(spent_by) AS max_spent, encode(sha256(string_agg(encode(script_key, 'hex'), '' ORDER BY id)::bytea), 'hex') AS keys FROM outputs",
    )
    assert.deepEqual(summary, {n: rows, spent, value_sum: String(valueSum), max_spent: maxSpent, keys: keys.digest('hex')})
  })
})

test('a transaction whose work throws leaves nothing behind, and one that returns commits', {skip}, () => {
  withConnection((db) => {
    db.exec('CREATE TABLE t (n int)')
    assert.throws(
      () =>
        db.transaction(() => {
          db.run('INSERT INTO t VALUES (1), (2)')
          assert.equal(db.query('SELECT count(*) AS n FROM t')[0]!.n, 2, 'the rows are there inside the transaction')
          throw new Error('the work failed')
        }),
      /the work failed/,
    )
    assert.deepEqual(db.query('SELECT count(*) AS n FROM t'), [{n: 0}])
    assert.equal(db.transaction(() => db.run('INSERT INTO t VALUES (3)')), 1)
    assert.deepEqual(db.query('SELECT n FROM t'), [{n: 3}])
  })
})

test('an SQL error carries its SQLSTATE, and the connection goes on working', {skip}, () => {
  withConnection((db) => {
    const err = catchError(() => db.query('SELECT * FROM no_such_table'))
    assert.ok(err instanceof PostgresError)
    assert.equal(err.code, '42P01')
    assert.match(err.message, /relation "no_such_table" does not exist/)
    assert.equal(catchError(() => db.run('INSERT INTO nowhere VALUES ($1)', [1])).code, '42P01')
    assert.equal(catchError(() => db.exec('SELECT 1; SELEC 2')).code, '42601')
    assert.deepEqual(db.query('SELECT 1 + 1 AS two'), [{two: 2}])
  })
})

test('statements sent without waiting: the next call throws the first failure as the handler makes it, the server rolled back, and the connection goes on', {skip}, () => {
  withConnection((db) => {
    db.exec('CREATE TABLE t (id int PRIMARY KEY)')
    db.send('BEGIN')
    db.send('INSERT INTO t VALUES ($1)', [1])
    db.sendCopyIn('COPY t (id) FROM STDIN (FORMAT binary)', new CopyWriter().row(1).int4(1).finish())
    db.send('INSERT INTO t VALUES (2)')
    db.send('COMMIT')
    const seen: string[] = []
    db.whenSentFails((err) => {
      seen.push(err.code)
      return new Error(`named: ${err.code}, ${db.query<{n: number}>('SELECT count(*)::int AS n FROM t')[0]!.n} rows`)
    })
    assert.throws(() => db.query('SELECT 1'), /^Error: named: 23505, 0 rows$/)
    assert.deepEqual(seen, ['23505'], 'the first failure, once')
    assert.deepEqual(db.query('SELECT count(*)::int AS n FROM t'), [{n: 0}])
    db.send('INSERT INTO t VALUES (3)')
    db.settle()
    assert.deepEqual(db.query('SELECT id FROM t'), [{id: 3}])
  })
})

test('a connection the server ended fails on the next call instead of hanging', {skip}, () => {
  withConnection((db) => {
    const [{pid}] = db.query<{pid: number}>('SELECT pg_backend_pid() AS pid')
    server!.psql(`SELECT pg_terminate_backend(${pid})`)
    const err = catchError(() => db.query('SELECT 1'))
    assert.ok(err instanceof PostgresError, `a PostgresError, not ${String(err)}`)
    // the server's own word (57P01, admin shutdown) when it arrived before the query, else a lost connection (class 08)
    assert.match(err.code, /^(57P01|08006)$/, err.message)
    // and so does every call after it: the server's 57P01 may come first, the lost connection (08006) after it
    assert.match(catchError(() => db.query('SELECT 1')).code, /^(57P01|08006)$/, 'and so does every call after it')
  })
})

test('no such database, a wrong password and no server are told apart by code, without the password', {skip}, () => {
  const url = freshDatabase()
  const noDatabase = catchError(() => PgConnection.open(url.replace(/\/conn_\d+\?/, '/no_such_db?')))
  assert.equal(noDatabase.code, '3D000')
  assert.match(noDatabase.message, /database "no_such_db" does not exist/)
  assert.ok(!noDatabase.message.includes(server!.password), noDatabase.message)

  const wrong = catchError(() => PgConnection.open(url.replace(`:${server!.password}@`, ':not-the-password@')))
  assert.equal(wrong.code, '28P01')
  assert.ok(!wrong.message.includes('not-the-password'), wrong.message)

  const nothing = catchError(() => PgConnection.open(`postgres://bix:${server!.password}@/x?host=/nonexistent-bix-socket-dir`))
  assert.equal(nothing.code, 'ENOENT')
  assert.match(nothing.message, /\/nonexistent-bix-socket-dir\/\.s\.PGSQL\.5432/, 'the message names the socket it tried')
  assert.ok(!nothing.message.includes(server!.password), nothing.message)
})

test('maskUrl hides the password and nothing else', () => {
  assert.equal(maskUrl('postgres://bix:s3cr%40t@db.example:5433/index?sslmode=require'), 'postgres://bix:***@db.example:5433/index?sslmode=require')
  assert.equal(maskUrl('postgresql://bix:pw@/index?host=%2Fvar%2Frun%2Fpostgresql'), 'postgresql://bix:***@/index?host=%2Fvar%2Frun%2Fpostgresql')
  assert.equal(maskUrl('postgres://db.example/index?user=bix&password=pw&sslmode=verify-full'), 'postgres://db.example/index?user=bix&password=***&sslmode=verify-full')
  assert.equal(maskUrl('postgres://bix@db.example/index'), 'postgres://bix@db.example/index')
})

test('a process that forgets close() still exits', {skip}, () => {
  const url = freshDatabase()
  const script = `
    import {PgConnection} from ${JSON.stringify(new URL('../../src/lib/store/postgres/connection.ts', import.meta.url).href)}
    const db = PgConnection.open(process.env.BIX_TEST_PG_URL)
    console.log(db.query('SELECT 41 + 1 AS n')[0].n)`
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: {...process.env, BIX_TEST_PG_URL: url},
    timeout: 30_000,
  })
  assert.equal(child.signal, null, `the child had to be killed: it did not exit (${child.stderr})`)
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), '42')
})

function catchError(work: () => unknown): PostgresError {
  try {
    work()
  } catch (err) {
    if (err instanceof PostgresError) return err
    throw err
  }
  assert.fail('expected a PostgresError')
}

test('the connection thread starts early for a command that opens a PostgreSQL index (--db, else BIX_DB), and for no other', () => {
  const url = 'postgres://bix@db.example/bix'
  assert.equal(opensPostgres(['query', 'address', 'bc1q…', '--db', url], {}), true)
  assert.equal(opensPostgres(['query:address', '--db=postgresql://db.example/bix'], {}), true)
  assert.equal(opensPostgres(['status'], {BIX_DB: url}), true)
  assert.equal(opensPostgres(['index', '--db', '/var/lib/bix/index.db'], {BIX_DB: url}), false, '--db wins over BIX_DB')
  assert.equal(opensPostgres(['wait-sync'], {BIX_DB: url}), false, 'wait-sync opens no index')
  assert.equal(opensPostgres(['query', 'address', 'bc1q…'], {}), false)
  assert.equal(opensPostgres([], {BIX_DB: url}), false)
})
