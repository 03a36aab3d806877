import type {NetworkName} from '../chain/networks.js'
import {type DecodedTransaction, decodeRawTransaction} from '../chain/tx-decode.js'
import {BixError, badInput} from '../errors.js'
import type {RawTxText} from './raw-input.js'

/** Core's MAX_SCRIPT_SIZE: an output script longer than this can never be spent. */
const MAX_SCRIPT_BYTES = 10_000

/** A transaction as given, decoded: what bix shows and what it sends. */
export interface PreparedTx {
  /** 1-based position among the transactions given */
  number: number
  origin: string
  hex: string
  decoded: DecodedTransaction
  /** sats paid to outputs nobody can spend (OP_RETURN, oversized scripts): what --max-burn limits */
  burnt: bigint
}

/**
 * Decodes every transaction before anything reaches the node, so a typo in
 * the third of five transactions sends none of them. The error names the
 * transaction (its number and where it came from) and what is wrong with it.
 */
export function prepareTransactions(raws: readonly RawTxText[], network: NetworkName): PreparedTx[] {
  const prepared: PreparedTx[] = []
  const problems: string[] = []
  raws.forEach((raw, i) => {
    try {
      const decoded = decodeRawTransaction(raw.hex, network)
      prepared.push({number: i + 1, origin: raw.origin, hex: raw.hex, decoded, burnt: burntBy(decoded)})
    } catch (err) {
      if (!(err instanceof BixError) || err.kind !== 'BadInput') throw err
      problems.push(`transaction ${i + 1} (${raw.origin}): ${err.message}`)
    }
  })
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more bad transaction${problems.length > 2 ? 's' : ''})` : ''
    throw badInput(`${problems[0]}${more}; nothing was sent`)
  }
  return prepared
}

function burntBy(tx: DecodedTransaction): bigint {
  let burnt = 0n
  for (const out of tx.outputs) {
    if (out.type === 'op_return' || out.script.length / 2 > MAX_SCRIPT_BYTES) burnt += BigInt(out.value)
  }
  return burnt
}
