/**
 * A deliberately plain HTTP/JSON-RPC client for test code: one connection per
 * request, every status and header visible, credentials from a cookie file
 * read on each call. Tests use it to drive the simulator or a real bitcoind
 * without going through the product's own RPC client.
 */
import {type IncomingHttpHeaders, request} from 'node:http'
import {readFileSync} from 'node:fs'

export interface HttpAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface HttpRequestOptions {
  port: number
  method?: string
  path?: string
  headers?: Record<string, string>
  body?: string | Buffer
  timeoutMs?: number
}

export function httpRequest(opts: HttpRequestOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {host: '127.0.0.1', port: opts.port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, agent: false},
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks)}))
        res.on('error', reject)
        res.on('aborted', () => reject(new Error('response aborted')))
      },
    )
    req.on('error', reject)
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)))
    req.end(opts.body)
  })
}

export type Credentials = {user: string; password: string} | {cookiePath: string}

export function basicAuth(credentials: Credentials): string {
  const pair = 'cookiePath' in credentials ? readFileSync(credentials.cookiePath, 'utf8').trim() : `${credentials.user}:${credentials.password}`
  return `Basic ${Buffer.from(pair).toString('base64')}`
}

/** An error object a node returned for a call. */
export class RpcCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    /** the node's message as it gave it */
    readonly nodeMessage: string,
  ) {
    super(`${method}: ${nodeMessage} (code ${code})`)
  }
}

export class TestRpcClient {
  private nextId = 0

  constructor(
    private readonly port: number,
    private readonly credentials: Credentials,
    private readonly path = '/',
  ) {}

  /** Calls a method (JSON-RPC 2.0); rejects with RpcCallError on an error reply. */
  async call<T = unknown>(method: string, params: unknown[] = [], timeoutMs = 60_000): Promise<T> {
    const answer = await httpRequest({
      port: this.port,
      method: 'POST',
      path: this.path,
      headers: {authorization: basicAuth(this.credentials), 'content-type': 'application/json'},
      body: JSON.stringify({jsonrpc: '2.0', id: ++this.nextId, method, params}),
      timeoutMs,
    })
    if (answer.status === 401) throw new Error(`${method}: HTTP 401, credentials refused`)
    let reply: {result?: T; error?: {code: number; message: string} | null}
    try {
      reply = JSON.parse(answer.body.toString('utf8'))
    } catch {
      throw new Error(`${method}: HTTP ${answer.status}, not JSON: ${answer.body.toString('utf8').slice(0, 200)}`)
    }
    if (reply.error) throw new RpcCallError(method, reply.error.code, reply.error.message)
    return reply.result as T
  }

  /** A client for a wallet endpoint (/wallet/<name>). */
  wallet(name: string): TestRpcClient {
    return new TestRpcClient(this.port, this.credentials, `/wallet/${encodeURIComponent(name)}`)
  }
}
