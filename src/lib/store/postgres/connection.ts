import {BixError} from '../../errors.js'
import {isLoopbackHost} from '../../node/config.js'
import {SyncWorker} from '../../sync-worker.js'

/**
 * A connection to PostgreSQL with a synchronous interface, as bix's SQLite
 * store has: the client (pg, async) runs in a worker thread of its own
 * (connection-worker.ts) and each call here blocks until it answers.
 *
 * Rows come back as objects; bigint columns as JS numbers (bix's ids and
 * amounts are below 2^53; a larger value comes back as a bigint), bytea as
 * Buffer. Failures are PostgresErrors, whose `code` is the server's SQLSTATE
 * (28P01 password refused, 3D000 no such database, 42P01 no such table...) or,
 * for a server that could not be reached, Node's (ECONNREFUSED, ENOENT for a
 * missing Unix socket, ENOTFOUND, ETIMEDOUT).
 */

/** Where the connection went, for messages and status; never the password. */
export interface PgServer {
  /** a host name or address, or the directory of a Unix socket */
  host: string
  port: number
  database: string
  user: string
  /** TLS, as sslmode asked */
  encrypted: boolean
}

export class PostgresError extends BixError {
  /** SQLSTATE, or Node's error code when the server could not be reached */
  readonly code: string
  readonly detail?: string
  readonly hint?: string

  constructor(message: string, code: string, extra?: {detail?: string; hint?: string; cause?: unknown}) {
    super('DatabaseError', message, {cause: extra?.cause})
    this.code = code
    this.detail = extra?.detail
    this.hint = extra?.hint
  }
}

/** the commands that open the index (`bix query ...` by its topic) */
const COMMANDS_WITH_AN_INDEX = new Set(['index', 'sync-mempool', 'query', 'status', 'broadcast'])

/** A connection's thread, started before it is needed (startPgConnectionEarly); at most one waits. */
let started: SyncWorker<PgRequest, PgReply> | undefined

function startConnectionWorker(): SyncWorker<PgRequest, PgReply> {
  return new SyncWorker<PgRequest, PgReply>(import.meta.url, 'connection-worker')
}

function takeStartedWorker(): SyncWorker<PgRequest, PgReply> | undefined {
  const worker = started
  started = undefined
  return worker
}

/**
 * Starts the thread of the first PostgreSQL connection now, when the command line (`--db`) or
 * BIX_DB names a PostgreSQL index for a command that opens it: a thread takes ~40-60 ms to start
 * and load the client, which then overlaps the start of oclif and the command on the other core
 * instead of following it. The thread does nothing until a connection is opened; unused, it ends
 * with the process.
 */
export function startPgConnectionEarly(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  if (started === undefined && opensPostgres(argv, env)) started = startConnectionWorker()
}

/** Whether the command line (`bix <command> ...`, with BIX_DB) is a command that opens a PostgreSQL index. */
export function opensPostgres(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (!COMMANDS_WITH_AN_INDEX.has((argv[0] ?? '').split(':')[0])) return false
  const flag = argv.findIndex((arg) => arg === '--db' || arg.startsWith('--db='))
  const db = flag < 0 ? env.BIX_DB : argv[flag].startsWith('--db=') ? argv[flag].slice('--db='.length) : argv[flag + 1]
  return db !== undefined && /^postgres(ql)?:\/\//.test(db)
}

export class PgConnection {
  private inTransaction = false
  private isClosed = false
  /** what the next call makes of the first failure among the requests sent without waiting */
  private onSentFailure?: (err: PostgresError) => Error

  private constructor(
    private readonly worker: SyncWorker<PgRequest, PgReply>,
    readonly server: PgServer,
  ) {}

  /**
   * Connects to `url` (postgres:// or postgresql://, libpq's parameters such as sslmode in its
   * query string). What it leaves out comes from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE,
   * PGSSLMODE and ~/.pgpass (or PGPASSFILE), as for psql; with no host at all, the local server's
   * Unix socket in /var/run/postgresql where there is one.
   */
  static open(url: string | undefined): PgConnection {
    const worker = takeStartedWorker() ?? startConnectionWorker()
    try {
      const server = worker.call({op: 'open', url}, (wire) => reviveError(wire as WireError, url)) as PgServer
      return new PgConnection(worker, server)
    } catch (err) {
      worker.stop()
      if (err instanceof PostgresError) throw err
      throw new PostgresError(`cannot connect to PostgreSQL${url === undefined ? '' : ` at ${maskUrl(url)}`}: ${(err as Error).message}`, 'EWORKER', {cause: err})
    }
  }

