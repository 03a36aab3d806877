import {BixError, ExitCode, RpcCode, RpcError} from '../errors.js'
import {sleep} from '../abortable.js'
import {TransientFailure} from '../node/failures.js'
import {sendRawTransaction, submitPackage, type SubmitPackageResult} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'
import {groupPackages} from './dependencies.js'
import {burnParam, feeRateParam, type FeeRateLimit} from './fee-limits.js'
import {type Verdict, type VerdictContext, verdictOfReason, verdictOfRpcError} from './node-verdicts.js'
import {type Outcome, exitCodeOf, succeeded} from './result.js'
import {settle} from './settle.js'
import {type LookupTx, type TxWhereabouts, lookUpTransaction, mempoolFee} from './tx-lookup.js'

const LOOKUP_ATTEMPTS = 3
const LOOKUP_INTERVAL_MS = 1000

/** A transaction ready to go: decoded and checked locally. */
export interface OutgoingTx extends LookupTx {
  wtxid: string
  hex: string
  inputs: ReadonlyArray<{txid: string}>
  /** sat/vB when the fee is known locally, for messages */
  feerate?: number
}

export interface SendOptions {
  maxFeeRate?: FeeRateLimit
  /** sats */
  maxBurn?: bigint
  /** submitpackage exists (Core 28+); when false related transactions go one by one, parents first */
  packages: boolean
  signal?: AbortSignal
  /** how often to look for a transaction whose send answer was lost (default 3), and how far apart (default 1 s) */
  lookupAttempts?: number
  lookupIntervalMs?: number
  /** told as each transaction's outcome is known (by its position in the list), for progress lines */
  onOutcome?: (index: number, outcome: Outcome) => void
}

/**
 * Sends every transaction and says what became of each, never guessing: an
 * answer lost to a timeout or a dropped connection is followed by a lookup,
 * and "already there" (mempool or chain) counts as success.
 *
 * Transactions spending each other go together through submitpackage, so a
 * child can pay for its parent; without it (older nodes, shapes Core does not
 * take as a package) they go one at a time, parents first, and a child whose
 * parent failed is not sent at all.
 */
export async function sendTransactions(client: NodeClient, txs: readonly OutgoingTx[], options: SendOptions): Promise<Outcome[]> {
  // the same transaction given twice is sent once; its copies share the outcome
  const firstOf = new Map<string, number>()
  txs.forEach((tx, i) => {
    if (!firstOf.has(tx.txid)) firstOf.set(tx.txid, i)
  })
  const unique = [...firstOf.values()]
  const uniqueTxs = unique.map((i) => txs[i])

  // what is in the mempool already: such a transaction is re-announced by the send, and reported as already there
  const before = await Promise.all(uniqueTxs.map((tx) => mempoolFee(client, tx.txid, options.signal)))
  const feesBefore = new Map<string, number | undefined>()
  uniqueTxs.forEach((tx, k) => {
    if (before[k]) feesBefore.set(tx.txid, before[k].fee)
  })
  const session = new SendSession(client, options, feesBefore)

  const outcomes: Outcome[] = new Array(txs.length)
  const settled = (i: number, outcome: Outcome) => {
    outcomes[i] = outcome
    options.onOutcome?.(i, outcome)
  }
  for (const group of groupPackages(uniqueTxs)) {
    const members = group.map((k) => uniqueTxs[k])
    const results = members.length === 1 ? [await session.sendOne(members[0])] : await session.sendGroup(members)
    results.forEach((outcome, j) => settled(unique[group[j]], outcome))
  }
  txs.forEach((tx, i) => {
    if (!outcomes[i]) settled(i, outcomes[firstOf.get(tx.txid)!])
  })
  return outcomes
}

class SendSession {
  /** submitpackage is worth trying: false once the node said it has no such method */
  private packages: boolean

  constructor(
    private readonly client: NodeClient,
    private readonly options: SendOptions,
    /** txid → fee (sats, when the node said) of the transactions in the mempool before we sent anything */
    private readonly feesBefore: ReadonlyMap<string, number | undefined>,
  ) {
    this.packages = options.packages
  }

