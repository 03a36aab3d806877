import {bech32, bech32m} from 'bech32'

import {badInput} from '../errors.js'
import {sha256d} from './hashes.js'
import {NETWORK_NAMES, NETWORKS, type NetworkName} from './networks.js'
import {classifyScript, witnessProgramOf} from './script.js'

/**
 * Addresses ↔ output scripts for the standard forms: base58check P2PKH/P2SH
 * and bech32 (v0) / bech32m (v1+) segwit. Scripts are built from bytes, so
 * taproot needs no elliptic-curve library, and every refusal says why.
 */

/** BIP-173's limit on a whole segwit address */
const BECH32_MAX_LENGTH = 90
/** the longest base58check P2PKH/P2SH address (25 bytes encode to at most 35 characters) */
const BASE58_MAX_LENGTH = 35
/** 25 bytes (version, hash, checksum) never encode to fewer characters */
const BASE58_MIN_LENGTH = 25
const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
const BASE58_ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

const OP_0 = 0x00
const OP_1 = 0x51

/** Networks sharing an address form, for "is for test/testnet4/signet" messages. */
function networksWhere(match: (name: NetworkName) => boolean): NetworkName[] {
  return NETWORK_NAMES.filter(match)
}

export function addressToScript(address: string, network: NetworkName): Buffer {
  if (address === '') throw badInput('address is empty')
  if (/[^\x21-\x7e]/.test(address)) throw badInput('address contains spaces or non-printable characters')
  const lower = address.toLowerCase()
  const sep = lower.lastIndexOf('1')
  const hrp = sep > 0 ? lower.slice(0, sep) : ''
  const knownHrp = NETWORK_NAMES.some((name) => NETWORKS[name].address.bech32 === hrp)
  if (knownHrp) return segwitToScript(address, hrp, network)
  if (sep > 0 && (bech32.decodeUnsafe(address, BECH32_MAX_LENGTH) || bech32m.decodeUnsafe(address, BECH32_MAX_LENGTH))) {
    throw badInput(
      `address ${address} has the unknown prefix "${hrp}1" (${network} segwit addresses start with "${NETWORKS[network].address.bech32}1")`,
    )
  }
  return base58ToScript(address, network)
}

function segwitToScript(address: string, hrp: string, network: NetworkName): Buffer {
  // Past the length limit the string may be anything (a key, a paste gone
  // wrong), so it is not repeated back.
  if (address.length > BECH32_MAX_LENGTH) {
    throw badInput(`address is too long (${address.length} characters; a segwit address has at most ${BECH32_MAX_LENGTH})`)
  }
  if (address !== address.toLowerCase() && address !== address.toUpperCase()) {
    throw badInput(`address ${address} mixes upper and lower case, which bech32 forbids`)
  }
  const data = address.slice(hrp.length + 1).toLowerCase()
  for (let i = 0; i < data.length; i++) {
    if (!BECH32_CHARSET.includes(data[i])) {
      throw badInput(`address ${address} has the invalid character "${address[hrp.length + 1 + i]}" at position ${hrp.length + 2 + i}`)
    }
  }
  if (data.length < 7) throw badInput(`address ${address} is too short to be a segwit address`)
  const asBech32 = bech32.decodeUnsafe(address, BECH32_MAX_LENGTH)
  const asBech32m = asBech32 ? undefined : bech32m.decodeUnsafe(address, BECH32_MAX_LENGTH)
  const decoded = asBech32 ?? asBech32m
  if (!decoded) throw badInput(`address ${address} has a bad checksum (mistyped?)`)

  const version = decoded.words[0]
  if (version > 16) throw badInput(`address ${address} has witness version ${version}; versions go from 0 to 16`)
  const program = bech32.fromWordsUnsafe(decoded.words.slice(1))
  if (!program) throw badInput(`address ${address} has invalid padding in its witness program`)
  if (version === 0) {
    if (!asBech32) throw badInput(`address ${address} is witness version 0 but uses the bech32m checksum; version 0 uses bech32 (BIP-173)`)
    if (program.length !== 20 && program.length !== 32) {
      throw badInput(`address ${address} has a ${program.length}-byte version 0 program; it must be 20 (P2WPKH) or 32 (P2WSH) bytes`)
    }
  } else {
    if (asBech32) {
      throw badInput(`address ${address} is witness version ${version} but uses the bech32 checksum; version 1 and above use bech32m (BIP-350)`)
    }
    if (program.length < 2 || program.length > 40) {
      throw badInput(`address ${address} has a ${program.length}-byte witness program; it must be 2 to 40 bytes`)
    }
  }
  // Only a well-formed address is said to belong to another network.
  if (hrp !== NETWORKS[network].address.bech32) {
    const owners = networksWhere((name) => NETWORKS[name].address.bech32 === hrp)
    throw badInput(`address ${address} is for ${owners.join('/')}, but the index is ${network}`)
  }
  return Buffer.from([version === 0 ? OP_0 : OP_1 + version - 1, program.length, ...program])
}

