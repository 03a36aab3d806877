import {JsonStream} from './json-stream.js'

/**
 * Where the answers of a command that takes several targets go, one at a
 * time (docs/json.md): under --jsonl one object per line as each is ready;
 * under --json always one array, even for one answer, so that a script never
 * tests the shape; otherwise rendered for a human. Answers to targets read
 * from a file (`stream`) are written as they come, so that memory stays flat;
 * the others are collected and printed by oclif once every target has been
 * answered, so that a target that fails leaves only the error object on stdout.
 */
export class Answers<T> {
  private readonly out?: JsonStream
  private readonly collected: T[] = []
  private count = 0

  constructor(private readonly o: {json: boolean; jsonl: boolean; stream: boolean; render: (answer: T, separate: boolean) => void}) {
    if (o.jsonl) this.out = new JsonStream(process.stdout, 'lines')
    else if (o.json && o.stream) this.out = new JsonStream(process.stdout, 'array')
  }

  async add(answer: T): Promise<void> {
    if (this.out) await this.out.write(answer)
    else if (this.o.json) this.collected.push(answer)
    else this.o.render(answer, this.count > 0)
    this.count++
  }

  /** What run() returns: the array for oclif to print under --json, or undefined when the answers are out already. */
  async end(): Promise<T[] | undefined> {
    if (this.out) {
      await this.out.end()
      return undefined
    }
    return this.o.json ? this.collected : undefined
  }
}
