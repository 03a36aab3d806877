/**
 * Switches that make the simulated node misbehave the ways real nodes do,
 * settable at any time by a test, plus counters of what the client asked
 * for. Counted switches ("the next N requests") run down as requests use
 * them; the server consults them in this order: drop, concurrency limit,
 * work-queue 503, delay, then warm-up inside request handling, then body
 * corruption on the way out.
 */

export type BodyCorruption = 'truncate' | 'garble' | 'short'

export interface WarmupOptions {
  /** Core's warm-up status text (default "Loading block index…") */
  message?: string
  /** end after this long */
  ms?: number
  /** end after this many requests were refused */
  requests?: number
}

const LOG_LIMIT = 10_000

export const DEFAULT_WARMUP_MESSAGE = 'Loading block index…'

export class Faults {
  /** requests received per RPC method, and per REST path as "rest/<segment>" */
  readonly counts = new Map<string, number>()
  /** the most recent methods/paths counted, in arrival order (capped, for long benchmark runs) */
  readonly log: string[] = []
  private warmupMessage: string | undefined
  private warmupUntil = Infinity
  private warmupLeft = Infinity
  /** how many more requests each counted switch applies to */
  private readonly left = {workQueue: 0, drop: 0, corrupt: 0, wrongBlock: 0}
  private corruption: BodyCorruption = 'truncate'
  /** ms added before each answer */
  delayMs = 0
  /** per RPC method: ms the answer waits after the node has acted on the request (see slowAnswers) */
  private readonly lateAnswers = new Map<string, number>()
  /** answer 503 beyond this many requests in flight */
  maxConcurrent = Infinity
  /** requests answered 401 (no or wrong credentials) */
  authFailures = 0
  /** the best header height claimed while in initial block download */
  private ibdHeaders: number | undefined

  /** Every RPC answers -28 and REST 503 until the time or request budget runs out (or endWarmup). */
  warmup(opts: WarmupOptions = {}): void {
    this.warmupMessage = opts.message ?? DEFAULT_WARMUP_MESSAGE
    this.warmupUntil = opts.ms === undefined ? Infinity : Date.now() + opts.ms
    this.warmupLeft = opts.requests ?? Infinity
  }

  endWarmup(): void {
    this.warmupMessage = undefined
  }

  /** The warm-up status while warming up, else undefined; a refused request uses up one from the budget. */
  takeWarmup(): string | undefined {
    if (this.warmupMessage === undefined) return undefined
    if (Date.now() >= this.warmupUntil || this.warmupLeft <= 0) {
      this.warmupMessage = undefined
      return undefined
    }
    this.warmupLeft--
    return this.warmupMessage
  }

  get inWarmup(): boolean {
    return this.warmupMessage !== undefined && Date.now() < this.warmupUntil && this.warmupLeft > 0
  }

  /** The next n requests get HTTP 503 "Work queue depth exceeded". */
  workQueueFull(n: number): void {
    this.left.workQueue = n
  }

  /** The next n requests have their connection destroyed without an answer. */
  dropConnections(n: number): void {
    this.left.drop = n
  }

  /** The next n JSON answers are corrupted: cut short, garbled, or shorter than their Content-Length. */
  corruptBodies(n: number, how: BodyCorruption = 'truncate'): void {
    this.left.corrupt = n
    this.corruption = how
  }

  /** The next n block fetches (getblock, /rest/block) return another block's bytes. */
  wrongBlocks(n: number): void {
    this.left.wrongBlock = n
  }

  slow(ms: number): void {
    this.delayMs = ms
  }

  /**
   * Answers to `method` leave `ms` late, after the node has acted: a
   * sendrawtransaction whose client gives up first still lands in the mempool,
   * as on a busy real node (0 ends it).
   */
  slowAnswers(method: string, ms: number): void {
    if (ms > 0) this.lateAnswers.set(method, ms)
    else this.lateAnswers.delete(method)
  }

  /** How late the answer to a request for these methods leaves (the longest of their delays). */
  answerDelay(methods: readonly string[]): number {
    return Math.max(0, ...methods.map((m) => this.lateAnswers.get(m) ?? 0))
  }

  /**
   * The node is in initial block download and knows headers up to `headers`:
   * getblockchaininfo shows them ahead of its blocks until the tip (mine to
   * it) reaches that height; then it leaves IBD for good, as Core does.
   */
  initialBlockDownload(headers: number): void {
    this.ibdHeaders = headers
  }

  /** The claimed header height while in initial block download; undefined once the tip has caught up. */
  syncHeaders(tipHeight: number): number | undefined {
    if (this.ibdHeaders !== undefined && tipHeight >= this.ibdHeaders) this.ibdHeaders = undefined
    return this.ibdHeaders
  }

  limitConcurrency(n: number | undefined): void {
    this.maxConcurrent = n ?? Infinity
  }

  takeWorkQueueFull(): boolean {
    return this.take('workQueue')
  }

  takeDrop(): boolean {
    return this.take('drop')
  }

  takeCorruption(): BodyCorruption | undefined {
    return this.take('corrupt') ? this.corruption : undefined
  }

  takeWrongBlock(): boolean {
    return this.take('wrongBlock')
  }

  private take(key: keyof Faults['left']): boolean {
    if (this.left[key] <= 0) return false
    this.left[key]--
    return true
  }

  count(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1)
    this.log.push(name)
    if (this.log.length > LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT)
  }

  /** how many requests for a method (or "rest/<segment>") arrived */
  calls(name: string): number {
    return this.counts.get(name) ?? 0
  }

  resetCounts(): void {
    this.counts.clear()
    this.log.length = 0
  }

  /** Back to a well-behaved node (counters kept). */
  clear(): void {
    this.endWarmup()
    for (const key of Object.keys(this.left) as (keyof Faults['left'])[]) this.left[key] = 0
    this.delayMs = 0
    this.lateAnswers.clear()
    this.maxConcurrent = Infinity
    this.ibdHeaders = undefined
  }
}
