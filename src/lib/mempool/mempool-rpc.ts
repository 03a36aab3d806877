import {RpcCode} from '../errors.js'
import {sleep} from '../abortable.js'
import {fields, hexBytes, object} from '../node/answer-fields.js'
import {type MempoolInfo, btcToSats, getMempoolInfo} from '../node/node-api.js'
import type {BatchResult, CallOptions, NodeClient} from '../node/types.js'

/**
 * The node calls a mempool sync makes beyond node-api's: waiting for the
 * node to finish loading mempool.dat, and fetching many mempool
 * transactions in one JSON-RPC batch (getmempoolentry for when the node
 * first saw each one, its vsize and fee; getrawtransaction for its bytes).
 */

/** One transaction of the node's mempool, as the node states it. */
export interface FetchedTx {
  /** display hex */
  txid: string
  raw: Buffer
  /** unix seconds: when the node first saw it */
  time: number
  vsize: number
  /** satoshis */
  fee: number
}

/** A listed transaction the node no longer has (confirmed, replaced, evicted or expired since the listing). */
export interface GoneTx {
  txid: string
  gone: true
}

export type FetchedEntry = FetchedTx | GoneTx

export const isGone = (entry: FetchedEntry): entry is GoneTx => 'gone' in entry

const LOADED_POLL_MS = 1000

/**
 * Returns once getmempoolinfo says `loaded`: before that the node is still
 * reading mempool.dat and its mempool is not the one it will have.
 * `onWaiting` is told once, when there is something to wait for.
 */
export async function waitForLoadedMempool(
  client: NodeClient,
  options: {signal?: AbortSignal; onWaiting?: () => void; pollMs?: number} = {},
): Promise<MempoolInfo> {
  for (let told = false; ; ) {
    const info = await getMempoolInfo(client, {signal: options.signal})
    if (info.loaded) return info
    if (!told) {
      told = true
      options.onWaiting?.()
    }
    await sleep(options.pollMs ?? LOADED_POLL_MS, options.signal)
  }
}

/**
 * getmempoolentry and getrawtransaction for each txid, all in one batch.
 * A transaction that left the mempool meanwhile (-5 from either call) is
 * GoneTx; getmempoolentry is the judge, as getrawtransaction also finds
 * confirmed transactions on a node with -txindex.
 */
export async function fetchMempoolTxs(client: NodeClient, txids: readonly string[], options?: CallOptions): Promise<FetchedEntry[]> {
  const calls = txids.flatMap((txid) => [
    {method: 'getmempoolentry', params: [txid]},
    {method: 'getrawtransaction', params: [txid, false]},
  ])
  const answers = await client.batch<unknown>(calls, options)
  return txids.map((txid, i): FetchedEntry => {
    const entry = answers[2 * i]
    const raw = answers[2 * i + 1]
    if (isNotInMempool(entry) || isNotInMempool(raw)) return {txid, gone: true}
    if (!entry.ok) throw entry.error
    if (!raw.ok) throw raw.error
    const what = `getmempoolentry ${txid}`
    const e = object(entry.result, what)
    const f = fields(e, what)
    const fees = fields(object(e.fees, `${what} fees`), `${what} fees`)
    // `vsize` is deprecated on Core's master in favour of vsize_adjusted (the same sigop-adjusted size)
    const vsize = f.optNum('vsize') ?? f.optNum('vsize_adjusted') ?? f.num('vsize_bip141')
    return {txid, raw: hexBytes(raw.result, `getrawtransaction ${txid}`), time: f.num('time'), vsize, fee: btcToSats(fees.num('base'))}
  })
}

function isNotInMempool(answer: BatchResult<unknown>): boolean {
  return !answer.ok && answer.error.code === RpcCode.invalidAddressOrKey
}
