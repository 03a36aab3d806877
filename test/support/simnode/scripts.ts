/**
 * Output scripts as Bitcoin Core shows them: the type its Solver() gives, the
 * regtest address, the `asm` text and the inferred descriptor with checksum
 * (`addr(...)#...`, `raw(...)#...`, `rawtr(...)#...`), so verbose RPC answers
 * from the simulator read like a real node's.
 */
import {address as bjsAddress} from 'bitcoinjs-lib'

import {type AddressPrefixes, NETWORKS} from '../../../src/lib/chain/networks.js'

const REGTEST = NETWORKS.regtest.address

export type ScriptType =
  | 'nonstandard'
  | 'pubkey'
  | 'pubkeyhash'
  | 'scripthash'
  | 'multisig'
  | 'nulldata'
  | 'witness_v0_keyhash'
  | 'witness_v0_scripthash'
  | 'witness_v1_taproot'
  | 'witness_unknown'
  | 'anchor'

export interface ScriptOp {
  opcode: number
  /** present for push opcodes (0x00–0x4e) */
  data?: Buffer
}

const OP = {
  PUSHDATA1: 0x4c,
  PUSHDATA2: 0x4d,
  PUSHDATA4: 0x4e,
  '1NEGATE': 0x4f,
  '1': 0x51,
  '16': 0x60,
  RETURN: 0x6a,
  DUP: 0x76,
  EQUAL: 0x87,
  EQUALVERIFY: 0x88,
  HASH160: 0xa9,
  CHECKSIG: 0xac,
  CHECKMULTISIG: 0xae,
} as const

const OPCODE_NAMES: Record<number, string> = (() => {
  const names: Record<number, string> = {0x00: '0', 0x4c: 'OP_PUSHDATA1', 0x4d: 'OP_PUSHDATA2', 0x4e: 'OP_PUSHDATA4', 0x4f: '-1', 0x50: 'OP_RESERVED'}
  for (let n = 1; n <= 16; n++) names[0x50 + n] = String(n)
  const rest = [
    'NOP', 'VER', 'IF', 'NOTIF', 'VERIF', 'VERNOTIF', 'ELSE', 'ENDIF', 'VERIFY', 'RETURN', 'TOALTSTACK', 'FROMALTSTACK',
    '2DROP', '2DUP', '3DUP', '2OVER', '2ROT', '2SWAP', 'IFDUP', 'DEPTH', 'DROP', 'DUP', 'NIP', 'OVER', 'PICK', 'ROLL',
    'ROT', 'SWAP', 'TUCK', 'CAT', 'SUBSTR', 'LEFT', 'RIGHT', 'SIZE', 'INVERT', 'AND', 'OR', 'XOR', 'EQUAL', 'EQUALVERIFY',
    'RESERVED1', 'RESERVED2', '1ADD', '1SUB', '2MUL', '2DIV', 'NEGATE', 'ABS', 'NOT', '0NOTEQUAL', 'ADD', 'SUB', 'MUL',
    'DIV', 'MOD', 'LSHIFT', 'RSHIFT', 'BOOLAND', 'BOOLOR', 'NUMEQUAL', 'NUMEQUALVERIFY', 'NUMNOTEQUAL', 'LESSTHAN',
    'GREATERTHAN', 'LESSTHANOREQUAL', 'GREATERTHANOREQUAL', 'MIN', 'MAX', 'WITHIN', 'RIPEMD160', 'SHA1', 'SHA256',
    'HASH160', 'HASH256', 'CODESEPARATOR', 'CHECKSIG', 'CHECKSIGVERIFY', 'CHECKMULTISIG', 'CHECKMULTISIGVERIFY', 'NOP1',
    'CHECKLOCKTIMEVERIFY', 'CHECKSEQUENCEVERIFY', 'NOP4', 'NOP5', 'NOP6', 'NOP7', 'NOP8', 'NOP9', 'NOP10', 'CHECKSIGADD',
  ]
  rest.forEach((name, i) => (names[0x61 + i] = `OP_${name}`))
  names[0xff] = 'OP_INVALIDOPCODE'
  return names
})()

