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
  /** sats in the largest unspendable output (OP_RETURN, oversized or invalid script) */
  largestBurn: bigint
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
  const outcomes: Outcome[] = new Array(txs.length)
  const unique = dedupe(txs)
  const chunks: DryRunTx[][] = []
  for (const group of groupPackages(unique)) {
    for (let i = 0; i < group.length; i += MAX_PACKAGE_COUNT) chunks.push(group.slice(i, i + MAX_PACKAGE_COUNT).map((k) => unique[k]))
  }
  const setFor = (tx: DryRunTx, outcome: Outcome): void => {
    txs.forEach((other, i) => {
      if (other.txid !== tx.txid) return
      outcomes[i] = outcome
      options.onOutcome?.(i, outcome)
    })
  }
  await Promise.all(chunks.map((chunk) => testPackage(client, chunk, options, setFor)))
  return outcomes
}

/**
 * One package, tested as the node would see it. Core stops at the first
 * member it refuses and leaves the rest unjudged; when that member is only
 * "already there" (in the mempool, or confirmed), the package is tested
 * again without it, so the others are judged on top of it.
 */
async function testPackage(
  client: NodeClient,
  members: DryRunTx[],
  options: DryRunOptions,
  setFor: (tx: DryRunTx, outcome: Outcome) => void,
): Promise<void> {
  const maxfeerate = options.maxFeeRate ? feeRateParam(options.maxFeeRate) : undefined
  const decided = new Set<string>()
  const decide = (tx: DryRunTx, outcome: Outcome) => {
    if (decided.has(tx.txid)) return
    decided.add(tx.txid)
    setFor(tx, outcome)
  }
  let pending = members
  for (;;) {
    let answers: TestAcceptResult[]
    try {
      answers = await testMempoolAccept(client, pending.map((tx) => tx.hex), maxfeerate, {signal: options.signal})
    } catch (err) {
      if (!(err instanceof RpcError)) throw err
      const verdict = verdictOfRpcError(err, {maxFeeRate: options.maxFeeRate, maxBurn: options.maxBurn})
      for (const tx of pending) decide(tx, await settle(client, tx, verdict, options.signal))
      return
    }
    const unjudged: DryRunTx[] = []
    const there = new Set<string>()
    let refused: string | undefined
    for (const tx of pending) {
      const answer = answers.find((a) => a.wtxid === tx.wtxid) ?? answers.find((a) => a.txid === tx.txid)
      if (answer && answer.allowed === undefined && answer.packageError === undefined) {
        unjudged.push(tx)
        continue
      }
      const outcome = await judge(client, tx, answer, options)
      decide(tx, outcome)
      if (outcome.status === 'already-in-mempool' || outcome.status === 'already-confirmed') there.add(tx.txid)
      else if (outcome.status !== 'accepted') refused ??= tx.txid
    }
    if (unjudged.length === 0) return
    if (there.size === 0) {
      const why = refused ? `the node stopped testing the package at ${refused}, which it refused` : 'the node gave no verdict'
      for (const tx of unjudged) decide(tx, {status: 'rejected', reason: `not judged: ${why}`})
      return
    }
    pending = pending.filter((tx) => !there.has(tx.txid))
  }
}

async function judge(client: NodeClient, tx: DryRunTx, answer: TestAcceptResult | undefined, options: DryRunOptions): Promise<Outcome> {
  const context: VerdictContext = {feerate: tx.feerate, maxFeeRate: options.maxFeeRate, maxBurn: options.maxBurn}
  if (!answer) return {status: 'error', reason: 'the node left this transaction out of its answer', exitCode: ExitCode.unexpected}
  if (answer.allowed === true) {
    if (tx.largestBurn > (options.maxBurn ?? 0n)) return {status: 'rejected', reason: burnTooHigh(context, tx.largestBurn), fee: answer.feeSats}
    return {status: 'accepted', fee: answer.feeSats}
  }
  if (answer.allowed === undefined) {
    return {status: 'rejected', reason: `not judged: the package as a whole failed (${answer.packageError})`}
  }
  // the details repeat the reason and add the numbers: "min relay fee not met, 0 < 141"
  const reason = answer.rejectDetails ?? answer.rejectReason ?? 'no reason given'
  return settle(client, tx, verdictOfReason(reason, context), options.signal)
}

/** The same transaction given twice is tested once; its copies share the outcome. */
function dedupe<T extends {txid: string}>(txs: readonly T[]): T[] {
  const seen = new Set<string>()
  return txs.filter((tx) => (seen.has(tx.txid) ? false : (seen.add(tx.txid), true)))
}
