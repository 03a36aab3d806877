import {parentPort} from 'node:worker_threads'

import {BixError} from '../errors.js'
import {decodeBlock} from './decode.js'
import type {DecodeReply, DecodeRequest} from './decoder.js'

/**
 * The decoding thread: parse, verify and turn into rows, off the thread that
 * writes to SQLite. Answers with the block's rows, which live in one buffer, by transfer.
 */
parentPort!.on('message', (request: DecodeRequest) => {
  let reply: DecodeReply
  let transfer: ArrayBuffer[] = []
  try {
    const block = decodeBlock({height: request.height, hash: Buffer.from(request.hash), bytes: Buffer.from(request.bytes), from: request.from, encoding: request.encoding})
    reply = {id: request.id, indexed: block.buffer}
    transfer = [block.buffer]
  } catch (err) {
    const kind = err instanceof BixError ? err.kind : 'NodeError'
    reply = {id: request.id, error: {kind, message: err instanceof Error ? err.message : String(err)}}
  }
  parentPort!.postMessage(reply, transfer)
})