/** Splits a script into operations; undefined when a push runs past the end (Core's GetOp failing). */
export function parseScript(script: Uint8Array): {ops: ScriptOp[]; error: boolean} {
  const ops: ScriptOp[] = []
  const buf = Buffer.from(script.buffer, script.byteOffset, script.byteLength)
  let pos = 0
  while (pos < buf.length) {
    const opcode = buf[pos++]
    if (opcode > OP.PUSHDATA4) {
      ops.push({opcode})
      continue
    }
    let size = opcode
    if (opcode === OP.PUSHDATA1) {
      if (pos + 1 > buf.length) return {ops, error: true}
      size = buf[pos]
      pos += 1
    } else if (opcode === OP.PUSHDATA2) {
      if (pos + 2 > buf.length) return {ops, error: true}
      size = buf.readUInt16LE(pos)
      pos += 2
    } else if (opcode === OP.PUSHDATA4) {
      if (pos + 4 > buf.length) return {ops, error: true}
      size = buf.readUInt32LE(pos)
      pos += 4
    }
    if (pos + size > buf.length) return {ops, error: true}
    ops.push({opcode, data: buf.subarray(pos, pos + size)})
    pos += size
  }
  return {ops, error: false}
}

/** CScriptNum as Core decodes it for asm: little-endian sign-magnitude. */
function scriptNum(data: Buffer): bigint {
  if (data.length === 0) return 0n
  let value = 0n
  for (let i = 0; i < data.length; i++) value |= BigInt(data[i]) << BigInt(8 * i)
  const last = data[data.length - 1]
  if (last & 0x80) {
    value &= ~(0x80n << BigInt(8 * (data.length - 1)))
    return -value
  }
  return value
}

const SIGHASH_NAMES: Record<number, string> = {
  0x01: 'ALL',
  0x02: 'NONE',
  0x03: 'SINGLE',
  0x81: 'ALL|ANYONECANPAY',
  0x82: 'NONE|ANYONECANPAY',
  0x83: 'SINGLE|ANYONECANPAY',
}

/** BIP66 strict DER check (Core's IsValidSignatureEncoding). */
export function isValidSignatureEncoding(sig: Buffer): boolean {
  if (sig.length < 9 || sig.length > 73) return false
  if (sig[0] !== 0x30 || sig[1] !== sig.length - 3) return false
  const lenR = sig[3]
  if (5 + lenR >= sig.length) return false
  const lenS = sig[5 + lenR]
  if (lenR + lenS + 7 !== sig.length) return false
  if (sig[2] !== 0x02 || lenR === 0 || sig[4] & 0x80) return false
  if (lenR > 1 && sig[4] === 0x00 && !(sig[5] & 0x80)) return false
  if (sig[lenR + 4] !== 0x02 || lenS === 0 || sig[lenR + 6] & 0x80) return false
  if (lenS > 1 && sig[lenR + 6] === 0x00 && !(sig[lenR + 7] & 0x80)) return false
  return true
}

/** Core's ScriptToAsmStr; attemptSighashDecode is what scriptSig rendering uses. */
export function scriptToAsm(script: Uint8Array, attemptSighashDecode = false): string {
  const {ops, error} = parseScript(script)
  const unspendable = script.length > 0 && script[0] === OP.RETURN
  const words: string[] = []
  for (const op of ops) {
    if (op.data === undefined) {
      words.push(OPCODE_NAMES[op.opcode] ?? 'OP_UNKNOWN')
    } else if (op.data.length <= 4) {
      words.push(scriptNum(op.data).toString())
    } else if (attemptSighashDecode && !unspendable && isValidSignatureEncoding(op.data) && SIGHASH_NAMES[op.data[op.data.length - 1]]) {
      words.push(op.data.subarray(0, -1).toString('hex') + `[${SIGHASH_NAMES[op.data[op.data.length - 1]]}]`)
    } else {
      words.push(op.data.toString('hex'))
    }
  }
  if (error) words.push('[error]')
  return words.join(' ')
}

export interface Solved {
  type: ScriptType
  /** witness version for witness programs */
  version?: number
  /** hash, program, pubkey or (multisig) the keys */
  data?: Buffer
  keys?: Buffer[]
  required?: number
}

/** Core's IsPushOnly: every opcode up to OP_16 counts, OP_RESERVED included. */
const isPushOnly = (ops: ScriptOp[]): boolean => ops.every((op) => op.data !== undefined || op.opcode <= OP['16'])

const validPubkeySize = (key: Buffer): boolean =>
  (key.length === 33 && (key[0] === 0x02 || key[0] === 0x03)) || (key.length === 65 && (key[0] === 0x04 || key[0] === 0x06 || key[0] === 0x07))

