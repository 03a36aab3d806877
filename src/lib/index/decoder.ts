import type {Worker} from 'node:worker_threads'

import {type IndexedBlock, indexedBlockFromBuffer} from '../chain/indexed-block.js'
import {BixError, type ErrorKind} from '../errors.js'
import {startWorker} from '../worker-thread.js'
import type {RawBlock, SourceKind} from '../sources/block-source.js'
import {type OnRefetch, decodeBlock, decodeOrRefetch} from './decode.js'

/**
 * Turns fetched blocks into checked rows. Decoding (parsing, hashing every
 * transaction and script) is most of the CPU an index run spends outside
 * SQLite, so it can run on a worker thread while the main thread writes.
 */
export interface BlockDecoder {
  /** the rows of a block, checked; calls may overlap, each settles on its own */
  decode(raw: RawBlock): Promise<IndexedBlock>
  close(): Promise<void>
}

/** Decodes on the calling thread. */
export class InlineDecoder implements BlockDecoder {
  constructor(private readonly onRefetch?: OnRefetch) {}

  async decode(raw: RawBlock): Promise<IndexedBlock> {
    return decodeOrRefetch(raw, this.onRefetch)
  }

  async close(): Promise<void> {}
}

export interface DecodeRequest {
  id: number
  height: number
  hash: Uint8Array
  /** the block's bytes, transferred */
  bytes: ArrayBuffer
  from: SourceKind
  encoding?: 'hex'
}

/** indexed: the IndexedBlock's buffer, transferred */
export type DecodeReply = {id: number; indexed: ArrayBuffer; error?: undefined} | {id: number; indexed?: undefined; error: {kind: ErrorKind; message: string}}

interface Waiting {
  raw: RawBlock
  resolve: (block: IndexedBlock) => void
  reject: (err: unknown) => void
}

/** Decodes on one worker thread; blocks that fail there and can be fetched again are retried here. */
export class WorkerDecoder implements BlockDecoder {
  private readonly worker: Worker
  private readonly waiting = new Map<number, Waiting>()
  private nextId = 0
  private failure: unknown

  constructor(private readonly onRefetch?: OnRefetch) {
    this.worker = startWorker(import.meta.url, 'decode-worker')
    this.worker.on('message', (reply: DecodeReply) => this.settle(reply))
    this.worker.on('error', (err) => this.fail(err))
    this.worker.on('exit', (code) => this.fail(new BixError('NodeError', `the block decoding thread stopped (exit code ${code})`)))
  }

  decode(raw: RawBlock): Promise<IndexedBlock> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      const id = ++this.nextId
      this.waiting.set(id, {raw, resolve, reject})
      // a copy the worker can own, unless the bytes already fill a buffer of their own
      const {bytes} = raw
      const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
      const request: DecodeRequest = {id, height: raw.height, hash: raw.hash, bytes: own.buffer as ArrayBuffer, from: raw.from, encoding: raw.encoding}
      this.worker.postMessage(request, [request.bytes])
    })
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit')
    await this.worker.terminate()
  }

  private settle(reply: DecodeReply): void {
    const waiting = this.waiting.get(reply.id)
    if (!waiting) return
    this.waiting.delete(reply.id)
    if (reply.indexed) return waiting.resolve(indexedBlockFromBuffer(reply.indexed))
    const err = new BixError(reply.error.kind, reply.error.message)
    const {refetch} = waiting.raw
    if (err.kind !== 'BadBlock' || !refetch) return waiting.reject(err)
    this.onRefetch?.(waiting.raw.height, err.message)
    // bytes that may be damaged (RawBlock.refetch) and fail: the node's copy once more, decoded here (rare)
    refetch()
      .then((again) => decodeBlock(again))
      .then(waiting.resolve, waiting.reject)
  }

  private fail(err: unknown): void {
    this.failure ??= err
    for (const waiting of this.waiting.values()) waiting.reject(err)
    this.waiting.clear()
  }
}
