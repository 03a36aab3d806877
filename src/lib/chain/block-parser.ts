import {BixError} from '../errors.js'
import {sha256d, toDisplayHex} from './hashes.js'
import {merkleRoot} from './merkle.js'
import {sha256Batch} from './sha256-batch.js'
import type {ParsedBlock, ParsedInput, ParsedOutput, ParsedTx} from './types.js'

/**
 * Blocks and transactions read straight from their serialization: scripts,
 * header and previous txids are views into the caller's buffer, values are two
 * 32-bit reads, and nothing is allocated from a length the bytes cannot back —
 * so a corrupt blk file or a lying peer gives a BadBlock error naming the
 * offset, never a RangeError, a hang or a giant allocation.
 */

export const HEADER_BYTES = 80
/** 21 million BTC in satoshis: no output may carry more (consensus MAX_MONEY). */
export const MAX_MONEY = 2_100_000_000_000_000

// The smallest encodings, used to reject counts the remaining bytes cannot hold.
const MIN_INPUT_BYTES = 41 // prevout 36 + script length 1 + sequence 4
const MIN_OUTPUT_BYTES = 9 // value 8 + script length 1
const MIN_TX_BYTES = 60 // version, 1 input, 1 output, locktime (Core's MIN_TRANSACTION_WEIGHT / 4)

const TWO_32 = 0x1_0000_0000

/** Reads one serialized structure; every read is checked against `end` first. */
class Cursor {
  pos: number
  /** which transaction is being read, for error messages (-1: none) */
  tx = -1

  constructor(
    readonly buf: Buffer,
    pos: number,
    readonly end: number,
    readonly label: string,
  ) {
    this.pos = pos
  }

  fail(what: string, at = this.pos): never {
    const where = this.tx >= 0 ? `tx ${this.tx}: ` : ''
    throw new BixError('BadBlock', `${this.label}: ${where}${what} at offset ${at}`)
  }

  need(n: number, what: string): void {
    if (n > this.end - this.pos) this.fail(`truncated ${what} (${n} bytes needed, ${this.end - this.pos} left)`)
  }

  u8(what: string): number {
    this.need(1, what)
    return this.buf[this.pos++]
  }

  u32(what: string): number {
    this.need(4, what)
    const b = this.buf
    const p = this.pos
    this.pos = p + 4
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x100_0000
  }

  /** CompactSize, canonical as Core requires. */
  varint(what: string): number {
    const at = this.pos
    const first = this.u8(what)
    if (first < 0xfd) return first
    let value: number
    let min: number
    if (first === 0xfd) {
      this.need(2, what)
      value = this.buf[this.pos] | (this.buf[this.pos + 1] << 8)
      this.pos += 2
      min = 0xfd
    } else if (first === 0xfe) {
      value = this.u32(what)
      min = 0x1_0000
    } else {
      const lo = this.u32(what)
      const hi = this.u32(what)
      if (hi !== 0) this.fail(`${what} is impossibly large`, at)
      value = lo
      min = TWO_32
    }
    if (value < min) this.fail(`${what} is not canonically encoded`, at)
    return value
  }

  /** A count of items of at least `minBytes` each: must fit in what is left. */
  count(minBytes: number, what: string): number {
    const at = this.pos
    const n = this.varint(what)
    if (n * minBytes > this.end - this.pos) {
      this.fail(`${what} ${n} cannot fit in the ${this.end - this.pos} bytes left`, at)
    }
    return n
  }

  /** A length-prefixed byte string, as a view. */
  slice(what: string): Buffer {
    const at = this.pos
    const n = this.varint(what)
    if (n > this.end - this.pos) this.fail(`${what} of ${n} bytes runs past the end (${this.end - this.pos} left)`, at)
    const start = this.pos
    this.pos = start + n
    return this.buf.subarray(start, this.pos)
  }

  skipSlice(what: string): number {
    const at = this.pos
    const n = this.varint(what)
    if (n > this.end - this.pos) this.fail(`${what} of ${n} bytes runs past the end (${this.end - this.pos} left)`, at)
    this.pos += n
    return n
  }
}

export function blockHash(header: Uint8Array): Buffer {
  return sha256d(header)
}

export interface TxParseOptions {
  /** how errors name what is being read; default "transaction" */
  label?: string
  /** read a 0x00 0x01 after the version as the segwit marker and flag (default true) */
  allowWitness?: boolean
}

/** One transaction starting at `offset`; `end` is the offset just after it. */
export function parseTransaction(
  buf: Buffer,
  offset = 0,
  options: TxParseOptions = {},
): {tx: ParsedTx; end: number} {
  const c = new Cursor(buf, offset, buf.length, options.label ?? 'transaction')
  const txidRanges = new Uint32Array(6)
  const tx = readTx(c, undefined, options.allowWitness ?? true, txidRanges)
  tx.txid = sha256Batch().hashRanges(buf, txidRanges, 3, 1, true)
  return {tx, end: c.pos}
}

