/**
 * Mempool acceptance as Bitcoin Core decides it (MemPoolAccept::PreChecks and
 * friends), with Core's reject reasons and details: the checks a broadcast
 * tool meets in practice — decode-level sanity, standardness, dust, finality,
 * duplicates, missing inputs, immature coinbase spends, fee floors and the
 * replace-by-fee rules. Scripts and signatures are not verified, beyond a
 * P2WSH witness script matching its program.
 */
import type {Transaction} from 'bitcoinjs-lib'

import {type Coin, type Ledger, inputTxid, outpointKey} from './ledger.js'
import type {Mempool} from './mempool.js'
import {isUnspendable, solve} from './scripts.js'
import {COIN} from './block-builder.js'
import {wtxidOf} from './block-codec.js'
import {sha256} from '../../../src/lib/chain/hashes.js'

export interface PolicySettings {
  /** sat per 1000 vbytes; Core 30+ default 100 (0.1 sat/vB) */
  minRelayFeeRate: number
  incrementalRelayFeeRate: number
  dustRelayFeeRate: number
  /** false makes any conflict a `txn-mempool-conflict` (pre-full-RBF behaviour) */
  replaceByFee: boolean
}

export const DEFAULT_POLICY: PolicySettings = {
  minRelayFeeRate: 100,
  incrementalRelayFeeRate: 100,
  dustRelayFeeRate: 3000,
  replaceByFee: true,
}

export const MAX_MONEY = 21_000_000n * COIN
export const COINBASE_MATURITY = 100

export type Verdict =
  | {ok: true; fee: bigint; vsize: number; weight: number; replaces: string[]}
  | {ok: false; missingInputs: boolean; reason: string; details?: string}

export interface AcceptContext {
  ledger: Ledger
  mempool: Mempool
  tipHeight: number
  settings: PolicySettings
  /** outputs of earlier transactions in the same package, not yet in the mempool */
  packageCoins?: Map<string, Coin>
  /** judged as part of a package: the caller checks the package's fee rate against the relay floor */
  packageFeerate?: boolean
}

const reject = (reason: string, details?: string): Verdict => ({ok: false, missingInputs: false, reason, details})

/** Core's FormatMoney: at least two decimals, trailing zeros trimmed. */
export function formatMoney(sats: bigint): string {
  const negative = sats < 0n
  const abs = negative ? -sats : sats
  let frac = (abs % COIN).toString().padStart(8, '0')
  while (frac.length > 2 && frac.endsWith('0')) frac = frac.slice(0, -1)
  return `${negative ? '-' : ''}${abs / COIN}.${frac}`
}

/** CFeeRate::GetFee: the fee for a size at a rate, rounded up. */
export const feeForSize = (ratePerKvB: number, vsize: number): bigint => BigInt(Math.ceil((ratePerKvB * vsize) / 1000))

/** Core's GetDustThreshold for one output at the dust relay rate. */
export function dustThreshold(script: Buffer, dustRelayFeeRate: number): bigint {
  if (isUnspendable(script)) return 0n
  const outputSize = 8 + varIntSize(script.length) + script.length
  const solved = solve(script)
  const witness = solved.version !== undefined
  // the size of a typical input spending it: 32+4+1+107+4, witness data discounted
  const spendSize = witness ? 32 + 4 + 1 + Math.floor(107 / 4) + 4 : 32 + 4 + 1 + 107 + 4
  return feeForSize(dustRelayFeeRate, outputSize + spendSize)
}

const varIntSize = (n: number): number => (n < 0xfd ? 1 : n <= 0xffff ? 3 : 5)

