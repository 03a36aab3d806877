import {addressToScript, scriptToAddress} from '../chain/address.js'
import {sha256} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import {electrumScriptHash, parseScriptHashHex, scriptKeyOfHash} from '../chain/scripthash.js'
import {badInput} from '../errors.js'

/**
 * What a query asks about: an address, a script hash or a script, each
 * reduced to the index key. Addresses are checked against the index's
 * network, so a mainnet address on a regtest index is refused with the reason.
 */
export interface QueryTarget {
  /** what the user typed */
  input: string
  /** null for a script hash, or a script with no address form */
  address: string | null
  /** Electrum's script hash: sha256(scriptPubKey), reversed hex */
  scripthash: string
  /** scriptPubKey hex; null when only the script hash was given */
  script: string | null
  /** the index key: the first 8 bytes of sha256(scriptPubKey) */
  scriptKey: Buffer
}

/** The largest script a transaction output can carry and still be spent (MAX_SCRIPT_SIZE). */
const MAX_SCRIPT_BYTES = 10_000

export function addressTarget(address: string, network: NetworkName): QueryTarget {
  let script: Buffer
  try {
    script = addressToScript(address, network)
  } catch (err) {
    // most reasons name the address already; the others get it in front, so that one of several is recognisable
    const reason = (err as Error).message
    throw reason.includes(address) ? err : badInput(`${quote(address)}: ${reason}`)
  }
  return fromScript(address, script, scriptToAddress(script, network) ?? address)
}

export function scriptTarget(hex: string, network: NetworkName): QueryTarget {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw badInput(`--script ${quote(hex)}: not an even number of hex digits`)
  if (hex.length === 0) throw badInput('--script: empty script')
  if (hex.length / 2 > MAX_SCRIPT_BYTES) throw badInput(`--script: ${hex.length / 2} bytes is longer than any output script (${MAX_SCRIPT_BYTES})`)
  const script = Buffer.from(hex, 'hex')
  return fromScript(hex, script, scriptToAddress(script, network) ?? null)
}

export function scriptHashTarget(hex: string): QueryTarget {
  let hash: Buffer
  try {
    hash = parseScriptHashHex(hex)
  } catch (err) {
    throw badInput(`--scripthash ${quote(hex)}: ${(err as Error).message}`)
  }
  return {input: hex, address: null, scripthash: hex.toLowerCase(), script: null, scriptKey: scriptKeyOfHash(hash)}
}

/**
 * One line of `query address --file`: an address, or `scripthash:HEX` or
 * `script:HEX`. The prefixes keep the three forms apart without guessing
 * (64 hex digits could be a script as well as a script hash); no address
 * form contains a colon.
 */
export function targetOfLine(text: string, network: NetworkName): QueryTarget {
  if (text.startsWith('scripthash:')) return scriptHashTarget(text.slice('scripthash:'.length))
  if (text.startsWith('script:')) return scriptTarget(text.slice('script:'.length), network)
  return addressTarget(text, network)
}

function fromScript(input: string, script: Buffer, address: string | null): QueryTarget {
  return {
    input,
    address,
    scripthash: electrumScriptHash(script),
    script: script.toString('hex'),
    scriptKey: scriptKeyOfHash(sha256(script)),
  }
}

/** Long or odd input, shown so that the error line stays one readable line. */
function quote(text: string): string {
  const shown = text.length > 100 ? `${text.slice(0, 100)}…` : text
  return JSON.stringify(shown)
}
