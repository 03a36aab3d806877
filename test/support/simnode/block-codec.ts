/**
 * Reading raw blocks without building objects: header fields, where each
 * transaction starts and ends, and the proof-of-work arithmetic (compact bits
 * → target → work) that chain selection and getblockheader need.
 */
import {Transaction} from 'bitcoinjs-lib'

import {sha256d, sha256dParts, toDisplayHex} from '../../../src/lib/chain/hashes.js'

export interface HeaderFields {
  /** display hex */
  hash: string
  version: number
  /** display hex; all zeros for genesis */
  prevHash: string
  merkleRoot: string
  time: number
  bits: number
  nonce: number
}

export function readHeader(raw: Uint8Array): HeaderFields {
  const header = Buffer.from(raw.buffer, raw.byteOffset, 80)
  return {
    hash: toDisplayHex(sha256d(header)),
    version: header.readInt32LE(0),
    prevHash: toDisplayHex(header.subarray(4, 36)),
    merkleRoot: toDisplayHex(header.subarray(36, 68)),
    time: header.readUInt32LE(68),
    bits: header.readUInt32LE(72),
    nonce: header.readUInt32LE(76),
  }
}

export function readVarInt(buf: Buffer, pos: number): {value: number; size: number} {
  const first = buf[pos]
  if (first === undefined) throw new RangeError('varint past end of data')
  if (first < 0xfd) return {value: first, size: 1}
  if (first === 0xfd) return {value: buf.readUInt16LE(pos + 1), size: 3}
  if (first === 0xfe) return {value: buf.readUInt32LE(pos + 1), size: 5}
  return {value: Number(buf.readBigUInt64LE(pos + 1)), size: 9}
}

export function writeVarInt(value: number): Buffer {
  if (value < 0xfd) return Buffer.from([value])
  if (value <= 0xffff) {
    const b = Buffer.alloc(3)
    b[0] = 0xfd
    b.writeUInt16LE(value, 1)
    return b
  }
  const b = Buffer.alloc(5)
  b[0] = 0xfe
  b.writeUInt32LE(value, 1)
  return b
}

export interface TxLayout {
  /** bytes of the whole serialization */
  length: number
  segwit: boolean
  /** offset (from the start of the transaction) where witness data begins; the outputs end there */
  witnessStart: number
}

/** Walks a serialized transaction field by field (no hashing, no objects). */
export function txLayout(buf: Buffer, start: number): TxLayout {
  let pos = start + 4
  let segwit = false
  if (buf[pos] === 0x00 && buf[pos + 1] === 0x01) {
    segwit = true
    pos += 2
  }
  const skipBytes = () => {
    const v = readVarInt(buf, pos)
    pos += v.size + v.value
  }
  const nIn = readVarInt(buf, pos)
  pos += nIn.size
  for (let i = 0; i < nIn.value; i++) {
    pos += 36
    skipBytes()
    pos += 4
  }
  const nOut = readVarInt(buf, pos)
  pos += nOut.size
  for (let i = 0; i < nOut.value; i++) {
    pos += 8
    skipBytes()
  }
  const witnessStart = pos - start
  if (segwit) {
    for (let i = 0; i < nIn.value; i++) {
      const items = readVarInt(buf, pos)
      pos += items.size
      for (let j = 0; j < items.value; j++) skipBytes()
    }
  }
  pos += 4
  if (pos > buf.length) throw new RangeError('transaction runs past the end of the data')
  return {length: pos - start, segwit, witnessStart}
}

export const txLength = (buf: Buffer, start: number): number => txLayout(buf, start).length

/**
 * txid and wtxid (internal byte order) of the transaction serialized at
 * buf[start..], hashed with node's crypto straight from the bytes: the txid
 * skips the segwit marker, flag and witnesses.
 */
export function txHashesAt(buf: Buffer, start: number, layout: TxLayout = txLayout(buf, start)): {txid: Buffer; wtxid: Buffer} {
  const end = start + layout.length
  const whole = buf.subarray(start, end)
  if (!layout.segwit) {
    const hash = sha256d(whole)
    return {txid: hash, wtxid: hash}
  }
  const txid = sha256dParts([buf.subarray(start, start + 4), buf.subarray(start + 6, start + layout.witnessStart), buf.subarray(end - 4, end)])
  return {txid, wtxid: sha256d(whole)}
}

