import {hash as oneShotHash} from 'node:crypto'

import type {ByteStream} from './random.js'

/**
 * Transactions serialized by hand straight into a block buffer: building
 * bitcoinjs objects for a million transactions takes minutes, this takes
 * seconds. Scripts and witnesses have mainnet sizes and shapes (DER
 * signatures, compressed keys, 2-of-3 multisig); the signatures are random
 * bytes, so the chain parses and hashes like a real one but would fail
 * script validation, which bix never does.
 */

/** The output types the generator pays to, and what spending each looks like. */
export const Kind = {p2wpkh: 0, p2tr: 1, p2pkh: 2, p2sh: 3, p2wsh: 4} as const
export type Kind = (typeof Kind)[keyof typeof Kind]
export const KIND_NAMES = ['p2wpkh', 'p2tr', 'p2pkh', 'p2sh', 'p2wsh'] as const

/** Bytes of hash material an output of each kind needs (hash160 or 32-byte program). */
const HASH_BYTES = [20, 32, 20, 20, 32]

/** A growable byte buffer written front to back. */
export class Writer {
  buf: Buffer
  pos = 0

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity)
  }

  /** Makes room for n more bytes. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(bigger, 0, 0, this.pos)
    this.buf = bigger
  }

  u8(v: number): void {
    this.buf[this.pos++] = v
  }

  u32(v: number): void {
    this.buf.writeUInt32LE(v >>> 0, this.pos)
    this.pos += 4
  }

  /** a non-negative integer below 2^53 as 8 bytes LE */
  u64(v: number): void {
    this.buf.writeUInt32LE(v % 0x1_0000_0000, this.pos)
    this.buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), this.pos + 4)
    this.pos += 8
  }

  varint(v: number): void {
    if (v < 0xfd) {
      this.buf[this.pos++] = v
    } else if (v <= 0xffff) {
      this.buf[this.pos++] = 0xfd
      this.buf.writeUInt16LE(v, this.pos)
      this.pos += 2
    } else {
      this.buf[this.pos++] = 0xfe
      this.buf.writeUInt32LE(v, this.pos)
      this.pos += 4
    }
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos)
    this.pos += b.length
  }
}

/** Output script of `kind` over `hash` (at least 32 bytes; the first 20 or 32 are used), length-prefixed. */
export function writeOutputScript(w: Writer, kind: Kind, hash: Uint8Array): void {
  const h = hash.subarray(0, HASH_BYTES[kind])
  switch (kind) {
    case Kind.p2wpkh:
      w.u8(22), w.u8(0x00), w.u8(0x14), w.bytes(h)
      break
    case Kind.p2tr:
      w.u8(34), w.u8(0x51), w.u8(0x20), w.bytes(h)
      break
    case Kind.p2pkh:
      w.u8(25), w.u8(0x76), w.u8(0xa9), w.u8(0x14), w.bytes(h), w.u8(0x88), w.u8(0xac)
      break
    case Kind.p2sh:
      w.u8(23), w.u8(0xa9), w.u8(0x14), w.bytes(h), w.u8(0x87)
      break
    case Kind.p2wsh:
      w.u8(34), w.u8(0x00), w.u8(0x20), w.bytes(h)
      break
  }
}

/** The bare output script (no length prefix), e.g. to turn into an address. */
export function outputScript(kind: Kind, hash: Uint8Array): Buffer {
  const w = new Writer(40)
  writeOutputScript(w, kind, hash)
  return Buffer.from(w.buf.subarray(1, w.pos))
}

/** A low-S DER signature with a sighash byte: 71 or 72 bytes, like nearly all on mainnet. */
function writeDerSignature(w: Writer, rand: ByteStream, lengthPrefixed: boolean): void {
  const r = rand.take(64)
  const rPad = r[0] >= 0x80 ? 1 : 0
  const sigLen = 6 + 32 + rPad + 32 + 1
  if (lengthPrefixed) w.u8(sigLen)
  w.u8(0x30), w.u8(sigLen - 3)
  w.u8(0x02), w.u8(32 + rPad)
  if (rPad) w.u8(0x00)
  w.u8(r[0] || 1)
  w.bytes(r.subarray(1, 32))
  w.u8(0x02), w.u8(32)
  // low S (BIP62/BIP146), never a superfluous leading zero
  w.u8(r[32] & 0x7f || 1)
  w.bytes(r.subarray(33, 64))
  w.u8(0x01) // SIGHASH_ALL
}

function writePubkey(w: Writer, rand: ByteStream): void {
  const k = rand.take(33)
  w.u8(33)
  w.u8(0x02 | (k[0] & 1))
  w.bytes(k.subarray(1, 33))
}

/** Whether spending an output of this kind puts data in the witness. */
export const spendsWithWitness = (kind: Kind): boolean => kind !== Kind.p2pkh

