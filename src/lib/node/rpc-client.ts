import fs from 'node:fs'
import http from 'node:http'
import {performance} from 'node:perf_hooks'

import {BixError, RpcError, badInput} from '../errors.js'
import {linkSignals, sleep} from '../abortable.js'
import {AdaptiveLimit} from './adaptive-limit.js'
import {cleartextWarning, describeCredentials, endpointLabel, isLoopbackHost, readCookie} from './config.js'
import {TransientFailure, giveUpError} from './failures.js'
import {type HttpReply, type HttpRequest, exchange} from './http-exchange.js'
import {hexResultOf, outcomeOf, replyJson, rpcFailure, serviceUnavailable} from './jsonrpc.js'
import type {
  BatchResult,
  CallOptions,
  ClientOptions,
  MethodStats,
  NodeClient,
  NodeConfig,
  NodeCredentials,
  NodeEndpoint,
  RestResponse,
} from './types.js'

/**
 * The one bitcoind client every command shares: JSON-RPC (single and batch)
 * and REST over keep-alive HTTP/1.1, with retries, failover and cookie
 * rotation handled here so commands never see a transient failure unless it
 * lasts.
 *
 * Retry rules:
 * - Refused or failed connections, 503s (full work queue, shutdown, REST
 *   warm-up), RPC -28 (warm-up), dropped connections, answers that are not
 *   valid JSON and request timeouts are retried with exponential backoff and
 *   "equal" jitter: 250 ms doubling to 4 s, each wait between half and all of
 *   it. (Full jitter could add up to almost nothing, so that a node restarting
 *   for a second made a run give up.)
 *   Once the backoff reaches 4 s on an endpoint the next endpoint is tried
 *   (round-robin); a refused connection moves on at once when there is
 *   another endpoint. With retryForMs 0 the client gives up when every
 *   endpoint has reached the cap once (a few seconds); otherwise when
 *   retryForMs has passed.
 * - sendrawtransaction and submitpackage are retried only when the node
 *   certainly did not run them (no connection, 503, -28). After a timeout or a
 *   dropped connection their outcome is unknown, so the error goes to the
 *   caller, who can look the transaction up rather than send it blind.
 * - With retry: false (one call) or retries used up, each endpoint still gets
 *   one try when the one before refused the connection: failover is not a retry.
 * - RPC -1 "not found on disk" / "not fully downloaded" (a block whose header
 *   the node has, but not yet its data) is retried 5 times, 1 s apart.
 * - Any other RPC error is the caller's answer and is never retried.
 * - HTTP 401 with cookie credentials: the cookie is read again (bitcoind
 *   writes a new one at every start) and the call tried once more; then
 *   AuthFailed. Never more, as bitcoind sleeps 250 ms on each bad attempt.
 */

const BACKOFF_FIRST_MS = 250
const BACKOFF_CAP_MS = 4000
const NOT_READY_RETRIES = 5
const NOT_READY_WAIT_MS = 1000
/** far above any block (4 MB) or sane batch; a cap so a runaway answer cannot eat the memory */
const MAX_REPLY_BYTES = 256 * 1024 * 1024
/** below bitcoind's 30 s idle close, so we never send on a socket it is closing */
const IDLE_SOCKET_MS = 15_000
/** how often the cookie file's mtime is looked at while all is well */
const COOKIE_RECHECK_MS = 1000
/** calls that change the node's state; the others may be repeated freely */
const NOT_IDEMPOTENT = new Set(['sendrawtransaction', 'submitpackage'])

interface Endpoint {
  endpoint: NodeEndpoint
  label: string
  /** on this machine: credentials sent there do not cross a network */
  loopback: boolean
  agent: http.Agent
  limit: AdaptiveLimit
  credentials: NodeCredentials
}

interface Tally {
  bytesIn: number
  bytesOut: number
}

type Attempt<T> = (endpoint: Endpoint, signal: AbortSignal, timeoutMs: number, tally: Tally) => Promise<T>