  private get maxFeeRateParam(): number | undefined {
    return this.options.maxFeeRate ? feeRateParam(this.options.maxFeeRate) : undefined
  }

  private get maxBurnParam(): number | undefined {
    return this.options.maxBurn === undefined ? undefined : burnParam(this.options.maxBurn)
  }

  private context(tx: OutgoingTx): VerdictContext {
    return {feerate: tx.feerate, maxFeeRate: this.options.maxFeeRate, maxBurn: this.options.maxBurn}
  }

  /** The node took it (or had it): which of the two, with the fee the mempool reported before. */
  private sentStatus(tx: OutgoingTx): Outcome {
    if (!this.feesBefore.has(tx.txid)) return {status: 'sent'}
    const fee = this.feesBefore.get(tx.txid)
    return fee === undefined ? {status: 'already-in-mempool'} : {status: 'already-in-mempool', fee}
  }

  async sendOne(tx: OutgoingTx): Promise<Outcome> {
    try {
      // The client repeats sendrawtransaction only when the node certainly did not run it
      // (refused connection, 503, warm-up); after a timeout or a dropped connection it
      // hands the failure back, and we look the transaction up instead of guessing.
      await sendRawTransaction(this.client, tx.hex, this.maxFeeRateParam, this.maxBurnParam, {signal: this.options.signal})
      return this.sentStatus(tx)
    } catch (err) {
      return this.failed(tx, err)
    }
  }

  async sendGroup(members: OutgoingTx[]): Promise<Outcome[]> {
    if (members.every((tx) => this.feesBefore.has(tx.txid)) || !this.packages) return this.sendInOrder(members)
    let answer: SubmitPackageResult
    try {
      answer = await submitPackage(
        this.client,
        members.map((tx) => tx.hex),
        this.maxFeeRateParam,
        this.maxBurnParam,
        {signal: this.options.signal},
      )
    } catch (err) {
      if (err instanceof RpcError && notAPackageHere(err)) {
        if (err.code === RpcCode.methodNotFound) this.packages = false
        return this.sendInOrder(members)
      }
      return Promise.all(members.map((tx) => this.failed(tx, err)))
    }
    // A package-wide refusal before any member was looked at (Core leaves tx-results empty), e.g.
    // "package-not-child-with-unconfirmed-parents" when the child also spends a mempool transaction
    // given separately: one by one, each gets its own verdict.
    if (answer.txResults.length === 0 && answer.packageMsg !== 'success') return this.sendInOrder(members)
    return Promise.all(members.map((tx) => this.packageMember(tx, answer)))
  }

