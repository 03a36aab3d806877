import {MessageChannel, type MessagePort, type Worker, receiveMessageOnPort} from 'node:worker_threads'

import {startWorker} from '../../src/lib/worker-thread.js'

/**
 * Where generated blocks go: a worker thread that writes them to blk files
 * (XOR and all, BlkWriter) and checks some with both parsers, so that the
 * generator's own thread only builds blocks — on a 2-core machine that is
 * a third off the generation time. The generator is synchronous (ensureChain
 * is called from synchronous code), so this is too: blocks are handed over
 * without copying (their buffers transferred), the generator waits on a
 * shared counter when too many are in flight, and close() waits for the
 * worker with Atomics.wait and reads its answer with receiveMessageOnPort.
 */

/** blocks handed over and not yet written: ~1 MB each */
const MAX_IN_FLIGHT = 16
const IN_FLIGHT = 0
const DONE = 1

export interface SinkBlock {
  height: number
  hashHex: string
  raw: Buffer
  /** check it with both parsers (bix's and bitcoinjs-lib's) */
  check: boolean
  txs: number
  /** the hash in internal byte order, for the check */
  hash: Buffer
}

export interface SinkResult {
  verified: number[]
  checkMs: number
}

export interface SinkSetup {
  blocksDir: string
  xorKey: Buffer
}

export class BlkSink {
  private readonly state = new Int32Array(new SharedArrayBuffer(8))
  private readonly port: MessagePort
  private readonly worker: Worker

  constructor(setup: SinkSetup) {
    const {port1, port2} = new MessageChannel()
    this.port = port1
    // startWorker registers tsx inside the worker itself, which then needs nothing of this (blocked) thread to start
    this.worker = startWorker(import.meta.url, 'blk-sink-worker')
    this.worker.postMessage({setup, state: this.state, port: port2}, [port2])
    this.worker.unref()
  }

  append(block: SinkBlock): void {
    this.failIfFailed()
    while (Atomics.load(this.state, IN_FLIGHT) >= MAX_IN_FLIGHT) {
      Atomics.wait(this.state, IN_FLIGHT, Atomics.load(this.state, IN_FLIGHT), 1000)
      this.failIfFailed()
    }
    Atomics.add(this.state, IN_FLIGHT, 1)
    // a block's own buffer moves to the worker; a small one (the genesis block) lives in the shared pool and is copied
    const own = block.raw.byteOffset === 0 && block.raw.buffer.byteLength === block.raw.length
    const raw = own ? block.raw : new Uint8Array(block.raw)
    try {
      this.port.postMessage({...block, raw, hash: Buffer.from(block.hash)}, [raw.buffer as ArrayBuffer])
    } catch {
      // Node 22+ refuses to transfer some Node-owned buffers (DataCloneError): send a copy in a buffer of its own
      const copy = new Uint8Array(block.raw)
      this.port.postMessage({...block, raw: copy, hash: Buffer.from(block.hash)}, [copy.buffer])
    }
  }

  /** Waits until every block is written and checked (the last one always is). */
  close(): SinkResult {
    this.port.postMessage({close: true})
    while (Atomics.load(this.state, DONE) === 0) Atomics.wait(this.state, DONE, 0, 1000)
    const answer = receiveMessageOnPort(this.port)?.message as {result?: SinkResult; error?: string} | undefined
    void this.worker.terminate()
    if (!answer?.result) throw new Error(answer?.error ?? 'the blk writer thread ended without an answer')
    return answer.result
  }

  private failIfFailed(): void {
    if (Atomics.load(this.state, DONE) === 0) return
    const answer = receiveMessageOnPort(this.port)?.message as {error?: string} | undefined
    void this.worker.terminate()
    throw new Error(answer?.error ?? 'the blk writer thread stopped')
  }
}
