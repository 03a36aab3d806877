/**
 * Every failure bix expects is a BixError: a kind, a one-line message and the
 * process exit code it maps to. The library throws them; the base command turns
 * them into one line on stderr (or a JSON error object) in one place.
 *
 * Exit codes are part of the public interface (README "Exit codes").
 */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  badInput: 2,
  nodeUnreachable: 3,
  timedOut: 4,
  indexBusy: 5,
  indexBehind: 6,
  database: 7,
  txRejected: 8,
  notFound: 9,
  interrupted: 130,
  terminated: 143,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export type ErrorKind =
  | 'BadInput'
  | 'WrongNetwork'
  | 'NodeUnreachable'
  | 'AuthFailed'
  | 'NodeError'
  | 'NodeUnsupported'
  | 'TimedOut'
  | 'IndexBusy'
  | 'IndexBehind'
  | 'DatabaseError'
  | 'BadBlock'
  | 'TxRejected'
  /** a transaction or output neither the index nor the node's mempool holds */
  | 'NotFound'
  | 'Interrupted'

const exitCodeOf: Record<ErrorKind, ExitCode> = {
  BadInput: ExitCode.badInput,
  WrongNetwork: ExitCode.badInput,
  NodeUnreachable: ExitCode.nodeUnreachable,
  AuthFailed: ExitCode.nodeUnreachable,
  NodeError: ExitCode.unexpected,
  NodeUnsupported: ExitCode.badInput,
  TimedOut: ExitCode.timedOut,
  IndexBusy: ExitCode.indexBusy,
  IndexBehind: ExitCode.indexBehind,
  DatabaseError: ExitCode.database,
  BadBlock: ExitCode.unexpected,
  TxRejected: ExitCode.txRejected,
  NotFound: ExitCode.notFound,
  Interrupted: ExitCode.interrupted,
}

export class BixError extends Error {
  readonly kind: ErrorKind
  readonly exitCode: ExitCode

  constructor(kind: ErrorKind, message: string, options?: {cause?: unknown; exitCode?: ExitCode}) {
    super(message, options?.cause === undefined ? undefined : {cause: options.cause})
    this.name = kind
    this.kind = kind
    this.exitCode = options?.exitCode ?? exitCodeOf[kind]
  }
}

/** The node answered with a JSON-RPC error object: an application error, never retried. */
export class RpcError extends BixError {
  readonly code: number
  readonly method: string
  /** The node's own text, without our prefix, for callers that rephrase it. */
  readonly nodeMessage: string

  constructor(method: string, code: number, message: string) {
    super('NodeError', `${method}: ${message} (code ${code})`)
    this.code = code
    this.method = method
    this.nodeMessage = message
  }
}

export const badInput = (message: string) => new BixError('BadInput', message)

export const isBixError = (err: unknown): err is BixError => err instanceof BixError

/** Core's RPC error codes that bix looks at (src/rpc/protocol.h). */
export const RpcCode = {
  miscError: -1,
  typeError: -3,
  invalidAddressOrKey: -5,
  invalidParameter: -8,
  deserializationError: -22,
  verifyError: -25,
  verifyRejected: -26,
  verifyAlreadyInChain: -27,
  inWarmup: -28,
  methodNotFound: -32601,
  invalidParams: -32602,
  parseError: -32700,
} as const
