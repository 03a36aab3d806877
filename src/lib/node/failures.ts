import {BixError} from '../errors.js'
import {describeRetryWindow} from './retry-window.js'

/**
 * Failures that say nothing about the request itself, only that the node could
 * not answer it now. The client retries them; once it gives up they become one
 * NodeUnreachable error that names every endpoint tried and why.
 */
export type FailureKind =
  /** nothing listens on the port: bitcoind is not running, or restarting */
  | 'refused'
  /** no connection within the connect timeout, no route, unknown host */
  | 'unreachable'
  /** HTTP 503 while bitcoind shuts down */
  | 'stopping'
  /** the cookie file is missing: bitcoind deletes it on exit and writes a new one at start */
  | 'no-cookie'
  /** the connection dropped while the request was under way */
  | 'reset'
  /** the answer arrived but is not valid JSON: cut short or damaged on the way (a proxy, a flaky link) */
  | 'garbled'
  /** no answer within the request timeout */
  | 'timeout'
  /** HTTP 503 "Work queue depth exceeded": more requests than -rpcworkqueue */
  | 'overloaded'
  /** RPC error -28: the node is still loading */
  | 'warmup'
  /** RPC error -1: the node has the block's header but not yet its data */
  | 'not-ready'

export class TransientFailure extends Error {
  readonly kind: FailureKind
  /** short and free of secrets: "connection refused", "Loading block index…" */
  readonly detail: string
  /** false when the node certainly did not run the request (nothing connected, or it refused before executing) */
  readonly mayHaveRun: boolean
  /** what to report if retrying does not help, when that is more precise than "unreachable" */
  readonly final?: BixError

  constructor(kind: FailureKind, detail: string, options: {mayHaveRun?: boolean; final?: BixError} = {}) {
    super(detail)
    this.name = 'TransientFailure'
    this.kind = kind
    this.detail = detail
    this.mayHaveRun = options.mayHaveRun ?? false
    this.final = options.final
  }
}

export interface WaitReason {
  kind: FailureKind
  /** one line for people: "node unreachable: connection refused", "warming up: Loading block index…" */
  text: string
}

/**
 * Whether an error from the node core means "not now" rather than "no", and in
 * words: what `bix wait-sync` shows while it waits. Looks through the
 * NodeUnreachable error the client gives up with.
 */
export function transientReason(err: unknown): WaitReason | undefined {
  const failure = err instanceof TransientFailure ? err : err instanceof Error && err.cause instanceof TransientFailure ? err.cause : undefined
  if (!failure) return undefined
  return {kind: failure.kind, text: reasonText(failure)}
}

export const isTransientError = (err: unknown): boolean => transientReason(err) !== undefined

function reasonText(failure: TransientFailure): string {
  switch (failure.kind) {
    case 'refused':
    case 'unreachable':
    case 'stopping':
    case 'no-cookie':
      return `node unreachable: ${failure.detail}`
    case 'warmup':
      return `warming up: ${failure.detail}`
    case 'overloaded':
      return `node busy: ${failure.detail}`
    case 'timeout':
      return `node slow: ${failure.detail}`
    case 'reset':
      return `connection lost: ${failure.detail}`
    case 'garbled':
      return `damaged answer: ${failure.detail}`
    case 'not-ready':
      return `block data not on disk yet: ${failure.detail}`
  }
}

const DOWN_KINDS = new Set<FailureKind>(['refused', 'unreachable', 'stopping'])

/**
 * The error the client gives up with, like bitcoin-cli's: every endpoint
 * tried with its last reason, and a hint at the likely fix.
 * `failures` maps "host:port" to the last failure seen there, in the order tried;
 * `retriedForMs`, when the caller asked for a retry window, is said at the end.
 */
export function giveUpError(method: string, failures: ReadonlyMap<string, TransientFailure>, retriedForMs = 0): BixError {
  const tried = [...failures.entries()]
  const last = tried.at(-1)?.[1]
  if (!last) return new BixError('NodeUnreachable', `no bitcoind endpoint to call ${method} on`)
  // an operator reading a cron log wants to know the run did wait, and how long
  const waited = retriedForMs > 0 ? ` (waited ${describeRetryWindow(retriedForMs)}, --retry-for)` : ''
  if (last.final && tried.every(([, f]) => f.kind === last.kind)) {
    return new BixError(last.final.kind, last.final.message + waited, {cause: last})
  }
  const list = tried.map(([endpoint, f]) => `${endpoint} (${f.detail})`).join(', ')
  let message: string
  if (tried.every(([, f]) => DOWN_KINDS.has(f.kind))) {
    message = `cannot reach bitcoind at ${list}; is it running, and is this the right --rpcport/--network?`
  } else if (tried.every(([, f]) => f.kind === 'warmup')) {
    message = `bitcoind at ${list} is still starting; wait for it with bix wait-sync, or try again shortly`
  } else if (last.kind === 'overloaded') {
    message = `bitcoind at ${list} is overloaded; lower --rpc-parallelism, or raise rpcworkqueue in bitcoin.conf`
  } else if (last.kind === 'timeout') {
    message = `no answer to ${method} from bitcoind at ${list}; raise --rpc-timeout if the node is busy`
  } else {
    message = `bitcoind did not answer ${method}: ${list}`
  }
  return new BixError('NodeUnreachable', message + waited, {cause: last})
}
