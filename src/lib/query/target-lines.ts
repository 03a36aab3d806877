import {createReadStream} from 'node:fs'
import {createInterface} from 'node:readline'

import {BixError, badInput, isBixError} from '../errors.js'

/**
 * Targets read from a file (or stdin, `-`), one per line, for queries that
 * answer thousands of targets in one process. The file is streamed: memory
 * stays flat whatever its length. Blank lines and lines whose first
 * non-blank character is `#` are skipped (a `#` later in a line is part of
 * the target: descriptors carry their checksum after one).
 */
export interface TargetLine {
  /** 1-based line number in the file, for error messages */
  number: number
  /** the line without surrounding whitespace */
  text: string
}

/** What `--file` names: a path, or `-` for stdin. */
export function describeSource(source: string): string {
  return source === '-' ? 'stdin' : source
}

export async function* readTargetLines(source: string, stdin: NodeJS.ReadableStream = process.stdin): AsyncGenerator<TargetLine> {
  let input: NodeJS.ReadableStream = stdin
  if (source !== '-') {
    const file = createReadStream(source)
    // a missing or unreadable file surfaces as an event: say which file, in one line
    await new Promise<void>((resolve, reject) => {
      file.once('error', (err: NodeJS.ErrnoException) => reject(badInput(`--file ${source}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`)))
      file.once('ready', () => resolve())
    })
    input = file
  }
  const lines = createInterface({input, crlfDelay: Number.POSITIVE_INFINITY})
  let number = 0
  try {
    for await (const raw of lines) {
      number++
      const text = raw.trim()
      if (text === '' || text.startsWith('#')) continue
      yield {number, text}
    }
  } catch (err) {
    // EISDIR and the like arrive with the first read, not the open
    const code = (err as NodeJS.ErrnoException).code
    if (typeof code === 'string' && code.startsWith('E')) throw badInput(`--file ${describeSource(source)}: ${(err as Error).message}`)
    throw err
  }
}

/**
 * A target's error, with where it came from in front, so that one bad line
 * among ten thousand can be found. Errors other than bix's pass unchanged.
 */
export function errorAtLine(source: string, line: TargetLine, err: unknown): unknown {
  if (!isBixError(err)) return err
  return new BixError(err.kind, `${describeSource(source)} line ${line.number}: ${err.message}`, {cause: err, exitCode: err.exitCode})
}
