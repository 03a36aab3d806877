/**
 * The HTTP face of the simulated node: JSON-RPC 1.x and 2.0 (single calls,
 * batches, notifications) and REST on one port, with Core's status codes,
 * headers and bodies (httprpc.cpp: 401 empty with WWW-Authenticate, 405 for
 * non-POST, 1.x errors as 500/404/400 with a JSON body, 2.0 errors as 200,
 * unparsable bodies 500 -32700, unknown paths 404 empty) and the faults a
 * test has switched on.
 */
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {Socket} from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'

import {writeJson} from './core-json.js'
import type {Faults} from './faults.js'
import {handleRest, restCounterName} from './rest.js'
import {type NodeState, execute} from './rpc-methods.js'
import {RPC, RpcFailure} from './rpc-params.js'

/** 32 MiB, Core's MAX_BODY_SIZE */
const MAX_BODY = 32 * 1024 * 1024
const WORK_QUEUE_FULL = 'Work queue depth exceeded'
/** what libevent labels non-JSON HTTP-level replies with */
const HTML = 'text/html; charset=ISO-8859-1'

export interface ServerOptions {
  node: NodeState
  faults: Faults
  rest: boolean
  /** true when the Authorization header carries valid credentials */
  authorize: (header: string) => boolean
  /** Core sleeps 250 ms before refusing bad credentials */
  authFailureDelayMs: number
  /** Core < 28 ignores "jsonrpc":"2.0" and answers every call 1.x-style */
  jsonRpc2: boolean
}

interface ParsedCall {
  version: 1 | 2
  /** absent id: a notification in 2.0, an id-less reply in 1.x */
  id?: unknown
  hasId: boolean
  method: string
  params: unknown
}

interface Reply {
  status: number
  contentType?: string
  body: Buffer | string
  headers?: Record<string, string>
}

export class RpcHttpServer {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private inFlight = 0
  readonly traffic = {received: 0, sent: 0}

  constructor(private readonly opts: ServerOptions) {}

  get listening(): boolean {
    return this.server?.listening ?? false
  }

