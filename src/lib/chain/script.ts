/**
 * Output script templates recognised by their bytes, the way Bitcoin Core's
 * Solver does (src/script/solver.cpp) — cheap enough to run on every output of
 * every block, unlike trying each bitcoinjs payment type in turn.
 */
export type ScriptType =
  | 'p2pk'
  | 'p2pkh'
  | 'p2sh'
  | 'v0_p2wpkh'
  | 'v0_p2wsh'
  | 'v1_p2tr'
  /** pay-to-anchor: OP_1 <0x4e73> (Core 28+) */
  | 'anchor'
  /** a witness program of a version or size with no meaning yet */
  | 'witness_unknown'
  | 'op_return'
  | 'multisig'
  | 'nonstandard'

const OP_0 = 0x00
const OP_1 = 0x51
const OP_16 = 0x60
const OP_RETURN = 0x6a
const OP_DUP = 0x76
const OP_EQUAL = 0x87
const OP_EQUALVERIFY = 0x88
const OP_HASH160 = 0xa9
const OP_CHECKSIG = 0xac
const OP_CHECKMULTISIG = 0xae
/** Core's MAX_PUBKEYS_PER_MULTISIG */
const MAX_MULTISIG_KEYS = 20

export interface WitnessProgram {
  version: number
  program: Uint8Array
}

/** OP_n followed by one direct push of 2..40 bytes (BIP-141), or undefined. */
export function witnessProgramOf(script: Uint8Array): WitnessProgram | undefined {
  const size = script.length
  if (size < 4 || size > 42) return undefined
  const op = script[0]
  if (op !== OP_0 && (op < OP_1 || op > OP_16)) return undefined
  if (script[1] !== size - 2) return undefined
  return {version: op === OP_0 ? 0 : op - OP_1 + 1, program: script.subarray(2)}
}

/** Core's MAX_SCRIPT_SIZE: a longer output script can never be spent */
const MAX_SCRIPT_SIZE = 10_000

/**
 * Core's CScript::IsUnspendable: OP_RETURN first, or longer than any script
 * that can be spent. Core never adds such an output to its UTXO set.
 */
export function isProvablyUnspendable(script: Uint8Array): boolean {
  return (script.length > 0 && script[0] === OP_RETURN) || script.length > MAX_SCRIPT_SIZE
}

export function classifyScript(script: Uint8Array): ScriptType {
  const size = script.length
  if (size === 25 && script[0] === OP_DUP && script[1] === OP_HASH160 && script[2] === 20 &&
      script[23] === OP_EQUALVERIFY && script[24] === OP_CHECKSIG) {
    return 'p2pkh'
  }
  if (size === 23 && script[0] === OP_HASH160 && script[1] === 20 && script[22] === OP_EQUAL) return 'p2sh'
  const witness = witnessProgramOf(script)
  if (witness) return witnessType(witness)
  if (size > 0 && script[0] === OP_RETURN) return 'op_return'
  if (isPayToPubkey(script)) return 'p2pk'
  if (isMultisig(script)) return 'multisig'
  return 'nonstandard'
}

function witnessType({version, program}: WitnessProgram): ScriptType {
  const size = program.length
  if (version === 0) {
    if (size === 20) return 'v0_p2wpkh'
    if (size === 32) return 'v0_p2wsh'
    // Version 0 has only those two sizes; anything else can never be spent.
    return 'nonstandard'
  }
  if (version === 1 && size === 32) return 'v1_p2tr'
  if (version === 1 && size === 2 && program[0] === 0x4e && program[1] === 0x73) return 'anchor'
  return 'witness_unknown'
}

/** Length of a public key that starts with `header`, as CPubKey::GetLen. */
function pubkeySize(header: number): number {
  if (header === 2 || header === 3) return 33
  if (header === 4 || header === 6 || header === 7) return 65
  return 0
}

function isPayToPubkey(script: Uint8Array): boolean {
  const size = script.length
  if (size !== 35 && size !== 67) return false
  const keySize = size - 2
  return script[0] === keySize && pubkeySize(script[1]) === keySize && script[size - 1] === OP_CHECKSIG
}

/** A small number as Core's GetScriptNumber reads it: OP_1..OP_16 or a one-byte push. */
function smallNumberAt(script: Uint8Array, pos: number): {value: number; next: number} | undefined {
  const op = script[pos]
  if (op >= OP_1 && op <= OP_16) return {value: op - OP_1 + 1, next: pos + 1}
  if (op === 1 && pos + 1 < script.length && script[pos + 1] > 16 && script[pos + 1] <= 0x7f) {
    return {value: script[pos + 1], next: pos + 2}
  }
  return undefined
}

/** OP_m <key>… OP_n OP_CHECKMULTISIG with 1 ≤ m ≤ n ≤ 20 and n keys. */
function isMultisig(script: Uint8Array): boolean {
  const size = script.length
  if (size < 3 || script[size - 1] !== OP_CHECKMULTISIG) return false
  const required = smallNumberAt(script, 0)
  if (!required || required.value < 1 || required.value > MAX_MULTISIG_KEYS) return false
  let pos = required.next
  let keys = 0
  while (pos < size - 1) {
    const push = script[pos]
    if ((push !== 33 && push !== 65) || pubkeySize(script[pos + 1]) !== push || pos + 1 + push > size - 1) break
    keys++
    pos += 1 + push
  }
  const total = smallNumberAt(script, pos)
  if (!total || total.value < required.value || total.value > MAX_MULTISIG_KEYS) return false
  return total.value === keys && total.next === size - 1
}
