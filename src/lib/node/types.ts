import type {NetworkName} from '../chain/networks.js'
import type {RpcError} from '../errors.js'

/** One RPC endpoint: bitcoind serves JSON-RPC and REST on the same port. */
export interface NodeEndpoint {
  host: string
  port: number
  /** http://host:port, never with credentials in it */
  url: string
  /** credentials that came inside this endpoint's --rpc-url; otherwise NodeConfig.credentials apply */
  credentials?: NodeCredentials
}

export type NodeCredentials =
  | {kind: 'password'; user: string; password: string; source: string}
  | {kind: 'cookie'; path: string}

/** Everything needed to reach one node, resolved from flags, environment and bitcoin.conf. */
export interface NodeConfig {
  network: NetworkName
  /** true when the network came from --network/BIX_NETWORK or the conf, not the default */
  networkExplicit: boolean
  datadir: string
  /** the network-specific data directory (datadir for main) */
  netDatadir: string
  /** the bitcoin.conf that was read, if any */
  confPath?: string
  /** in failover order */
  endpoints: NodeEndpoint[]
  credentials: NodeCredentials
}

export interface ClientOptions {
  /** connections per endpoint (Core serves one request per connection at a time) */
  parallelism: number
  connectTimeoutMs: number
  requestTimeoutMs: number
  /** aborts every call in flight and every wait (Ctrl-C) */
  signal?: AbortSignal
  /**
   * How long to keep retrying transient failures (refused, reset, 503,
   * warm-up) before giving up with NodeUnreachable. 0 fails after the first
   * round of backoff reaches its cap on every endpoint.
   */
  retryForMs?: number
  /** told about each retry, for logs and --verbose */
  onRetry?: (event: RetryEvent) => void
  /** told when a call that had to wait for the node got its answer */
  onRecovered?: (event: RecoveredEvent) => void
  /** told once per client, before credentials first go to a node that is not on this machine (they travel in clear text) */
  onWarning?: (line: string) => void
}

export interface RetryEvent {
  method: string
  endpoint: string
  attempt: number
  delayMs: number
  reason: string
}

export interface RecoveredEvent {
  method: string
  endpoint: string
  /** since the call was first tried */
  waitedMs: number
}

export interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
  /** false: one attempt only (e.g. sendrawtransaction, whose outcome must be checked, not repeated) */
  retry?: boolean
}

export type BatchResult<T> = {ok: true; result: T} | {ok: false; error: RpcError}

export interface RestResponse {
  status: number
  contentType: string
  body: Buffer
}

export interface MethodStats {
  calls: number
  errors: number
  totalMs: number
  bytesIn: number
  bytesOut: number
}

/**
 * The one RPC core every command shares. Implementations retry transport
 * failures as the README describes and never retry application errors, which
 * reject with RpcError carrying the node's code and message.
 */
export interface NodeClient {
  readonly config: NodeConfig
  call<T = unknown>(method: string, params?: unknown[], options?: CallOptions): Promise<T>
  /**
   * A call whose result is a hex string (getblock <hash> 0): the string's bytes as the node sent
   * them, not decoded, so that the megabytes of a block are decoded where they are parsed (a
   * worker thread), not on the caller's; not checked to be hex.
   */
  callHexResult(method: string, params?: unknown[], options?: CallOptions): Promise<Buffer>
  batch<T = unknown>(calls: ReadonlyArray<{method: string; params?: unknown[]}>, options?: CallOptions): Promise<BatchResult<T>[]>
  /** GET a REST path such as /rest/block/<hash>.bin; non-2xx statuses are returned, not thrown */
  restGet(path: string, options?: CallOptions): Promise<RestResponse>
  /** per-method counters (REST calls are counted under their first path segment, e.g. "rest/block") */
  stats(): Map<string, MethodStats>
  /** the endpoint currently in use, for messages */
  describe(): string
  close(): Promise<void>
}
