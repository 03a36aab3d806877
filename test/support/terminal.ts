/**
 * Runs the built CLI on a pseudo-terminal (util-linux `script`), for the
 * few tests about what bix does when stdout/stderr are a terminal: colours,
 * bars, spinners. Both streams arrive mixed, as on a screen.
 */
import {spawn, spawnSync} from 'node:child_process'
import {join} from 'node:path'

import {REPO_ROOT} from './cli.js'

export const hasScript = spawnSync('script', ['--version'], {stdio: 'ignore'}).status === 0

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

export interface TerminalOptions {
  env?: Record<string, string | undefined>
  /** the terminal's width; 0 leaves it as `script` makes it, reporting no size at all */
  columns?: number
  timeoutMs?: number
}

export function runOnTerminal(args: string[], options: TerminalOptions = {}): Promise<{code: number | null; output: string}> {
  const {env = {}, columns = 100, timeoutMs = 30_000} = options
  const bix = [process.execPath, join(REPO_ROOT, 'bin', 'run.js'), ...args].map(quote).join(' ')
  const command = columns > 0 ? `stty cols ${columns} rows 40 && exec ${bix}` : `exec ${bix}`
  const childEnv: NodeJS.ProcessEnv = {...process.env, TERM: 'xterm-256color'}
  delete childEnv.NO_COLOR
  delete childEnv.FORCE_COLOR
  // a user's terminal, not CI's: spinners switch themselves off when CI is set
  delete childEnv.CI
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key]
    else childEnv[key] = value
  }
  const child = spawn('script', ['-qec', command, '/dev/null'], {cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({code, output})
    })
  })
}

/** Any ANSI escape sequence: colours, cursor moves, erase-line. */
export const ANSI = /\x1b\[/
