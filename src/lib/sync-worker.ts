import {MessageChannel, type MessagePort, type Worker, isMainThread, receiveMessageOnPort, workerData} from 'node:worker_threads'

import {startWorker} from './worker-thread.js'

/**
 * Calling an async worker thread synchronously: the caller posts a request and
 * blocks in Atomics.wait until the worker has posted the answer, which it then
 * takes with receiveMessageOnPort. bix calls its store synchronously (SQLite);
 * this lets a store whose client is async (PostgreSQL) keep that interface.
 *
 * The worker tells how things stand in a word of shared memory: ANSWERED when
 * its answer is on the port, STOPPED when it is going away (it says why on the
 * port first). While the caller blocks, the worker's exit event cannot reach
 * it, so the worker also counts heartbeats: a worker that stops beating with
 * no word (killed outright) is given up after STALE_MS rather than waited on
 * for ever. A long query is no such case: the worker beats while it waits.
 */

const STATE = 0
const BEAT = 1
const PENDING = 0
const ANSWERED = 1
const STOPPED = 2
const BEAT_MS = 250
/** no heartbeat for this long, the thread's start included, and the worker is taken for dead */
const STALE_MS = 30_000

interface Setup {
  port: MessagePort
  shared: SharedArrayBuffer
}

type Answer<T> = {ok: true; value: T} | {ok: false; error: unknown} | {stopped: string}

/** The caller's side: `call` blocks until the worker answers. */
export class SyncWorker<Request, Reply> {
  private readonly worker: Worker
  private readonly port: MessagePort
  private readonly words: Int32Array
  private stoppedReason: string | undefined

  constructor(callerUrl: string, name: string) {
    const {port1, port2} = new MessageChannel()
    const shared = new SharedArrayBuffer(8)
    this.words = new Int32Array(shared)
    this.words[STATE] = ANSWERED
    this.port = port1
    this.port.unref()
    this.worker = startWorker(callerUrl, name, {port: port2, shared} satisfies Setup, [port2])
    // neither a forgotten close() nor the open connection in the thread keeps the process alive
    this.worker.unref()
  }

  /** The worker's value, or what it threw (rebuilt by `revive`); throws too when the worker has gone. */
  call(request: Request, revive: (error: unknown) => Error): Reply {
    if (this.stoppedReason !== undefined || Atomics.compareExchange(this.words, STATE, ANSWERED, PENDING) !== ANSWERED) {
      throw new Error(`the worker thread has stopped: ${this.stoppedReason ?? this.takeStopReason()}`)
    }
    this.port.postMessage(request)
    let beat = Atomics.load(this.words, BEAT)
    let beatAt = Date.now()
    // woken is not answered: the worker's notify for the previous call can come late (it stores the
    // state, is preempted, then notifies) and wake this wait while the state is still PENDING
    while (Atomics.load(this.words, STATE) === PENDING) {
      if (Atomics.wait(this.words, STATE, PENDING, 1000) !== 'timed-out') continue
      const now = Atomics.load(this.words, BEAT)
      if (now !== beat) {
        beat = now
        beatAt = Date.now()
      } else if (Date.now() - beatAt > STALE_MS) {
        this.stoppedReason = `it gave no sign of life for ${STALE_MS / 1000} s`
        void this.worker.terminate()
        throw new Error(`the worker thread has stopped: ${this.stoppedReason}`)
      }
    }
    const answer = receiveMessageOnPort(this.port)?.message as Answer<Reply> | undefined
    if (answer === undefined || 'stopped' in answer) throw new Error(`the worker thread has stopped: ${this.takeStopReason(answer)}`)
    if (!answer.ok) throw revive(answer.error)
    return answer.value
  }

  /** Stops the thread (after the caller has asked it to let go of what it holds). */
  stop(): void {
    this.stoppedReason ??= 'it was closed'
    this.port.close()
    void this.worker.terminate()
  }

  private takeStopReason(answer?: Answer<Reply>): string {
    answer ??= receiveMessageOnPort(this.port)?.message as Answer<Reply> | undefined
    this.stoppedReason = answer !== undefined && 'stopped' in answer ? answer.stopped : 'it exited without a word'
    return this.stoppedReason
  }
}

/**
 * The worker's side: answers each request with `handle`'s value or error, one
 * at a time (the caller is blocked meanwhile). `toWire` turns an error into
 * what may be posted (a plain object).
 */
export function serveSync<Request, Reply>(handle: (request: Request) => Promise<Reply>, toWire: (error: unknown) => unknown): void {
  if (isMainThread) throw new Error('serveSync runs in a worker thread')
  const {port, shared} = workerData as Setup
  const words = new Int32Array(shared)
  const answer = (message: Answer<Reply>, state: number) => {
    port.postMessage(message)
    Atomics.store(words, STATE, state)
    Atomics.notify(words, STATE)
  }
  setInterval(() => Atomics.add(words, BEAT, 1), BEAT_MS).unref()
  const die = (err: unknown) => {
    answer({stopped: `it failed: ${err instanceof Error ? err.message : String(err)}`}, STOPPED)
    process.exit(1)
  }
  process.on('uncaughtException', die)
  process.on('unhandledRejection', die)
  process.on('exit', () => {
    if (Atomics.load(words, STATE) !== STOPPED) answer({stopped: 'it exited'}, STOPPED)
  })
  port.on('message', (request: Request) => {
    handle(request).then(
      (value) => answer({ok: true, value}, ANSWERED),
      (error: unknown) => answer({ok: false, error: toWire(error)}, ANSWERED),
    )
  })
}
