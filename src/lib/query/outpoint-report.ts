import {Transaction} from 'bitcoinjs-lib'

import {toDisplayHex} from '../chain/hashes.js'
import {badInput} from '../errors.js'
import {confirmedSpends, confirmedStatus, mempoolSpends, outpointKey} from './spenders.js'
import type {Outspend, TxStatus} from './tx-json.js'
import {type TxLookup, fromMempool, notFound, parseTxid} from './tx-report.js'

/**
 * `bix query outpoint`: whether an output is spent and by what — a
 * confirmed transaction (from the index, its input from the block) or one in
 * the node's mempool.
 */

export interface OutpointReport {
  /** the output's transaction, display hex */
  txid: string
  vout: number
  /** satoshis */
  value: number
  /** the output's own transaction: confirmed where, or not */
  status: TxStatus
  spent: boolean
  /** the spending transaction and its input; null while unspent */
  spender: {txid: string; vin: number | null; status: TxStatus} | null
}

export function parseOutpoint(input: string): {txid: Buffer; vout: number} {
  const match = /^([0-9a-fA-F]{64}):(\d{1,10})$/.exec(input.trim())
  if (!match) throw badInput(`${JSON.stringify(input)} is not an outpoint (TXID:VOUT)`)
  const vout = Number(match[2])
  if (vout > 0xffff_ffff) throw badInput(`${JSON.stringify(input)}: the output number is above 4294967295`)
  return {txid: parseTxid(match[1]), vout}
}

export async function outpointReport(lookup: TxLookup, input: string): Promise<OutpointReport> {
  const {txid, vout} = parseOutpoint(input)
  const txidHex = toDisplayHex(txid)
  const missing = () => notFound(`output ${txidHex}:${vout} does not exist: the transaction has no output ${vout}`)
  const {reader, blocks} = lookup
  const txNum = reader.txNumOf(txid)
  if (txNum !== undefined) {
    const output = reader.output(txNum, vout)
    if (!output) throw missing()
    const place = reader.place(txNum)
    const ref = {txid: txidHex, vout}
    const spend =
      output.spentBy === null
        ? (await mempoolSpends(lookup.client, [ref], lookup.signal)).get(outpointKey(ref))
        : (await confirmedSpends(reader, blocks, [{...ref, spentBy: output.spentBy}])).get(outpointKey(ref))
    return answer(ref, output.value, confirmedStatus(place), spend)
  }

  const hex = await fromMempool(lookup, txidHex)
  if (hex === undefined) throw notFound(`output ${txidHex}:${vout}: transaction ${txidHex} is neither in the index nor in the node's mempool`)
  const out = Transaction.fromHex(hex).outs[vout]
  if (!out) throw missing()
  const ref = {txid: txidHex, vout}
  const spend = (await mempoolSpends(lookup.client, [ref], lookup.signal)).get(outpointKey(ref))
  return answer(ref, Number(out.value), {confirmed: false}, spend)
}

function answer(ref: {txid: string; vout: number}, value: number, status: TxStatus, spend: Outspend | undefined): OutpointReport {
  return {
    txid: ref.txid,
    vout: ref.vout,
    value,
    status,
    spent: spend !== undefined,
    spender: spend ? {txid: spend.txid!, vin: spend.vin ?? null, status: spend.status!} : null,
  }
}
