import {decodeRawTransaction, type DecodedTransaction} from '../chain/tx-decode.js'
import type {NetworkName} from '../chain/networks.js'
import {scriptToAddress} from '../chain/address.js'
import {BixError, RpcError} from '../errors.js'
import {btcToSats, getRawTransactionHex} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'
import {feeRateOf} from './fee-limits.js'

/**
 * The outputs a transaction spends (its prevouts), which the fee needs: the
 * fee is what goes in minus what comes out, and a raw transaction does not
 * say what goes in. Looked for, in order, among the other transactions of the
 * same call, in bix's own index, then from the node: the parent transaction,
 * which it has in its mempool, or in a block with -txindex; failing that the
 * coin itself in its UTXO set (gettxout), which every node has.
 */

export interface Outpoint {
  /** display hex */
  txid: string
  vout: number
}

export interface Prevout {
  /** satoshis */
  value: number
  address?: string
  from: 'given' | 'index' | 'node'
}

export const outpointKey = (o: Outpoint): string => `${o.txid}:${o.vout}`

/** Reads prevouts from bix's index; outpoints it does not hold are left out of the answer. */
export type IndexPrevoutReader = (outpoints: readonly Outpoint[]) => Map<string, {value: number}>

export interface PrevoutSources {
  network: NetworkName
  index?: IndexPrevoutReader
  client?: NodeClient
  signal?: AbortSignal
}

export interface PrevoutSearch {
  found: Map<string, Prevout>
  /** where we looked, for the "fee unknown" explanation */
  looked: Array<'given' | 'index' | 'node'>
}

export async function findPrevouts(txs: readonly DecodedTransaction[], sources: PrevoutSources): Promise<PrevoutSearch> {
  const found = new Map<string, Prevout>()
  const wanted = txs.flatMap((tx) => tx.inputs.filter((input) => !input.isCoinbase))
  const missing = () => wanted.filter((o) => !found.has(outpointKey(o)))

  const given = new Map(txs.map((tx) => [tx.txid, tx]))
  for (const o of wanted) {
    const output = given.get(o.txid)?.outputs[o.vout]
    if (output) found.set(outpointKey(o), {value: output.value, address: output.address, from: 'given'})
  }
  const looked: PrevoutSearch['looked'] = ['given']

  if (sources.index && missing().length > 0) {
    looked.push('index')
    for (const [key, {value}] of sources.index(missing())) found.set(key, {value, from: 'index'})
  }

  if (sources.client && missing().length > 0) {
    looked.push('node')
    const parents = [...new Set(missing().map((o) => o.txid))]
    const decoded = await Promise.all(parents.map((txid) => parentFromNode(sources.client!, txid, sources.network, sources.signal)))
    const byTxid = new Map(parents.map((txid, i) => [txid, decoded[i]]))
    for (const o of missing()) {
      const output = byTxid.get(o.txid)?.outputs[o.vout]
      if (output) found.set(outpointKey(o), {value: output.value, address: output.address, from: 'node'})
    }
    const coins = await Promise.all(missing().map(async (o) => [o, await coinFromNode(sources.client!, o, sources.network, sources.signal)] as const))
    for (const [o, coin] of coins) if (coin) found.set(outpointKey(o), coin)
  }
  return {found, looked}
}

/**
 * A confirmed coin from the node's UTXO set, whether or not a mempool
 * transaction spends it (include_mempool false), or undefined when it is
 * spent or never existed.
 */
async function coinFromNode(client: NodeClient, o: Outpoint, network: NetworkName, signal?: AbortSignal): Promise<Prevout | undefined> {
  let coin: {value?: unknown; scriptPubKey?: {hex?: unknown}} | null
  try {
    coin = await client.call<{value?: unknown; scriptPubKey?: {hex?: unknown}} | null>('gettxout', [o.txid, o.vout, false], {signal})
  } catch (err) {
    if (err instanceof RpcError) return undefined
    throw err
  }
  if (!coin || typeof coin.value !== 'number' || typeof coin.scriptPubKey?.hex !== 'string') return undefined
  const address = scriptToAddress(Buffer.from(coin.scriptPubKey.hex, 'hex'), network)
  return {value: btcToSats(coin.value), ...(address === undefined ? {} : {address}), from: 'node'}
}

/** The parent as the node has it, or undefined when it does not (-5: not in the mempool, no -txindex). */
async function parentFromNode(client: NodeClient, txid: string, network: NetworkName, signal?: AbortSignal): Promise<DecodedTransaction | undefined> {
  try {
    const decoded = decodeRawTransaction(await getRawTransactionHex(client, txid, {signal}), network)
    // a node that sends another transaction than asked for must not set our fee
    return decoded.txid === txid ? decoded : undefined
  } catch (err) {
    if (err instanceof RpcError) return undefined
    if (err instanceof BixError && err.kind === 'BadInput') return undefined
    throw err
  }
}

export interface FeeInfo {
  /** satoshis */
  fee?: number
  /** sat/vB, 3 decimals */
  feerate?: number
  /** why the fee is not known */
  unknownBecause?: string
}

export function feeOf(tx: DecodedTransaction, search: PrevoutSearch): FeeInfo {
  const spent = tx.inputs.filter((input) => !input.isCoinbase)
  const unknown = spent.filter((o) => !search.found.has(outpointKey(o)))
  if (spent.length === 0) return {unknownBecause: 'a coinbase transaction has no fee'}
  if (unknown.length > 0) return {unknownBecause: unknownReason(unknown.length, spent.length, search.looked)}
  const inValue = spent.reduce((sum, o) => sum + search.found.get(outpointKey(o))!.value, 0)
  const outValue = tx.outputs.reduce((sum, out) => sum + out.value, 0)
  const fee = inValue - outValue
  // negative means it spends less than it pays out: the node will refuse it (bad-txns-in-belowout)
  return {fee, feerate: feeRateOf(fee, tx.vsize)}
}

function unknownReason(unknown: number, total: number, looked: PrevoutSearch['looked']): string {
  const which = unknown === total ? (total === 1 ? 'the output it spends is' : `the ${total} outputs it spends are`) : `${unknown} of the ${total} outputs it spends are`
  const places = [looked.includes('index') ? "in bix's index" : undefined, looked.includes('node') ? 'known to the node' : undefined].filter(Boolean)
  const where =
    places.length === 0 ? 'not known (no index for this network, no node asked)' : places.length === 1 ? `not ${places[0]}` : `neither ${places.join(' nor ')}`
  // unspent coins are in the UTXO set; a spent one is found only in its parent, in a block with -txindex
  const hint = looked.includes('node') ? ' (a coin already spent is found only with -txindex)' : ''
  return `fee unknown: ${which} ${where}${hint}`
}
