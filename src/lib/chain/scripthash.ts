import {badInput} from '../errors.js'
import {sha256, toDisplayHex} from './hashes.js'
import {SCRIPT_KEY_BYTES} from './indexed-block.js'

/**
 * Electrum's "script hash": sha256 of the output script, shown as reversed
 * hex (as Electrum servers and Esplora show it). Inside bix it is the plain
 * sha256 in internal order; the index key (scriptKeyOf) is its first 8 bytes,
 * which are the LAST 16 characters of the displayed hex.
 */

export function electrumScriptHash(script: Uint8Array): string {
  return toDisplayHex(sha256(script))
}

/** 64 hex characters as Electrum shows them → sha256(script) in internal order. */
export function parseScriptHashHex(hex: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw badInput(`script hash must be 64 hex characters (got ${hex.length} characters${/[^0-9a-fA-F]/.test(hex) ? ', not all hex' : ''})`)
  }
  return Buffer.from(hex, 'hex').reverse()
}

/** The index key of a script hash (internal order): same bytes as scriptKeyOf(script). */
export function scriptKeyOfHash(scriptHash: Uint8Array): Buffer {
  return Buffer.from(scriptHash.subarray(0, SCRIPT_KEY_BYTES))
}
