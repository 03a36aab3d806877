import http from 'node:http'

import {BixError} from '../errors.js'
import {formatBytes, formatDuration} from '../format.js'
import {endpointLabel} from './config.js'
import {TransientFailure} from './failures.js'
import type {NodeEndpoint} from './types.js'

/**
 * One HTTP request to bitcoind and its whole answer, with a connect timeout, a
 * request timeout, a size cap and a signal that ends it at once. Transport
 * problems come back as TransientFailure; the caller decides about retrying.
 */

export interface HttpRequest {
  method: 'GET' | 'POST'
  path: string
  headers: Record<string, string>
  body?: Buffer
}

export interface HttpReply {
  status: number
  contentType: string
  body: Buffer
}

export interface ExchangeOptions {
  connectTimeoutMs: number
  timeoutMs: number
  maxBytes: number
  signal: AbortSignal
}

export function exchange(agent: http.Agent, endpoint: NodeEndpoint, request: HttpRequest, options: ExchangeOptions): Promise<HttpReply> {
  const {signal} = options
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<HttpReply>((resolve, reject) => {
    let settled = false
    let connectTimer: NodeJS.Timeout | undefined
    let sent = false
    const req = http.request({
      agent,
      host: endpoint.host,
      port: endpoint.port,
      method: request.method,
      path: request.path,
      headers: {...request.headers, 'Content-Length': String(request.body?.length ?? 0)},
    })

    const finish = (err: unknown, reply?: HttpReply) => {
      if (settled) return
      settled = true
      clearTimeout(requestTimer)
      clearTimeout(connectTimer)
      signal.removeEventListener('abort', onAbort)
      if (err === undefined && reply) {
        resolve(reply)
      } else {
        req.destroy()
        reject(err)
      }
    }
    const onAbort = () => finish(signal.reason)
    signal.addEventListener('abort', onAbort, {once: true})

    const requestTimer = setTimeout(
      () => finish(new TransientFailure('timeout', `no answer within ${formatDuration(options.timeoutMs)}`, {mayHaveRun: sent})),
      options.timeoutMs,
    )
    req.on('socket', (socket) => {
      if (!socket.connecting) return
      connectTimer = setTimeout(
        () => finish(new TransientFailure('unreachable', `no connection within ${formatDuration(options.connectTimeoutMs)}`)),
        options.connectTimeoutMs,
      )
      socket.once('connect', () => clearTimeout(connectTimer))
    })
    req.on('finish', () => {
      sent = true
    })
    req.on('error', (err) => finish(transportFailure(err as NodeJS.ErrnoException, sent, endpoint)))
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > options.maxBytes) {
          finish(new BixError('NodeError', `the answer from ${endpointLabel(endpoint)} to ${request.path} is larger than ${formatBytes(options.maxBytes)}; refusing it`))
          return
        }
        chunks.push(chunk)
      })
      res.on('end', () =>
        finish(undefined, {status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks, size)}),
      )
      res.on('aborted', () => finish(new TransientFailure('reset', 'connection closed mid-answer', {mayHaveRun: true})))
      res.on('error', (err) => finish(transportFailure(err as NodeJS.ErrnoException, true, endpoint)))
    })
    req.end(request.body)
  })
}

/** Node's socket errors in bitcoin-cli's words. */
function transportFailure(err: NodeJS.ErrnoException, sent: boolean, endpoint: NodeEndpoint): TransientFailure | BixError {
  if (err.code?.startsWith('HPE_')) {
    // something answered, but not in HTTP: often the P2P port given as --rpcport
    return new BixError('NodeUnreachable', `${endpointLabel(endpoint)} does not speak HTTP; is this bitcoind's RPC port (not its P2P port)?`)
  }
  switch (err.code) {
    case 'ECONNREFUSED':
      return new TransientFailure('refused', 'connection refused')
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new TransientFailure('unreachable', 'host not found')
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new TransientFailure('unreachable', 'no route to host')
    case 'ETIMEDOUT':
      return new TransientFailure('unreachable', 'connection timed out', {mayHaveRun: sent})
    case 'EPIPE':
      return new TransientFailure('reset', 'broken pipe', {mayHaveRun: sent})
    case 'ECONNRESET':
      // "socket hang up" also carries ECONNRESET: the server closed without answering
      return new TransientFailure('reset', err.message === 'socket hang up' ? 'connection closed without an answer' : 'connection reset', {
        mayHaveRun: sent,
      })
    default:
      return new TransientFailure('reset', err.code ? `connection failed (${err.code})` : 'connection failed', {mayHaveRun: sent})
  }
}
