import {sha256} from './hashes.js'
import {sha256Batch} from './sha256-batch.js'
import type {ParsedBlock} from './types.js'

/**
 * What the index stores of one block, computed from a parsed block: the rows
 * the writer appends, by column, in typed arrays over one ArrayBuffer. A
 * worker thread makes it and hands the buffer over by transfer; the writer
 * reads the columns in place. No object per row: a block of mainnet holds
 * thousands of outputs and inputs.
 */
export interface IndexedBlock {
  height: number
  /** internal byte order */
  hash: Buffer
  header: Buffer
  txCount: number
  /** txids in block order, internal byte order, 32 bytes each (txidAt) */
  txids: Buffer
  outputs: IndexedOutputs
  /** every input except the coinbase's */
  spends: IndexedSpends
  /** the one buffer every field above is a view of */
  buffer: ArrayBuffer
}

export interface IndexedOutputs {
  count: number
  /** position of the output's transaction in the block */
  txIndex: Uint32Array
  vout: Uint32Array
  /** satoshis */
  value: Float64Array
  /** the key the index finds scripts by: the first SCRIPT_KEY_BYTES of sha256(scriptPubKey), each */
  scriptKeys: Buffer
}

export interface IndexedSpends {
  count: number
  /** position of the spending transaction in the block */
  txIndex: Uint32Array
  vin: Uint32Array
  /** the outputs spent: txid (32 bytes each, internal order) and vout */
  prevTxids: Buffer
  prevVout: Uint32Array
}

/** One output as a row, to build blocks from (buildIndexedBlock) and to read them in tests. */
export interface IndexedOutput {
  txIndex: number
  vout: number
  scriptKey: Buffer
  value: number
}

export interface IndexedSpend {
  txIndex: number
  vin: number
  prevTxid: Buffer
  prevVout: number
}

/** Length of the script-hash prefix the index is keyed by. */
export const SCRIPT_KEY_BYTES = 8

export function scriptKeyOf(script: Uint8Array): Buffer {
  return sha256(script).subarray(0, SCRIPT_KEY_BYTES)
}

/** The txid of the block's transaction i (a view). */
export function txidAt(block: IndexedBlock, i: number): Buffer {
  return block.txids.subarray(i * 32, i * 32 + 32)
}

/**
 * Layout of the buffer (sizes in bytes): height, transaction, output and
 * spend counts (u32 each), hash 32, header 80; txids 32 each; per output
 * value f64, txIndex u32, vout u32, script key 8; per spend txIndex u32, vin
 * u32, prevVout u32, prevTxid 32. Every section starts 8-aligned.
 */
const HEAD = 16 + 32 + 80

function sizeOf(txs: number, outputs: number, spends: number): number {
  return HEAD + txs * 32 + outputs * (8 + 4 + 4 + SCRIPT_KEY_BYTES) + align8(spends * 12) + spends * 32
}

function align8(n: number): number {
  return (n + 7) & ~7
}

/** Views of the sections of a block's buffer, whose first 16 bytes say the counts. */
function viewsOf(buffer: ArrayBuffer): IndexedBlock {
  const head = new DataView(buffer)
  const height = head.getUint32(0, true)
  const txCount = head.getUint32(4, true)
  const nOut = head.getUint32(8, true)
  const nSpend = head.getUint32(12, true)
  const bytes = Buffer.from(buffer)
  let at = HEAD
  const txids = bytes.subarray(at, (at += txCount * 32))
  const value = new Float64Array(buffer, at, nOut)
  at += nOut * 8
  const outTx = new Uint32Array(buffer, at, nOut)
  at += nOut * 4
  const vout = new Uint32Array(buffer, at, nOut)
  at += nOut * 4
  const scriptKeys = bytes.subarray(at, (at += nOut * SCRIPT_KEY_BYTES))
  const spendTx = new Uint32Array(buffer, at, nSpend)
  const vin = new Uint32Array(buffer, at + nSpend * 4, nSpend)
  const prevVout = new Uint32Array(buffer, at + nSpend * 8, nSpend)
  at += align8(nSpend * 12)
  const prevTxids = bytes.subarray(at, at + nSpend * 32)
  return {
    height,
    hash: bytes.subarray(16, 48),
    header: bytes.subarray(48, 128),
    txCount,
    txids,
    outputs: {count: nOut, txIndex: outTx, vout, value, scriptKeys},
    spends: {count: nSpend, txIndex: spendTx, vin, prevTxids, prevVout},
    buffer,
  }
}