/** scriptSig of an input spending `kind`, length-prefixed. */
export function writeScriptSig(w: Writer, kind: Kind, rand: ByteStream): void {
  if (kind === Kind.p2pkh) {
    const at = w.pos++
    writeDerSignature(w, rand, true)
    writePubkey(w, rand)
    w.buf[at] = w.pos - at - 1
  } else if (kind === Kind.p2sh) {
    // P2SH-wrapped P2WPKH: the scriptSig pushes the 22-byte redeem script
    w.u8(23), w.u8(22), w.u8(0x00), w.u8(0x14), w.bytes(rand.take(20))
  } else {
    w.u8(0)
  }
}

/** Witness stack of an input spending `kind` (a zero item count for legacy inputs). */
export function writeWitness(w: Writer, kind: Kind, rand: ByteStream): void {
  switch (kind) {
    case Kind.p2wpkh:
    case Kind.p2sh:
      w.u8(2)
      writeDerSignature(w, rand, true)
      writePubkey(w, rand)
      break
    case Kind.p2tr:
      // key path, SIGHASH_DEFAULT: one 64-byte Schnorr signature
      w.u8(1), w.u8(64), w.bytes(rand.take(64))
      break
    case Kind.p2wsh:
      // 2-of-3 multisig: the CHECKMULTISIG dummy, two signatures, the witness script
      w.u8(4), w.u8(0)
      writeDerSignature(w, rand, true)
      writeDerSignature(w, rand, true)
      w.u8(105), w.u8(0x52)
      for (let i = 0; i < 3; i++) writePubkey(w, rand)
      w.u8(0x53), w.u8(0xae)
      break
    default:
      w.u8(0)
  }
}

export interface Spend {
  /** internal byte order; read before anything else is written to where it points */
  txid: Uint8Array
  vout: number
  value: number
  kind: Kind
}

export interface Payment {
  kind: Kind
  /** hash material for the script, at least 32 bytes */
  hash: Uint8Array
  /** satoshis; undefined for the change output, which gets what the others and the fee leave */
  value?: number
}

export interface WrittenTx {
  txid: Buffer
  /** equal to txid for a transaction without witnesses */
  wtxid: Buffer
  fee: number
  /** value of each output, in order */
  values: number[]
  vsize: number
}

const SEQUENCE_RBF = 0xffff_fffd
let txidScratch = Buffer.allocUnsafe(64 * 1024)

/**
 * Writes one transaction at w.pos: version 2, the spends as inputs, the
 * payments as outputs, locktime 0. The fee is feeRate × vsize, capped at a
 * quarter of what is spent; the change output gets the rest, so the caller
 * keeps the other payments under three quarters of the inputs.
 */
export function writeTx(w: Writer, spends: readonly Spend[], payments: readonly Payment[], feeRate: number, rand: ByteStream): WrittenTx {
  w.reserve(200 + spends.length * 400 + payments.length * 45)
  const start = w.pos
  const segwit = spends.some((s) => spendsWithWitness(s.kind))
  w.u32(2)
  if (segwit) w.u8(0), w.u8(1)
  const inputsStart = w.pos
  w.varint(spends.length)
  let spent = 0
  for (const s of spends) {
    w.bytes(s.txid)
    w.u32(s.vout)
    writeScriptSig(w, s.kind, rand)
    w.u32(SEQUENCE_RBF)
    spent += s.value
  }
  w.varint(payments.length)
  const valueAt: number[] = []
  for (const p of payments) {
    valueAt.push(w.pos)
    w.pos += 8
    writeOutputScript(w, p.kind, p.hash)
  }
  const outputsEnd = w.pos
  if (segwit) for (const s of spends) writeWitness(w, s.kind, rand)
  w.u32(0)
  const end = w.pos

  // values go in last: the fee depends on the size
  const total = end - start
  const stripped = segwit ? 8 + (outputsEnd - inputsStart) : total
  const vsize = Math.ceil((stripped * 3 + total) / 4)
  const fee = Math.min(Math.round(vsize * feeRate), Math.floor(spent / 4))
  const fixed = payments.reduce((sum, p) => sum + (p.value ?? 0), 0)
  const change = spent - fee - fixed
  if (change < 1) throw new Error(`payments of ${fixed} sat and a fee of ${fee} sat leave no change from ${spent} sat`)
  const values = payments.map((p) => p.value ?? change)
  values.forEach((v, i) => {
    w.pos = valueAt[i]
    w.u64(v)
  })
  w.pos = end

  const wtxid = sha256d(w.buf.subarray(start, end))
  let txid = wtxid
  if (segwit) {
    if (txidScratch.length < stripped) txidScratch = Buffer.allocUnsafe(stripped * 2)
    w.buf.copy(txidScratch, 0, start, start + 4)
    w.buf.copy(txidScratch, 4, inputsStart, outputsEnd)
    w.buf.copy(txidScratch, 4 + outputsEnd - inputsStart, end - 4, end)
    txid = sha256d(txidScratch.subarray(0, stripped))
  }
  return {txid, wtxid, fee, values, vsize}
}

export function sha256d(data: Uint8Array): Buffer {
  return oneShotHash('sha256', oneShotHash('sha256', data, 'buffer'), 'buffer')
}
