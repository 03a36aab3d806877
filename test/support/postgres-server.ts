import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/**
 * A throwaway PostgreSQL server for tests: initdb into a temporary directory,
 * the server listening only on a Unix socket in that directory, stopped and
 * removed when the test process exits. One server per test file process (it
 * takes a second or two to start); a database per test.
 *
 * Tests run as root and PostgreSQL refuses to run as root, so as root the
 * server runs as `nobody` (or a `bixtest` user made for it where there is no
 * `nobody`). Debian's package keeps the binaries in /usr/lib/postgresql/<v>/bin,
 * off PATH: that is looked at first.
 */

export interface TestPostgres {
  /** postgres://bix:<password>@/postgres?host=<socket directory>: the superuser on the maintenance database */
  url: string
  /** the superuser's password, which the server asks for (scram-sha-256) */
  password: string
  /** A new, empty database; the URL of it as the superuser. */
  createDatabase(name: string): string
  /** psql -c as the superuser on `database` (default postgres); throws with psql's message on failure */
  psql(sql: string, database?: string): string
  /**
   * A login role that may read every table of the database in `url` (now and those the superuser
   * makes later) and write none: for checking that query and status work with SELECT grants alone.
   * Returns the URL of that database as the role.
   */
  createReadOnlyRole(url: string, role: string): string
  /**
   * A hot standby of this server (pg_basebackup, then streaming replication),
   * on a socket directory of its own: a read replica as operators run one.
   */
  startStandby(): TestStandby
  stop(): void
}

export interface TestStandby {
  /** `primaryUrl` (a URL of the primary server) with the host changed to the standby's socket */
  urlOf(primaryUrl: string): string
  /** Waits until the standby has replayed everything the primary has written so far. */
  catchUp(timeoutMs?: number): void
  stop(): void
}

export const SKIP_MESSAGE = 'PostgreSQL binaries not found: PostgreSQL tests skipped'

const SUPERUSER = 'bix'

let shared: TestPostgres | undefined | null = null

/** The server of this test process, started on first use; undefined where PostgreSQL is not installed. */
export function testPostgres(): TestPostgres | undefined {
  if (shared === null) {
    shared = startPostgres()
    if (shared === undefined) console.log(`# ${SKIP_MESSAGE}`)
  }
  return shared
}

/** The directory holding initdb, pg_ctl and postgres: Debian's newest first, then PATH. */
export function findPostgresBin(): string | undefined {
  const debian = '/usr/lib/postgresql'
  const versions = fs.existsSync(debian) ? fs.readdirSync(debian).filter((v) => /^\d+(\.\d+)?$/.test(v)) : []
  versions.sort((a, b) => Number(b) - Number(a))
  const candidates = versions.map((v) => path.join(debian, v, 'bin'))
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'initdb'))) candidates.push(path.dirname(fs.realpathSync(path.join(dir, 'initdb'))))
  }
  return candidates.find((dir) => ['initdb', 'postgres', 'pg_isready'].every((bin) => fs.existsSync(path.join(dir, bin))))
}

