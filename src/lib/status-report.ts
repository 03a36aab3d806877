import {BixError, isBixError} from './errors.js'
import {describeCredentials} from './node/config.js'
import {type NodeStatus, getNodeStatus} from './node/node-status.js'
import {checkChain} from './node/preflight.js'
import type {NodeClient, NodeConfig} from './node/types.js'
import {type IndexSummary, describeIndex} from './store/summary.js'

/**
 * `bix status` as a library call: the node (version, sync, mempool, peers),
 * the index (tip, size, writer, first run done or not) and how far the index
 * lags the node. Each half is reported whatever befell the other; what went
 * wrong is in the report, and its errors are returned for the exit code.
 */

export interface StatusResult {
  node: NodeStatus | null
  /** why the node part is missing or wrong (unreachable, refused credentials, other network) */
  nodeError: string | null
  /** where bix looked for the node; never a secret */
  tried: {endpoints: string[]; credentials: string[]}
  index: IndexSummary | null
  indexError: string | null
  /** node blocks − index tip, when both are known */
  lag: number | null
}

export interface StatusOutcome {
  result: StatusResult
  nodeError?: BixError
  indexError?: BixError
}

export async function statusReport(o: {config: NodeConfig; client: NodeClient; db: string; retry: boolean}): Promise<StatusOutcome> {
  const {config, client} = o
  let index: IndexSummary | null = null
  let indexError: BixError | undefined
  try {
    index = describeIndex(o.db) ?? null
  } catch (err) {
    if (!isBixError(err)) throw err
    indexError = err
  }
  if (index && index.network !== config.network) {
    // shown all the same: the user may have given the wrong --db, or the wrong --network
    indexError = new BixError('WrongNetwork', `index ${index.path} is for ${index.network}, not ${config.network}; use another --db or --network`)
  }

  let node: NodeStatus | null = null
  let nodeError: BixError | undefined
  try {
    node = await getNodeStatus(client, {retry: o.retry})
    checkChain(client, node)
  } catch (err) {
    if (!isBixError(err) || err.kind === 'Interrupted') throw err
    nodeError = err
  }

  const result: StatusResult = {
    node,
    nodeError: nodeError?.message ?? null,
    tried: {
      endpoints: config.endpoints.map((e) => e.url),
      credentials: [...new Set(config.endpoints.map((e) => describeCredentials(e.credentials ?? config.credentials)))],
    },
    index,
    indexError: indexError?.message ?? null,
    lag: node && index?.tipHeight != null && !indexError ? node.blocks - index.tipHeight : null,
  }
  return {result, nodeError, indexError}
}
