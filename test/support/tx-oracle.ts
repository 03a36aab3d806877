/**
 * What Bitcoin Core says of every transaction and output — the truth `bix
 * query tx` and `bix query outpoint` are held to, in their --json shape,
 * built only from the node's own answers (Core, or the simulator through the
 * same RPCs when BITCOIND is unset):
 *
 * - `getblockhash` / `getblock <hash> 1`: each block's transactions in order, height, hash, time;
 * - `getrawtransaction <txid> 2 <blockhash>` (the genesis coinbase, which Core
 *   will not serve that way: `getblock <hash> 2`): version, locktime, size,
 *   vsize, weight, fee, confirmations, hex, every input with its prevout;
 * - for mempool transactions `getrawtransaction <txid> 1`, `getmempoolentry`
 *   (the fee) and the parents' outputs (`getrawtransaction <parent> 1`);
 * - `gettxspendingprevout` with -txospenderindex: the spender of every output,
 *   confirmed or in the mempool, and `getrawtransaction <spender> 1` for the
 *   spending input; `gettxout` must agree on which outputs are unspent;
 * - stale-only transactions: `getrawtransaction <txid> 1 <stale block>` says
 *   in_active_chain false and `getmempoolentry` knows nothing of them.
 *
 * The only translation of ours is Core's script type names into Esplora's (TYPE_NAMES).
 */
import assert from 'node:assert/strict'

import {satsOf, type RpcNode} from './core-oracle.js'

/** Core's scriptPubKey.type → Esplora's scriptpubkey_type */
const TYPE_NAMES: Record<string, string> = {
  pubkey: 'p2pk',
  pubkeyhash: 'p2pkh',
  scripthash: 'p2sh',
  witness_v0_keyhash: 'v0_p2wpkh',
  witness_v0_scripthash: 'v0_p2wsh',
  witness_v1_taproot: 'v1_p2tr',
  anchor: 'anchor',
  witness_unknown: 'witness_unknown',
  nulldata: 'op_return',
  multisig: 'multisig',
  nonstandard: 'nonstandard',
}

export interface StatusTruth {
  confirmed: boolean
  block_height?: number
  block_hash?: string
  block_time?: number
}

export interface OutputTruth {
  scriptpubkey: string
  scriptpubkey_type: string
  scriptpubkey_address?: string
  value: number
}

export interface OutspendTruth {
  spent: boolean
  txid?: string
  vin?: number
  status?: StatusTruth
}

export interface TxTruth {
  txid: string
  version: number
  locktime: number
  vin: Array<{txid: string; vout: number; prevout: OutputTruth | null; scriptsig: string; witness?: string[]; is_coinbase: boolean; sequence: number}>
  vout: OutputTruth[]
  size: number
  weight: number
  vsize: number
  fee: number
  status: StatusTruth
  confirmations: number
  block_position: number | null
  outspends: OutspendTruth[]
  hex: string
}

export interface TxsTruth {
  tip: {height: number; hash: string}
  /** every transaction of the active chain, in chain order */
  txs: TxTruth[]
  /** the mempool's, by txid */
  mempool: TxTruth[]
  /** transactions only stale blocks hold */
  stale_only: string[]
}

interface CoreScriptPubKey {
  hex: string
  type: string
  address?: string
}
interface CoreTx {
  txid: string
  version: number
  locktime: number
  size: number
  vsize: number
  weight: number
  fee?: number
  hex: string
  confirmations?: number
  in_active_chain?: boolean
  vin: Array<{
    coinbase?: string
    txid?: string
    vout?: number
    scriptSig?: {hex: string}
    txinwitness?: string[]
    sequence: number
    prevout?: {value: number; scriptPubKey: CoreScriptPubKey}
  }>
  vout: Array<{value: number; n: number; scriptPubKey: CoreScriptPubKey}>
}

const output = (value: number, spk: CoreScriptPubKey): OutputTruth => {
  const type = TYPE_NAMES[spk.type]
  assert.ok(type, `a script type Core names ${spk.type}`)
  return {scriptpubkey: spk.hex, scriptpubkey_type: type, ...(spk.address ? {scriptpubkey_address: spk.address} : {}), value: satsOf(value)}
}