function startPostgres(): TestPostgres | undefined {
  const bin = findPostgresBin()
  if (bin === undefined) return undefined
  const user = process.getuid?.() === 0 ? unprivilegedUser() : undefined
  // the socket's path must stay under ~100 characters: a short directory name
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-pg-'))
  const data = path.join(dir, 'data')
  const password = crypto.randomBytes(12).toString('hex')
  fs.writeFileSync(path.join(dir, 'pwfile'), `${password}\n`)
  if (user !== undefined) {
    fs.chmodSync(dir, 0o755)
    fs.chownSync(dir, user.uid, user.gid)
    fs.chownSync(path.join(dir, 'pwfile'), user.uid, user.gid)
  }
  const servers: RunningServer[] = []
  const stop = () => {
    process.removeListener('exit', stop)
    for (const server of servers.reverse()) server.stop()
    fs.rmSync(dir, {recursive: true, force: true})
  }
  process.on('exit', stop)

  const asUser = (command: string, args: string[]) =>
    user === undefined ? [command, args] as const : ['setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--pdeathsig=SIGQUIT', '--', command, ...args]] as const
  const [initCommand, initArgs] = asUser(path.join(bin, 'initdb'), [
    '-D', data, '-U', SUPERUSER, `--pwfile=${path.join(dir, 'pwfile')}`, '--auth=scram-sha-256',
    '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions',
  ])
  const init = spawnSync(initCommand, initArgs, {encoding: 'utf8', cwd: dir})
  if (init.status !== 0) {
    stop()
    throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr || init.stdout}`)
  }
  try {
    servers.push(runServer(bin, asUser, data, dir))
  } catch (err) {
    stop()
    throw err
  }

  const urlOf = (database: string, role = SUPERUSER, rolePassword = password) =>
    `postgres://${role}:${encodeURIComponent(rolePassword)}@/${database}?host=${encodeURIComponent(dir)}`
  const psqlAt = (socketDir: string, sql: string, database = 'postgres') => {
    const result = spawnSync(path.join(bin, 'psql'), ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-U', SUPERUSER, '-d', database, '-c', sql], {
      encoding: 'utf8',
      env: {...process.env, PGPASSWORD: password},
    })
    if (result.status !== 0) throw new Error(`psql: ${result.stderr.trim()}`)
    return result.stdout.trim()
  }
  const psql = (sql: string, database = 'postgres') => psqlAt(dir, sql, database)
  return {
    url: urlOf('postgres'),
    password,
    createDatabase(name) {
      psql(`CREATE DATABASE "${name}"`)
      return urlOf(name)
    },
    psql,
    createReadOnlyRole(url, role) {
      // (URLs with an empty host, as libpq writes a Unix socket's, are not WHATWG URLs)
      const database = decodeURIComponent(/^postgres(?:ql)?:\/\/[^/]*\/([^?]*)/.exec(url)?.[1] ?? '')
      const rolePassword = crypto.randomBytes(9).toString('hex')
      psql(`CREATE ROLE "${role}" LOGIN PASSWORD '${rolePassword}'`)
      psql(
        [
          `GRANT CONNECT ON DATABASE "${database}" TO "${role}"`,
          `GRANT USAGE ON SCHEMA public TO "${role}"`,
          `GRANT SELECT ON ALL TABLES IN SCHEMA public TO "${role}"`,
          `ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO "${role}"`,
          // PostgreSQL 14 and older let every role create tables in public
          'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
        ].join('; '),
        database,
      )
      return urlOf(database, role, rolePassword)
    },
    startStandby() {
      const standbyDir = path.join(dir, `s${servers.length}`)
      const standbyData = path.join(standbyDir, 'data')
      fs.mkdirSync(standbyDir, {mode: 0o700})
      if (user !== undefined) fs.chownSync(standbyDir, user.uid, user.gid)
      // -R: standby.signal, and primary_conninfo (the password included) in postgresql.auto.conf
      const [command, args] = asUser(path.join(bin, 'pg_basebackup'), ['-D', standbyData, '-h', dir, '-U', SUPERUSER, '-R', '-X', 'stream', '--checkpoint=fast', '--no-sync'])
      const backup = spawnSync(command, args, {encoding: 'utf8', cwd: standbyDir, env: {...process.env, PGPASSWORD: password}})
      if (backup.status !== 0) throw new Error(`pg_basebackup failed (${backup.status ?? backup.signal}): ${backup.stderr || backup.stdout}`)
      const standby = runServer(bin, asUser, standbyData, standbyDir)
      servers.push(standby)
      if (psqlAt(standbyDir, 'SELECT pg_is_in_recovery()') !== 't') throw new Error('the standby server is not in recovery: it is not replicating')
      return {
        urlOf: (primaryUrl) => primaryUrl.replace(`host=${encodeURIComponent(dir)}`, `host=${encodeURIComponent(standbyDir)}`),
        catchUp(timeoutMs = 30_000) {
          const target = psql('SELECT pg_current_wal_lsn()')
          const deadline = Date.now() + timeoutMs
          while (psqlAt(standbyDir, `SELECT pg_last_wal_replay_lsn() >= '${target}'::pg_lsn`) !== 't') {
            if (Date.now() > deadline) throw new Error(`the standby did not replay the primary's WAL up to ${target} within ${timeoutMs} ms`)
            sleep(50)
          }
        },
        stop: () => standby.stop(),
      }
    },
    stop,
  }
}

interface RunningServer {
  stop(): void
}

type AsUser = (command: string, args: string[]) => readonly [string, readonly string[]]

/** postgres on `data`, listening on a Unix socket in `socketDir` only; returns once it accepts connections. */
function runServer(bin: string, asUser: AsUser, data: string, socketDir: string): RunningServer {
  const logFile = path.join(socketDir, 'server.log')
  const log = fs.openSync(logFile, 'a')
  // the server is this process's child, and (setpriv --pdeathsig) dies with it should it be killed before its exit handler runs
  const [command, args] = asUser(path.join(bin, 'postgres'), [
    '-D', data, '-c', "listen_addresses=", '-c', `unix_socket_directories=${socketDir}`,
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
  ])
  const server = spawn(command, args, {stdio: ['ignore', log, log], cwd: socketDir})
  server.unref()
  fs.closeSync(log)
  const stop = () => {
    if (server.exitCode === null && server.signalCode === null) {
      // SIGQUIT is PostgreSQL's immediate shutdown; wait for it so that the directory can go
      server.kill('SIGQUIT')
      const deadline = Date.now() + 10_000
      while (fs.existsSync(path.join(data, 'postmaster.pid')) && Date.now() < deadline) sleep(20)
    }
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    const ready = spawnSync(path.join(bin, 'pg_isready'), ['-q', '-h', socketDir, '-d', 'postgres', '-U', SUPERUSER])
    if (ready.status === 0) return {stop}
    if (server.exitCode !== null || Date.now() > deadline) {
      const text = fs.readFileSync(logFile, 'utf8')
      stop()
      throw new Error(`the test PostgreSQL server did not start: ${text.trim().split('\n').slice(-5).join(' | ')}`)
    }
    sleep(50)
  }
}

function unprivilegedUser(): {uid: number; gid: number} {
  for (const name of ['nobody', 'bixtest']) {
    const entry = spawnSync('getent', ['passwd', name], {encoding: 'utf8'}).stdout.trim()
    if (entry) {
      const [, , uid, gid] = entry.split(':')
      return {uid: Number(uid), gid: Number(gid)}
    }
  }
  const made = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'bixtest'], {encoding: 'utf8'})
  if (made.status !== 0) throw new Error(`cannot make a user to run the test PostgreSQL server as (useradd: ${made.stderr.trim()})`)
  return unprivilegedUser()
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}