  /** Listens on 127.0.0.1 (port 0 picks a free one); resolves with the port. */
  listen(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.send(res, {status: 500, contentType: 'text/plain', body: String(err)})
        else res.destroy()
      })
    })
    // Core closes idle keep-alive connections after 30 s (-rpcservertimeout)
    server.keepAliveTimeout = 30_000
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    this.server = server
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        const address = server.address()
        resolve(typeof address === 'object' && address ? address.port : port)
      })
    })
  }

  /** Stops listening and drops every connection, as a killed node would. */
  async close(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (!server) return
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const socket of this.sockets) socket.destroy()
    server.closeAllConnections()
    await closed
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const {faults} = this.opts
    const url = req.url ?? '/'
    const body = await readBody(req)
    this.traffic.received += body === undefined ? 0 : body.length
    if (body === undefined) return this.send(res, {status: 413, contentType: HTML, body: ''})

    const isRpc = url === '/' || url.startsWith('/wallet/')
    const isRest = url.startsWith('/rest/')
    let parsedBody: unknown
    let parseFailed = false
    let methods: string[] = []
    if (isRpc && req.method === 'POST') {
      try {
        parsedBody = JSON.parse(body.toString('utf8'))
      } catch {
        parseFailed = true
      }
      methods = methodNames(parsedBody, parseFailed)
      for (const method of methods) faults.count(method)
    } else if (isRest) {
      faults.count(restCounterName(url))
    }

    if (faults.takeDrop()) {
      req.socket.destroy()
      return
    }
    this.inFlight++
    try {
      if (this.inFlight > faults.maxConcurrent || faults.takeWorkQueueFull()) {
        return this.send(res, {status: 503, contentType: HTML, body: WORK_QUEUE_FULL})
      }
      if (faults.delayMs > 0) await sleep(faults.delayMs)
      let reply: Reply
      if (isRpc) reply = await this.jsonRpc(req, parsedBody, parseFailed)
      else if (isRest && this.opts.rest) reply = handleRest(this.opts.node, url, faults.takeWarmup()) ?? {status: 404, contentType: HTML, body: ''}
      else reply = {status: 404, contentType: HTML, body: ''}
      const late = faults.answerDelay(methods)
      if (late > 0) {
        await sleep(late)
        // the client gave up waiting: there is nobody to answer
        if (res.destroyed) return
      }
      this.send(res, reply)
    } finally {
      this.inFlight--
    }
  }

  private async jsonRpc(req: IncomingMessage, body: unknown, parseFailed: boolean): Promise<Reply> {
    if (req.method !== 'POST') return {status: 405, contentType: HTML, body: 'JSONRPC server handles only POST requests'}
    const auth = req.headers.authorization
    const unauthorized: Reply = {status: 401, contentType: HTML, body: '', headers: {'WWW-Authenticate': 'Basic realm="jsonrpc"'}}
    if (auth === undefined) {
      this.opts.faults.authFailures++
      return unauthorized
    }
    if (!this.opts.authorize(auth)) {
      this.opts.faults.authFailures++
      await sleep(this.opts.authFailureDelayMs)
      return unauthorized
    }
    if (parseFailed) return jsonReply(500, {result: null, error: {code: RPC.parseError, message: 'Parse error'}, id: null})
    if (Array.isArray(body)) return this.batch(body)
    if (body === null || typeof body !== 'object') {
      return jsonReply(500, {result: null, error: {code: RPC.parseError, message: 'Top-level object parse error'}, id: null})
    }
    const partial: Partial<ParsedCall> = {}
    let call: ParsedCall
    try {
      call = this.parseCall(body as Record<string, unknown>, partial)
    } catch (err) {
      const failure = err as RpcFailure
      const status = failure.code === RPC.invalidRequest ? 400 : failure.code === RPC.methodNotFound ? 404 : 500
      return jsonReply(status, replyObject(partial.version ?? 1, partial.hasId ?? false, partial.id, undefined, failure))
    }
    const {result, failure} = await this.run(call)
    if (call.version === 2 && !call.hasId) return {status: 204, body: ''}
    if (failure && call.version === 1) {
      const status = failure.code === RPC.invalidRequest ? 400 : failure.code === RPC.methodNotFound ? 404 : 500
      return jsonReply(status, replyObject(1, call.hasId, call.id, undefined, failure))
    }
    return jsonReply(200, replyObject(call.version, call.hasId, call.id, result, failure))
  }

  /** A batch is always HTTP 200 (or 204 when every element was a notification). */
  private async batch(items: unknown[]): Promise<Reply> {
    const replies: unknown[] = []
    let partial: Partial<ParsedCall> = {}
    for (const item of items) {
      // Core reuses one request object, so a malformed element reports the previous element's id
      const previous = partial
      partial = {version: previous.version, hasId: previous.hasId, id: previous.id}
      let call: ParsedCall
      try {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new RpcFailure(RPC.invalidRequest, 'Invalid Request object')
        call = this.parseCall(item as Record<string, unknown>, partial)
      } catch (err) {
        replies.push(replyObject(partial.version ?? 1, partial.hasId ?? false, partial.id, undefined, err as RpcFailure))
        continue
      }
      const {result, failure} = await this.run(call)
      if (call.version === 2 && !call.hasId) continue
      replies.push(replyObject(call.version, call.hasId, call.id, result, failure))
    }
    if (replies.length === 0 && items.length > 0) return {status: 204, body: ''}
    return jsonReply(200, replies)
  }

  /** Core's JSONRPCRequest::parse: id first (so errors carry it), then version, method, params. */
  private parseCall(obj: Record<string, unknown>, partial: Partial<ParsedCall>): ParsedCall {
    partial.hasId = Object.hasOwn(obj, 'id')
    partial.id = obj.id
    partial.version = 1
    const jsonrpc = obj.jsonrpc
    if (this.opts.jsonRpc2 && jsonrpc !== undefined && jsonrpc !== null) {
      if (typeof jsonrpc !== 'string') throw new RpcFailure(RPC.invalidRequest, 'jsonrpc field must be a string')
      if (jsonrpc === '2.0') partial.version = 2
      else if (jsonrpc !== '1.0') throw new RpcFailure(RPC.invalidRequest, 'JSON-RPC version not supported')
    }
    const method = obj.method
    if (method === undefined || method === null) throw new RpcFailure(RPC.invalidRequest, 'Missing method')
    if (typeof method !== 'string') throw new RpcFailure(RPC.invalidRequest, 'Method must be a string')
    const params = obj.params
    if (params !== undefined && params !== null && typeof params !== 'object') throw new RpcFailure(RPC.invalidRequest, 'Params must be an array or object')
    return {version: partial.version, id: partial.id, hasId: partial.hasId, method, params: params ?? []}
  }

  /** Executes one call: warm-up first (even for unknown methods), then the method. */
  private async run(call: ParsedCall): Promise<{result?: unknown; failure?: RpcFailure}> {
    const warmup = this.opts.faults.takeWarmup()
    if (warmup !== undefined) return {failure: new RpcFailure(RPC.inWarmup, warmup)}
    try {
      return {result: await execute(this.opts.node, call.method, call.params)}
    } catch (err) {
      if (err instanceof RpcFailure) return {failure: err}
      return {failure: new RpcFailure(RPC.miscError, err instanceof Error ? err.message : String(err))}
    }
  }

  private send(res: ServerResponse, reply: Reply): void {
    let body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : reply.body
    const corruption = reply.contentType === 'application/json' ? this.opts.faults.takeCorruption() : undefined
    const headers: Record<string, string | number> = {...reply.headers}
    if (reply.contentType) headers['Content-Type'] = reply.contentType
    if (corruption === 'truncate') body = body.subarray(0, Math.floor(body.length / 2))
    if (corruption === 'garble') body = garble(body)
    headers['Content-Length'] = body.length
    res.writeHead(reply.status, headers)
    this.traffic.sent += body.length
    if (corruption === 'short') {
      // promise the whole body, send half, hang up
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy())
      return
    }
    res.end(body)
  }
}

