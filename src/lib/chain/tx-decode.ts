import {Transaction} from 'bitcoinjs-lib'

import {BixError, badInput} from '../errors.js'
import {type TxParseOptions, MAX_MONEY, parseTransaction} from './block-parser.js'
import {sha256d, toDisplayHex} from './hashes.js'
import {scriptToAddress} from './address.js'
import type {NetworkName} from './networks.js'
import {type ScriptType, classifyScript} from './script.js'
import type {ParsedTx} from './types.js'

/**
 * A raw transaction decoded locally, so `bix broadcast` can show what it is
 * about to send and refuse what no node would take without asking one.
 */
export interface DecodedInput {
  /** previous txid, display hex */
  txid: string
  vout: number
  sequence: number
  isCoinbase: boolean
}

export interface DecodedOutput {
  vout: number
  /** satoshis */
  value: number
  /** scriptPubKey, hex */
  script: string
  type: ScriptType
  address?: string
}

export interface DecodedTransaction {
  txid: string
  wtxid: string
  size: number
  vsize: number
  weight: number
  version: number
  locktime: number
  inputs: DecodedInput[]
  outputs: DecodedOutput[]
}

/** Consensus limit: no transaction can weigh more than a whole block. */
export const MAX_TX_WEIGHT = 4_000_000
/** Every byte weighs at least 1, so no valid transaction has more hex than this. */
const MAX_HEX_CHARS = 2 * MAX_TX_WEIGHT

export function decodeRawTransaction(input: string, network: NetworkName): DecodedTransaction {
  const hex = input.trim()
  if (hex === '') throw badInput('transaction hex is empty')
  if (hex.length > MAX_HEX_CHARS) {
    throw badInput(`transaction hex is ${hex.length} characters; no valid transaction is larger than ${MAX_TX_WEIGHT} bytes`)
  }
  const bad = hex.search(/[^0-9a-fA-F]/)
  if (bad >= 0) throw badInput(`transaction hex has a non-hex character at position ${bad + 1}`)
  if (hex.length % 2 !== 0) throw badInput(`transaction hex has an odd number of characters (${hex.length})`)
  const raw = Buffer.from(hex, 'hex')

  const parsed = parseStrictly(raw)
  if (parsed.inputs.length === 0) throw badInput('transaction has no inputs')
  if (parsed.outputs.length === 0) throw badInput('transaction has no outputs')
  const total = parsed.outputs.reduce((sum, out) => sum + out.value, 0)
  if (total > MAX_MONEY) throw badInput(`transaction outputs total ${total} sat, more than 21,000,000 BTC`)
  const seen = new Set<string>()
  for (const input of parsed.inputs) {
    const outpoint = `${toDisplayHex(input.prevTxid)}:${input.prevVout}`
    if (seen.has(outpoint)) throw badInput(`transaction spends ${outpoint} twice`)
    seen.add(outpoint)
  }

  let tx: Transaction
  try {
    tx = Transaction.fromBuffer(raw)
  } catch (error) {
    throw badInput(`not a valid transaction: ${(error as Error).message}`)
  }
  const weight = tx.weight()
  if (weight > MAX_TX_WEIGHT) throw badInput(`transaction weighs ${weight} units, more than a block can hold (${MAX_TX_WEIGHT})`)

  return {
    txid: tx.getId(),
    // the hash of the full serialization, as Core shows it; bitcoinjs gives
    // zeros for a coinbase (its value inside the witness commitment)
    wtxid: toDisplayHex(sha256d(raw)),
    size: tx.byteLength(),
    vsize: tx.virtualSize(),
    weight,
    version: tx.version,
    locktime: tx.locktime,
    inputs: tx.ins.map((txIn) => ({
      txid: toDisplayHex(txIn.hash),
      vout: txIn.index,
      sequence: txIn.sequence,
      // the null prevout only a coinbase may spend
      isCoinbase: txIn.index === 0xffff_ffff && txIn.hash.every((byte) => byte === 0),
    })),
    outputs: tx.outs.map((out, vout) => {
      const type = classifyScript(out.script)
      const address = scriptToAddress(out.script, network)
      return {
        vout,
        value: Number(out.value),
        script: Buffer.from(out.script).toString('hex'),
        type,
        ...(address === undefined ? {} : {address}),
      }
    }),
  }
}

/**
 * Our own parser first: it names the offset of what is wrong and refuses what
 * bitcoinjs would let through (non-canonical sizes, values above 21M BTC).
 */
function parseStrictly(raw: Buffer): ParsedTx {
  const attempt = (options: TxParseOptions) => {
    const {tx, end} = parseTransaction(raw, 0, options)
    if (end !== raw.length) {
      throw badInput(`transaction: ${raw.length - end} unexpected bytes after the transaction, which ends at byte ${end}`)
    }
    return tx
  }
  try {
    return attempt({label: 'transaction'})
  } catch (error) {
    if (!(error instanceof BixError)) throw error
    // A zero input count reads like the segwit marker; Core then retries
    // without witness, and so do we, to say "no inputs" instead of nonsense.
    if (raw.length > 5 && raw[4] === 0) {
      try {
        return attempt({label: 'transaction', allowWitness: false})
      } catch {
        // the first error describes the input better
      }
    }
    throw error.kind === 'BadInput' ? error : badInput(error.message)
  }
}
