import {BixError} from '../errors.js'

/**
 * Reading bitcoind's JSON answers defensively: a missing or mistyped field is
 * a NodeError naming the call and the field, not a crash three modules later.
 */

export type Json = Record<string, unknown>

export function warningsOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((w): w is string => typeof w === 'string' && w !== '')
  return typeof value === 'string' && value !== '' ? [value] : []
}

export function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BixError('NodeError', `${what}: the node did not send an object`)
  return value as Json
}

export function number(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new BixError('NodeError', `${what}: the node did not send a number`)
  return value
}

export function hash(value: unknown, what: string): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/i.test(value)) throw new BixError('NodeError', `${what}: the node did not send a 64-digit hex hash`)
  return value
}

export function hashList(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw new BixError('NodeError', `${what}: the node did not send a list of hashes`)
  return value.map((v) => hash(v, what))
}

/**
 * Hex (a block can be 8 MB of it) as bytes. Node's decoder stops at the
 * first pair that is not hex, so a full-length result is the whole check:
 * a regular expression over the string cost more than the decoding.
 */
export function hexBytes(value: unknown, what: string): Buffer {
  if (typeof value === 'string' && value.length % 2 === 0) {
    const bytes = Buffer.from(value, 'hex')
    if (bytes.length * 2 === value.length) return bytes
  }
  throw new BixError('NodeError', `${what}: the node did not send hex`)
}

/** Typed reads of one answer's fields; a missing or mistyped field names the call and the field. */
export function fields(o: Json, what: string) {
  const bad = (key: string, type: string) => new BixError('NodeError', `${what}: field "${key}" is missing or not a ${type}`)
  return {
    num(key: string): number {
      const v = o[key]
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(key, 'number')
      return v
    },
    str(key: string): string {
      const v = o[key]
      if (typeof v !== 'string') throw bad(key, 'string')
      return v
    },
    bool(key: string): boolean {
      const v = o[key]
      if (typeof v !== 'boolean') throw bad(key, 'boolean')
      return v
    },
    optNum(key: string): number | undefined {
      return o[key] === undefined || o[key] === null ? undefined : this.num(key)
    },
    optStr(key: string): string | undefined {
      return o[key] === undefined || o[key] === null ? undefined : this.str(key)
    },
    optBool(key: string): boolean | undefined {
      return o[key] === undefined || o[key] === null ? undefined : this.bool(key)
    },
  }
}
