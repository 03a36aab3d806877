import type {RecoveredEvent, RetryEvent} from '../node/types.js'
import {describeRetryWindow} from '../node/retry-window.js'
import {formatDuration} from '../format.js'

/**
 * Lines on stderr while a command waits for the node (--retry-for): one when
 * the wait starts, one every REPEAT_MS while it lasts, one when the node
 * answers again. A cron log shows why a run took long, without a line per
 * retry (--verbose has those).
 */

/** a blip shorter than this (a 503 burst, a dropped connection) is not news */
const GRACE_MS = 1000
/** between "still waiting" lines */
const REPEAT_MS = 15_000
/** retries come at least every 4 s while a wait lasts: a longer silence means that one ended unseen (say, in an RPC error) */
const FORGET_MS = 10_000

export class OutageNotice {
  /** when the current wait began (its first retry), while there is one */
  private since?: number
  private announced = false
  private lastLineAt = 0
  private lastRetryAt = 0

  constructor(
    private readonly retryForMs: number,
    private readonly write: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  retrying(event: RetryEvent): void {
    const now = this.now()
    if (this.since !== undefined && now - this.lastRetryAt > FORGET_MS) this.forget()
    this.lastRetryAt = now
    this.since ??= now
    if (!this.announced) {
      if (now - this.since < GRACE_MS) return
      this.announced = true
      this.lastLineAt = now
      const window = this.retryForMs > 0 ? `up to ${describeRetryWindow(this.retryForMs)}` : 'a few seconds'
      this.write(`node not answering (${event.reason}); waiting ${window} for it (--retry-for)`)
    } else if (now - this.lastLineAt >= REPEAT_MS) {
      this.lastLineAt = now
      this.write(`still waiting for the node after ${formatDuration(now - this.since)} (${event.reason})`)
    }
  }

  recovered(event: RecoveredEvent): void {
    if (this.announced) this.write(`the node answers again after ${formatDuration(event.waitedMs)}`)
    this.forget()
  }

  private forget(): void {
    this.since = undefined
    this.announced = false
  }
}
