import {RpcError} from '../errors.js'
import {getMempoolEntry} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'

/** Where the node has a transaction, if anywhere. */
export type TxWhereabouts = {where: 'mempool'; fee?: number} | {where: 'chain'} | {where: 'nowhere'}

/** What looking a transaction up needs to know of it. */
export interface LookupTx {
  txid: string
  /** its outputs that enter the UTXO set once confirmed (not OP_RETURN) */
  spendableVouts: readonly number[]
}

/**
 * Asks the node whether it has a transaction: in its mempool
 * (getmempoolentry), else in a block of the active chain (getrawtransaction,
 * which finds confirmed transactions only with -txindex; without it, an
 * output still in the UTXO set, by gettxout, shows the transaction is
 * confirmed). All calls are read-only, so the client retries them through
 * transport failures; what still fails is thrown.
 */
export async function lookUpTransaction(client: NodeClient, tx: LookupTx, signal?: AbortSignal): Promise<TxWhereabouts> {
  const entry = await mempoolFee(client, tx.txid, signal)
  if (entry) return {where: 'mempool', fee: entry.fee}
  let verbose: {blockhash?: string; confirmations?: number} | null
  try {
    verbose = await client.call<{blockhash?: string; confirmations?: number} | null>('getrawtransaction', [tx.txid, 1], {signal})
  } catch (err) {
    if (!(err instanceof RpcError)) throw err
    return (await someOutputUnspent(client, tx, signal)) ? {where: 'chain'} : {where: 'nowhere'}
  }
  if ((verbose?.confirmations ?? 0) > 0) return {where: 'chain'}
  // found in no block: it entered the mempool since getmempoolentry
  if (verbose && !verbose.blockhash) return {where: 'mempool'}
  // only in a block that a reorg took off the chain (-txindex remembers those): not confirmed
  return {where: 'nowhere'}
}

/** Whether an output of the transaction is in the UTXO set (mempool spends aside): then it is confirmed. */
async function someOutputUnspent(client: NodeClient, tx: LookupTx, signal?: AbortSignal): Promise<boolean> {
  const coins = await Promise.all(
    tx.spendableVouts.map(async (vout) => {
      try {
        return await client.call<unknown>('gettxout', [tx.txid, vout, false], {signal})
      } catch (err) {
        if (err instanceof RpcError) return null
        throw err
      }
    }),
  )
  return coins.some((coin) => coin !== null && coin !== undefined)
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