/** Core's account of the active chain, its mempool and the stale-only transactions of `staleBlocks`. */
export async function coreTxsTruth(node: RpcNode, staleBlocks: readonly string[]): Promise<TxsTruth> {
  await waitForSpenderIndex(node)
  const height = await node.rpc<number>('getblockcount')
  const blocks = new Map<string, StatusTruth>()
  const placed: Array<{txid: string; status: StatusTruth; position: number}> = []
  let genesisConfirmations = 0
  let tipHash = ''
  for (let h = 0; h <= height; h++) {
    const hash = await node.rpc<string>('getblockhash', [h])
    const block = await node.rpc<{tx: string[]; time: number; confirmations: number}>('getblock', [hash, 1])
    const status = {confirmed: true, block_height: h, block_hash: hash, block_time: block.time}
    blocks.set(hash, status)
    if (h === 0) genesisConfirmations = block.confirmations
    block.tx.forEach((txid, position) => placed.push({txid, status, position}))
    tipHash = hash
  }

  const spenderVin = async (spender: string, txid: string, vout: number): Promise<number> => {
    const tx = await node.rpc<CoreTx>('getrawtransaction', [spender, 1])
    const vin = tx.vin.findIndex((input) => input.txid === txid && input.vout === vout)
    assert.ok(vin >= 0, `Core's spender ${spender} of ${txid}:${vout} has an input spending it`)
    return vin
  }
  const outspendsOf = async (tx: CoreTx, inMempool = false): Promise<OutspendTruth[]> => {
    const answers = await node.rpc<Array<{spendingtxid?: string; blockhash?: string}>>('gettxspendingprevout', [tx.vout.map((o) => ({txid: tx.txid, vout: o.n}))])
    const outspends: OutspendTruth[] = []
    for (const [n, a] of answers.entries()) {
      if (!a.spendingtxid) {
        outspends.push({spent: false})
        // an unspent output Core can spend is in its UTXO set, unless a mempool transaction spends it (then spendingtxid is set)
        if (tx.vout[n].scriptPubKey.type !== 'nulldata') {
          // a mempool transaction's outputs are coins only counting the mempool
          const coin = await node.rpc('gettxout', [tx.txid, n, inMempool])
          const genesis = placed[0].txid === tx.txid
          assert.equal(coin === null, genesis, `gettxout agrees that ${tx.txid}:${n} is unspent`)
        }
        continue
      }
      const status = a.blockhash ? blocks.get(a.blockhash) : {confirmed: false}
      assert.ok(status, `Core's spending block ${a.blockhash} is in the active chain`)
      if (a.blockhash) assert.equal(await node.rpc('gettxout', [tx.txid, n, false]), null, `gettxout agrees that ${tx.txid}:${n} is spent`)
      outspends.push({spent: true, txid: a.spendingtxid, vin: await spenderVin(a.spendingtxid, tx.txid, n), status})
    }
    return outspends
  }
  const inputsOf = async (tx: CoreTx, prevoutOf: (input: CoreTx['vin'][number]) => Promise<OutputTruth | null>): Promise<TxTruth['vin']> => {
    const vin: TxTruth['vin'] = []
    for (const input of tx.vin) {
      const coinbase = input.coinbase !== undefined
      vin.push({
        txid: coinbase ? '0'.repeat(64) : input.txid!,
        vout: coinbase ? 0xffff_ffff : input.vout!,
        prevout: coinbase ? null : await prevoutOf(input),
        scriptsig: coinbase ? input.coinbase! : input.scriptSig!.hex,
        ...(input.txinwitness && input.txinwitness.length > 0 ? {witness: input.txinwitness} : {}),
        is_coinbase: coinbase,
        sequence: input.sequence,
      })
    }
    return vin
  }

  const txs: TxTruth[] = []
  for (const {txid, status, position} of placed) {
    const tx =
      status.block_height === 0
        ? {...(await node.rpc<{tx: CoreTx[]}>('getblock', [status.block_hash, 2])).tx[0], confirmations: genesisConfirmations}
        : await node.rpc<CoreTx>('getrawtransaction', [txid, 2, status.block_hash])
    txs.push({
      txid,
      version: tx.version,
      locktime: tx.locktime,
      vin: await inputsOf(tx, async (input) => output(input.prevout!.value, input.prevout!.scriptPubKey)),
      vout: tx.vout.map((o) => output(o.value, o.scriptPubKey)),
      size: tx.size,
      weight: tx.weight,
      vsize: tx.vsize,
      fee: tx.fee === undefined ? 0 : satsOf(tx.fee),
      status,
      confirmations: tx.confirmations!,
      block_position: position,
      outspends: await outspendsOf(tx),
      hex: tx.hex,
    })
  }

  const mempool: TxTruth[] = []
  for (const txid of (await node.rpc<string[]>('getrawmempool')).sort()) {
    const tx = await node.rpc<CoreTx>('getrawtransaction', [txid, 1])
    const entry = await node.rpc<{fees: {base: number}}>('getmempoolentry', [txid])
    mempool.push({
      txid,
      version: tx.version,
      locktime: tx.locktime,
      vin: await inputsOf(tx, async (input) => {
        const parent = await node.rpc<CoreTx>('getrawtransaction', [input.txid, 1])
        const out = parent.vout[input.vout!]
        return output(out.value, out.scriptPubKey)
      }),
      vout: tx.vout.map((o) => output(o.value, o.scriptPubKey)),
      size: tx.size,
      weight: tx.weight,
      vsize: tx.vsize,
      fee: satsOf(entry.fees.base),
      status: {confirmed: false},
      confirmations: 0,
      block_position: null,
      outspends: await outspendsOf(tx, true),
      hex: tx.hex,
    })
  }

  const known = new Set([...placed.map((p) => p.txid), ...mempool.map((t) => t.txid)])
  const staleOnly: string[] = []
  for (const hash of staleBlocks) {
    for (const txid of (await node.rpc<{tx: string[]}>('getblock', [hash, 1])).tx) {
      if (known.has(txid)) continue
      const tx = await node.rpc<CoreTx>('getrawtransaction', [txid, 1, hash])
      assert.equal(tx.in_active_chain, false, `${txid} is only in stale block ${hash}`)
      await assert.rejects(node.rpc('getmempoolentry', [txid]), `${txid} is not in the mempool`)
      staleOnly.push(txid)
    }
  }
  return {tip: {height, hash: tipHash}, txs, mempool, stale_only: staleOnly.sort()}
}

/** -txospenderindex builds in the background after the node starts. */
async function waitForSpenderIndex(node: RpcNode): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const info = await node.rpc<Record<string, {synced: boolean}>>('getindexinfo', ['txospenderindex'])
    // the simulator's index is always up to date and not listed
    if (!info.txospenderindex || info.txospenderindex.synced) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('txospenderindex did not finish syncing')
}

/** The outpoint answers that follow from the transaction truth: `bix query outpoint --json` for output `vout` of `tx`. */
export function outpointTruth(tx: TxTruth, vout: number): unknown {
  const spend = tx.outspends[vout]
  return {
    txid: tx.txid,
    vout,
    value: tx.vout[vout].value,
    status: tx.status,
    spent: spend.spent,
    spender: spend.spent ? {txid: spend.txid, vin: spend.vin, status: spend.status} : null,
  }
}
