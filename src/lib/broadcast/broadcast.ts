import type {NetworkName} from '../chain/networks.js'
import type {DecodedTransaction} from '../chain/tx-decode.js'
import type {ExitCode} from '../errors.js'
import type {NodeClient} from '../node/types.js'
import {testTransactions} from './dry-run.js'
import type {FeeRateLimit} from './fee-limits.js'
import {feeRateOf} from './fee-limits.js'
import type {PreparedTx} from './prepare.js'
import {type IndexPrevoutReader, type Outpoint, type Prevout, feeOf, findPrevouts, outpointKey} from './prevouts.js'
import {type BroadcastResult, type Outcome, exitCodeOf, worstExitCode} from './result.js'
import {sendTransactions} from './sender.js'

/** Core 28 is the first release with submitpackage outside regtest, and with its maxfeerate/maxburnamount. */
export const SUBMITPACKAGE_SINCE = 280_000

export interface BroadcastRequest {
  client: NodeClient
  network: NetworkName
  /** getnetworkinfo's version, e.g. 280000 */
  nodeVersion: number
  /** prevouts from bix's index, when one exists for the network */
  index?: IndexPrevoutReader
  dryRun: boolean
  maxFeeRate?: FeeRateLimit
  /** sats */
  maxBurn?: bigint
  signal?: AbortSignal
  /** told as each outcome is known (several per call when a package goes at once) */
  onOutcome?: (tx: PreparedTx, outcome: Outcome) => void
}

/** Everything there is to show about one transaction. */
export interface TxReport {
  result: BroadcastResult
  number: number
  origin: string
  tx: DecodedTransaction
  inputs: Array<Outpoint & {prevout?: Prevout}>
  /** why the fee is not shown */
  feeUnknownBecause?: string
}

export interface BroadcastReport {
  reports: TxReport[]
  /** the worst outcome's exit code */
  exitCode: ExitCode
}

/**
 * The whole of `bix broadcast` after decoding: find the fees, then test or
 * send, then say what became of each transaction.
 */
export async function broadcast(txs: readonly PreparedTx[], request: BroadcastRequest): Promise<BroadcastReport> {
  const decoded = txs.map((tx) => tx.decoded)
  const search = await findPrevouts(decoded, {network: request.network, index: request.index, client: request.client, signal: request.signal})
  const fees = decoded.map((tx) => feeOf(tx, search))
  const outgoing = txs.map((tx, i) => ({
    txid: tx.decoded.txid,
    wtxid: tx.decoded.wtxid,
    hex: tx.hex,
    inputs: tx.decoded.inputs,
    feerate: fees[i].feerate,
    largestBurn: tx.largestBurn,
    spendableVouts: tx.decoded.outputs.filter((out) => out.type !== 'op_return').map((out) => out.vout),
  }))
  const onOutcome = request.onOutcome && ((index: number, outcome: Outcome) => request.onOutcome!(txs[index], outcome))

  const outcomes = request.dryRun
    ? await testTransactions(request.client, outgoing, {maxFeeRate: request.maxFeeRate, maxBurn: request.maxBurn, signal: request.signal, onOutcome})
    : await sendTransactions(request.client, outgoing, {
        maxFeeRate: request.maxFeeRate,
        maxBurn: request.maxBurn,
        packages: request.nodeVersion >= SUBMITPACKAGE_SINCE,
        signal: request.signal,
        onOutcome,
      })

  const reports = txs.map((tx, i): TxReport => {
    const outcome = outcomes[i]
    // our own sum is exact; the node's figure fills in when the prevouts were not found
    const fee = fees[i].fee ?? outcome.fee
    const result: BroadcastResult = {
      txid: tx.decoded.txid,
      wtxid: tx.decoded.wtxid,
      size: tx.decoded.size,
      vsize: tx.decoded.vsize,
      ...(fee === undefined ? {} : {fee, feerate: fees[i].feerate ?? feeRateOf(fee, tx.decoded.vsize)}),
      status: outcome.status,
      ...(outcome.reason === undefined ? {} : {reason: outcome.reason}),
      ...(outcome.nodeCode === undefined ? {} : {node_code: outcome.nodeCode}),
      ...(outcome.note === undefined ? {} : {note: outcome.note}),
      exit_code: exitCodeOf(outcome),
    }
    return {
      result,
      number: tx.number,
      origin: tx.origin,
      tx: tx.decoded,
      inputs: tx.decoded.inputs.map((input) => ({txid: input.txid, vout: input.vout, prevout: search.found.get(outpointKey(input))})),
      feeUnknownBecause: fee === undefined ? fees[i].unknownBecause : undefined,
    }
  })
  return {reports, exitCode: worstExitCode(reports.map((r) => r.result.exit_code))}
}
