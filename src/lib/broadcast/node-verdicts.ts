import {RpcCode, type RpcError} from '../errors.js'
import {describeFeeLimit, type FeeRateLimit} from './fee-limits.js'

/**
 * What the node's answer means for one transaction. The node says "no" in
 * three dialects: sendrawtransaction's RPC errors (-22/-25/-26/-27 with
 * free-form text), testmempoolaccept's reject-reason strings and
 * submitpackage's per-transaction error strings. All three end up here.
 */
export type Verdict =
  | {kind: 'already-in-mempool'}
  | {kind: 'already-confirmed'}
  /** an input is unknown or spent: a double spend, or the transaction itself is already confirmed (look it up) */
  | {kind: 'missing-inputs'; reason: string; nodeCode?: number}
  /** Core's "txn-already-known": its outputs are already in the UTXO set, or it is in the mempool (look it up) */
  | {kind: 'already-known'; nodeCode?: number}
  | {kind: 'rejected'; reason: string; nodeCode?: number}
  /** an error that is not about the transaction (bad parameter, node trouble) */
  | {kind: 'error'; reason: string; nodeCode: number}

export interface VerdictContext {
  /** sat/vB, when the fee is known */
  feerate?: number
  maxFeeRate?: FeeRateLimit
  /** sats */
  maxBurn?: bigint
}

const MISSING_INPUTS = 'missing or spent inputs: the node knows no unspent output for one of the inputs (already spent by another transaction, or a parent it has not seen)'

/** sendrawtransaction's (or submitpackage's) RPC error. */
export function verdictOfRpcError(err: RpcError, context: VerdictContext): Verdict {
  const text = err.nodeMessage
  switch (err.code) {
    case RpcCode.verifyAlreadyInChain:
      // "Transaction outputs already in utxo set"; before Core 28 "Transaction already in block chain"
      return {kind: 'already-confirmed'}
    case RpcCode.deserializationError:
      return {kind: 'rejected', reason: `the node could not decode it: ${text}`, nodeCode: err.code}
    case RpcCode.verifyError:
    case RpcCode.verifyRejected:
      return verdictOfReason(text, context, err.code)
    default:
      return {kind: 'error', reason: `the node answered: ${text} (code ${err.code})`, nodeCode: err.code}
  }
}

/**
 * One reason string: a -25/-26 message, a testmempoolaccept reject-reason
 * (with its reject-details when given) or a submitpackage error.
 */
export function verdictOfReason(text: string, context: VerdictContext, nodeCode?: number): Verdict {
  const reason = text.split(',')[0].trim()
  // the same transaction, perhaps with another witness: the node has it
  if (reason === 'txn-already-in-mempool' || reason === 'txn-same-nonwitness-data-in-mempool') return {kind: 'already-in-mempool'}
  if (reason === 'txn-already-known') return {kind: 'already-known', nodeCode}
  if (reason === 'missing-inputs' || reason.startsWith('bad-txns-inputs-missingorspent') || reason === 'Missing inputs') {
    return {kind: 'missing-inputs', reason: MISSING_INPUTS, nodeCode}
  }
  if (reason === 'max-fee-exceeded' || reason === 'max feerate exceeded' || text.startsWith('Fee exceeds maximum configured by user')) {
    return {kind: 'rejected', reason: feeTooHigh(context), nodeCode}
  }
  if (text.startsWith('Unspendable output exceeds maximum configured by user')) {
    return {kind: 'rejected', reason: burnTooHigh(context), nodeCode}
  }
  return {kind: 'rejected', reason: `rejected by the node's policy: ${readable(text)}`, nodeCode}
}

export function feeTooHigh(context: VerdictContext): string {
  const rate = context.feerate === undefined ? 'the fee rate' : `fee rate ${context.feerate} sat/vB`
  const hint = context.maxFeeRate ? '' : '; pass a higher --max-fee-rate if that fee is intended (0 = no limit)'
  return `${rate} exceeds ${describeFeeLimit(context.maxFeeRate)}${hint}`
}

/** Core checks each unspendable output on its own against maxburnamount, and so does the message. */
export function burnTooHigh(context: VerdictContext, largestBurn?: bigint): string {
  const limit = context.maxBurn ?? 0n
  const amount = largestBurn === undefined ? 'value' : `${largestBurn} sat`
  return `an unspendable (OP_RETURN) output carries ${amount}, more than --max-burn ${limit} sat${context.maxBurn === undefined ? ' (the default)' : ''}; pass --max-burn to destroy it on purpose`
}

/** "min relay fee not met, 0 < 141" → "min relay fee not met (0 < 141)": Core's reason, then its details. */
function readable(text: string): string {
  const comma = text.indexOf(', ')
  if (comma === -1) return text
  return `${text.slice(0, comma)} (${text.slice(comma + 2)})`
}