/** Core's Solver(): which standard template a script matches. */
export function solve(script: Uint8Array): Solved {
  const s = Buffer.from(script.buffer, script.byteOffset, script.byteLength)
  if (s.length === 23 && s[0] === OP.HASH160 && s[1] === 0x14 && s[22] === OP.EQUAL) return {type: 'scripthash', data: s.subarray(2, 22)}
  // witness program: version opcode then one direct push of 2..40 bytes
  if (s.length >= 4 && s.length <= 42 && (s[0] === 0x00 || (s[0] >= OP['1'] && s[0] <= OP['16'])) && s[1] + 2 === s.length) {
    const version = s[0] === 0 ? 0 : s[0] - 0x50
    const program = s.subarray(2)
    if (version === 0 && program.length === 20) return {type: 'witness_v0_keyhash', version, data: program}
    if (version === 0 && program.length === 32) return {type: 'witness_v0_scripthash', version, data: program}
    if (version === 1 && program.length === 32) return {type: 'witness_v1_taproot', version, data: program}
    if (version === 1 && program.equals(Buffer.from([0x4e, 0x73]))) return {type: 'anchor', version, data: program}
    if (version !== 0) return {type: 'witness_unknown', version, data: program}
    return {type: 'nonstandard'}
  }
  const {ops, error} = parseScript(s)
  if (s.length >= 1 && s[0] === OP.RETURN && !error && isPushOnly(ops.slice(1))) return {type: 'nulldata'}
  if (error) return {type: 'nonstandard'}
  if (ops.length === 2 && ops[0].data && validPubkeySize(ops[0].data) && ops[1].opcode === OP.CHECKSIG && s[0] === ops[0].data.length) {
    return {type: 'pubkey', data: ops[0].data}
  }
  if (s.length === 25 && s[0] === OP.DUP && s[1] === OP.HASH160 && s[2] === 0x14 && s[23] === OP.EQUALVERIFY && s[24] === OP.CHECKSIG) {
    return {type: 'pubkeyhash', data: s.subarray(3, 23)}
  }
  const multisig = solveMultisig(ops)
  if (multisig) return multisig
  return {type: 'nonstandard'}
}

function solveMultisig(ops: ScriptOp[]): Solved | undefined {
  if (ops.length < 4 || ops[ops.length - 1].opcode !== OP.CHECKMULTISIG) return undefined
  const small = (op: ScriptOp) => (op.data === undefined && op.opcode >= OP['1'] && op.opcode <= OP['16'] ? op.opcode - 0x50 : undefined)
  const required = small(ops[0])
  const total = small(ops[ops.length - 2])
  const keys = ops.slice(1, -2).map((op) => op.data)
  if (required === undefined || total === undefined || keys.length !== total || required > total) return undefined
  if (!keys.every((key): key is Buffer => key !== undefined && validPubkeySize(key))) return undefined
  return {type: 'multisig', keys, required}
}

/** The address for a script (regtest's unless told), if Core's ExtractDestination gives one. */
export function scriptToAddress(script: Uint8Array, prefixes: AddressPrefixes = REGTEST): string | undefined {
  const solved = solve(script)
  switch (solved.type) {
    case 'pubkeyhash':
      return bjsAddress.toBase58Check(solved.data!, prefixes.pubKeyHash)
    case 'scripthash':
      return bjsAddress.toBase58Check(solved.data!, prefixes.scriptHash)
    case 'witness_v0_keyhash':
    case 'witness_v0_scripthash':
    case 'witness_v1_taproot':
    case 'witness_unknown':
    case 'anchor':
      return bjsAddress.toBech32(solved.data!, solved.version!, prefixes.bech32)
    default:
      return undefined
  }
}

/** An address (regtest's unless told) → its output script; throws on anything such a node would reject. */
export function addressToScript(addr: string, prefixes: AddressPrefixes = REGTEST): Buffer {
  let base58: {hash: Uint8Array; version: number} | undefined
  try {
    base58 = bjsAddress.fromBase58Check(addr)
  } catch {
    base58 = undefined
  }
  if (base58) {
    if (base58.hash.length === 20 && base58.version === prefixes.pubKeyHash) return Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), base58.hash, Buffer.from([0x88, 0xac])])
    if (base58.hash.length === 20 && base58.version === prefixes.scriptHash) return Buffer.concat([Buffer.from([0xa9, 0x14]), base58.hash, Buffer.from([0x87])])
    throw new Error(`Invalid address: ${addr}`)
  }
  const decoded = bjsAddress.fromBech32(addr)
  if (decoded.prefix !== prefixes.bech32) throw new Error(`Invalid address: ${addr}`)
  const {version, data} = decoded
  if (data.length < 2 || data.length > 40 || version > 16 || (version === 0 && data.length !== 20 && data.length !== 32)) {
    throw new Error(`Invalid address: ${addr}`)
  }
  return Buffer.concat([Buffer.from([version === 0 ? 0 : 0x50 + version, data.length]), data])
}

// --- secp256k1: only "is this a point", which decides how Core names a key in a descriptor ---