export function createNodeClient(config: NodeConfig, options: ClientOptions): NodeClient {
  return new BitcoindClient(config, options)
}

class BitcoindClient implements NodeClient {
  private nextId = 0
  /** the endpoint that answered last: calls start there */
  private preferred = 0
  private readonly endpoints: Endpoint[]
  private readonly cookies = new Map<string, CookieAuth>()
  private readonly counters = new Map<string, MethodStats>()
  private readonly closing = new AbortController()
  private warnedCleartext = false

  constructor(
    readonly config: NodeConfig,
    private readonly options: ClientOptions,
  ) {
    if (config.endpoints.length === 0) throw badInput('no bitcoind endpoint to connect to')
    const parallelism = Math.max(1, Math.floor(options.parallelism || 4))
    this.endpoints = config.endpoints.map((endpoint) => ({
      endpoint,
      label: endpointLabel(endpoint),
      loopback: isLoopbackHost(endpoint.host),
      // bitcoind serves one request per connection at a time: parallelism = connections
      agent: new http.Agent({keepAlive: true, maxSockets: parallelism, maxFreeSockets: parallelism, timeout: IDLE_SOCKET_MS}),
      limit: new AdaptiveLimit(parallelism),
      credentials: endpoint.credentials ?? config.credentials,
    }))
  }

  call<T = unknown>(method: string, params: unknown[] = [], options: CallOptions = {}): Promise<T> {
    return this.measured(method, (tally) =>
      this.withRetries(method, !NOT_IDEMPOTENT.has(method), options, tally, async (ep, signal, timeoutMs) => {
        const body = Buffer.from(JSON.stringify({jsonrpc: '2.0', id: ++this.nextId, method, params}))
        const outcome = outcomeOf(await this.post(ep, body, signal, timeoutMs, tally), ep.label)
        if (!outcome.ok) throw rpcFailure(method, outcome.code, outcome.message)
        return outcome.result as T
      }),
    )
  }

  callHexResult(method: string, params: unknown[] = [], options: CallOptions = {}): Promise<Buffer> {
    return this.measured(method, (tally) =>
      this.withRetries(method, !NOT_IDEMPOTENT.has(method), options, tally, async (ep, signal, timeoutMs) => {
        const body = Buffer.from(JSON.stringify({jsonrpc: '2.0', id: ++this.nextId, method, params}))
        const reply = await this.postForReply(ep, body, signal, timeoutMs, tally)
        const hex = reply.status === 200 ? hexResultOf(reply.body) : undefined
        if (hex) return hex
        // anything else (an error, another layout) the way every answer is read
        const outcome = outcomeOf(replyJson(reply, ep.label), ep.label)
        if (!outcome.ok) throw rpcFailure(method, outcome.code, outcome.message)
        if (typeof outcome.result !== 'string') throw new BixError('NodeError', `${method}: the node did not send hex`)
        return Buffer.from(outcome.result, 'latin1')
      }),
    )
  }