/** An empty block of these sizes, its columns to be filled. */
function allocate(height: number, hash: Uint8Array, header: Uint8Array, txs: number, outputs: number, spends: number): IndexedBlock {
  const buffer = new ArrayBuffer(sizeOf(txs, outputs, spends))
  const head = new DataView(buffer)
  head.setUint32(0, height, true)
  head.setUint32(4, txs, true)
  head.setUint32(8, outputs, true)
  head.setUint32(12, spends, true)
  const block = viewsOf(buffer)
  block.hash.set(hash)
  block.header.set(header)
  return block
}

/** A block made by toIndexedBlock (or buildIndexedBlock) elsewhere, from its buffer: views, no copy. */
export function indexedBlockFromBuffer(buffer: ArrayBuffer): IndexedBlock {
  return viewsOf(buffer)
}

export function toIndexedBlock(block: ParsedBlock, height: number): IndexedBlock {
  let nOut = 0
  let nSpend = 0
  const scripts: Buffer[] = []
  for (const tx of block.txs) {
    nOut += tx.outputs.length
    if (!tx.isCoinbase) nSpend += tx.inputs.length
    for (const out of tx.outputs) scripts.push(out.script)
  }
  // all of the block's script hashes in one call
  const scriptHashes = sha256Batch().hashEach(scripts)
  const indexed = allocate(height, block.hash, block.header, block.txs.length, nOut, nSpend)
  const {outputs, spends} = indexed
  let o = 0
  let s = 0
  for (let t = 0; t < block.txs.length; t++) {
    const tx = block.txs[t]
    indexed.txids.set(tx.txid, t * 32)
    for (let vout = 0; vout < tx.outputs.length; vout++, o++) {
      outputs.txIndex[o] = t
      outputs.vout[o] = vout
      outputs.value[o] = tx.outputs[vout].value
      scriptHashes.copy(outputs.scriptKeys, o * SCRIPT_KEY_BYTES, o * 32, o * 32 + SCRIPT_KEY_BYTES)
    }
    if (tx.isCoinbase) continue
    for (let vin = 0; vin < tx.inputs.length; vin++, s++) {
      spends.txIndex[s] = t
      spends.vin[s] = vin
      spends.prevVout[s] = tx.inputs[vin].prevVout
      spends.prevTxids.set(tx.inputs[vin].prevTxid, s * 32)
    }
  }
  return indexed
}

/** A block from rows: for blocks made up rather than parsed (tests, the benchmark's heavy address). */
export function buildIndexedBlock(rows: {
  height: number
  hash: Uint8Array
  header: Uint8Array
  txids: readonly Uint8Array[]
  outputs: readonly IndexedOutput[]
  spends: readonly IndexedSpend[]
}): IndexedBlock {
  const block = allocate(rows.height, rows.hash, rows.header, rows.txids.length, rows.outputs.length, rows.spends.length)
  rows.txids.forEach((txid, i) => block.txids.set(txid, i * 32))
  rows.outputs.forEach((out, i) => {
    block.outputs.txIndex[i] = out.txIndex
    block.outputs.vout[i] = out.vout
    block.outputs.value[i] = out.value
    block.outputs.scriptKeys.set(out.scriptKey.subarray(0, SCRIPT_KEY_BYTES), i * SCRIPT_KEY_BYTES)
  })
  rows.spends.forEach((spend, i) => {
    block.spends.txIndex[i] = spend.txIndex
    block.spends.vin[i] = spend.vin
    block.spends.prevVout[i] = spend.prevVout
    block.spends.prevTxids.set(spend.prevTxid, i * 32)
  })
  return block
}

/** The block's rows as objects (copies): for the rare paths and tests that want them so. */
export function rowsOf(block: IndexedBlock): {txids: Buffer[]; outputs: IndexedOutput[]; spends: IndexedSpend[]} {
  const {outputs: o, spends: s} = block
  return {
    txids: Array.from({length: block.txCount}, (_, i) => Buffer.from(txidAt(block, i))),
    outputs: Array.from({length: o.count}, (_, i) => ({
      txIndex: o.txIndex[i],
      vout: o.vout[i],
      scriptKey: Buffer.from(o.scriptKeys.subarray(i * SCRIPT_KEY_BYTES, (i + 1) * SCRIPT_KEY_BYTES)),
      value: o.value[i],
    })),
    spends: Array.from({length: s.count}, (_, i) => ({
      txIndex: s.txIndex[i],
      vin: s.vin[i],
      prevTxid: Buffer.from(s.prevTxids.subarray(i * 32, i * 32 + 32)),
      prevVout: s.prevVout[i],
    })),
  }
}
