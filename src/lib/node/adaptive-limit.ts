/**
 * How many requests one endpoint gets at once. bitcoind answers HTTP 503
 * "Work queue depth exceeded" when its queue is full; then the limit halves,
 * and it grows back by one after each `limit` successes in a row (AIMD, as TCP
 * does), never above the configured parallelism.
 */
export class AdaptiveLimit {
  private active = 0
  private streak = 0
  private current: number
  private readonly waiting: Array<{grant: () => void}> = []

  constructor(private readonly max: number) {
    this.current = Math.max(1, max)
  }

  get limit(): number {
    return this.current
  }

  /** Resolves with a release function once a slot is free; rejects with the signal's reason if aborted first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason)
    if (this.active < this.current) {
      this.active++
      return Promise.resolve(this.releaser())
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort)
          this.active++
          resolve(this.releaser())
        },
      }
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter)
        if (i >= 0) this.waiting.splice(i, 1)
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, {once: true})
      this.waiting.push(waiter)
    })
  }

  overloaded(): void {
    this.current = Math.max(1, Math.floor(this.current / 2))
    this.streak = 0
  }

  succeeded(): void {
    if (this.current >= this.max) return
    if (++this.streak >= this.current) {
      this.current++
      this.streak = 0
      this.drain()
    }
  }

  private releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      this.active--
      this.drain()
    }
  }

  private drain(): void {
    while (this.active < this.current && this.waiting.length > 0) this.waiting.shift()?.grant()
  }
}