const P = 2n ** 256n - 2n ** 32n - 977n

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n
  base %= mod
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % mod
    base = (base * base) % mod
    exp >>= 1n
  }
  return result
}

/** true when x is the x coordinate of a secp256k1 point (x³+7 is a square mod p). */
export function isValidXOnly(x: Uint8Array): boolean {
  if (x.length !== 32) return false
  const xn = BigInt('0x' + Buffer.from(x).toString('hex'))
  if (xn >= P) return false
  const rhs = (xn * xn * xn + 7n) % P
  return modPow(rhs, (P - 1n) / 2n, P) === 1n
}

/** Core's CPubKey::IsFullyValid for the forms our scripts carry. */
export function isFullyValidPubkey(key: Buffer): boolean {
  if (key.length === 33 && (key[0] === 2 || key[0] === 3)) return isValidXOnly(key.subarray(1))
  if (key.length === 65 && key[0] === 4) {
    const x = BigInt('0x' + key.subarray(1, 33).toString('hex'))
    const y = BigInt('0x' + key.subarray(33).toString('hex'))
    return x < P && y < P && (y * y - (x * x * x + 7n)) % P === 0n
  }
  return false
}

// --- descriptors ---

const INPUT_CHARSET = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
const CHECKSUM_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'

function polymod(c: bigint, val: number): bigint {
  const c0 = c >> 35n
  c = ((c & 0x7ffffffffn) << 5n) ^ BigInt(val)
  if (c0 & 1n) c ^= 0xf5dee51989n
  if (c0 & 2n) c ^= 0xa9fdca3312n
  if (c0 & 4n) c ^= 0x1bab10e32dn
  if (c0 & 8n) c ^= 0x3706b1677an
  if (c0 & 16n) c ^= 0x644d626ffdn
  return c
}

/** The 8-character checksum Core appends to descriptors after '#'. */
export function descriptorChecksum(desc: string): string {
  let c = 1n
  let cls = 0
  let clsCount = 0
  for (const ch of desc) {
    const pos = INPUT_CHARSET.indexOf(ch)
    if (pos === -1) throw new Error(`invalid character in descriptor: ${ch}`)
    c = polymod(c, pos & 31)
    cls = cls * 3 + (pos >> 5)
    if (++clsCount === 3) {
      c = polymod(c, cls)
      cls = 0
      clsCount = 0
    }
  }
  if (clsCount > 0) c = polymod(c, cls)
  for (let j = 0; j < 8; j++) c = polymod(c, 0)
  c ^= 1n
  let out = ''
  for (let j = 0; j < 8; j++) out += CHECKSUM_CHARSET[Number((c >> BigInt(5 * (7 - j))) & 31n)]
  return out
}

export const withChecksum = (desc: string): string => `${desc}#${descriptorChecksum(desc)}`

/** Core's InferDescriptor for an output script seen without wallet knowledge. */
export function inferDescriptor(script: Uint8Array, prefixes: AddressPrefixes = REGTEST): string {
  const s = Buffer.from(script.buffer, script.byteOffset, script.byteLength)
  const solved = solve(s)
  if (solved.type === 'pubkey' && isFullyValidPubkey(solved.data!)) return withChecksum(`pk(${solved.data!.toString('hex')})`)
  if (solved.type === 'multisig' && solved.keys!.every(isFullyValidPubkey)) {
    return withChecksum(`multi(${solved.required},${solved.keys!.map((k) => k.toString('hex')).join(',')})`)
  }
  if (solved.type === 'witness_v1_taproot' && isValidXOnly(solved.data!)) return withChecksum(`rawtr(${solved.data!.toString('hex')})`)
  const addr = scriptToAddress(s, prefixes)
  if (addr !== undefined) return withChecksum(`addr(${addr})`)
  return withChecksum(`raw(${s.toString('hex')})`)
}

/** scriptPubKey as in getblock/getrawtransaction/gettxout (ScriptToUniv with hex and address). */
export function scriptPubKeyJson(script: Uint8Array, prefixes: AddressPrefixes = REGTEST): {asm: string; desc: string; hex: string; address?: string; type: ScriptType} {
  const s = Buffer.from(script.buffer, script.byteOffset, script.byteLength)
  const type = solve(s).type
  const address = type === 'pubkey' ? undefined : scriptToAddress(s, prefixes)
  return {asm: scriptToAsm(s), desc: inferDescriptor(s, prefixes), hex: s.toString('hex'), ...(address ? {address} : {}), type}
}

/** Outputs that never enter the UTXO set (Core's CScript::IsUnspendable). */
export const isUnspendable = (script: Uint8Array): boolean => (script.length > 0 && script[0] === OP.RETURN) || script.length > 10_000
