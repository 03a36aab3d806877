import {RpcError} from '../errors.js'
import {getMempoolEntry} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'

/** Where the node has a transaction, if anywhere. */
export type TxWhereabouts = {where: 'mempool'; fee?: number} | {where: 'chain'} | {where: 'nowhere'}

/**
 * Asks the node whether it has a transaction: in its mempool
 * (getmempoolentry), else in a block (getrawtransaction, which finds
 * confirmed transactions only with -txindex). Both calls are read-only, so the
 * client retries them through transport failures; what still fails is thrown.
 */
export async function lookUpTransaction(client: NodeClient, txid: string, signal?: AbortSignal): Promise<TxWhereabouts> {
  const entry = await mempoolFee(client, txid, signal)
  if (entry) return {where: 'mempool', fee: entry.fee}
  try {
    const verbose = await client.call<{blockhash?: string; confirmations?: number} | null>('getrawtransaction', [txid, 1], {signal})
    if (verbose?.blockhash || (verbose?.confirmations ?? 0) > 0) return {where: 'chain'}
    // found but not in a block: it entered the mempool since getmempoolentry
    return verbose ? {where: 'mempool'} : {where: 'nowhere'}
  } catch (err) {
    if (err instanceof RpcError) return {where: 'nowhere'}
    throw err
  }
}

/** The fee of a mempool transaction, or undefined when the mempool lacks it (-5). */
export async function mempoolFee(client: NodeClient, txid: string, signal?: AbortSignal): Promise<{fee: number} | undefined> {
  try {
    const entry = await getMempoolEntry(client, txid, {signal})
    return {fee: entry.fees.base}
  } catch (err) {
    if (err instanceof RpcError) return undefined
    throw err
  }
}
