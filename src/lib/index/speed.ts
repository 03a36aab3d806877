/**
 * Blocks and transactions per second over the last few seconds, and the time
 * left at that pace: what a progress line shows. A recent window rather than
 * the whole run, because block sizes change by orders of magnitude along a
 * chain.
 */
export class Speed {
  private readonly samples: Array<{at: number; blocks: number; transactions: number}> = []

  constructor(private readonly windowMs = 10_000) {}

  record(at: number, blocks: number, transactions: number): void {
    // a sample every 200 ms is plenty, and keeps the window small at thousands of blocks a second
    const last = this.samples[this.samples.length - 1]
    if (last && at - last.at < 200) return
    this.samples.push({at, blocks, transactions})
    while (this.samples.length > 2 && at - this.samples[1].at > this.windowMs) this.samples.shift()
  }

  /** per second, over the window; 0 until two samples are apart in time */
  rates(): {blocks: number; transactions: number} {
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    const seconds = first && last ? (last.at - first.at) / 1000 : 0
    if (seconds <= 0) return {blocks: 0, transactions: 0}
    return {blocks: (last.blocks - first.blocks) / seconds, transactions: (last.transactions - first.transactions) / seconds}
  }

  /** milliseconds to go for `blocksLeft` at the current pace, undefined while the pace is unknown */
  etaMs(blocksLeft: number): number | undefined {
    const {blocks} = this.rates()
    return blocks > 0 ? (blocksLeft / blocks) * 1000 : undefined
  }
}