  batch<T = unknown>(calls: ReadonlyArray<{method: string; params?: unknown[]}>, options: CallOptions = {}): Promise<BatchResult<T>[]> {
    if (calls.length === 0) return Promise.resolve([])
    const key = calls.every((c) => c.method === calls[0].method) ? `batch/${calls[0].method}` : 'batch'
    const idempotent = calls.every((c) => !NOT_IDEMPOTENT.has(c.method))
    return this.measured(key, (tally) =>
      this.withRetries(key, idempotent, options, tally, async (ep, signal, timeoutMs) => {
        const requests = calls.map((c) => ({jsonrpc: '2.0', id: ++this.nextId, method: c.method, params: c.params ?? []}))
        const reply = await this.post(ep, Buffer.from(JSON.stringify(requests)), signal, timeoutMs, tally)
        if (!Array.isArray(reply)) {
          // a whole-batch error, e.g. a parse error
          const outcome = outcomeOf(reply, ep.label)
          if (!outcome.ok) throw rpcFailure(key, outcome.code, outcome.message)
          throw new BixError('NodeError', `${ep.label} answered a batch with a single reply`)
        }
        const byId = new Map<unknown, unknown>()
        for (const item of reply) byId.set((item as {id?: unknown} | null)?.id, item)
        return requests.map((request): BatchResult<T> => {
          const item = byId.get(request.id)
          if (item === undefined) throw new BixError('NodeError', `${ep.label} left ${request.method} (id ${request.id}) out of its batch reply`)
          const outcome = outcomeOf(item, ep.label)
          if (outcome.ok) return {ok: true, result: outcome.result as T}
          const failure = rpcFailure(request.method, outcome.code, outcome.message)
          // a node in warm-up answers every item with -28: the whole batch waits
          if (failure instanceof TransientFailure && failure.kind === 'warmup') throw failure
          const error = failure instanceof RpcError ? failure : failure instanceof TransientFailure && failure.final instanceof RpcError ? failure.final : undefined
          return {ok: false, error: error ?? new RpcError(request.method, outcome.code, outcome.message)}
        })
      }),
    )
  }

  restGet(path: string, options: CallOptions = {}): Promise<RestResponse> {
    const key = restStatsKey(path)
    return this.measured(key, (tally) =>
      this.withRetries(key, true, options, tally, async (ep, signal, timeoutMs) => {
        // REST has no authentication in bitcoind
        const reply = await this.send(ep, {method: 'GET', path, headers: {}}, signal, timeoutMs, tally)
        if (reply.status === 503) throw serviceUnavailable(reply.body)
        return {status: reply.status, contentType: reply.contentType, body: reply.body}
      }),
    )
  }

  stats(): Map<string, MethodStats> {
    return new Map([...this.counters].map(([k, v]) => [k, {...v}]))
  }

  describe(): string {
    return this.endpoints[this.preferred].endpoint.url
  }

  async close(): Promise<void> {
    this.closing.abort(new BixError('NodeError', 'the node client was closed'))
    for (const ep of this.endpoints) ep.agent.destroy()
  }

