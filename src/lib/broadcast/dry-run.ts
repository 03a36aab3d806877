import {ExitCode, RpcError} from '../errors.js'
import {type TestAcceptResult, testMempoolAccept} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'
import {groupPackages} from './dependencies.js'
import {burnTooHigh, verdictOfReason, verdictOfRpcError, type VerdictContext} from './node-verdicts.js'
import {feeRateParam, type FeeRateLimit} from './fee-limits.js'
import type {Outcome} from './result.js'
import type {OutgoingTx} from './sender.js'
import {settle} from './settle.js'

/** Core's MAX_PACKAGE_COUNT: testmempoolaccept takes at most this many at once. */
const MAX_PACKAGE_COUNT = 25

export interface DryRunTx extends OutgoingTx {
  /** sats sent to unspendable outputs (OP_RETURN, oversized scripts) */
  burnt: bigint
}

export interface DryRunOptions {
  maxFeeRate?: FeeRateLimit
  maxBurn?: bigint
  signal?: AbortSignal
  /** told as each transaction's outcome is known (by its position in the list) */
  onOutcome?: (index: number, outcome: Outcome) => void
}

/**
 * Asks the node's testmempoolaccept what it would do, sending nothing.
 * Related transactions are tested together (parents first), as the node
 * would see them; unrelated ones each on their own, so one bad transaction
 * does not leave the others unjudged. testmempoolaccept has no burn limit, so
 * --max-burn is checked here, as sendrawtransaction would.
 */
export async function testTransactions(client: NodeClient, txs: readonly DryRunTx[], options: DryRunOptions): Promise<Outcome[]> {
  const maxfeerate = options.maxFeeRate ? feeRateParam(options.maxFeeRate) : undefined
  const outcomes: Outcome[] = new Array(txs.length)
  const unique = dedupe(txs)
  const chunks: number[][] = []
  for (const group of groupPackages(unique)) {
    for (let i = 0; i < group.length; i += MAX_PACKAGE_COUNT) chunks.push(group.slice(i, i + MAX_PACKAGE_COUNT))
  }
  await Promise.all(
    chunks.map(async (chunk) => {
      const members = chunk.map((k) => unique[k])
      let answers: TestAcceptResult[]
      try {
        answers = await testMempoolAccept(client, members.map((tx) => tx.hex), maxfeerate, {signal: options.signal})
      } catch (err) {
        if (!(err instanceof RpcError)) throw err
        const verdict = verdictOfRpcError(err, {maxFeeRate: options.maxFeeRate, maxBurn: options.maxBurn})
        for (const tx of members) setFor(tx, await settle(client, tx.txid, verdict, options.signal))
        return
      }
      for (const tx of members) {
        const answer = answers.find((a) => a.wtxid === tx.wtxid) ?? answers.find((a) => a.txid === tx.txid)
        setFor(tx, await judge(client, tx, answer, options))
      }
    }),
  )
  return outcomes

  function setFor(tx: DryRunTx, outcome: Outcome): void {
    txs.forEach((other, i) => {
      if (other.txid !== tx.txid) return
      outcomes[i] = outcome
      options.onOutcome?.(i, outcome)
    })
  }
}

async function judge(client: NodeClient, tx: DryRunTx, answer: TestAcceptResult | undefined, options: DryRunOptions): Promise<Outcome> {
  const context: VerdictContext = {feerate: tx.feerate, maxFeeRate: options.maxFeeRate, maxBurn: options.maxBurn}
  if (!answer) return {status: 'error', reason: 'the node left this transaction out of its answer', exitCode: ExitCode.unexpected}
  if (answer.allowed === true) {
    if (tx.burnt > (options.maxBurn ?? 0n)) return {status: 'rejected', reason: burnTooHigh(context, tx.burnt), fee: answer.feeSats}
    return {status: 'accepted', fee: answer.feeSats}
  }
  if (answer.allowed === undefined) {
    return {status: 'rejected', reason: `not judged: the package as a whole failed (${answer.packageError ?? 'no reason given'})`}
  }
  // the details repeat the reason and add the numbers: "min relay fee not met, 0 < 141"
  const reason = answer.rejectDetails ?? answer.rejectReason ?? 'no reason given'
  return settle(client, tx.txid, verdictOfReason(reason, context), options.signal)
}

/** The same transaction given twice is tested once; its copies share the outcome. */
function dedupe<T extends {txid: string}>(txs: readonly T[]): T[] {
  const seen = new Set<string>()
  return txs.filter((tx) => (seen.has(tx.txid) ? false : (seen.add(tx.txid), true)))
}
