/**
 * RPC arguments checked the way Core's RPCHelpMan checks them: named
 * parameters mapped to positions, a wrong argument count answered with the
 * method's help text (-1), wrong JSON types listed per position (-3), and the
 * common parsers (hashes, verbosity, amounts) with Core's messages.
 */
import {COIN} from './block-builder.js'
import {writeJson} from './core-json.js'

/** An RPC error as Core throws it (JSONRPCError): code and message. */
export class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message)
  }
}

export const RPC = {
  miscError: -1,
  typeError: -3,
  invalidAddressOrKey: -5,
  walletInsufficientFunds: -6,
  invalidParameter: -8,
  deserializationError: -22,
  verifyError: -25,
  verifyRejected: -26,
  verifyAlreadyInChain: -27,
  inWarmup: -28,
  invalidRequest: -32600,
  methodNotFound: -32601,
  parseError: -32700,
} as const

export type ArgType = 'str' | 'str_hex' | 'num' | 'bool' | 'arr' | 'obj' | 'amount'

export interface ArgSpec {
  /** Core's m_names, e.g. "verbosity|verbose" */
  name: string
  type: ArgType
  required?: boolean
  /** Core's skip_type_check: the method parses the value itself */
  skipTypeCheck?: boolean
}

const jsonTypeName = (value: unknown): string =>
  value === null || value === undefined
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : typeof value === 'boolean'
        ? 'bool'
        : typeof value === 'number'
          ? 'number'
          : typeof value === 'string'
            ? 'string'
            : 'object'

const expectedTypeName: Record<ArgType, string | undefined> = {
  str: 'string',
  str_hex: 'string',
  num: 'number',
  bool: 'bool',
  arr: 'array',
  obj: 'object',
  amount: undefined,
}

/** The first line of Core's help for a method, which is what a wrong argument count returns. */
export function usage(method: string, args: ArgSpec[]): string {
  const names = args.map((a) => (a.required ? a.name.split('|')[0] : `( ${a.name.split('|')[0]} )`))
  return `${[method, ...names].join(' ')}\n`
}

/** Positional arguments from a params array or object, validated against the spec. */
export function normalizeParams(method: string, args: ArgSpec[], params: unknown): unknown[] {
  let list: unknown[]
  if (Array.isArray(params)) {
    list = params
  } else if (params && typeof params === 'object') {
    list = namedToPositional(args, params as Record<string, unknown>)
  } else {
    list = []
  }
  const required = args.filter((a) => a.required).length
  if (list.length < required || list.length > args.length) throw new RpcFailure(RPC.miscError, usage(method, args))
  const mismatches: Record<string, string> = {}
  args.forEach((arg, i) => {
    const value = list[i]
    if (arg.skipTypeCheck) return
    if (!arg.required && (value === null || value === undefined)) return
    const expected = expectedTypeName[arg.type]
    if (expected === undefined) return
    const actual = jsonTypeName(value)
    if (actual !== expected) mismatches[`Position ${i + 1} (${arg.name})`] = `JSON value of type ${actual} is not of expected type ${expected}`
  })
  if (Object.keys(mismatches).length > 0) throw new RpcFailure(RPC.typeError, `Wrong type passed:\n${writeJson(mismatches, 4)}`)
  return list
}

function namedToPositional(args: ArgSpec[], named: Record<string, unknown>): unknown[] {
  const positions = new Map<string, number>()
  args.forEach((arg, i) => arg.name.split('|').forEach((n) => positions.set(n, i)))
  const list: unknown[] = []
  for (const [name, value] of Object.entries(named)) {
    const i = positions.get(name)
    if (i === undefined) throw new RpcFailure(RPC.invalidParameter, `Unknown named parameter ${name}`)
    if (list[i] !== undefined) throw new RpcFailure(RPC.invalidParameter, `Parameter ${name} specified multiple times`)
    list[i] = value
  }
  for (let i = 0; i < list.length; i++) if (list[i] === undefined) list[i] = null
  return list
}

/** Core's ParseHashV: length first, then hex. */
export function parseHash(value: unknown, name: string): string {
  const text = String(value)
  if (text.length !== 64) throw new RpcFailure(RPC.invalidParameter, `${name} must be of length 64 (not ${text.length}, for '${text}')`)
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new RpcFailure(RPC.invalidParameter, `${name} must be hexadecimal string (not '${text}')`)
  return text.toLowerCase()
}

/** UniValue::getInt: a JSON integer, or Core's runtime error (reported as -1). */
export function getInt(value: unknown): number {
  if (typeof value !== 'number') throw new RpcFailure(RPC.miscError, `JSON value of type ${jsonTypeName(value)} is not of expected type number`)
  if (!Number.isInteger(value)) throw new RpcFailure(RPC.miscError, 'JSON integer out of range')
  return value
}

/** Core's ParseVerbosity: a number, or a boolean meaning 1/0. */
export function parseVerbosity(value: unknown, defaultValue: number): number {
  if (value === null || value === undefined) return defaultValue
  if (typeof value === 'boolean') return value ? 1 : 0
  return getInt(value)
}

export function getBool(value: unknown, defaultValue: boolean): boolean {
  if (value === null || value === undefined) return defaultValue
  if (typeof value !== 'boolean') throw new RpcFailure(RPC.miscError, `JSON value of type ${jsonTypeName(value)} is not of expected type bool`)
  return value
}

/** Core's AmountFromValue: a number or numeric string in BTC → satoshis. */
export function amountFromValue(value: unknown): bigint {
  if (typeof value !== 'number' && typeof value !== 'string') throw new RpcFailure(RPC.typeError, 'Amount is not a number or string')
  const text = typeof value === 'number' ? value.toFixed(12) : value
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim())
  if (!match) throw new RpcFailure(RPC.typeError, 'Invalid amount')
  const frac = (match[3] ?? '').replace(/0+$/, '')
  if (frac.length > 8) throw new RpcFailure(RPC.typeError, 'Invalid amount')
  const sats = BigInt(match[2]) * COIN + BigInt(frac.padEnd(8, '0') || '0')
  if (match[1] === '-' && sats !== 0n) throw new RpcFailure(RPC.typeError, 'Amount out of range')
  if (sats > 21_000_000n * COIN) throw new RpcFailure(RPC.typeError, 'Amount out of range')
  return sats
}

/** Core's ParseFeeRate (maxfeerate): BTC/kvB, below 1. Returns sat/kvB. */
export function parseFeeRate(value: unknown, defaultSatPerKvB: bigint): bigint {
  if (value === null || value === undefined) return defaultSatPerKvB
  const rate = amountFromValue(value)
  if (rate >= COIN) throw new RpcFailure(RPC.invalidParameter, 'Fee rates larger than or equal to 1BTC/kvB are not accepted')
  return rate
}