/** Serialization and hashes of a bitcoinjs transaction (bitcoinjs's own hashing is pure JS and slow). */
export function txHashes(tx: Transaction): {raw: Buffer; txid: Buffer; wtxid: Buffer} {
  const raw = Buffer.from(tx.toBuffer())
  return {raw, ...txHashesAt(raw, 0)}
}

/** A transaction's txid in display hex. */
export const txidOf = (tx: Transaction): string => toDisplayHex(txHashes(tx).txid)

export interface TxSpan {
  offset: number
  length: number
  layout: TxLayout
}

/** Number of transactions in a block, read from the varint after the header. */
export const txCount = (raw: Buffer): number => readVarInt(raw, 80).value

/** Where each transaction lies inside a raw block. */
export function txSpans(raw: Buffer): TxSpan[] {
  const count = readVarInt(raw, 80)
  let pos = 80 + count.size
  const spans: TxSpan[] = []
  for (let i = 0; i < count.value; i++) {
    const layout = txLayout(raw, pos)
    spans.push({offset: pos, length: layout.length, layout})
    pos += layout.length
  }
  if (pos !== raw.length) throw new RangeError(`block has ${raw.length - pos} unexpected trailing bytes`)
  return spans
}

/**
 * A transaction's wtxid in display hex (for a coinbase the real hash, as
 * Core shows it, where bitcoinjs answers the zeros the witness commitment uses).
 */
export const wtxidOf = (tx: Transaction): string => toDisplayHex(txHashes(tx).wtxid)

export interface ParsedBlock {
  txs: Transaction[]
  txids: string[]
  spans: TxSpan[]
}

export function parseBlock(raw: Buffer): ParsedBlock {
  const spans = txSpans(raw)
  const txs = spans.map((s) => Transaction.fromBuffer(raw.subarray(s.offset, s.offset + s.length)))
  const txids = spans.map((s) => toDisplayHex(txHashesAt(raw, s.offset, s.layout).txid))
  return {txs, txids, spans}
}

// --- proof of work ---

/** regtest's powLimit: the easiest target a block may have */
export const POW_LIMIT = (1n << 255n) - 1n
export const REGTEST_BITS = 0x207fffff

export function bitsToTarget(bits: number): bigint {
  const size = bits >>> 24
  const word = BigInt(bits & 0x007fffff)
  if (size <= 3) return word >> BigInt(8 * (3 - size))
  return word << BigInt(8 * (size - 3))
}

/** Compact form of a target, as Core's arith_uint256::GetCompact does. */
export function targetToBits(target: bigint): number {
  let size = Math.ceil(target.toString(16).length / 2)
  let compact = size <= 3 ? Number(target << BigInt(8 * (3 - size))) : Number(target >> BigInt(8 * (size - 3)))
  if (compact & 0x00800000) {
    compact >>>= 8
    size += 1
  }
  return ((size << 24) | compact) >>> 0
}

/** Core's GetBlockProof: the expected number of hashes to find a block at this target. */
export function blockWork(bits: number): bigint {
  const target = bitsToTarget(bits)
  if (target <= 0n) return 0n
  return (1n << 256n) / (target + 1n)
}

/** The easiest bits whose per-block work exceeds `work` (for branches that win with fewer blocks). */
export function bitsForWorkAbove(work: bigint): number {
  let target = (1n << 256n) / (work + 1n)
  for (;;) {
    const bits = targetToBits(target)
    if (blockWork(bits) > work && bitsToTarget(bits) <= POW_LIMIT) return bits
    target = (target * 15n) / 16n
  }
}

/** The header hash read as a number, compared with the target (Core's CheckProofOfWork). */
export function meetsTarget(header: Buffer, bits: number): boolean {
  const hash = sha256d(header)
  const value = BigInt('0x' + Buffer.from(hash).reverse().toString('hex'))
  return value <= bitsToTarget(bits)
}

/** Core's GetDifficulty(). */
export function difficulty(bits: number): number {
  let shift = (bits >>> 24) & 0xff
  let diff = 0x0000ffff / (bits & 0x00ffffff)
  while (shift < 29) {
    diff *= 256
    shift++
  }
  while (shift > 29) {
    diff /= 256
    shift--
  }
  return diff
}

export const hex256 = (value: bigint): string => value.toString(16).padStart(64, '0')
