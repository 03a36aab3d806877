import {ExitCode} from '../errors.js'

/**
 * What happened to one transaction. "already-*" count as success: the
 * transaction is where the caller wanted it, so a cron job may send the same
 * file again and again.
 */
export type BroadcastStatus = 'sent' | 'already-in-mempool' | 'already-confirmed' | 'accepted' | 'rejected' | 'error'

/** One element of `bix broadcast --json`. */
export interface BroadcastResult {
  txid: string
  wtxid: string
  size: number
  vsize: number
  /** satoshis, when the previous outputs (or the node) told us */
  fee?: number
  /** sat/vB, 3 decimals (the resolution of Core's fee rates) */
  feerate?: number
  status: BroadcastStatus
  /** why it was rejected or failed, in plain words */
  reason?: string
  /** the node's RPC error code, when the node said no */
  node_code?: number
  /** how the outcome was learnt when not from the answer itself, e.g. "confirmed by lookup after timeout" */
  note?: string
  /** the exit code this outcome alone would give */
  exit_code: ExitCode
}

/** Outcome of one transaction, before the decoded details are attached. */
export interface Outcome {
  status: BroadcastStatus
  reason?: string
  nodeCode?: number
  note?: string
  /** satoshis, when the node reported it (testmempoolaccept, submitpackage, getmempoolentry) */
  fee?: number
  /** set only for status 'error': which failure it was */
  exitCode?: ExitCode
}

export const succeeded = (status: BroadcastStatus): boolean =>
  status === 'sent' || status === 'already-in-mempool' || status === 'already-confirmed' || status === 'accepted'

export function exitCodeOf(outcome: Outcome): ExitCode {
  if (succeeded(outcome.status)) return ExitCode.ok
  if (outcome.status === 'rejected') return ExitCode.txRejected
  return outcome.exitCode ?? ExitCode.unexpected
}

/**
 * How bad an exit code is when several transactions end differently: a
 * transaction whose fate is unknown (4) outranks a node that could not be
 * reached (3), which outranks an error bix did not expect (1), which outranks
 * a clear rejection (8): the more a human must look, the higher it ranks.
 */
const SEVERITY: ExitCode[] = [ExitCode.ok, ExitCode.txRejected, ExitCode.unexpected, ExitCode.nodeUnreachable, ExitCode.timedOut]

export function worstExitCode(codes: readonly ExitCode[]): ExitCode {
  let worst: ExitCode = ExitCode.ok
  for (const code of codes) {
    const rank = SEVERITY.indexOf(code)
    if (rank === -1 || rank > SEVERITY.indexOf(worst)) worst = code
  }
  return worst
}
