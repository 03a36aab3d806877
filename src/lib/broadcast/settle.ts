import {BixError, ExitCode} from '../errors.js'
import type {NodeClient} from '../node/types.js'
import type {Verdict} from './node-verdicts.js'
import type {Outcome} from './result.js'
import {type LookupTx, lookUpTransaction} from './tx-lookup.js'

/**
 * A verdict made final. Two of the node's answers are ambiguous and need a
 * look at where the transaction is: "missing inputs" is also what a
 * transaction gets whose outputs are all spent already (it is confirmed), and
 * "txn-already-known" means in a block or in the mempool.
 */
export async function settle(client: NodeClient, tx: LookupTx, verdict: Verdict, signal?: AbortSignal): Promise<Outcome> {
  switch (verdict.kind) {
    case 'already-in-mempool':
    case 'already-confirmed':
      return {status: verdict.kind}
    case 'missing-inputs':
    case 'already-known': {
      const found = await whereabouts(client, tx, signal)
      if (found === 'chain') return {status: 'already-confirmed'}
      if (found === 'mempool') return {status: 'already-in-mempool'}
      // txn-already-known comes from outputs found in the UTXO set: confirmed, even without -txindex to show it
      if (verdict.kind === 'already-known') return {status: 'already-confirmed'}
      return {status: 'rejected', reason: verdict.reason, nodeCode: verdict.nodeCode}
    }
    case 'rejected':
      return {status: 'rejected', reason: verdict.reason, nodeCode: verdict.nodeCode}
    case 'error':
      return {status: 'error', reason: verdict.reason, nodeCode: verdict.nodeCode, exitCode: ExitCode.unexpected}
  }
}

/** A lookup that may itself fail: then we simply do not know, and the verdict stands. */
async function whereabouts(client: NodeClient, tx: LookupTx, signal?: AbortSignal): Promise<'mempool' | 'chain' | 'nowhere' | 'unknown'> {
  try {
    return (await lookUpTransaction(client, tx, signal)).where
  } catch (err) {
    if (err instanceof BixError && err.kind !== 'Interrupted') return 'unknown'
    throw err
  }
}
