import {readFile} from 'node:fs/promises'

import {BixError, badInput} from '../errors.js'

/** One raw transaction as given, with where it came from so an error can point at it. */
export interface RawTxText {
  /** lower-cased, not yet checked */
  hex: string
  /** "argument 2", "line 7 of txs.txt", "line 1 of stdin" */
  origin: string
}

export interface RawTxSources {
  /** positional arguments; "-" means "read standard input" */
  args: readonly string[]
  /** --file PATH ("-" for standard input) */
  file?: string
  /** reads all of standard input; called at most once */
  readStdin: () => Promise<string>
}

/**
 * Every transaction the user gave, in the order given: arguments first, then
 * the file or standard input, one per line (blank lines and # comments are
 * skipped). Whether each is hex and a transaction is for prepare.ts to say.
 */
export async function readRawTransactions(sources: RawTxSources): Promise<RawTxText[]> {
  const found: RawTxText[] = []
  let stdinRead = false
  const stdinLines = async () => {
    if (stdinRead) throw badInput('standard input ("-") can be read only once')
    stdinRead = true
    return linesToTxs(await sources.readStdin(), 'stdin')
  }
  for (const [i, arg] of sources.args.entries()) {
    if (arg === '-') found.push(...(await stdinLines()))
    else found.push(rawTx(arg.trim(), `argument ${i + 1}`))
  }
  if (sources.file === '-') {
    found.push(...(await stdinLines()))
  } else if (sources.file !== undefined) {
    found.push(...linesToTxs(await readTextFile(sources.file), sources.file))
  }
  if (found.length === 0) {
    throw badInput('no transaction given: pass raw transactions as hex arguments, --file PATH, or - to read standard input')
  }
  return found
}

/** One transaction per line; blank lines and lines starting with # are skipped. */
export function linesToTxs(text: string, sourceName: string): RawTxText[] {
  const txs: RawTxText[] = []
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return
    txs.push(rawTx(trimmed, `line ${i + 1} of ${sourceName}`))
  })
  return txs
}

function rawTx(text: string, origin: string): RawTxText {
  return {hex: text.toLowerCase(), origin}
}

async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message
    throw new BixError('BadInput', `cannot read --file ${path}: ${why}`, {cause: error})
  }
}
