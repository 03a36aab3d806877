import {spawn} from 'node:child_process'
import {existsSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'

import {REPO_ROOT} from './generate-chain.js'

/**
 * Runs bix as a user would — `node bin/run.js …`, a new process each time —
 * and measures it from outside: wall clock, CPU time and peak RSS (from
 * GNU time when installed, else by polling the child's VmHWM).
 */

export const BIN = path.join(REPO_ROOT, 'bin', 'run.js')
const GNU_TIME = '/usr/bin/time'
/** a run that takes longer than this is stuck, not slow */
const RUN_TIMEOUT_MS = 60 * 60 * 1000

export interface ProcessRun {
  exitCode: number
  stdout: string
  stderr: string
  wallMs: number
  /** bytes; undefined when it could not be measured */
  peakRss?: number
  /** seconds of CPU, user + system; only with GNU time */
  cpuSeconds?: number
}

export interface RunOptions {
  /** extra node flags, e.g. --cpu-prof */
  nodeArgs?: string[]
  env?: NodeJS.ProcessEnv
}

/** `node bin/run.js <args>`, waited for. */
export async function runBix(args: string[], o: RunOptions = {}): Promise<ProcessRun> {
  return runNode([...(o.nodeArgs ?? []), BIN, ...args], o.env)
}

/** `node <nodeArgs>` (e.g. `-e 0`), waited for and measured as bix is, in the environment bix gets. */
export async function runNode(nodeArgs: string[], extraEnv?: NodeJS.ProcessEnv): Promise<ProcessRun> {
  const timed = existsSync(GNU_TIME)
  const [command, argv] = timed ? [GNU_TIME, ['-v', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs]
  const started = performance.now()
  const child = spawn(command, argv, {cwd: REPO_ROOT, env: {...cleanEnv(), ...extraEnv}, stdio: ['ignore', 'pipe', 'pipe']})
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  let polledPeak = 0
  const poller = timed ? undefined : setInterval(() => (polledPeak = Math.max(polledPeak, vmHwm(child.pid))), 50)
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS)
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
  })
  const wallMs = performance.now() - started
  clearTimeout(timer)
  if (poller) clearInterval(poller)
  let err = Buffer.concat(stderr).toString('utf8')
  let peakRss = polledPeak > 0 ? polledPeak : undefined
  let cpuSeconds: number | undefined
  if (timed) {
    const report = err.lastIndexOf('\tCommand being timed:')
    const stats = report >= 0 ? err.slice(report) : ''
    if (report >= 0) err = err.slice(0, report)
    const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stats)
    if (kb) peakRss = Number(kb[1]) * 1024
    const user = /User time \(seconds\): ([\d.]+)/.exec(stats)
    const system = /System time \(seconds\): ([\d.]+)/.exec(stats)
    if (user && system) cpuSeconds = Number(user[1]) + Number(system[1])
  }
  return {exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr: err, wallMs, peakRss, cpuSeconds}
}

/** The inherited environment without BIX_* settings (a BIX_DB or BIX_SOURCE of the shell must not change what is measured). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1'}
  delete env.FORCE_COLOR
  for (const key of Object.keys(env)) if (key.startsWith('BIX_')) delete env[key]
  return env
}

/** The child's peak RSS so far in bytes, 0 once it is gone. */
function vmHwm(pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** The database file plus its write-ahead log, as they are on disk now. */
export function databaseBytes(dbPath: string): number {
  return [dbPath, `${dbPath}-wal`].reduce((sum, file) => sum + (existsSync(file) ? statSync(file).size : 0), 0)
}

/** The JSON a --json run printed, or an error carrying what the run said on stderr. */
export function jsonOf<T>(run: ProcessRun, what: string): T {
  if (run.exitCode !== 0) {
    const said = (run.stdout.trim() || run.stderr.trim()).split('\n').slice(-5).join('\n')
    throw new Error(`${what} exited ${run.exitCode}: ${said}`)
  }
  try {
    return JSON.parse(run.stdout) as T
  } catch {
    throw new Error(`${what} printed no JSON: ${run.stdout.slice(0, 300)}`)
  }
}
