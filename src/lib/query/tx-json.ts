import type {Transaction} from 'bitcoinjs-lib'

import {scriptToAddress} from '../chain/address.js'
import {toDisplayHex} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import {type ScriptType, classifyScript} from '../chain/script.js'

/**
 * Esplora's transaction shapes (`/tx/:txid`, `/tx/:txid/outspends`), built
 * from a decoded transaction and what is known of the outputs it spends.
 * Amounts in satoshis; txids and hashes in display hex.
 */

export interface EsploraOutput {
  scriptpubkey: string
  scriptpubkey_type: ScriptType
  /** absent for scripts without an address form */
  scriptpubkey_address?: string
  value: number
}

export interface EsploraInput {
  txid: string
  vout: number
  /** null for a coinbase input */
  prevout: EsploraOutput | null
  scriptsig: string
  /** absent when the input has no witness, as in Esplora */
  witness?: string[]
  is_coinbase: boolean
  sequence: number
}

export interface TxStatus {
  confirmed: boolean
  block_height?: number
  block_hash?: string
  block_time?: number
}

export interface Outspend {
  spent: boolean
  /** the spending transaction */
  txid?: string
  /** its input that spends the output; null only for an output a BIP30 duplicate coinbase overwrote */
  vin?: number | null
  status?: TxStatus
}

/** A spent output's script and value. */
export interface Prevout {
  script: Uint8Array
  value: number
}

export function esploraOutput(script: Uint8Array, value: number, network: NetworkName): EsploraOutput {
  const address = scriptToAddress(script, network)
  return {
    scriptpubkey: Buffer.from(script).toString('hex'),
    scriptpubkey_type: classifyScript(script),
    ...(address === undefined ? {} : {scriptpubkey_address: address}),
    value,
  }
}

export function isCoinbaseInput(input: {hash: Uint8Array; index: number}): boolean {
  return input.index === 0xffff_ffff && input.hash.every((byte) => byte === 0)
}

/** The inputs in Esplora's shape; `prevouts[i]` is input i's spent output (unused for a coinbase). */
export function esploraInputs(tx: Transaction, prevouts: ReadonlyArray<Prevout | undefined>, network: NetworkName): EsploraInput[] {
  return tx.ins.map((input, i) => {
    const coinbase = isCoinbaseInput(input)
    const prevout = prevouts[i]
    return {
      txid: toDisplayHex(input.hash),
      vout: input.index,
      prevout: coinbase || !prevout ? null : esploraOutput(prevout.script, prevout.value, network),
      scriptsig: Buffer.from(input.script).toString('hex'),
      ...(input.witness.length > 0 ? {witness: input.witness.map((item) => Buffer.from(item).toString('hex'))} : {}),
      is_coinbase: coinbase,
      sequence: input.sequence,
    }
  })
}

/** Inputs minus outputs; 0 for a coinbase, which pays no fee (as Esplora shows it). */
export function feeOf(tx: Transaction, prevouts: ReadonlyArray<Prevout | undefined>): number {
  if (tx.ins.some(isCoinbaseInput)) return 0
  const paid = prevouts.reduce((sum, p) => sum + (p?.value ?? 0), 0)
  return paid - tx.outs.reduce((sum, out) => sum + Number(out.value), 0)
}