function jsonReply(status: number, value: unknown): Reply {
  return {status, contentType: 'application/json', body: writeJson(value) + '\n'}
}

/** Core's JSONRPCReplyObj: 1.x always has result and error; 2.0 only the one that applies. */
function replyObject(version: 1 | 2, hasId: boolean, id: unknown, result: unknown, failure: RpcFailure | undefined): Record<string, unknown> {
  const reply: Record<string, unknown> = {}
  if (version === 2) reply.jsonrpc = '2.0'
  if (failure) {
    if (version === 1) reply.result = null
    reply.error = {code: failure.code, message: failure.message}
  } else {
    reply.result = result === undefined ? null : result
    if (version === 1) reply.error = null
  }
  if (hasId) reply.id = id === undefined ? null : id
  return reply
}

/** Names to count for a JSON-RPC body: each call's method. */
function methodNames(body: unknown, parseFailed: boolean): string[] {
  if (parseFailed) return ['(unparsable)']
  const calls = Array.isArray(body) ? body : [body]
  return calls.map((c) => (c && typeof c === 'object' && typeof (c as {method?: unknown}).method === 'string' ? (c as {method: string}).method : '(invalid)'))
}

/** The request body, or undefined when it is over Core's limit. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY) {
    req.resume()
    return undefined
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/** Overwrites a stretch in the middle with bytes no JSON parser accepts. */
function garble(body: Buffer): Buffer {
  const copy = Buffer.from(body)
  const start = Math.floor(copy.length / 3)
  for (let i = start; i < Math.min(copy.length, start + 16); i++) copy[i] = 0x00
  return copy
}
