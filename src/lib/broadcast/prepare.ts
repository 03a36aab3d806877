import type {NetworkName} from '../chain/networks.js'
import {type DecodedTransaction, decodeRawTransaction} from '../chain/tx-decode.js'
import {BixError, badInput} from '../errors.js'
import type {RawTxText} from './raw-input.js'

/** Core's MAX_SCRIPT_SIZE: an output script longer than this can never be spent. */
const MAX_SCRIPT_BYTES = 10_000
/** Core's MAX_SCRIPT_ELEMENT_SIZE and MAX_OPCODE (OP_NOP10), for CScript::HasValidOps */
const MAX_PUSH_BYTES = 520
const MAX_OPCODE = 0xb9
const OP_RETURN = 0x6a

/** A transaction as given, decoded: what bix shows and what it sends. */
export interface PreparedTx {
  /** 1-based position among the transactions given */
  number: number
  origin: string
  hex: string
  decoded: DecodedTransaction
  /**
   * The most sats any one output nobody can spend (OP_RETURN, oversized or
   * invalid script) carries: what --max-burn limits, output by output, as
   * Core's maxburnamount does.
   */
  largestBurn: bigint
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
      prepared.push({number: i + 1, origin: raw.origin, hex: raw.hex, decoded, largestBurn: largestBurn(decoded)})
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

function largestBurn(tx: DecodedTransaction): bigint {
  let largest = 0n
  for (const out of tx.outputs) {
    const value = BigInt(out.value)
    if (value > largest && isUnspendable(Buffer.from(out.script, 'hex'))) largest = value
  }
  return largest
}

/** What sendrawtransaction's burn check counts: CScript::IsUnspendable() or !HasValidOps(). */
function isUnspendable(script: Buffer): boolean {
  return (script.length > 0 && script[0] === OP_RETURN) || script.length > MAX_SCRIPT_BYTES || !hasValidOps(script)
}

/** Every opcode is known and every push is complete and at most 520 bytes. */
function hasValidOps(script: Buffer): boolean {
  let i = 0
  while (i < script.length) {
    const op = script[i++]
    if (op > MAX_OPCODE) return false
    if (op > 0x4e) continue
    let size = op
    const sizeBytes = op === 0x4c ? 1 : op === 0x4d ? 2 : op === 0x4e ? 4 : 0
    if (sizeBytes > 0) {
      if (i + sizeBytes > script.length) return false
      size = script.readUIntLE(i, sizeBytes)
      i += sizeBytes
    }
    if (size > MAX_PUSH_BYTES || i + size > script.length) return false
    i += size
  }
  return true
}
