import Database from 'better-sqlite3'
import {parentPort} from 'node:worker_threads'

import type {CheckpointReply, CheckpointRequest} from './checkpointer.js'
import {sqliteAddon} from './sqlite-addon.js'

/**
 * The checkpointing thread: its own connection to the index, which copies
 * what the writer committed to the write-ahead log into the database file
 * (PASSIVE: it never waits for, or blocks, the writer).
 */
let db: Database.Database | undefined

parentPort!.on('message', (request: CheckpointRequest) => {
  let reply: CheckpointReply
  try {
    if (request.close) {
      db?.close()
      db = undefined
      reply = {done: true}
    } else {
      db ??= new Database(request.file, {fileMustExist: true, nativeBinding: sqliteAddon()})
      db.pragma('wal_checkpoint(PASSIVE)')
      reply = {done: true}
    }
  } catch (err) {
    reply = {done: false, error: err instanceof Error ? err.message : String(err)}
  }
  parentPort!.postMessage(reply)
})
