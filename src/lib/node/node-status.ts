import {performance} from 'node:perf_hooks'

import {getBlockchainInfo, getMempoolInfo, getNetworkInfo, getUptime} from './node-api.js'
import {formatVersion} from './preflight.js'
import type {CallOptions, NodeClient} from './types.js'

/** What `bix status` shows about the node: one snapshot, a handful of cheap calls. */
export interface NodeStatus {
  endpoint: string
  chain: string
  version: number
  /** "28.1.0" */
  versionText: string
  subversion: string
  blocks: number
  headers: number
  bestBlockHash: string
  verificationProgress: number
  initialBlockDownload: boolean
  pruned: boolean
  pruneHeight: number | null
  sizeOnDisk: number
  mempool: {loaded: boolean; txCount: number; bytes: number; usage: number}
  peers: {inbound: number; outbound: number}
  uptimeSeconds: number
  warnings: string[]
  /** round trip of `uptime`, the cheapest call there is, on a warm connection */
  rpcRoundTripMs: number
}

export async function getNodeStatus(client: NodeClient, options?: CallOptions): Promise<NodeStatus> {
  const [chain, network, mempool, uptime] = await Promise.all([
    getBlockchainInfo(client, options),
    getNetworkInfo(client, options),
    getMempoolInfo(client, options),
    getUptime(client, options),
  ])
  const started = performance.now()
  await getUptime(client, options)
  const rpcRoundTripMs = performance.now() - started
  return {
    endpoint: client.describe(),
    chain: chain.chain,
    version: network.version,
    versionText: formatVersion(network.version),
    subversion: network.subversion,
    blocks: chain.blocks,
    headers: chain.headers,
    bestBlockHash: chain.bestBlockHash,
    verificationProgress: chain.verificationProgress,
    initialBlockDownload: chain.initialBlockDownload,
    pruned: chain.pruned,
    pruneHeight: chain.pruneHeight ?? null,
    sizeOnDisk: chain.sizeOnDisk,
    mempool: {loaded: mempool.loaded, txCount: mempool.size, bytes: mempool.bytes, usage: mempool.usage},
    peers: {inbound: network.connectionsIn, outbound: network.connectionsOut},
    uptimeSeconds: uptime,
    // the same warning often comes from both calls
    warnings: [...new Set([...chain.warnings, ...network.warnings])],
    rpcRoundTripMs: Math.round(rpcRoundTripMs * 10) / 10,
  }
}