  /** "host:port" or the socket's path, as psql's \conninfo names it */
  get label(): string {
    return serverLabel(this.server)
  }

  /** The server is this machine (a Unix socket or a loopback address): nothing it is sent crosses a network. */
  get isLocal(): boolean {
    return this.server.host.startsWith('/') || isLoopbackHost(this.server.host)
  }

  /** The rows of one statement, as objects keyed by column name. `$1`, `$2`... take `params`. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): T[] {
    const result = this.call({op: 'query', sql, params}) as QueryResult
    const rows: T[] = []
    for (const values of result.rows) {
      const row: Record<string, unknown> = {}
      for (let i = 0; i < result.fields.length; i++) row[result.fields[i]!] = asBuffer(values[i])
      rows.push(row as T)
    }
    return rows
  }

  /** One statement for its effect; the number of rows it touched. */
  run(sql: string, params?: unknown[]): number {
    return (this.call({op: 'query', sql, params}) as QueryResult).rowCount
  }

  /** Several statements separated by semicolons (schema, migrations); no parameters. */
  exec(sql: string): void {
    this.call({op: 'query', sql})
  }

  /**
   * `COPY table (columns) FROM STDIN ...` with `data` as what is copied in (a CopyWriter's
   * `finish()` for FORMAT binary); the number of rows copied.
   */
  copyIn(sql: string, data: Uint8Array): number {
    return this.call({op: 'copy', sql, data}) as number
  }

  /**
   * A statement sent without waiting for it, so that the caller's work overlaps the server's; the
   * worker runs what was sent in order. Its outcome comes out of the next call on the connection
   * (or `settle`), which throws the first failure among those sent, made by `whenSentFails`'s handler.
   */
  send(sql: string, params?: unknown[]): void {
    this.post({op: 'query', sql, params})
  }

  /** `copyIn`, sent without waiting (see `send`). */
  sendCopyIn(sql: string, data: Uint8Array): void {
    this.post({op: 'copy', sql, data})
  }

  /** What to throw, on the next call, if anything sent so far fails: `handle` is given the first failure (it may use the connection). */
  whenSentFails(handle: (err: PostgresError) => Error): void {
    this.onSentFailure = handle
  }

  /** Waits for everything sent; throws the first failure among it (through the `whenSentFails` handler). */
  settle(): void {
    const handle = this.onSentFailure
    this.onSentFailure = undefined
    if (this.worker.unsettled === 0) return
    let failure: Error | undefined
    try {
      failure = this.worker.settle((wire) => reviveError(wire as WireError, undefined, this.server))
    } catch (err) {
      throw new PostgresError(`PostgreSQL connection to ${this.label} lost: ${(err as Error).message}`, 'EWORKER', {cause: err})
    }
    if (failure !== undefined) throw handle ? handle(failure as PostgresError) : failure
  }

  /** `work` between BEGIN and COMMIT; ROLLBACK instead should it throw. Transactions do not nest. */
  transaction<T>(work: () => T): T {
    if (this.inTransaction) throw new Error('PgConnection.transaction: already in a transaction (they do not nest)')
    this.exec('BEGIN')
    this.inTransaction = true
    try {
      const result = work()
      this.exec('COMMIT')
      return result
    } catch (err) {
      try {
        this.exec('ROLLBACK')
      } catch {
        // the connection failed: the server rolls back what it had on its own, and `err` says more
      }
      throw err
    } finally {
      this.inTransaction = false
    }
  }

  get closed(): boolean {
    return this.isClosed
  }

  close(): void {
    if (this.isClosed) return
    try {
      // what was sent and failed was never committed; whoever sent it learns of it from its next call, and there is none
      this.settle()
    } catch {
      // closing regardless
    }
    this.isClosed = true
    try {
      this.worker.call({op: 'close'}, (wire) => reviveError(wire as WireError, undefined, this.server))
    } catch (err) {
      if (err instanceof PostgresError) throw err
      throw new PostgresError(`PostgreSQL connection to ${this.label} lost while closing: ${(err as Error).message}`, 'EWORKER', {cause: err})
    } finally {
      this.worker.stop()
    }
  }

  private post(request: PgRequest): void {
    if (this.isClosed) throw new Error('PgConnection: used after close()')
    try {
      this.worker.post(request)
    } catch (err) {
      throw new PostgresError(`PostgreSQL connection to ${this.label} lost: ${(err as Error).message}`, 'EWORKER', {cause: err})
    }
  }

