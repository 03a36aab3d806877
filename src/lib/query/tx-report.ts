import {Transaction} from 'bitcoinjs-lib'

import {fromDisplayHex, toDisplayHex} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import {BixError, RpcCode, RpcError, badInput} from '../errors.js'
import {getMempoolEntry, getRawTransactionHex} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'
import type {TxReads} from '../store/index-store.js'
import {type BlockReads, transactionBytesAt} from './block-reads.js'
import {type OutpointRef, confirmedSpends, confirmedStatus, mempoolSpends, outpointKey} from './spenders.js'
import {
  type EsploraInput,
  type EsploraOutput,
  type Outspend,
  type Prevout,
  type TxStatus,
  esploraInputs,
  esploraOutput,
  feeOf,
  isCoinbaseInput,
} from './tx-json.js'

/**
 * `bix query tx`: a transaction as Esplora's `/tx/:txid` shows it, plus its
 * outspends, answered without -txindex. A confirmed transaction is found in
 * the index (its block and place), its bytes and its prevouts' scripts in
 * the blocks (values and spenders come from the index); an unconfirmed one
 * comes from the node's mempool, which any node serves.
 */

export interface TxReport {
  txid: string
  version: number
  locktime: number
  vin: EsploraInput[]
  vout: EsploraOutput[]
  size: number
  weight: number
  vsize: number
  /** satoshis; 0 for a coinbase */
  fee: number
  status: TxStatus
  /** 0 while unconfirmed */
  confirmations: number
  /** the transaction's place in its block (0: the coinbase); null while unconfirmed */
  block_position: number | null
  /** per output, in order, as Esplora's `/tx/:txid/outspends` */
  outspends: Outspend[]
  /** the raw transaction, with --hex */
  hex?: string
}

export interface TxLookup {
  reader: TxReads
  client: NodeClient
  blocks: BlockReads
  network: NetworkName
  /** the index's tip height, for confirmations */
  tipHeight: number
  signal: AbortSignal
}

export function parseTxid(input: string): Buffer {
  const txid = input.trim()
  if (!/^[0-9a-fA-F]{64}$/.test(txid)) throw badInput(`${JSON.stringify(input)} is not a txid (64 hex digits)`)
  return fromDisplayHex(txid.toLowerCase())
}

export async function txReport(lookup: TxLookup, txidInput: string, options: {hex?: boolean} = {}): Promise<TxReport> {
  const txid = parseTxid(txidInput)
  const txNum = lookup.reader.txNumOf(txid)
  return txNum === undefined ? mempoolTxReport(lookup, txid, options) : confirmedTxReport(lookup, txNum, options)
}

async function confirmedTxReport(lookup: TxLookup, txNum: number, options: {hex?: boolean}): Promise<TxReport> {
  const {reader, blocks} = lookup
  const place = reader.place(txNum)
  let bytes: Buffer | undefined
  await blocks.each([{height: place.height, hash: place.blockHash}], (_block, raw) => {
    // a copy: the block's other bytes can go
    bytes = Buffer.from(transactionBytesAt(raw, place.position, place.txid))
  })
  const tx = Transaction.fromBuffer(bytes!)
  const txid = toDisplayHex(place.txid)
  const prevouts = await prevoutsOf(lookup, tx)

  const outputs = reader.outputs(txNum)
  const spent = outputs.filter((o) => o.spentBy !== null).map((o) => ({txid, vout: o.vout, spentBy: o.spentBy!}))
  const confirmed = await confirmedSpends(reader, blocks, spent)
  const unspent = outputs.filter((o) => o.spentBy === null).map((o) => ({txid, vout: o.vout}))
  const pending = await mempoolSpends(lookup.client, unspent, lookup.signal)
  const outspends = tx.outs.map((_out, vout) => {
    const key = outpointKey({txid, vout})
    return confirmed.get(key) ?? pending.get(key) ?? {spent: false}
  })
  return report(lookup, tx, prevouts, outspends, {
    status: confirmedStatus(place),
    confirmations: lookup.tipHeight - place.height + 1,
    block_position: place.position,
    hex: options.hex ? bytes!.toString('hex') : undefined,
  })
}

