import fs from 'node:fs'
import {once} from 'node:events'
import {finished} from 'node:stream/promises'

import pg from 'pg'
import {parse} from 'pg-connection-string'
import {from as copyFrom} from 'pg-copy-streams'
import pgpass from 'pgpass'

import {serveSync} from '../../sync-worker.js'
import type {PgReply, PgRequest, PgServer, QueryResult, WireError} from './connection.js'

/**
 * The thread that holds a PostgreSQL connection for PgConnection (main
 * thread), which calls it synchronously through src/lib/sync-worker.ts. The
 * client library is loaded here only, so that bix's cold start, SQLite users'
 * included, never pays for it.
 */

const INT8 = 20
const COPY_CHUNK = 256 * 1024
const DEBIAN_SOCKET_DIR = '/var/run/postgresql'
const DEFAULT_CONNECT_TIMEOUT_S = 30

let client: pg.Client | undefined
let server: PgServer | undefined
/** an error the client reported between requests (the server went away): the connection is unusable */
let broken: Error | undefined

serveSync<PgRequest, PgReply>(handle, toWire)

async function handle(request: PgRequest): Promise<PgReply> {
  switch (request.op) {
    case 'open':
      return open(request.url)
    case 'close':
      await client?.end().catch(() => {})
      client = undefined
      return undefined
    case 'query':
      return query(request.sql, request.params)
    case 'copy':
      return copy(request.sql, request.data)
  }
}

async function open(url: string | undefined): Promise<PgServer> {
  const config: pg.ClientConfig & Record<string, unknown> = url === undefined ? {} : (parse(url) as pg.ClientConfig & Record<string, unknown>)
  for (const key of Object.keys(config)) if (config[key] === null || config[key] === '') delete config[key]
  const port = Number(config.port ?? process.env.PGPORT ?? 5432)
  // libpq (and so psql) reaches a server on this machine through its Unix socket when no host is named; pg would try localhost:5432
  if (config.host === undefined && !process.env.PGHOST && fs.existsSync(`${DEBIAN_SOCKET_DIR}/.s.PGSQL.${port}`)) config.host = DEBIAN_SOCKET_DIR
  // a password in the URL wins; then PGPASSWORD and ~/.pgpass (or PGPASSFILE), as libpq looks
  // (pg calls it with the connection's parameters, and takes undefined for no password, which its types do not say)
  config.password ??= (async (params: {host: string; port: number; database: string; user: string}) =>
    process.env.PGPASSWORD || (await new Promise<string | undefined>((resolve) => pgpass(params, resolve)))) as unknown as () => Promise<string>
  const timeout = Number(config.connect_timeout ?? process.env.PGCONNECT_TIMEOUT ?? DEFAULT_CONNECT_TIMEOUT_S)
  config.connectionTimeoutMillis = (timeout > 0 ? timeout : DEFAULT_CONNECT_TIMEOUT_S) * 1000
  config.types = {getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8 ? parseInt8 : pg.types.getTypeParser(oid, format))) as never}
  const connection = new pg.Client(config)
  server = {host: connection.host, port: connection.port, database: connection.database ?? '', user: connection.user ?? '', encrypted: Boolean(connection.ssl)}
  connection.on('error', (err) => {
    broken = err
  })
  try {
    await connection.connect()
  } catch (err) {
    await connection.end().catch(() => {})
    throw err
  }
  client = connection
  return server
}

async function query(sql: string, params: unknown[] | undefined): Promise<QueryResult> {
  const connection = usable()
  const result = await connection.query({text: sql, values: params?.map(toPg), rowMode: 'array'})
  // several statements (exec) give one result each: the last one's rows are the answer
  const last = Array.isArray(result) ? (result.at(-1) as pg.QueryArrayResult) : result
  return {fields: last.fields.map((f) => f.name), rows: last.rows, rowCount: last.rowCount ?? 0}
}

async function copy(sql: string, data: Uint8Array): Promise<number> {
  const stream = usable().query(copyFrom(sql))
  const done = finished(stream)
  for (let offset = 0; offset < data.length; offset += COPY_CHUNK) {
    if (!stream.write(data.subarray(offset, offset + COPY_CHUNK))) await Promise.race([once(stream, 'drain'), done])
  }
  stream.end()
  await done
  return stream.rowCount
}

function usable(): pg.Client {
  if (broken !== undefined) throw broken
  if (client === undefined) throw new Error('the PostgreSQL connection is closed')
  return client
}

/** bix's numbers (heights, ids, amounts in satoshis) are all below 2^53: exact as JS numbers. */
function parseInt8(text: string): number | bigint {
  const n = Number(text)
  return Number.isSafeInteger(n) ? n : BigInt(text)
}

/** Buffers arrive from the main thread as plain Uint8Arrays, which pg would not send as bytea. */
function toPg(value: unknown): unknown {
  return value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value
}

function toWire(err: unknown): WireError {
  const e = err as Partial<pg.DatabaseError> & {code?: string; errno?: number; syscall?: string}
  const message = err instanceof Error ? err.message || String(err) : String(err)
  // the server's errors have a severity; a failure to reach it is Node's (ECONNREFUSED...) or pg's own
  const fromServer = typeof e.severity === 'string'
  let code = typeof e.code === 'string' ? e.code : undefined
  // a connection that was up and is lost is SQLSTATE's connection_failure, whichever way it went: pg's "Connection
  // terminated unexpectedly" (no code) or the socket's own error (ECONNRESET, EPIPE...), which may come after the server's 57P01
  const lostSocket = code !== undefined && typeof e.syscall === 'string'
  if (client !== undefined && !fromServer && ((code === undefined && /connection terminated/i.test(message)) || lostSocket)) code = '08006'
  return {
    message,
    code,
    fromServer,
    detail: e.detail,
    hint: e.hint,
    server,
    connecting: client === undefined,
  }
}
