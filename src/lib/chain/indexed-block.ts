import {sha256} from './hashes.js'
import {sha256Batch} from './sha256-batch.js'
import type {ParsedBlock} from './types.js'

/**
 * What the index stores of one block, computed from a parsed block: the rows
 * the writer appends. It holds only plain Buffers and numbers, so it can be
 * made on a worker thread and sent to the writer.
 */
export interface IndexedBlock {
  height: number
  /** internal byte order */
  hash: Buffer
  header: Buffer
  /** txids in block order, internal byte order */
  txids: Buffer[]
  outputs: IndexedOutput[]
  /** every input except the coinbase's */
  spends: IndexedSpend[]
}

export interface IndexedOutput {
  /** position of the transaction in the block */
  txIndex: number
  vout: number
  /** first 8 bytes of sha256(scriptPubKey): the key the index finds scripts by */
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

export function toIndexedBlock(block: ParsedBlock, height: number): IndexedBlock {
  const outputs: IndexedOutput[] = []
  const spends: IndexedSpend[] = []
  const txids: Buffer[] = new Array(block.txs.length)
  const scripts: Buffer[] = []
  for (const tx of block.txs) for (const out of tx.outputs) scripts.push(out.script)
  // all of the block's script hashes in one call
  const scriptHashes = sha256Batch().hashEach(scripts)
  block.txs.forEach((tx, txIndex) => {
    txids[txIndex] = tx.txid
    tx.outputs.forEach((out, vout) => {
      const at = outputs.length * 32
      outputs.push({txIndex, vout, scriptKey: scriptHashes.subarray(at, at + SCRIPT_KEY_BYTES), value: out.value})
    })
    if (!tx.isCoinbase) {
      tx.inputs.forEach((input, vin) => {
        spends.push({txIndex, vin, prevTxid: input.prevTxid, prevVout: input.prevVout})
      })
    }
  })
  return {height, hash: block.hash, header: block.header, txids, outputs, spends}
}