/** Decides whether `tx` may enter the mempool now. */
export function checkAccept(ctx: AcceptContext, tx: Transaction): Verdict {
  const txid = tx.getId()
  const wtxid = wtxidOf(tx)
  const weight = tx.weight()
  const vsize = tx.virtualSize()

  // CheckTransaction
  if (tx.ins.length === 0) return reject('bad-txns-vin-empty')
  if (tx.outs.length === 0) return reject('bad-txns-vout-empty')
  if (tx.byteLength(false) * 4 > 4_000_000) return reject('bad-txns-oversize')
  let totalOut = 0n
  for (const out of tx.outs) {
    if (out.value < 0n) return reject('bad-txns-vout-negative')
    if (out.value > MAX_MONEY) return reject('bad-txns-vout-toolarge')
    totalOut += out.value
    if (totalOut > MAX_MONEY) return reject('bad-txns-txouttotal-toolarge')
  }
  const prevouts = tx.ins.map((input) => outpointKey(inputTxid(input.hash), input.index))
  if (new Set(prevouts).size !== prevouts.length) return reject('bad-txns-inputs-duplicate')
  if (tx.isCoinbase()) return reject('coinbase')
  if (tx.ins.some((input) => input.index === 0xffffffff && input.hash.every((b) => b === 0))) return reject('bad-txns-prevout-null')

  // IsStandardTx
  if (tx.version < 1 || tx.version > 3) return reject('version')
  if (weight > 400_000) return reject('tx-size')
  if (tx.byteLength(false) < 65) return reject('tx-size-small')
  for (const input of tx.ins) if (input.script.length > 1650) return reject('scriptsig-size')
  for (const out of tx.outs) if (solve(out.script).type === 'nonstandard') return reject('scriptpubkey')
  const dustOutputs = tx.outs.filter((out) => out.value < dustThreshold(Buffer.from(out.script), ctx.settings.dustRelayFeeRate))
  if (dustOutputs.length > 1) return reject('dust')

  // finality for the next block (IsFinalTx at tip+1)
  const nextHeight = ctx.tipHeight + 1
  if (tx.locktime !== 0 && tx.locktime < 500_000_000 && tx.locktime >= nextHeight && tx.ins.some((i) => i.sequence !== 0xffffffff)) {
    return reject('non-final')
  }

  // already known
  const existing = ctx.mempool.get(txid)
  if (existing) return reject(existing.wtxid === wtxid ? 'txn-already-in-mempool' : 'txn-same-nonwitness-data-in-mempool')

  // conflicts with mempool transactions
  const conflicts = new Set<string>()
  tx.ins.forEach((input) => {
    const spender = ctx.mempool.spenderOf(inputTxid(input.hash), input.index)
    if (spender) conflicts.add(spender)
  })
  if (conflicts.size > 0 && !ctx.settings.replaceByFee) return reject('txn-mempool-conflict')

  // inputs
  const alreadyKnown = () => tx.outs.some((_, vout) => ctx.ledger.utxos.has(outpointKey(txid, vout)))
  if (alreadyKnown()) return reject('txn-already-known')
  let totalIn = 0n
  const spent: Coin[] = []
  for (const input of tx.ins) {
    const parent = inputTxid(input.hash)
    const key = outpointKey(parent, input.index)
    const coin = ctx.packageCoins?.get(key) ?? ctx.ledger.utxos.get(key) ?? mempoolCoin(ctx.mempool, parent, input.index)
    if (!coin) return {ok: false, missingInputs: true, reason: 'bad-txns-inputs-missingorspent'}
    if (conflicts.has(parent)) return reject('bad-txns-spends-conflicting-tx', `${txid} spends conflicting transaction ${parent}`)
    if (coin.coinbase && nextHeight - coin.height < COINBASE_MATURITY) {
      return reject('bad-txns-premature-spend-of-coinbase', `tried to spend coinbase at depth ${nextHeight - coin.height}`)
    }
    totalIn += coin.value
    spent.push(coin)
  }
  if (totalIn < totalOut) return reject('bad-txns-in-belowout', `value in (${formatMoney(totalIn)}) < value out (${formatMoney(totalOut)})`)
  const fee = totalIn - totalOut

  if (dustOutputs.length === 1 && fee !== 0n) return reject('dust', 'tx with dust output must be 0-fee')
  const minFee = feeForSize(ctx.settings.minRelayFeeRate, vsize)
  if (fee < minFee && !ctx.packageFeerate) return reject('min relay fee not met', `${fee} < ${minFee}`)

  // replace-by-fee (BIP125 rules 3 and 4, as Core words them)
  const replaces = new Set<string>()
  for (const conflict of conflicts) {
    replaces.add(conflict)
    for (const d of ctx.mempool.descendants(conflict)) replaces.add(d)
  }
  if (replaces.size > 100) return reject('too many potential replacements', `rejecting replacement ${txid}; too many potential replacements (${replaces.size} > 100)`)
  if (replaces.size > 0) {
    // PaysForRBF first: more in fees than all it evicts, plus relay for its own size
    let replacedFees = 0n
    for (const id of replaces) replacedFees += ctx.mempool.get(id)!.fee
    if (fee < replacedFees) {
      return reject('insufficient fee', `rejecting replacement ${txid}, less fees than conflicting txs; ${formatMoney(fee)} < ${formatMoney(replacedFees)}`)
    }
    const required = feeForSize(ctx.settings.incrementalRelayFeeRate, vsize)
    if (fee - replacedFees < required) {
      return reject('insufficient fee', `rejecting replacement ${txid}, not enough additional fees to relay; ${formatMoney(fee - replacedFees)} < ${formatMoney(required)}`)
    }
    // then (cluster mempool, Core 29+) the mempool's feerate diagram must improve; for lone transactions
    // replaced by one, that is a higher fee rate than each of them
    for (const conflict of conflicts) {
      const old = ctx.mempool.get(conflict)!
      if (fee * BigInt(old.vsize) <= old.fee * BigInt(vsize)) return reject('replacement-failed', 'insufficient feerate: does not improve feerate diagram')
    }
  }

  // script checks come last (PolicyScriptChecks); scripts are not run here, but a P2WSH witness must carry the script its program commits to
  for (const [i, input] of tx.ins.entries()) {
    const failure = witnessScriptFailure(spent[i].script, input.witness)
    if (failure) {
      return reject(`mempool-script-verify-flag-failed (${failure})`, `input ${i} of ${txid} (wtxid ${wtxid}), spending ${inputTxid(input.hash)}:${input.index}`)
    }
  }
  return {ok: true, fee, vsize, weight, replaces: [...replaces]}
}

/** Core's interpreter messages for a P2WSH spend whose witness cannot be the committed script. */
function witnessScriptFailure(script: Buffer, witness: Uint8Array[]): string | undefined {
  if (script.length !== 34 || script[0] !== 0x00 || script[1] !== 0x20) return undefined
  if (witness.length === 0) return 'Witness program was passed an empty witness'
  if (!sha256(witness[witness.length - 1]).equals(script.subarray(2))) return 'Witness program hash mismatch'
  return undefined
}

function mempoolCoin(mempool: Mempool, txid: string, vout: number): Coin | undefined {
  const entry = mempool.get(txid)
  const out = entry?.tx.outs[vout]
  if (!entry || !out || isUnspendable(out.script)) return undefined
  return {value: out.value, script: Buffer.from(out.script), height: 0x7fffffff, coinbase: false}
}
