import type {IndexedBlock} from '../chain/indexed-block.js'
import {SCRIPT_KEY_BYTES} from '../chain/indexed-block.js'

/**
 * An IndexedBlock as one contiguous buffer, so a worker thread can hand it to
 * the writer thread by transfer instead of structured-cloning thousands of
 * small Buffers; unpacked, its fields are views into that one buffer.
 *
 * Layout (little-endian): height, txids, outputs, spends counts (u32 each),
 * hash (32), header (80), txids (32 each), outputs (txIndex u32, vout u32,
 * scriptKey 8, value as two u32: 24 each), spends (txIndex u32, vin u32,
 * prevTxid 32, prevVout u32: 44 each).
 */

const HEAD = 16 + 32 + 80
const OUTPUT = 16 + SCRIPT_KEY_BYTES
const SPEND = 44
const TWO_32 = 0x1_0000_0000

export function packedSize(block: IndexedBlock): number {
  return HEAD + block.txids.length * 32 + block.outputs.length * OUTPUT + block.spends.length * SPEND
}

export function packBlock(block: IndexedBlock): Buffer {
  const out = Buffer.allocUnsafeSlow(packedSize(block))
  out.writeUInt32LE(block.height, 0)
  out.writeUInt32LE(block.txids.length, 4)
  out.writeUInt32LE(block.outputs.length, 8)
  out.writeUInt32LE(block.spends.length, 12)
  block.hash.copy(out, 16)
  block.header.copy(out, 48)
  let at = HEAD
  for (const txid of block.txids) {
    txid.copy(out, at)
    at += 32
  }
  for (const o of block.outputs) {
    out.writeUInt32LE(o.txIndex, at)
    out.writeUInt32LE(o.vout, at + 4)
    o.scriptKey.copy(out, at + 8)
    out.writeUInt32LE(o.value % TWO_32, at + 16)
    out.writeUInt32LE(Math.floor(o.value / TWO_32), at + 20)
    at += OUTPUT
  }
  for (const s of block.spends) {
    out.writeUInt32LE(s.txIndex, at)
    out.writeUInt32LE(s.vin, at + 4)
    s.prevTxid.copy(out, at + 8)
    out.writeUInt32LE(s.prevVout, at + 40)
    at += SPEND
  }
  return out
}

export function unpackBlock(buf: Buffer): IndexedBlock {
  const nTx = buf.readUInt32LE(4)
  const nOut = buf.readUInt32LE(8)
  const nSpend = buf.readUInt32LE(12)
  const txids: Buffer[] = new Array(nTx)
  let at = HEAD
  for (let i = 0; i < nTx; i++, at += 32) txids[i] = buf.subarray(at, at + 32)
  const outputs: IndexedBlock['outputs'] = new Array(nOut)
  for (let i = 0; i < nOut; i++, at += OUTPUT) {
    outputs[i] = {
      txIndex: buf.readUInt32LE(at),
      vout: buf.readUInt32LE(at + 4),
      scriptKey: buf.subarray(at + 8, at + 16),
      value: buf.readUInt32LE(at + 16) + buf.readUInt32LE(at + 20) * TWO_32,
    }
  }
  const spends: IndexedBlock['spends'] = new Array(nSpend)
  for (let i = 0; i < nSpend; i++, at += SPEND) {
    spends[i] = {txIndex: buf.readUInt32LE(at), vin: buf.readUInt32LE(at + 4), prevTxid: buf.subarray(at + 8, at + 40), prevVout: buf.readUInt32LE(at + 40)}
  }
  return {height: buf.readUInt32LE(0), hash: buf.subarray(16, 48), header: buf.subarray(48, 128), txids, outputs, spends}
}
