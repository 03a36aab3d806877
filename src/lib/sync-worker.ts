import {MessageChannel, type MessagePort, type Worker, isMainThread, receiveMessageOnPort, workerData} from 'node:worker_threads'

import {startWorker} from './worker-thread.js'

/**
 * Calling an async worker thread synchronously: the caller posts a request and
 * blocks in Atomics.wait until the worker has posted the answer, which it then
 * takes with receiveMessageOnPort. bix calls its store synchronously (SQLite);
 * this lets a store whose client is async (PostgreSQL) keep that interface.
 * A caller may also post requests without waiting (`post`), to overlap its own
 * work with theirs, and collect their outcome later (`settle`); the worker
 * handles requests one at a time, in the order posted.
 *
 * The worker counts its answers in a word of shared memory (ANSWERS), and sets
 * another (STOP) when it is going away, saying why on the port first. The
 * caller knows how many answers it is owed and waits until the count reaches
 * it: a notify that comes late or spuriously cannot end the wait early. While
 * the caller blocks, the worker's exit event cannot reach it, so the worker
 * also counts heartbeats: a worker that stops beating with no word (killed
 * outright) is given up after STALE_MS rather than waited on for ever. A long
 * query is no such case: the worker beats while it waits.
 */

const ANSWERS = 0
const BEAT = 1
const STOP = 2
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
  /** requests posted, and answers taken off the port */
  private sent = 0
  private received = 0

  constructor(callerUrl: string, name: string) {
    const {port1, port2} = new MessageChannel()
    const shared = new SharedArrayBuffer(12)
    this.words = new Int32Array(shared)
    this.port = port1
    this.port.unref()
    this.worker = startWorker(callerUrl, name, {port: port2, shared} satisfies Setup, [port2])
    // neither a forgotten close() nor the open connection in the thread keeps the process alive
    this.worker.unref()
  }

  /** How many posted requests have not been settled yet. */
  get unsettled(): number {
    return this.sent - this.received
  }

  /** Sends a request without waiting for it; `settle` gives its outcome. */
  post(request: Request): void {
    this.assertRunning()
    this.port.postMessage(request)
    this.sent++
  }

  /**
   * Waits until every posted request is answered. Returns the first failure among them (rebuilt by
   * `revive`), or undefined when all succeeded; throws when the worker has gone.
   */
  settle(revive: (error: unknown) => Error): Error | undefined {
    let failure: Error | undefined
    for (const answer of this.takeAnswers()) if (!answer.ok && failure === undefined) failure = revive(answer.error)
    return failure
  }

  /** The worker's value, or what it threw (rebuilt by `revive`); throws too when the worker has gone. Settle posted requests first. */
  call(request: Request, revive: (error: unknown) => Error): Reply {
    this.assertRunning()
    if (this.unsettled > 0) throw new Error('SyncWorker.call: posted requests are not settled')
    this.post(request)
    const [answer] = this.takeAnswers()
    if (!answer.ok) throw revive(answer.error)
    return answer.value
  }

  /** Stops the thread (after the caller has asked it to let go of what it holds). */
  stop(): void {
    this.stoppedReason ??= 'it was closed'
    this.port.close()
    void this.worker.terminate()
  }

  /** Blocks until the answers to every request sent are in, and takes them off the port, in order. */
  private takeAnswers(): Array<{ok: true; value: Reply} | {ok: false; error: unknown}> {
    let beat = Atomics.load(this.words, BEAT)
    let beatAt = Date.now()
    for (;;) {
      const answered = Atomics.load(this.words, ANSWERS)
      if (answered === (this.sent | 0)) break
      if (Atomics.load(this.words, STOP) !== 0) throw new Error(`the worker thread has stopped: ${this.takeStopReason()}`)
      // a notify may come late or for nothing: only the count ends the wait
      if (Atomics.wait(this.words, ANSWERS, answered, 1000) !== 'timed-out') continue
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
    const answers: Array<{ok: true; value: Reply} | {ok: false; error: unknown}> = []
    while (this.received < this.sent) {
      const answer = receiveMessageOnPort(this.port)?.message as Answer<Reply> | undefined
      if (answer === undefined || 'stopped' in answer) throw new Error(`the worker thread has stopped: ${this.takeStopReason(answer)}`)
      this.received++
      answers.push(answer)
    }
    return answers
  }

  private assertRunning(): void {
    if (this.stoppedReason !== undefined || Atomics.load(this.words, STOP) !== 0) throw new Error(`the worker thread has stopped: ${this.stoppedReason ?? this.takeStopReason()}`)
  }

  private takeStopReason(answer?: Answer<Reply>): string {
    if (this.stoppedReason !== undefined) return this.stoppedReason
    // answers still on the port come before the worker's last word
    while (answer === undefined || !('stopped' in answer)) {
      answer = receiveMessageOnPort(this.port)?.message as Answer<Reply> | undefined
      if (answer === undefined) break
    }
    this.stoppedReason = answer !== undefined && 'stopped' in answer ? answer.stopped : 'it exited without a word'
    return this.stoppedReason
  }
}

/**
 * The worker's side: answers each request with `handle`'s value or error, one
 * at a time and in order (`post` may have queued several). `toWire` turns an
 * error into what may be posted (a plain object).
 */
export function serveSync<Request, Reply>(handle: (request: Request) => Promise<Reply>, toWire: (error: unknown) => unknown): void {
  if (isMainThread) throw new Error('serveSync runs in a worker thread')
  const {port, shared} = workerData as Setup
  const words = new Int32Array(shared)
  const answer = (message: Answer<Reply>) => {
    port.postMessage(message)
    Atomics.add(words, ANSWERS, 1)
    Atomics.notify(words, ANSWERS)
  }
  const stopped = (reason: string) => {
    if (Atomics.load(words, STOP) !== 0) return
    port.postMessage({stopped: reason} satisfies Answer<Reply>)
    Atomics.store(words, STOP, 1)
    Atomics.notify(words, ANSWERS)
  }
  setInterval(() => Atomics.add(words, BEAT, 1), BEAT_MS).unref()
  const die = (err: unknown) => {
    stopped(`it failed: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  }
  process.on('uncaughtException', die)
  process.on('unhandledRejection', die)
  process.on('exit', () => stopped('it exited'))
  let queue = Promise.resolve()
  port.on('message', (request: Request) => {
    queue = queue.then(() =>
      handle(request).then(
        (value) => answer({ok: true, value}),
        (error: unknown) => answer({ok: false, error: toWire(error)}),
      ),
    )
  })
}
