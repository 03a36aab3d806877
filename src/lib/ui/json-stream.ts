/**
 * Answers written as they are ready, so that a run over many targets holds
 * one answer at a time. `lines` writes JSON Lines (one object per line, what
 * --jsonl asks for); `array` writes one JSON array, element by element, which
 * parses the same as `--json` of the whole list would.
 */
export type JsonStreamShape = 'lines' | 'array'

export class JsonStream {
  private count = 0

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly shape: JsonStreamShape,
  ) {}

  /** Writes one answer; resolves once the stream can take more (backpressure on a slow reader). */
  async write(value: unknown): Promise<void> {
    const json = JSON.stringify(value)
    const text = this.shape === 'lines' ? `${json}\n` : `${this.count === 0 ? '[\n' : ',\n'}${json}`
    this.count++
    await this.push(text)
  }

  /** Closes the array (an empty one when nothing was written); JSON Lines need no end. */
  async end(): Promise<void> {
    if (this.shape === 'array') await this.push(this.count === 0 ? '[]\n' : '\n]\n')
  }

  /** How many answers were written. */
  get written(): number {
    return this.count
  }

  private push(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ok = this.out.write(text, (err) => (err ? reject(err) : undefined))
      if (ok) resolve()
      else this.out.once('drain', resolve)
    })
  }
}
