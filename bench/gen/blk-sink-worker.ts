import {type MessagePort, parentPort} from 'node:worker_threads'
import {Block} from 'bitcoinjs-lib'

import {parseBlock, verifyBlock} from '../../src/lib/chain/block-parser.js'
import {toDisplayHex} from '../../src/lib/chain/hashes.js'
import {BlkWriter} from '../../test/support/simnode/blk-writer.js'
import type {SinkBlock, SinkSetup} from './blk-sink.js'

/** The thread behind BlkSink: writes each block, checks those marked and the last one. */
parentPort!.once('message', (init: {setup: SinkSetup; state: Int32Array; port: MessagePort}) => serve(init.setup, init.state, init.port))

function serve(setup: SinkSetup, state: Int32Array, port: MessagePort): void {
const writer = new BlkWriter({dir: setup.blocksDir, xorKey: Buffer.from(setup.xorKey)})
const verified: number[] = []
let checkMs = 0
let last: SinkBlock | undefined
let failed = false

const finish = (answer: object) => {
  port.postMessage(answer)
  Atomics.store(state, 1, 1)
  Atomics.notify(state, 1)
  Atomics.notify(state, 0)
}

const check = (block: SinkBlock) => {
  const t = performance.now()
  checkBlock(block)
  verified.push(block.height)
  checkMs += performance.now() - t
}

port.on('message', (message: SinkBlock | {close: true}) => {
  if (failed) return
  try {
    if ('close' in message) {
      writer.close()
      if (last && verified.at(-1) !== last.height) check(last)
      finish({result: {verified, checkMs}})
      port.close()
      return
    }
    const block = {...message, raw: Buffer.from(message.raw.buffer, message.raw.byteOffset, message.raw.byteLength), hash: Buffer.from(message.hash)}
    writer.append(block.hashHex, block.raw)
    if (block.check) check(block)
    last = block
    Atomics.sub(state, 0, 1)
    Atomics.notify(state, 0)
  } catch (err) {
    failed = true
    finish({error: err instanceof Error ? err.message : String(err)})
  }
})
}

/**
 * Both parsers must agree the block is well formed: bix's (hash, merkle
 * root, coinbase) and bitcoinjs-lib's (merkle root, witness commitment,
 * proof of work, every txid).
 */
function checkBlock(block: SinkBlock): void {
  const {hashHex} = block
  const parsed = parseBlock(block.raw)
  verifyBlock(parsed, hashHex)
  if (parsed.txs.length !== block.txs) throw new Error(`block ${block.height}: bix parsed ${parsed.txs.length} txs, ${block.txs} were written`)
  const theirs = Block.fromBuffer(block.raw)
  if (theirs.getId() !== hashHex) throw new Error(`block ${block.height}: bitcoinjs-lib hashes it to ${theirs.getId()}`)
  if (!theirs.checkTxRoots()) throw new Error(`block ${block.height}: bitcoinjs-lib rejects its merkle root or witness commitment`)
  if (!theirs.checkProofOfWork()) throw new Error(`block ${block.height}: bitcoinjs-lib rejects its proof of work`)
  theirs.transactions!.forEach((tx, i) => {
    if (tx.getId() !== toDisplayHex(parsed.txs[i].txid)) throw new Error(`block ${block.height} tx ${i}: txids differ between parsers`)
  })
}