async function mempoolTxReport(lookup: TxLookup, txid: Buffer, options: {hex?: boolean}): Promise<TxReport> {
  const txidHex = toDisplayHex(txid)
  const hex = await fromMempool(lookup, txidHex)
  if (hex === undefined) throw notFound(`transaction ${txidHex} is neither in the index nor in the node's mempool`)
  const tx = Transaction.fromHex(hex)
  const prevouts = await prevoutsOf(lookup, tx)
  const pending = await mempoolSpends(lookup.client, tx.outs.map((_out, vout) => ({txid: txidHex, vout})), lookup.signal)
  const outspends = tx.outs.map((_out, vout) => pending.get(outpointKey({txid: txidHex, vout})) ?? {spent: false})
  return report(lookup, tx, prevouts, outspends, {status: {confirmed: false}, confirmations: 0, block_position: null, hex: options.hex ? hex : undefined})
}

/** The raw transaction if it is in the node's mempool (getmempoolentry: a node with -txindex would serve confirmed ones too). */
export async function fromMempool(lookup: TxLookup, txid: string): Promise<string | undefined> {
  try {
    await getMempoolEntry(lookup.client, txid, {signal: lookup.signal})
    return await getRawTransactionHex(lookup.client, txid, {signal: lookup.signal})
  } catch (err) {
    // "Transaction not in mempool" (or mined since the first answer)
    if (err instanceof RpcError && err.code === RpcCode.invalidAddressOrKey) return undefined
    throw err
  }
}

/**
 * The outputs the inputs spend: values from the index and scripts from the
 * blocks for confirmed ones, the node's mempool for unconfirmed parents.
 */
async function prevoutsOf(lookup: TxLookup, tx: Transaction): Promise<Array<Prevout | undefined>> {
  const {reader, blocks} = lookup
  const prevouts: Array<Prevout | undefined> = new Array(tx.ins.length).fill(undefined)
  const confirmed: Array<{vin: number; vout: number; value: number; place: ReturnType<TxReads['place']>}> = []
  const unconfirmed: Array<{vin: number; parent: OutpointRef}> = []
  tx.ins.forEach((input, vin) => {
    if (isCoinbaseInput(input)) return
    const prevTxid = Buffer.from(input.hash)
    const prevNum = reader.txNumOf(prevTxid)
    if (prevNum === undefined) {
      unconfirmed.push({vin, parent: {txid: toDisplayHex(prevTxid), vout: input.index}})
      return
    }
    const output = reader.output(prevNum, input.index)
    if (!output) throw new BixError('DatabaseError', `the index holds ${toDisplayHex(prevTxid)} but not its output ${input.index}, which ${tx.getId()} spends; run bix index`)
    confirmed.push({vin, vout: input.index, value: output.value, place: reader.place(prevNum)})
  })

  await blocks.each(
    confirmed.map((c) => ({height: c.place.height, hash: c.place.blockHash})),
    (block, _raw, parsed) => {
      for (const c of confirmed) {
        if (c.place.height !== block.height) continue
        // a copy: the block's bytes are let go
        prevouts[c.vin] = {script: Buffer.from(parsed.txs[c.place.position].outputs[c.vout].script), value: c.value}
      }
    },
  )

  const parents = new Map<string, Transaction>()
  for (const {vin, parent} of unconfirmed) {
    let parentTx = parents.get(parent.txid)
    if (!parentTx) {
      const hex = await fromMempool(lookup, parent.txid)
      if (hex === undefined) {
        throw new BixError('IndexBehind', `${tx.getId()} spends ${outpointKey(parent)}, which is neither in the index nor in the node's mempool: the index is behind the node; run bix index`)
      }
      parentTx = Transaction.fromHex(hex)
      parents.set(parent.txid, parentTx)
    }
    const out = parentTx.outs[parent.vout]
    if (!out) throw new BixError('NodeError', `${tx.getId()} spends ${outpointKey(parent)}, an output the node's transaction does not have`)
    prevouts[vin] = {script: out.script, value: Number(out.value)}
  }
  return prevouts
}

function report(
  lookup: TxLookup,
  tx: Transaction,
  prevouts: Array<Prevout | undefined>,
  outspends: Outspend[],
  where: {status: TxStatus; confirmations: number; block_position: number | null; hex?: string},
): TxReport {
  return {
    txid: tx.getId(),
    version: tx.version,
    locktime: tx.locktime,
    vin: esploraInputs(tx, prevouts, lookup.network),
    vout: tx.outs.map((out) => esploraOutput(out.script, Number(out.value), lookup.network)),
    size: tx.byteLength(),
    weight: tx.weight(),
    vsize: tx.virtualSize(),
    fee: feeOf(tx, prevouts),
    status: where.status,
    confirmations: where.confirmations,
    block_position: where.block_position,
    outspends,
    ...(where.hex === undefined ? {} : {hex: where.hex}),
  }
}

export const notFound = (message: string) => new BixError('NotFound', message)
