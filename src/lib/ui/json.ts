import type {IndexRunSummary} from '../index/index-node.js'
import type {MempoolSyncResult} from '../mempool/mempool-sync.js'
import type {NodeStatus} from '../node/node-status.js'
import type {StatusResult} from '../status-report.js'
import type {IndexSummary} from '../store/summary.js'

/**
 * The --json contract (docs/json.md): every key is snake_case, as in Core's
 * and Esplora's answers. The library's results keep TypeScript's camelCase;
 * each is turned into its JSON shape here, field by field, so that a renamed
 * field breaks the build instead of the interface, and values that are data
 * (txids, scripts) are never touched by a rename.
 *
 * Commands that take several targets (query …, broadcast) print an array
 * under --json, one element per target, even for one; the others print one
 * object.
 */

export interface ErrorJson {
  error: {kind: string; message: string; exit_code: number}
}

export const errorJson = (kind: string, message: string, exitCode: number): ErrorJson => ({error: {kind, message, exit_code: exitCode}})

/** `bix index --json` */
export interface IndexRunJson {
  network: string
  database: string
  database_bytes: number
  source: string
  source_reason: string
  /** -1 for an index that was empty */
  start_height: number
  height: number
  hash: string | null
  node_height: number
  blocks: number
  transactions: number
  reorgs: Array<{fork_height: number; undone: number}>
  elapsed_ms: number
  /** only with blocks read from the node's block files */
  block_files?: {from_files: number; from_node: number; files_scanned: number}
}

export function indexRunJson(s: IndexRunSummary): IndexRunJson {
  return {
    network: s.network,
    database: s.database,
    database_bytes: s.databaseBytes,
    source: s.source,
    source_reason: s.sourceReason,
    start_height: s.startHeight,
    height: s.height,
    hash: s.hash,
    node_height: s.nodeHeight,
    blocks: s.blocks,
    transactions: s.transactions,
    reorgs: s.reorgs.map((r) => ({fork_height: r.forkHeight, undone: r.undone})),
    elapsed_ms: s.elapsedMs,
    ...(s.blockFiles ? {block_files: {from_files: s.blockFiles.fromFiles, from_node: s.blockFiles.fromNode, files_scanned: s.blockFiles.filesScanned}} : {}),
  }
}

/** `bix sync-mempool --json` */
export interface MempoolSyncJson {
  network: string
  database: string
  added: number
  removed: number
  vanished: number
  total: number
  tip: {height: number; hash: string}
  synced_at: number
  indexed_blocks: number
  attempts: number
  elapsed_ms: number
}

export function mempoolSyncJson(r: MempoolSyncResult): MempoolSyncJson {
  return {
    network: r.network,
    database: r.database,
    added: r.added,
    removed: r.removed,
    vanished: r.vanished,
    total: r.total,
    tip: {height: r.tip.height, hash: r.tip.hash},
    synced_at: r.syncedAt,
    indexed_blocks: r.indexedBlocks,
    attempts: r.attempts,
    elapsed_ms: r.elapsedMs,
  }
}

/** The node part of `bix status --json` */
export interface NodeStatusJson {
  endpoint: string
  chain: string
  version: number
  version_text: string
  subversion: string
  blocks: number
  headers: number
  best_block_hash: string
  verification_progress: number
  initial_block_download: boolean
  pruned: boolean
  prune_height: number | null
  size_on_disk: number
  mempool: {loaded: boolean; tx_count: number; bytes: number; usage: number}
  peers: {inbound: number; outbound: number}
  uptime_seconds: number
  warnings: string[]
  rpc_round_trip_ms: number
}

export function nodeStatusJson(n: NodeStatus): NodeStatusJson {
  return {
    endpoint: n.endpoint,
    chain: n.chain,
    version: n.version,
    version_text: n.versionText,
    subversion: n.subversion,
    blocks: n.blocks,
    headers: n.headers,
    best_block_hash: n.bestBlockHash,
    verification_progress: n.verificationProgress,
    initial_block_download: n.initialBlockDownload,
    pruned: n.pruned,
    prune_height: n.pruneHeight,
    size_on_disk: n.sizeOnDisk,
    mempool: {loaded: n.mempool.loaded, tx_count: n.mempool.txCount, bytes: n.mempool.bytes, usage: n.mempool.usage},
    peers: {inbound: n.peers.inbound, outbound: n.peers.outbound},
    uptime_seconds: n.uptimeSeconds,
    warnings: n.warnings,
    rpc_round_trip_ms: n.rpcRoundTripMs,
  }
}

/** The index part of `bix status --json` */
export interface IndexSummaryJson {
  path: string
  network: string
  schema_version: number
  tip_height: number | null
  tip_hash: string | null
  building: boolean
  size_bytes: number
  writer_pid: number | null
  mempool: {tx_count: number; synced_at: number | null} | null
}

export function indexSummaryJson(i: IndexSummary): IndexSummaryJson {
  return {
    path: i.path,
    network: i.network,
    schema_version: i.schemaVersion,
    tip_height: i.tipHeight,
    tip_hash: i.tipHash,
    building: i.building,
    size_bytes: i.sizeBytes,
    writer_pid: i.writerPid,
    mempool: i.mempool ? {tx_count: i.mempool.txCount, synced_at: i.mempool.syncedAt} : null,
  }
}

/** `bix status --json` */
export interface StatusJson {
  node: NodeStatusJson | null
  node_error: string | null
  tried: {endpoints: string[]; credentials: string[]}
  index: IndexSummaryJson | null
  index_error: string | null
  lag: number | null
}

/** `bix wait-sync --json` */
export interface WaitSyncJson {
  synced: true
  endpoint: string
  chain: string
  blocks: number
  headers: number
  verification_progress: number
  initial_block_download: boolean
  waited_seconds: number
}

export function statusJson(r: StatusResult): StatusJson {
  return {
    node: r.node ? nodeStatusJson(r.node) : null,
    node_error: r.nodeError,
    tried: {endpoints: r.tried.endpoints, credentials: r.tried.credentials},
    index: r.index ? indexSummaryJson(r.index) : null,
    index_error: r.indexError,
    lag: r.lag,
  }
}