  /** One at a time, parents first; a child of a transaction the node did not take is held back. */
  private async sendInOrder(members: OutgoingTx[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = []
    const failed = new Map<string, Outcome>()
    for (const tx of members) {
      const parent = tx.inputs.find((input) => failed.has(input.txid))
      const outcome = parent ? heldBack(parent.txid, failed.get(parent.txid)!) : await this.sendOne(tx)
      if (!succeeded(outcome.status)) failed.set(tx.txid, outcome)
      outcomes.push(outcome)
    }
    return outcomes
  }

  private async packageMember(tx: OutgoingTx, answer: SubmitPackageResult): Promise<Outcome> {
    const result = answer.txResults.find((r) => r.wtxid === tx.wtxid) ?? answer.txResults.find((r) => r.txid === tx.txid)
    if (!result || result.error === 'unevaluated') {
      return {status: 'rejected', reason: `not evaluated by the node: the package failed (${answer.packageMsg || 'no reason given'})`}
    }
    if (result.error !== undefined) return this.resolve(tx, verdictOfReason(result.error, this.context(tx)))
    return {...this.sentStatus(tx), ...(result.feeSats === undefined ? {} : {fee: result.feeSats})}
  }

  /** Why a send did not plainly succeed, turned into an outcome; interruptions and bugs are rethrown. */
  private async failed(tx: OutgoingTx, err: unknown): Promise<Outcome> {
    if (err instanceof RpcError) return this.resolve(tx, verdictOfRpcError(err, this.context(tx)))
    const lost = lostAnswer(err)
    if (lost) return this.afterLostAnswer(tx, err as BixError, lost)
    if (err instanceof BixError && err.kind !== 'Interrupted') return {status: 'error', reason: err.message, exitCode: err.exitCode}
    if (err instanceof BixError) {
      // Ctrl-C while the node may be taking it: say so, since running again is how to find out
      throw new BixError('Interrupted', `${err.message} while sending ${tx.txid}, which the node may have taken; run the same broadcast again to find out (resending is safe)`, {
        exitCode: err.exitCode,
      })
    }
    throw err
  }

  private resolve(tx: OutgoingTx, verdict: Verdict): Promise<Outcome> {
    return settle(this.client, tx, verdict, this.options.signal)
  }

  /**
   * The answer to a send was lost, so the node may or may not have taken the
   * transaction. Ask (read-only calls, retried by the client), a few times:
   * a node still validating it may add it to the mempool only after our
   * first look.
   */
  private async afterLostAnswer(tx: OutgoingTx, err: BixError, lost: 'timeout' | 'reset'): Promise<Outcome> {
    const what = lost === 'timeout' ? 'timeout' : 'the connection dropped'
    const attempts = this.options.lookupAttempts ?? LOOKUP_ATTEMPTS
    for (let attempt = 1; ; attempt++) {
      let found: TxWhereabouts
      try {
        found = await lookUpTransaction(this.client, tx, this.options.signal)
      } catch (lookupErr) {
        if (!(lookupErr instanceof BixError) || lookupErr.kind === 'Interrupted') throw lookupErr
        return {
          status: 'error',
          reason: `${err.message}; looking the transaction up failed too (${lookupErr.message}), so whether it was sent is unknown: run the same broadcast again`,
          exitCode: ExitCode.timedOut,
        }
      }
      if (found.where === 'mempool') return {...this.sentStatus(tx), ...(found.fee === undefined ? {} : {fee: found.fee}), note: `confirmed by lookup after ${what}`}
      if (found.where === 'chain') return {status: 'already-confirmed', note: `confirmed by lookup after ${what}`}
      if (attempt >= attempts) break
      await sleep(this.options.lookupIntervalMs ?? LOOKUP_INTERVAL_MS, this.options.signal)
    }
    return {
      status: 'error',
      reason: `${err.message}; the transaction is not in the node's mempool, so whether it was accepted is unknown: run the same broadcast again (resending is safe)`,
      exitCode: ExitCode.timedOut,
    }
  }
}

/**
 * A child not sent because its parent did not get in: a refused parent makes
 * it refused too; a parent whose sending failed or stayed unknown gives it the
 * same exit code, since the cure (look, then run again) is the same.
 */
function heldBack(parentTxid: string, parent: Outcome): Outcome {
  if (parent.status === 'rejected') return {status: 'rejected', reason: `not sent: it spends an output of ${parentTxid}, which the node refused`}
  return {status: 'error', reason: `not sent: it spends an output of ${parentTxid}, whose sending failed`, exitCode: exitCodeOf(parent)}
}

/**
 * Whether a failure may have happened after the node got the request: a
 * timeout or a dropped connection (the node may have run it), as opposed to a
 * refused connection (it certainly did not).
 */
function lostAnswer(err: unknown): 'timeout' | 'reset' | undefined {
  if (!(err instanceof BixError) || err.kind === 'Interrupted') return undefined
  const failure = err.cause instanceof TransientFailure ? err.cause : undefined
  if (!failure || !failure.mayHaveRun) return undefined
  return failure.kind === 'timeout' ? 'timeout' : 'reset'
}

/** Errors meaning "submitpackage cannot take these here", not "these are bad": send them one by one instead. */
function notAPackageHere(err: RpcError): boolean {
  if (err.code === RpcCode.methodNotFound) return true
  // Core < 28 has submitpackage on regtest only; other shapes than child-with-parents are refused
  return /regression testing|package topology disallowed|Array must contain between|package-too-many|package-too-large/i.test(err.nodeMessage)
}
