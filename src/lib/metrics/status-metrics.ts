import type {NodeStatus} from '../node/node-status.js'
import type {LastRuns} from '../store/last-runs.js'
import type {IndexSummary} from '../store/summary.js'
import type {MetricFamily, Sample} from './exposition.js'

/** What one `bix status` run saw, as the metrics are made from it. */
export interface StatusSnapshot {
  network: string
  /** null: the node could not be asked, or runs another network */
  node: NodeStatus | null
  /** null: no index for this network, or one that cannot be read */
  index: IndexSummary | null
  /** node blocks − index tip, when both are known */
  lag: number | null
  lastRuns: LastRuns
  /** unix seconds, for the mempool snapshot's age */
  now: number
}

/**
 * The node's and the index's state as Prometheus gauges, in base units
 * (seconds, bytes), each sample labelled with the network so that one
 * collector can scrape a mainnet and a testnet bix side by side.
 */
export function statusMetrics(s: StatusSnapshot): MetricFamily[] {
  const net = {network: s.network}
  const one = (value: number | null | undefined, labels: Record<string, string> = {}): Sample[] =>
    value === null || value === undefined ? [] : [{labels: {...net, ...labels}, value}]
  const gauge = (name: string, help: string, samples: Sample[]): MetricFamily => ({name, help, type: 'gauge', samples})
  const {node, index} = s
  const runs = Object.entries(s.lastRuns).sort(([a], [b]) => a.localeCompare(b))
  const perCommand = (value: (run: (typeof runs)[number][1]) => number): Sample[] =>
    runs.map(([command, run]) => ({labels: {...net, command}, value: value(run)}))

  return [
    gauge('bix_node_up', 'Whether the node answered RPC on the configured network (1) or not (0).', one(node ? 1 : 0)),
    gauge('bix_node_blocks', 'Height of the node\'s best validated block (getblockchaininfo blocks).', one(node?.blocks)),
    gauge('bix_node_headers', 'Height of the node\'s best known header (getblockchaininfo headers).', one(node?.headers)),
    gauge('bix_node_verification_progress', 'The node\'s estimate of verification progress, 0 to 1.', one(node?.verificationProgress)),
    gauge('bix_node_initial_block_download', 'Whether the node is in initial block download (1) or not (0).', one(node && (node.initialBlockDownload ? 1 : 0))),
    gauge(
      'bix_node_peers',
      'Peers connected to the node, by direction (getnetworkinfo connections_in and connections_out).',
      node ? [...one(node.peers.inbound, {direction: 'inbound'}), ...one(node.peers.outbound, {direction: 'outbound'})] : [],
    ),
    gauge('bix_node_mempool_transactions', 'Transactions in the node\'s mempool (getmempoolinfo size).', one(node?.mempool.txCount)),
    gauge('bix_node_mempool_bytes', 'Sum of the virtual sizes of the mempool\'s transactions (getmempoolinfo bytes).', one(node?.mempool.bytes)),
    gauge('bix_node_mempool_usage_bytes', 'Memory the node\'s mempool uses (getmempoolinfo usage).', one(node?.mempool.usage)),
    gauge('bix_node_rpc_round_trip_seconds', 'Round trip of one cheap RPC call (uptime) to the node.', one(node && node.rpcRoundTripMs / 1000)),

    gauge('bix_index_up', 'Whether the index for this network exists and could be read (1) or not (0).', one(index ? 1 : 0)),
    gauge('bix_index_tip_height', 'Height of the index\'s tip (absent while the index holds no block).', one(index?.tipHeight)),
    gauge('bix_index_lag_blocks', 'Blocks the index is behind the node (negative: ahead of it); absent when either is unknown.', one(s.lag)),
    gauge('bix_index_database_bytes', 'Size of the index database with its write-ahead log.', one(index?.sizeBytes)),
    gauge('bix_index_writer_active', 'Whether a bix index or sync-mempool run holds the index\'s lock (1) or not (0).', one(index && (index.writerPid === null ? 0 : 1))),
    gauge('bix_index_mempool_transactions', 'Transactions in the index\'s mempool snapshot (absent until the first sync-mempool).', one(index?.mempool?.txCount)),
    gauge(
      'bix_index_mempool_snapshot_age_seconds',
      'Seconds since the index\'s mempool snapshot was last completed (absent until the first sync-mempool).',
      one(index?.mempool?.syncedAt == null ? null : Math.max(0, s.now - index.mempool.syncedAt)),
    ),

    gauge('bix_command_last_run_end_timestamp_seconds', 'When the last run of each bix command on this index ended, in unix seconds.', perCommand((r) => r.endedAt)),
    gauge('bix_command_last_run_exit_code', 'Exit code of the last run of each bix command on this index (0: success; see the README\'s table).', perCommand((r) => r.exitCode)),
    gauge('bix_command_last_run_duration_seconds', 'How long the last run of each bix command on this index took.', perCommand((r) => r.durationSeconds)),
  ]
}
