import {Transaction} from 'bitcoinjs-lib'

import {fromDisplayHex, toDisplayHex} from '../chain/hashes.js'
import {BixError, RpcCode, RpcError} from '../errors.js'
import {getRawTransactionHex, getTxSpendingPrevout} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'
import type {TxReads} from '../store/index-store.js'
import type {BlockReads} from './block-reads.js'
import type {Outspend, TxStatus} from './tx-json.js'

/**
 * Who spends an output. The index names a confirmed spender by its tx_num
 * only (storing the input's position too would grow the hottest column of
 * `bix index`); the position is read from the spender's block. Unconfirmed
 * spenders come from the node's mempool (gettxspendingprevout), which needs
 * no -txindex.
 */

export interface OutpointRef {
  /** display hex */
  txid: string
  vout: number
}

export const outpointKey = (o: OutpointRef) => `${o.txid}:${o.vout}`

export function confirmedStatus(place: {height: number; blockHash: Buffer; blockTime: number}): TxStatus {
  return {confirmed: true, block_height: place.height, block_hash: toDisplayHex(place.blockHash), block_time: place.blockTime}
}

/** The confirmed spenders of outputs the index holds as spent, by outpointKey. */
export async function confirmedSpends(
  reader: TxReads,
  blocks: BlockReads,
  spent: ReadonlyArray<OutpointRef & {spentBy: number}>,
): Promise<Map<string, Outspend>> {
  const places = spent.map((s) => reader.place(s.spentBy))
  const answers = new Map<string, Outspend>()
  await blocks.each(
    places.map((p) => ({height: p.height, hash: p.blockHash})),
    (block, _raw, parsed) => {
      spent.forEach((s, i) => {
        const place = places[i]
        if (place.height !== block.height) return
        const spender = parsed.txs[place.position]
        const prevTxid = fromDisplayHex(s.txid)
        // a coinbase repeating an earlier txid (BIP30) overwrote the output without an input naming it
        const vin = spender.isCoinbase ? -1 : spender.inputs.findIndex((input) => input.prevVout === s.vout && input.prevTxid.equals(prevTxid))
        if (vin < 0 && !spender.isCoinbase) {
          throw new BixError('DatabaseError', `the index says ${toDisplayHex(spender.txid)} spends ${outpointKey(s)}, but none of its inputs does; run bix index`)
        }
        answers.set(outpointKey(s), {spent: true, txid: toDisplayHex(place.txid), vin: vin < 0 ? null : vin, status: confirmedStatus(place)})
      })
    },
  )
  return answers
}

/** The node's mempool transactions spending any of `outpoints`, by outpointKey; outpoints no mempool transaction spends are absent. */
export async function mempoolSpends(client: NodeClient, outpoints: readonly OutpointRef[], signal: AbortSignal): Promise<Map<string, Outspend>> {
  const answers = new Map<string, Outspend>()
  if (outpoints.length === 0) return answers
  let spends
  try {
    spends = await getTxSpendingPrevout(client, outpoints, {signal})
  } catch (err) {
    if (err instanceof RpcError && err.code === RpcCode.methodNotFound) {
      throw new BixError('NodeUnsupported', 'the node has no gettxspendingprevout (Bitcoin Core 24 or later has it): bix cannot ask it which mempool transaction spends an output')
    }
    throw err
  }
  const spenders = new Map<string, Transaction>()
  for (const spend of spends) {
    // a confirmed spender the node knows (-txospenderindex) but the index does not yet: the index's answer stands
    if (!spend.spendingTxid || spend.blockHash) continue
    let tx = spenders.get(spend.spendingTxid)
    if (!tx) {
      const hex = await getRawTransactionHex(client, spend.spendingTxid, {signal}).catch((err: unknown) => {
        // confirmed or evicted since the previous answer: that output's mempool spender is gone
        if (err instanceof RpcError && err.code === RpcCode.invalidAddressOrKey) return undefined
        throw err
      })
      if (hex === undefined) continue
      tx = Transaction.fromHex(hex)
      spenders.set(spend.spendingTxid, tx)
    }
    const prevTxid = fromDisplayHex(spend.txid)
    const vin = tx.ins.findIndex((input) => input.index === spend.vout && Buffer.from(input.hash).equals(prevTxid))
    if (vin < 0) continue
    answers.set(outpointKey(spend), {spent: true, txid: spend.spendingTxid, vin, status: {confirmed: false}})
  }
  return answers
}
