/**
 * JSON written the way Bitcoin Core's UniValue writes it: compact, keys in
 * insertion order, amounts as fixed 8-decimal numbers (`50.00000000`, never
 * `50` or `5e-7`), so clients that parse amounts from the text see exactly
 * what a real node sends.
 */

/** A BTC amount held in satoshis; serialised as Core's ValueFromAmount does. */
export class Amount {
  readonly sats: bigint
  constructor(sats: bigint | number) {
    this.sats = BigInt(sats)
  }

  toString(): string {
    const negative = this.sats < 0n
    const abs = negative ? -this.sats : this.sats
    const whole = abs / 100_000_000n
    const frac = (abs % 100_000_000n).toString().padStart(8, '0')
    return `${negative ? '-' : ''}${whole}.${frac}`
  }

  /** what a client's JSON.parse would see */
  toNumber(): number {
    return Number(this.toString())
  }
}

export const btc = (sats: bigint | number): Amount => new Amount(sats)

/**
 * Bytes that go into the reply as a JSON string of hex, written straight from
 * the Buffer: serving a block as hex must not build an intermediate JS value.
 */
export class HexString {
  readonly bytes: Uint8Array
  constructor(bytes: Uint8Array) {
    this.bytes = bytes
  }
}

/** Core's UniValue::write(): compact unless an indent is given (write(4) pretty-prints). */
export function writeJson(value: unknown, indent = 0): string {
  const parts: string[] = []
  write(value, parts, indent, 0)
  return parts.join('')
}

function write(value: unknown, out: string[], indent: number, level: number): void {
  if (value === null || value === undefined) {
    out.push('null')
  } else if (value instanceof Amount) {
    out.push(value.toString())
  } else if (value instanceof HexString) {
    out.push('"', Buffer.from(value.bytes.buffer, value.bytes.byteOffset, value.bytes.byteLength).toString('hex'), '"')
  } else if (typeof value === 'string') {
    out.push(JSON.stringify(value))
  } else if (typeof value === 'number') {
    out.push(Number.isFinite(value) ? doubleText(value) : 'null')
  } else if (typeof value === 'bigint') {
    out.push(value.toString())
  } else if (typeof value === 'boolean') {
    out.push(value ? 'true' : 'false')
  } else if (Array.isArray(value)) {
    if (value.length === 0) {
      out.push('[]')
      return
    }
    out.push('[')
    value.forEach((item, i) => {
      if (i > 0) out.push(',')
      newline(out, indent, level + 1)
      write(item, out, indent, level + 1)
    })
    newline(out, indent, level)
    out.push(']')
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
    if (entries.length === 0) {
      out.push('{}')
      return
    }
    out.push('{')
    entries.forEach(([key, item], i) => {
      if (i > 0) out.push(',')
      newline(out, indent, level + 1)
      out.push(JSON.stringify(key), indent > 0 ? ': ' : ':')
      write(item, out, indent, level + 1)
    })
    newline(out, indent, level)
    out.push('}')
  } else {
    throw new TypeError(`cannot write ${typeof value} as JSON`)
  }
}

function newline(out: string[], indent: number, level: number): void {
  if (indent > 0) out.push('\n', ' '.repeat(indent * level))
}

/** UniValue writes doubles with std::setprecision(16): 16 significant digits, trailing zeros dropped. */
function doubleText(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(16)))
}