/** A whole serialized block: header, transactions, and nothing after them. */
export function parseBlock(buf: Buffer): ParsedBlock {
  if (buf.length < HEADER_BYTES + 1) {
    throw new BixError('BadBlock', `block: only ${buf.length} bytes, too short for a header and a transaction count`)
  }
  const header = buf.subarray(0, HEADER_BYTES)
  const hash = blockHash(header)
  const c = new Cursor(buf, HEADER_BYTES, buf.length, `block ${toDisplayHex(hash)}`)
  const count = c.count(MIN_TX_BYTES, 'transaction count')
  if (count === 0) c.fail('no transactions')
  const txs: ParsedTx[] = new Array(count)
  // each txid's bytes as three (offset, length) ranges, hashed together once the block is read
  const txidRanges = new Uint32Array(count * 6)
  for (let i = 0; i < count; i++) {
    c.tx = i
    txs[i] = readTx(c, i === 0, true, txidRanges.subarray(i * 6, i * 6 + 6))
  }
  c.tx = -1
  if (c.pos !== buf.length) c.fail(`${buf.length - c.pos} unexpected bytes after the last transaction`)
  const txids = sha256Batch().hashRanges(buf, txidRanges, 3, count, true)
  for (let i = 0; i < count; i++) txs[i].txid = txids.subarray(i * 32, i * 32 + 32)
  return {
    hash,
    header,
    prevHash: header.subarray(4, 36),
    merkleRoot: header.subarray(36, 68),
    time: header.readUInt32LE(68),
    size: buf.length,
    txs,
  }
}

/**
 * One transaction at the cursor. Its txid is left empty for the caller to
 * hash: the three (offset, length) ranges of bytes it covers are written to
 * `txidRanges` (6 slots), so a block's txids are hashed in one call.
 */
function readTx(c: Cursor, isCoinbase: boolean | undefined, allowWitness: boolean, txidRanges: Uint32Array): ParsedTx {
  const start = c.pos
  c.need(10, 'transaction')
  c.pos += 4 // version
  let segwit = false
  if (allowWitness && c.buf[c.pos] === 0) {
    const flag = c.buf[c.pos + 1]
    if (flag !== 1) c.fail(`unknown segwit flag ${flag} (or no inputs)`, c.pos + 1)
    segwit = true
    c.pos += 2
  }
  const inputsStart = c.pos

  const nIn = c.count(MIN_INPUT_BYTES, 'input count')
  const inputs: ParsedInput[] = new Array(nIn)
  for (let i = 0; i < nIn; i++) {
    c.need(36, 'input prevout')
    const p = c.pos
    const prevTxid = c.buf.subarray(p, p + 32)
    c.pos = p + 32
    const prevVout = c.u32('input prevout')
    c.skipSlice('input script')
    c.need(4, 'input sequence')
    c.pos += 4
    inputs[i] = {prevTxid, prevVout}
  }

  const nOut = c.count(MIN_OUTPUT_BYTES, 'output count')
  const outputs: ParsedOutput[] = new Array(nOut)
  for (let i = 0; i < nOut; i++) {
    const at = c.pos
    const lo = c.u32('output value')
    const hi = c.u32('output value')
    const value = hi * TWO_32 + lo
    if (value > MAX_MONEY) c.fail(`output ${i} value ${value} exceeds 21,000,000 BTC`, at)
    outputs[i] = {value, script: c.slice('output script')}
  }
  const outputsEnd = c.pos

  if (segwit) {
    let anyWitness = false
    for (let i = 0; i < nIn; i++) {
      const items = c.count(1, 'witness item count')
      for (let k = 0; k < items; k++) c.skipSlice('witness item')
      if (items > 0) anyWitness = true
    }
    // Core refuses a marker whose witnesses are all empty ("Superfluous witness record").
    if (!anyWitness) c.fail('segwit marker but no witness data', start + 4)
  }
  c.need(4, 'locktime')
  c.pos += 4

  // a segwit txid hashes the transaction without marker, flag and witnesses
  if (segwit) txidRanges.set([start, 4, inputsStart, outputsEnd - inputsStart, c.pos - 4, 4])
  else txidRanges.set([start, c.pos - start, 0, 0, 0, 0])
  return {txid: NO_TXID, isCoinbase: isCoinbase ?? looksLikeCoinbase(inputs), inputs, outputs}
}

/** readTx's txid until the caller has hashed it */
const NO_TXID = Buffer.alloc(0)

function looksLikeCoinbase(inputs: ParsedInput[]): boolean {
  if (inputs.length !== 1 || inputs[0].prevVout !== 0xffff_ffff) return false
  const prev = inputs[0].prevTxid
  for (let i = 0; i < 32; i++) if (prev[i] !== 0) return false
  return true
}

/**
 * Checks that a parsed block is the one asked for and that its transactions
 * are the ones its header commits to. Throws BadBlock naming the block.
 */
export function verifyBlock(block: ParsedBlock, expectedHashHex?: string): void {
  const hashHex = toDisplayHex(block.hash)
  if (expectedHashHex !== undefined && expectedHashHex.toLowerCase() !== hashHex) {
    throw new BixError('BadBlock', `block ${expectedHashHex}: the data received hashes to ${hashHex}`)
  }
  const {root, mutated} = merkleRoot(block.txs.map((tx) => tx.txid))
  if (!root.equals(block.merkleRoot)) {
    throw new BixError(
      'BadBlock',
      `block ${hashHex}: merkle root of the transactions is ${toDisplayHex(root)}, the header says ${toDisplayHex(block.merkleRoot)}`,
    )
  }
  if (mutated) {
    throw new BixError('BadBlock', `block ${hashHex}: duplicated transactions make the merkle tree ambiguous (CVE-2012-2459)`)
  }
  if (block.txs.length === 0 || !looksLikeCoinbase(block.txs[0].inputs)) {
    throw new BixError('BadBlock', `block ${hashHex}: the first transaction is not a coinbase`)
  }
}