  private async withRetries<T>(method: string, idempotent: boolean, options: CallOptions, tally: Tally, attempt: Attempt<T>): Promise<T> {
    const linked = linkSignals([this.options.signal, options.signal, this.closing.signal])
    const {signal} = linked
    const retry = options.retry !== false
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs
    const retryForMs = this.options.retryForMs ?? 0
    const deadline = Date.now() + retryForMs
    const failures = new Map<string, TransientFailure>()
    /** failures per endpoint in this call: the backoff before its next attempt */
    const failed = new Map<Endpoint, number>()
    const capped = new Set<Endpoint>()
    let index = this.preferred
    let notReadyLeft = NOT_READY_RETRIES
    const started = Date.now()
    let waited = false
    try {
      for (let attemptNo = 1; ; attemptNo++) {
        const ep = this.endpoints[index]
        try {
          const result = await attempt(ep, signal, timeoutMs, tally)
          ep.limit.succeeded()
          this.preferred = index
          if (waited) this.options.onRecovered?.({method, endpoint: ep.label, waitedMs: Date.now() - started})
          return result
        } catch (err) {
          if (!(err instanceof TransientFailure)) {
            if (err instanceof RpcError) ep.limit.succeeded()
            throw err
          }
          // whatever went wrong, the next attempt takes a fresh look at the cookie
          for (const cookie of this.cookies.values()) cookie.expire()
          if (err.kind === 'not-ready') {
            if (!retry || notReadyLeft-- <= 0) throw err.final ?? giveUpError(method, new Map([[ep.label, err]]))
            await sleep(NOT_READY_WAIT_MS, signal)
            continue
          }
          if (err.kind === 'overloaded') ep.limit.overloaded()
          failures.delete(ep.label)
          failures.set(ep.label, err)
          const count = (failed.get(ep) ?? 0) + 1
          failed.set(ep, count)
          // a node that refuses is not there: try the next one at once rather than waiting on it
          const down = err.kind === 'refused' || err.kind === 'unreachable' || err.kind === 'stopping'
          if (!retry || (err.mayHaveRun && !idempotent)) {
            // no retries, but an endpoint that is not there did not get the request: the next one may
            const untried = this.endpoints.findIndex((e) => !failed.has(e))
            if (!down || untried < 0) throw giveUpError(method, failures)
            index = untried
            continue
          }
          if (backoff(count) >= BACKOFF_CAP_MS) capped.add(ep)
          const outOfTime = retryForMs > 0 ? Date.now() >= deadline : capped.size === this.endpoints.length
          if (outOfTime) throw giveUpError(method, failures, retryForMs)
          waited = true
          if (this.endpoints.length > 1 && (down || capped.has(ep))) index = (index + 1) % this.endpoints.length
          const next = this.endpoints[index]
          const nextFailures = failed.get(next) ?? 0
          let wait = nextFailures === 0 ? 0 : jittered(backoff(nextFailures))
          if (retryForMs > 0) wait = Math.min(wait, Math.max(0, deadline - Date.now()))
          this.options.onRetry?.({
            method,
            endpoint: next.label,
            attempt: attemptNo,
            delayMs: Math.round(wait),
            reason: (next === ep ? '' : `${ep.label} `) + err.detail + (err.kind === 'overloaded' ? ` (now ${ep.limit.limit} at a time)` : ''),
          })
          await sleep(wait, signal)
        }
      }
    } finally {
      linked.dispose()
    }
  }

  /** A JSON-RPC POST with authentication, its answer's JSON. */
  private async post(ep: Endpoint, body: Buffer, signal: AbortSignal, timeoutMs: number, tally: Tally): Promise<unknown> {
    return replyJson(await this.postForReply(ep, body, signal, timeoutMs, tally), ep.label)
  }

  /** A JSON-RPC POST with authentication; 401 gets one fresh look at the cookie, never a loop. */
  private async postForReply(ep: Endpoint, body: Buffer, signal: AbortSignal, timeoutMs: number, tally: Tally): Promise<HttpReply> {
    const request = (authorization: string): HttpRequest => ({
      method: 'POST',
      path: '/',
      headers: {Authorization: authorization, 'Content-Type': 'application/json'},
      body,
    })
    if (!ep.loopback && !this.warnedCleartext) {
      this.warnedCleartext = true
      this.options.onWarning?.(cleartextWarning(ep.label))
    }
    const cookie = ep.credentials.kind === 'cookie' ? this.cookieAuth(ep.credentials.path) : undefined
    const staticAuth = ep.credentials.kind === 'password' ? basicAuth(ep.credentials.user, ep.credentials.password) : undefined
    const sent = staticAuth ?? cookie!.authorization()
    let reply = await this.send(ep, request(sent), signal, timeoutMs, tally)
    if (reply.status === 401 && cookie) {
      // compared with what this request sent, not with the last read: when the
      // cookie rotates under several requests in flight, the first to get its
      // 401 reads the new cookie, and the others must still try it once
      const fresh = cookie.reload()
      if (fresh !== sent) reply = await this.send(ep, request(fresh), signal, timeoutMs, tally)
    }
    if (reply.status === 401) {
      const hint = ep.credentials.kind === 'cookie' ? ' (is it the cookie of this node? check --datadir and --network)' : ''
      throw new BixError('AuthFailed', `authorization failed: ${describeCredentials(ep.credentials)} ${ep.credentials.kind === 'cookie' ? 'credentials were' : 'were'} rejected by ${ep.label}${hint}`)
    }
    if (reply.status === 403) {
      throw new BixError('AuthFailed', `${ep.label} refused the request (HTTP 403): rpcwhitelist does not allow this call for this user, or rpcallowip does not include this host`)
    }
    return reply
  }

