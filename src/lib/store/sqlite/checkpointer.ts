import fs from 'node:fs'
import type {Worker} from 'node:worker_threads'

import {startWorker} from '../../worker-thread.js'
import type {IndexDb} from './database.js'

/**
 * Checkpoints of the write-ahead log on a thread of their own. SQLite copies
 * the log into the database file (and syncs it) in the thread that commits,
 * once the log passes 1000 pages: during a long index run that was ~15 % of
 * the writer's thread, the one the whole run waits for. Here the writer's
 * connection stops checkpointing, and after each commit this thread is asked
 * to copy what is committed while the writer goes on. Should the thread fail,
 * the writer checkpoints for itself again; nothing is lost either way (the
 * log holds every commit until it is copied).
 */

export interface CheckpointRequest {
  file: string
  close?: boolean
}

export type CheckpointReply = {done: true; error?: undefined} | {done: false; error: string}

/** SQLite's own threshold, given back to the writer's connection when the thread stops */
const AUTOCHECKPOINT_PAGES = 1000
/** the log's size at which the writer empties it itself */
const MAX_WAL_BYTES = 256 * 1024 * 1024

export class WalCheckpointer {
  private readonly worker: Worker
  private running = false
  /** a commit came while a checkpoint ran: run another after it */
  private again = false
  private failed = false
  private idle: Array<() => void> = []

  constructor(private readonly db: IndexDb) {
    this.worker = startWorker(import.meta.url, 'checkpoint-worker')
    this.worker.on('message', (reply: CheckpointReply) => this.settle(reply))
    this.worker.on('error', () => this.fail())
    this.worker.on('exit', () => this.fail())
    db.sqlite.pragma('wal_autocheckpoint = 0')
  }

  /** After a commit: copy it into the database file soon. */
  request(): void {
    if (this.failed) return
    if (!this.running && walBytes(this.db.path) > MAX_WAL_BYTES) {
      // The thread copies what was committed, but only a transaction that begins with all of the log
      // copied lets SQLite start the log over, and the writer begins the next batch at once: so the
      // log grows until the writer empties it itself (what is left to copy is normally one batch).
      // A reader in the middle of a query can make that wait for it, or fail: then the thread goes on.
      const [result] = this.db.sqlite.pragma('wal_checkpoint(TRUNCATE)') as Array<{busy: number}>
      if (result?.busy === 0) return
    }
    if (this.running) {
      this.again = true
      return
    }
    this.post({file: this.db.path})
  }

  /** Waits for a checkpoint under way, closes the thread's connection and stops it. */
  async close(): Promise<void> {
    this.again = false
    if (this.running) await new Promise<void>((resolve) => this.idle.push(resolve))
    if (!this.failed) {
      this.post({file: this.db.path, close: true})
      await new Promise<void>((resolve) => this.idle.push(resolve))
    }
    this.worker.removeAllListeners('exit')
    await this.worker.terminate()
    this.restore()
  }

  private post(request: CheckpointRequest): void {
    this.running = true
    this.worker.postMessage(request)
  }

  private settle(reply: CheckpointReply): void {
    this.running = false
    if (!reply.done) return this.fail()
    if (this.again) {
      this.again = false
      return this.post({file: this.db.path})
    }
    for (const resolve of this.idle.splice(0)) resolve()
  }

  private fail(): void {
    this.failed = true
    this.running = false
    this.restore()
    for (const resolve of this.idle.splice(0)) resolve()
  }

  /** The writer's connection checkpoints for itself again. */
  private restore(): void {
    if (this.db.sqlite.open) this.db.sqlite.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`)
  }
}

function walBytes(file: string): number {
  return fs.statSync(`${file}-wal`, {throwIfNoEntry: false})?.size ?? 0
}