function base58ToScript(address: string, network: NetworkName): Buffer {
  // Longer strings are not addresses and may be private keys: never echo them.
  if (address.length > BASE58_MAX_LENGTH) {
    throw badInput(`address is too long (${address.length} characters; not a valid address of any kind)`)
  }
  for (let i = 0; i < address.length; i++) {
    if (!BASE58_ALPHABET.includes(address[i])) {
      throw badInput(`address ${address} has the invalid character "${address[i]}" at position ${i + 1}`)
    }
  }
  if (address.length < BASE58_MIN_LENGTH) throw badInput(`address ${address} is too short to be an address`)
  const payload = base58CheckDecode(address)
  if (!payload) throw badInput(`address ${address} has a bad checksum (mistyped?)`)
  if (payload.length !== 21) {
    throw badInput(`address ${address} is not an address: it decodes to ${payload.length} bytes, an address holds 21`)
  }
  const version = payload[0]
  const hash = payload.subarray(1)
  const prefixes = NETWORKS[network].address
  if (version === prefixes.pubKeyHash) return Buffer.from([0x76, 0xa9, 20, ...hash, 0x88, 0xac])
  if (version === prefixes.scriptHash) return Buffer.from([0xa9, 20, ...hash, 0x87])
  const owners = networksWhere(
    (name) => NETWORKS[name].address.pubKeyHash === version || NETWORKS[name].address.scriptHash === version,
  )
  if (owners.length > 0) throw badInput(`address ${address} is for ${owners.join('/')}, but the index is ${network}`)
  throw badInput(`address ${address} has the unknown version byte 0x${version.toString(16).padStart(2, '0')}`)
}

/**
 * The address an output script pays to, for display; undefined for scripts
 * with no address form (P2PK, multisig, OP_RETURN, nonstandard).
 */
export function scriptToAddress(script: Uint8Array, network: NetworkName): string | undefined {
  const prefixes = NETWORKS[network].address
  switch (classifyScript(script)) {
    case 'p2pkh':
      return base58(prefixes.pubKeyHash, script.subarray(3, 23))
    case 'p2sh':
      return base58(prefixes.scriptHash, script.subarray(2, 22))
    case 'v0_p2wpkh':
    case 'v0_p2wsh':
    case 'v1_p2tr':
    case 'anchor':
    case 'witness_unknown': {
      const {version, program} = witnessProgramOf(script)!
      const words = [version, ...bech32.toWords(program)]
      return version === 0 ? bech32.encode(prefixes.bech32, words, BECH32_MAX_LENGTH) : bech32m.encode(prefixes.bech32, words, BECH32_MAX_LENGTH)
    }
    default:
      return undefined
  }
}

function base58(version: number, hash: Uint8Array): string {
  const payload = Buffer.alloc(21)
  payload[0] = version
  payload.set(hash, 1)
  return base58CheckEncode(payload)
}

/*
 * Base58check, written out: bs58check would load a hashing library of its own
 * into every start-up, and 25 bytes are a small number for a BigInt. The bytes
 * (the payload, then the first 4 bytes of its double SHA-256) are one
 * big-endian number written in base 58, each leading zero byte as a '1'.
 */

function base58CheckEncode(payload: Buffer): string {
  const bytes = Buffer.concat([payload, sha256d(payload).subarray(0, 4)])
  let n = BigInt(`0x${bytes.toString('hex')}`)
  let digits = ''
  for (; n > 0n; n /= 58n) digits = BASE58_ALPHABET[Number(n % 58n)] + digits
  let zeros = 0
  while (bytes[zeros] === 0) zeros++
  return '1'.repeat(zeros) + digits
}

/** The payload of a string of base-58 digits, or undefined when its checksum is wrong. */
function base58CheckDecode(text: string): Buffer | undefined {
  let n = 0n
  for (const digit of text) n = n * 58n + BigInt(BASE58_ALPHABET.indexOf(digit))
  const hex = n === 0n ? '' : n.toString(16)
  const zeros = /^1*/.exec(text)![0].length
  const bytes = Buffer.concat([Buffer.alloc(zeros), Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex')])
  if (bytes.length < 4) return undefined
  const payload = bytes.subarray(0, -4)
  return sha256d(payload).subarray(0, 4).equals(bytes.subarray(-4)) ? payload : undefined
}