  private async send(ep: Endpoint, request: HttpRequest, signal: AbortSignal, timeoutMs: number, tally: Tally): Promise<HttpReply> {
    const release = await ep.limit.acquire(signal)
    try {
      tally.bytesOut += request.body?.length ?? 0
      const reply = await exchange(ep.agent, ep.endpoint, request, {
        connectTimeoutMs: this.options.connectTimeoutMs,
        timeoutMs,
        maxBytes: MAX_REPLY_BYTES,
        signal,
      })
      tally.bytesIn += reply.body.length
      return reply
    } finally {
      release()
    }
  }

  private cookieAuth(path: string): CookieAuth {
    let cookie = this.cookies.get(path)
    if (!cookie) {
      cookie = new CookieAuth(path)
      this.cookies.set(path, cookie)
    }
    return cookie
  }

  private async measured<T>(key: string, run: (tally: Tally) => Promise<T>): Promise<T> {
    const tally: Tally = {bytesIn: 0, bytesOut: 0}
    const started = performance.now()
    let failed = false
    try {
      return await run(tally)
    } catch (err) {
      failed = true
      throw err
    } finally {
      const s = this.counters.get(key) ?? {calls: 0, errors: 0, totalMs: 0, bytesIn: 0, bytesOut: 0}
      s.calls++
      if (failed) s.errors++
      s.totalMs += performance.now() - started
      s.bytesIn += tally.bytesIn
      s.bytesOut += tally.bytesOut
      this.counters.set(key, s)
    }
  }
}

/**
 * The cookie as an Authorization header, read again whenever the file
 * changes: bitcoind deletes it on exit and writes a new one at every start.
 */
class CookieAuth {
  private header?: string
  private stamp?: string
  private checkedAt = 0

  constructor(private readonly path: string) {}

  authorization(): string {
    if (this.header && Date.now() - this.checkedAt < COOKIE_RECHECK_MS) return this.header
    this.refresh()
    return this.header as string
  }

  /** Look at the file at the next call, not a second later. */
  expire(): void {
    this.checkedAt = 0
  }

  /** Reads the file now, whatever its stamp says; returns the header it holds. */
  reload(): string {
    this.stamp = undefined
    this.refresh()
    return this.header as string
  }

  private refresh(): void {
    this.checkedAt = Date.now()
    const stat = fs.statSync(this.path, {throwIfNoEntry: false})
    const stamp = stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs}` : undefined
    if (this.header && stamp !== undefined && stamp === this.stamp) return
    try {
      const {user, password} = readCookie(this.path)
      this.header = basicAuth(user, password)
      this.stamp = stamp
    } catch (err) {
      // no cookie: bitcoind is not running (yet); worth waiting for, like a refused connection
      if (err instanceof BixError && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
        throw new TransientFailure('no-cookie', `no cookie file at ${this.path}`, {final: err})
      }
      throw err
    }
  }
}

/** The backoff ceiling after the n-th failure: 250 ms, 500 ms, 1 s, 2 s, then 4 s. */
function backoff(failures: number): number {
  return Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** (failures - 1))
}

/** Between half the ceiling and all of it: spread out, yet the waits before giving up add up to at least 1.9 s. */
function jittered(ceiling: number): number {
  return ceiling / 2 + Math.random() * (ceiling / 2)
}

function basicAuth(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64')
}

/** "/rest/block/<hash>.bin" → "rest/block", "/rest/chaininfo.json" → "rest/chaininfo". */
function restStatsKey(path: string): string {
  const segments = path.split('?')[0].split('/').filter(Boolean)
  const name = segments[0] === 'rest' && segments[1] ? segments[1].replace(/\.[a-z]+$/, '') : segments[0] ?? ''
  return `rest/${name}`
}
