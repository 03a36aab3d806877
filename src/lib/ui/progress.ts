import {SingleBar} from 'cli-progress'

import {isInteractive} from './colour.js'

export interface ProgressOptions {
  /** --quiet or --json: nothing at all */
  silent: boolean
  /** what the bar counts, e.g. "blocks" */
  unit: string
  /** plain-line interval when stderr is not a terminal */
  plainIntervalMs?: number
  stream?: NodeJS.WriteStream
}

export interface ProgressFields {
  /** extra text after the counters, e.g. "1,234 tx/s" */
  detail?: string
}

/**
 * A progress display for long work: a bar on a terminal, one plain line every
 * few seconds otherwise (cron, pipes), nothing with --quiet/--json. Always call
 * stop(): an unstopped bar keeps the process alive.
 */
export class Progress {
  private readonly stream: NodeJS.WriteStream
  private bar?: SingleBar
  private total = 0
  private value = 0
  private detail = ''
  private label = ''
  private lastPlain = 0
  private readonly startedAt = Date.now()
  private stopped = false

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr
  }

  start(total: number, value: number, label: string): void {
    this.total = total
    this.value = value
    this.label = label
    if (this.options.silent) return
    if (isInteractive(this.stream)) {
      this.bar = new SingleBar({
        stream: this.stream,
        format: `${label} [{bar}] {value}/{total} ${this.options.unit} | {percentage}% | ETA {eta_formatted} {detail}`,
        hideCursor: true,
        clearOnComplete: false,
        gracefulExit: false,
        etaBuffer: 50,
        fps: 5,
      })
      this.bar.start(total, value, {detail: ''})
    } else {
      this.lastPlain = Date.now()
    }
  }

  update(value: number, fields: ProgressFields = {}, total?: number): void {
    this.value = value
    if (total !== undefined) this.total = total
    if (fields.detail !== undefined) this.detail = fields.detail
    if (this.options.silent) return
    if (this.bar) {
      if (total !== undefined) this.bar.setTotal(total)
      this.bar.update(value, {detail: this.detail})
      return
    }
    const now = Date.now()
    if (now - this.lastPlain >= (this.options.plainIntervalMs ?? 5000)) {
      this.lastPlain = now
      this.plainLine()
    }
  }

  /** A line of its own on stderr that does not tear the bar. */
  log(line: string): void {
    if (this.options.silent) return
    if (this.bar) {
      this.bar.stop()
      this.stream.write(line + '\n')
      this.bar.start(this.total, this.value, {detail: this.detail})
    } else {
      this.stream.write(line + '\n')
    }
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    if (this.bar) {
      this.bar.update(this.value, {detail: this.detail})
      this.bar.stop()
    }
  }

  private plainLine(): void {
    const pct = this.total > 0 ? ((100 * this.value) / this.total).toFixed(1) : '0.0'
    const elapsed = ((Date.now() - this.startedAt) / 1000).toFixed(0)
    const detail = this.detail ? ` ${this.detail}` : ''
    this.stream.write(`${this.label}: ${this.value}/${this.total} ${this.options.unit} (${pct}%) after ${elapsed}s${detail}\n`)
  }
}