  private call(request: PgRequest): PgReply {
    if (this.isClosed) throw new Error('PgConnection: used after close()')
    this.settle()
    try {
      return this.worker.call(request, (wire) => reviveError(wire as WireError, undefined, this.server))
    } catch (err) {
      if (err instanceof PostgresError) throw err
      throw new PostgresError(`PostgreSQL connection to ${this.label} lost: ${(err as Error).message}`, 'EWORKER', {cause: err})
    }
  }
}

/** The URL with its password (in the user part or a password= parameter) replaced by ***. */
export function maskUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*:)[^@/?#]*@/i, '$1***@').replace(/([?&]password=)[^&#]*/gi, '$1***')
}

function serverLabel(server: PgServer): string {
  if (server.host.startsWith('/')) return `${server.host}/.s.PGSQL.${server.port}`
  return server.host.includes(':') ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`
}

/** Node's codes for a server that cannot be reached, as the one-line reason */
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is PostgreSQL running there?)',
  ENOENT: 'no such socket (is PostgreSQL running there?)',
  ENOTFOUND: 'unknown host name',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ECONNRESET: 'connection reset',
}

function reviveError(wire: WireError, url: string | undefined, known?: PgServer): PostgresError {
  const server = wire.server ?? known
  const at = server === undefined ? (url === undefined ? 'PostgreSQL' : `PostgreSQL at ${maskUrl(url)}`) : `PostgreSQL at ${serverLabel(server)}`
  const extra = {detail: wire.detail, hint: wire.hint}
  // pg's own connection timeout has no code
  const code = wire.code ?? (wire.connecting && /timeout/i.test(wire.message) ? 'ETIMEDOUT' : 'EPG')
  if (!wire.fromServer && wire.connecting) {
    const reason = UNREACHABLE[code] ?? wire.message
    return new PostgresError(`cannot connect to ${at}: ${reason} (${code})`, code, extra)
  }
  switch (code) {
    case '28P01':
    case '28000':
      return new PostgresError(`${at} refused user "${server?.user ?? ''}": ${wire.message} (${code})`, code, extra)
    case '3D000':
      return new PostgresError(`${at}: ${wire.message} (${code})`, code, extra)
    default:
      return new PostgresError(`${at}: ${wire.message} (SQLSTATE ${code})`, code, extra)
  }
}

function asBuffer(value: unknown): unknown {
  // a bytea comes through postMessage as a Uint8Array
  return value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value
}

// What goes between this thread and connection-worker.ts.

export type PgRequest =
  | {op: 'open'; url: string | undefined}
  | {op: 'query'; sql: string; params?: unknown[]}
  | {op: 'copy'; sql: string; data: Uint8Array}
  | {op: 'close'}

export interface QueryResult {
  fields: string[]
  rows: unknown[][]
  rowCount: number
}

export type PgReply = PgServer | QueryResult | number | undefined

export interface WireError {
  message: string
  code?: string
  fromServer: boolean
  detail?: string
  hint?: string
  server?: PgServer
  /** the connection was not yet made */
  connecting: boolean
}

/**
 * The warning for a connection whose password and index data may cross a
 * network unencrypted: a host other than this machine (a Unix socket and
 * loopback addresses are this machine) without sslmode require, verify-ca
 * or verify-full (in the URL, or PGSSLMODE). Undefined when there is none.
 * Read from the URL and the environment, before connecting.
 */
export function cleartextPostgresWarning(url: string): string | undefined {
  const sslmode = /[?&]sslmode=([^&#]*)/i.exec(url)?.[1] ?? process.env.PGSSLMODE
  if (sslmode && /^(require|verify-ca|verify-full)$/i.test(sslmode)) return undefined
  const hostParam = /[?&]host=([^&#]*)/i.exec(url)?.[1]
  const authority = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#]*)/i.exec(url)?.[1] ?? ''
  const named = authority.startsWith('[') ? authority.slice(1, authority.indexOf(']')) : authority.replace(/:\d*$/, '')
  const host = hostParam ? decodeURIComponent(hostParam) : decodeURIComponent(named) || process.env.PGHOST || ''
  if (host === '' || host.startsWith('/') || isLoopbackHost(host)) return undefined
  return `connecting to PostgreSQL at ${host} without TLS (no sslmode=require): its password and the index travel in clear text; add sslmode=verify-full (or require) to the URL, or set PGSSLMODE`
}
