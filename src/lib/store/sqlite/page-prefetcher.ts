import type {Worker} from 'node:worker_threads'

import type {IndexedBlock} from '../../chain/indexed-block.js'
import {startWorker} from '../../worker-thread.js'

/**
 * Reads, before a catch-up batch is written, the pages its writes will touch,
 * on threads of their own, so that the writer finds them in the OS page cache.
 *
 * An index larger than memory that has sat idle since its last run is cold:
 * each spend of an output the main tables hold reads a page of txid_keys (to
 * find the transaction) and of outputs (to check the output is there and
 * unspent). The writer reads them one at a time, each a wait on the disk
 * (~95 µs per 8 KiB page here, ~14,000 pages for a 3,000 transaction block).
 * A disk serves many reads at once at little more than the cost of one: these
 * threads each look up a share of the batch's spends through connections of
 * their own (read-only, WAL), which reads the same pages. What a batch writes
 * goes to the recent tables (migration 5), which stay cached. Nothing the
 * threads do changes the index or the writer's answers; should a thread fail,
 * the writer goes on without them.
 */

/** concurrent reads; more gained little on this machine's disk, and each thread costs memory */
export const PREFETCH_THREADS = 8
/** how long the writer waits for the threads on a batch before it goes on without them */
const WAIT_MS = 120_000

/** The outputs a block's spends take, in shared memory each thread reads its share of. */
export interface PrefetchJob {
  /** the previous txid (32 bytes each) */
  prevTxids: Uint8Array
  prevVouts: Uint32Array
  /** [0]: threads done; [1]: 1 once any failed */
  control: Int32Array
  part: number
  parts: number
}

export interface PrefetchStart {
  file: string
}

/** a block's lookups, sent to every thread, and the word they count themselves done in */
interface Job {
  control: Int32Array
  rows: number
}

export class PagePrefetcher {
  private workers: Worker[] = []
  private broken = false
  /** blocks begun, by the object the writer will be handed */
  private readonly begun = new Map<IndexedBlock, Job>()
  /** blocks announced (readAhead) and not begun yet, in height order */
  private waiting: IndexedBlock[] = []

  /**
   * @param aheadRows rows of blocks announced by readAhead that are read
   * while a batch is written: enough for the next batch, few enough that the
   * pages read for it are still cached when it is written
   */
  constructor(
    private readonly file: string,
    private readonly aheadRows: number,
    private readonly threads = PREFETCH_THREADS,
  ) {}

  /** false once a thread failed or was too slow: the writer goes on without them */
  get working(): boolean {
    return !this.broken
  }

  /** A block that a coming batch will hold: its pages are read while the batches before it are written. */
  readAhead(block: IndexedBlock): void {
    if (this.broken) return
    this.waiting.push(block)
  }

  /**
   * Reads the pages writing `blocks` will touch, unless begun already;
   * returns once they are read (or a thread failed), having begun the blocks
   * announced after them.
   */
  warm(blocks: readonly IndexedBlock[]): void {
    if (this.broken) return
    if (this.workers.length === 0) this.start()
    const last = blocks[blocks.length - 1].height
    // announced blocks the batch holds are begun below; others at its heights were left by a reorg
    this.waiting = this.waiting.filter((b) => b.height > last)
    const jobs = blocks.map((b) => this.begun.get(b) ?? this.begin(b))
    const deadline = Date.now() + WAIT_MS
    for (const job of jobs) {
      if (!this.wait(job, deadline)) break
    }
    // the batch's blocks, and any a reorg left at its heights
    for (const [b] of this.begun) if (b.height <= last) this.begun.delete(b)
    if (this.broken) return void this.close()
    let rows = 0
    for (const job of this.begun.values()) rows += job.rows
    while (this.waiting.length > 0 && rows < this.aheadRows) rows += this.begin(this.waiting.shift()!).rows
  }

  async close(): Promise<void> {
    this.broken = true
    this.waiting = []
    this.begun.clear()
    const workers = this.workers
    this.workers = []
    await Promise.all(workers.map((w) => w.terminate()))
  }

  /** Sends the block's spends to every thread, each to look up its share. */
  private begin(block: IndexedBlock): Job {
    const {spends, outputs} = block
    const prevTxids = sharedBytes(spends.count * 32)
    prevTxids.set(spends.prevTxids.subarray(0, spends.count * 32))
    const prevVouts = new Uint32Array(new SharedArrayBuffer(spends.count * 4))
    prevVouts.set(spends.prevVout.subarray(0, spends.count))
    const control = new Int32Array(new SharedArrayBuffer(8))
    const parts = this.workers.length
    for (let part = 0; part < parts; part++) {
      const message: PrefetchJob = {prevTxids, prevVouts, control, part, parts}
      this.workers[part].postMessage(message)
    }
    const job = {control, rows: spends.count + block.txCount + outputs.count}
    this.begun.set(block, job)
    return job
  }

  /** Blocks until every thread is done with `job`; false (and the prefetcher broken) when one failed or the deadline passed. */
  private wait(job: Job, deadline: number): boolean {
    const {control} = job
    const parts = this.workers.length
    for (let done = Atomics.load(control, 0); done < parts; done = Atomics.load(control, 0)) {
      const left = deadline - Date.now()
      if (left <= 0 || Atomics.wait(control, 0, done, left) === 'timed-out') {
        this.broken = true
        return false
      }
    }
    if (Atomics.load(control, 1) !== 0) this.broken = true
    return !this.broken
  }

  private start(): void {
    const start: PrefetchStart = {file: this.file}
    for (let i = 0; i < this.threads; i++) {
      const worker = startWorker(import.meta.url, 'prefetch-worker', start)
      // a thread that fails counts itself done and flags control[1]; one that cannot even start leaves the writer to its deadline
      worker.on('error', () => (this.broken = true))
      worker.unref()
      this.workers.push(worker)
    }
  }
}

function sharedBytes(length: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(length))
}
