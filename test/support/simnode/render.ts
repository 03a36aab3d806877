/**
 * Core's JSON shapes for blocks, headers, transactions and mempool entries
 * (blockheaderToJSON, blockToJSON, TxToUniv, entryToJSON), keys in Core's
 * order, amounts as Amount so they print with 8 decimals.
 */
import type {Transaction} from 'bitcoinjs-lib'

import {type BlockEntry, Chain} from './chain.js'
import {bitsToTarget, difficulty, hex256, wtxidOf} from './block-codec.js'
import {Amount} from './core-json.js'
import {type Coin, inputTxid} from './ledger.js'
import type {MempoolEntry} from './mempool.js'
import type {AddressPrefixes} from '../../../src/lib/chain/networks.js'
import {scriptPubKeyJson, scriptToAsm} from './scripts.js'

export type TxVerbosity = 'txid' | 'details' | 'prevout'

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

export function headerJson(chain: Chain, entry: BlockEntry): Record<string, unknown> {
  const next = chain.next(entry)
  return {
    hash: entry.hash,
    confirmations: chain.isActive(entry) ? chain.height - entry.height + 1 : -1,
    height: entry.height,
    version: entry.version,
    versionHex: (entry.version >>> 0).toString(16).padStart(8, '0'),
    merkleroot: entry.merkleRoot,
    time: entry.time,
    mediantime: chain.medianTimePast(entry),
    nonce: entry.nonce,
    bits: entry.bits.toString(16).padStart(8, '0'),
    target: hex256(bitsToTarget(entry.bits)),
    difficulty: difficulty(entry.bits),
    chainwork: hex256(entry.chainWork),
    nTx: entry.nTx,
    previousblockhash: entry.prev?.hash,
    nextblockhash: next?.hash,
  }
}

export function blockJson(chain: Chain, entry: BlockEntry, verbosity: TxVerbosity): Record<string, unknown> {
  const parsed = chain.parsed(entry)
  const stripped = entry.raw.length - parsed.txs.reduce((sum, tx) => sum + tx.byteLength(true) - tx.byteLength(false), 0)
  const coinbase = parsed.txs[0]
  const undo = verbosity === 'txid' ? undefined : chain.spentCoins(entry)
  const txs =
    verbosity === 'txid'
      ? parsed.txids
      : parsed.txs.map((tx, i) => txJson(tx, {verbosity, spent: i > 0 ? undo?.[i - 1] : undefined, includeHex: true, prefixes: chain.addressPrefixes}))
  return {
    ...headerJson(chain, entry),
    strippedsize: stripped,
    size: entry.raw.length,
    weight: stripped * 3 + entry.raw.length,
    coinbase_tx: {
      version: coinbase.version,
      locktime: coinbase.locktime,
      sequence: coinbase.ins[0].sequence,
      coinbase: hex(coinbase.ins[0].script),
      witness: coinbase.ins[0].witness.length > 0 ? hex(coinbase.ins[0].witness[0]) : undefined,
    },
    tx: txs,
  }
}

export interface TxJsonOptions {
  verbosity?: TxVerbosity
  /** coins the inputs spent (undo data): adds `fee`, and `prevout` at verbosity 'prevout' */
  spent?: Coin[]
  /** heights of the blocks those coins came from are in the coins themselves */
  blockHash?: string
  includeHex?: boolean
  /** the node's network's address forms (default regtest's) */
  prefixes?: AddressPrefixes
}

/** Core's TxToUniv. */
export function txJson(tx: Transaction, opts: TxJsonOptions = {}): Record<string, unknown> {
  const isCoinbase = tx.isCoinbase()
  const spent = isCoinbase ? undefined : opts.spent
  const vin = tx.ins.map((input, i) => {
    const witness = input.witness.length > 0 ? input.witness.map(hex) : undefined
    if (isCoinbase) return {coinbase: hex(input.script), txinwitness: witness, sequence: input.sequence}
    const coin = spent?.[i]
    return {
      txid: inputTxid(input.hash),
      vout: input.index,
      scriptSig: {asm: scriptToAsm(input.script, true), hex: hex(input.script)},
      txinwitness: witness,
      prevout:
        coin && opts.verbosity === 'prevout'
          ? {generated: coin.coinbase, height: coin.height, value: new Amount(coin.value), scriptPubKey: scriptPubKeyJson(coin.script, opts.prefixes)}
          : undefined,
      sequence: input.sequence,
    }
  })
  const vout = tx.outs.map((out, n) => ({value: new Amount(out.value), n, scriptPubKey: scriptPubKeyJson(out.script, opts.prefixes)}))
  const fee = spent ? spent.reduce((sum, c) => sum + c.value, 0n) - tx.outs.reduce((sum, o) => sum + o.value, 0n) : undefined
  return {
    txid: tx.getId(),
    hash: wtxidOf(tx),
    version: tx.version,
    size: tx.byteLength(),
    vsize: tx.virtualSize(),
    weight: tx.weight(),
    locktime: tx.locktime,
    vin,
    vout,
    fee: fee === undefined ? undefined : new Amount(fee),
    blockhash: opts.blockHash,
    hex: opts.includeHex ? hex(tx.toBuffer()) : undefined,
  }
}

/** Core's entryToJSON for getrawmempool true / getmempoolentry. */
export function mempoolEntryJson(chain: Chain, entry: MempoolEntry): Record<string, unknown> {
  const mempool = chain.mempool
  const ancestors = mempool.ancestors(entry.txid).map((id) => mempool.get(id)!)
  const descendants = mempool.descendants(entry.txid).map((id) => mempool.get(id)!)
  const sum = (list: MempoolEntry[], pick: (e: MempoolEntry) => bigint | number) => list.reduce((acc, e) => acc + BigInt(pick(e)), 0n)
  const chunk = mempool.chunk(entry.txid)
  return {
    vsize: entry.vsize,
    vsize_bip141: entry.vsize,
    vsize_adjusted: entry.vsize,
    weight: entry.weight,
    time: entry.time,
    height: entry.height,
    descendantcount: descendants.length + 1,
    descendantsize: Number(sum(descendants, (e) => e.vsize)) + entry.vsize,
    ancestorcount: ancestors.length + 1,
    ancestorsize: Number(sum(ancestors, (e) => e.vsize)) + entry.vsize,
    chunkweight: Number(sum(chunk, (e) => e.weight)),
    wtxid: entry.wtxid,
    fees: {
      base: new Amount(entry.fee),
      modified: new Amount(entry.fee),
      ancestor: new Amount(sum(ancestors, (e) => e.fee) + entry.fee),
      descendant: new Amount(sum(descendants, (e) => e.fee) + entry.fee),
      chunk: new Amount(sum(chunk, (e) => e.fee)),
    },
    depends: mempool.parents(entry.txid),
    spentby: mempool.children(entry.txid),
    unbroadcast: !entry.relayed,
  }
}
