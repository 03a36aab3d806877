import fs from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * A tiny HTTP server for unit tests of the node client: each test says how it
 * answers, and it records every request. Answers can be the real recorded
 * exchanges in test/fixtures/regtest-core/rpc, replayed with the ids of the
 * request at hand. (The full simulator lives in test/support/simnode.)
 */

const RPC_FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'regtest-core', 'rpc')

export interface RecordedRequest {
  method: string
  path: string
  headers: http.IncomingHttpHeaders
  /** the parsed JSON body of a POST (undefined for GET or non-JSON) */
  json: unknown
  /** "user:password" from Basic auth, if any */
  auth?: string
}

export type Handler = (req: RecordedRequest, res: http.ServerResponse, n: number) => void | Promise<void>

export interface TinyNode {
  port: number
  url: string
  requests: RecordedRequest[]
  /** the most requests ever in progress at once */
  maxInFlight: number
  close(): Promise<void>
}

export async function startTinyNode(handler: Handler, port = 0): Promise<TinyNode> {
  const requests: RecordedRequest[] = []
  let inFlight = 0
  const node: TinyNode = {port: 0, url: '', requests, maxInFlight: 0, close: async () => {}}
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8')
      let json: unknown
      try {
        json = text ? JSON.parse(text) : undefined
      } catch {
        json = undefined
      }
      const authHeader = req.headers.authorization
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        json,
        auth: authHeader?.startsWith('Basic ') ? Buffer.from(authHeader.slice(6), 'base64').toString('utf8') : undefined,
      }
      requests.push(recorded)
      inFlight++
      node.maxInFlight = Math.max(node.maxInFlight, inFlight)
      res.on('close', () => inFlight--)
      try {
        await handler(recorded, res, requests.length)
      } catch (err) {
        res.statusCode = 599
        res.end(String(err))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  node.port = (server.address() as AddressInfo).port
  node.url = `http://127.0.0.1:${node.port}`
  node.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return node
}

/** A port on 127.0.0.1 where nothing listens (for refused connections). */
export async function closedPort(): Promise<number> {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface RpcFixture {
  status: number
  body: unknown
  request?: unknown
}

export function rpcFixture(name: string): RpcFixture {
  return JSON.parse(fs.readFileSync(path.join(RPC_FIXTURES, `${name}.json`), 'utf8')) as RpcFixture
}

/**
 * Answer with a recorded exchange: its HTTP status and body, the body's id(s)
 * replaced by the request's (batch items matched in order). A string body is
 * sent as it was recorded (plain text, empty 401, or raw JSON text).
 */
export function replay(res: http.ServerResponse, fixture: RpcFixture, request: RecordedRequest, options: {reverseBatch?: boolean} = {}): void {
  res.statusCode = fixture.status
  if (typeof fixture.body === 'string') {
    const looksJson = /^\s*[[{]/.test(fixture.body)
    if (fixture.body !== '') res.setHeader('Content-Type', looksJson ? 'application/json' : 'text/html; charset=ISO-8859-1')
    res.end(fixture.body)
    return
  }
  let body: unknown = fixture.body
  if (Array.isArray(body) && Array.isArray(request.json)) {
    const ids = (request.json as Array<{id: unknown}>).map((r) => r.id)
    body = body.map((item, i) => ({...(item as object), id: ids[i]}))
    if (options.reverseBatch) (body as unknown[]).reverse()
  } else if (body && typeof body === 'object' && request.json && typeof request.json === 'object' && !Array.isArray(request.json)) {
    body = {...(body as object), id: (request.json as {id: unknown}).id}
  }
  sendJson(res, fixture.status, body)
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json')
  res.end(JSON.stringify(body) + '\n')
}

/** A JSON-RPC 2.0 success for the request at hand, as Core 28+ sends it. */
export function result(res: http.ServerResponse, request: RecordedRequest, value: unknown): void {
  sendJson(res, 200, {jsonrpc: '2.0', result: value, id: (request.json as {id: unknown}).id})
}

/** A JSON-RPC error in the 1.x style older nodes use (HTTP 500, result null). */
export function rpcError(res: http.ServerResponse, request: RecordedRequest, code: number, message: string): void {
  sendJson(res, 500, {result: null, error: {code, message}, id: (request.json as {id: unknown}).id})
}

export function rpcMethod(request: RecordedRequest): string | undefined {
  const json = request.json as {method?: string} | undefined
  return json && !Array.isArray(json) ? json.method : undefined
}
