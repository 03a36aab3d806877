import {type NetworkName, networkFromChainName} from '../chain/networks.js'
import {BixError} from '../errors.js'
import {type BlockchainInfo, getBlockchainInfo, getNetworkInfo} from './node-api.js'
import type {CallOptions, NodeClient} from './types.js'

/**
 * Checks before work: is this the node we think it is (network), is it new
 * enough, does it keep the blocks we need.
 */

/** Bitcoin Core 0.21: JSON `warnings`, getindexinfo, connections_in/out, the RPCs bix relies on. */
export const MIN_NODE_VERSION = 210_000

export interface NodeCheck {
  chain: string
  network: NetworkName
  version: number
  subversion: string
  blocks: number
  headers: number
  bestBlockHash: string
  verificationProgress: number
  initialBlockDownload: boolean
  pruned: boolean
  pruneHeight?: number
}

export interface CheckOptions {
  /** default: the client's configured network */
  network?: NetworkName
  /** refuse a pruned node (bix index needs every block) */
  requireUnpruned?: boolean
  call?: CallOptions
}

export async function checkNode(client: NodeClient, options: CheckOptions = {}): Promise<NodeCheck> {
  const [chainInfo, networkInfo] = await Promise.all([getBlockchainInfo(client, options.call), getNetworkInfo(client, options.call)])
  const network = checkChain(client, chainInfo, options.network)
  if (networkInfo.version < MIN_NODE_VERSION) {
    throw new BixError(
      'NodeUnsupported',
      `bitcoind at ${client.describe()} is ${formatVersion(networkInfo.version)} (${networkInfo.subversion}); bix needs Bitcoin Core 0.21 or newer`,
    )
  }
  if (options.requireUnpruned && chainInfo.pruned) {
    const gone = chainInfo.pruneHeight === undefined ? '' : ` (blocks below ${chainInfo.pruneHeight} are gone)`
    throw new BixError('NodeUnsupported', `bitcoind at ${client.describe()} is pruned${gone}; this needs every block: run it with prune=0`)
  }
  return {
    chain: chainInfo.chain,
    network,
    version: networkInfo.version,
    subversion: networkInfo.subversion,
    blocks: chainInfo.blocks,
    headers: chainInfo.headers,
    bestBlockHash: chainInfo.bestBlockHash,
    verificationProgress: chainInfo.verificationProgress,
    initialBlockDownload: chainInfo.initialBlockDownload,
    pruned: chainInfo.pruned,
    pruneHeight: chainInfo.pruneHeight,
  }
}

/**
 * The node's chain must be the one bix was told (or assumed). A mismatch is
 * refused: an index of one chain filled from another is garbage.
 */
export function checkChain(client: NodeClient, info: Pick<BlockchainInfo, 'chain'>, expected: NetworkName = client.config.network): NetworkName {
  const actual = networkFromChainName(info.chain)
  if (actual === expected) return actual
  const runs = actual ?? `an unknown chain "${info.chain}"`
  if (client.config.networkExplicit || expected !== client.config.network) {
    throw new BixError('WrongNetwork', `the node runs ${runs} but --network is ${expected}`)
  }
  const fix = actual ? `; pass --network ${actual} (or set chain=${actual} in bitcoin.conf)` : ''
  throw new BixError('WrongNetwork', `the node at ${client.describe()} runs ${runs}, but bix assumed ${expected} (no --network, no chain in bitcoin.conf)${fix}`)
}

/** 280100 → "28.1.0"; before 22.0 Core's versions were 0.x: 210100 → "0.21.1". */
export function formatVersion(version: number): string {
  const major = Math.floor(version / 10_000)
  const minor = Math.floor((version % 10_000) / 100)
  const patch = version % 100
  return major >= 22 ? `${major}.${minor}.${patch}` : `0.${major}.${minor}`
}
