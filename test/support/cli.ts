/**
 * Runs the built CLI (`node bin/run.js`, which loads dist/) as a user would:
 * a child process with NO_COLOR=1, its exit code, stdout and stderr.
 * `spawnBix` keeps the process for tests that interrupt it mid-run.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const RUN_JS = join(REPO_ROOT, 'bin', 'run.js')

export interface BixOptions {
  /** added to (and overriding) the inherited environment */
  env?: Record<string, string | undefined>
  /** written to stdin, which is then closed */
  input?: string
  /** spawnBix only: leave stdin open for the test to write to (child.stdin) and end */
  openStdin?: boolean
  /** SIGKILL after this long (default 60 s); the result says timedOut */
  timeoutMs?: number
  cwd?: string
  /** run as this user and group (tests run as root where permissions must bite, e.g. a read-only database) */
  uid?: number
  gid?: number
}

export interface BixResult {
  /** exit code, or null when ended by a signal */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface RunningBix {
  child: ChildProcess
  /** settles when the process exits */
  done: Promise<BixResult>
  stdout(): string
  stderr(): string
  kill(signal?: NodeJS.Signals): void
  /** resolves with the output so far once `pattern` appears on the stream */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<string>
}

function childEnv(extra: BixOptions['env']): NodeJS.ProcessEnv {
  // BIX_RETRY_FOR=0: a test of a node that is down wants the quick give-up it always had, not the commands'
  // 30 s default; the tests of --retry-for set it (or unset it, to see the default)
  // BIX_TEST_NEAR_SPEND_TXS=20: a first run on a test chain of a few hundred transactions leaves part of its spends to
  // its end, as one of mainnet does, instead of finding all of them among the 2^19 recent transactions it keeps
  // BIX_TEST_PREFETCH_THREADS=2: runs after a first run read ahead on threads (PagePrefetcher), as on an index too large
  // to be cached, so every test that checks their answers against Core goes through it
  // BIX_TEST_MERGE_ROWS=25: runs after a first run merge their recent tables into the main ones every few blocks of a
  // test chain, so answers checked against Core come from both, merged and not
  const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1', BIX_RETRY_FOR: '0', BIX_TEST_NEAR_SPEND_TXS: '20', BIX_TEST_PREFETCH_THREADS: '2', BIX_TEST_MERGE_ROWS: '25'}
  delete env.FORCE_COLOR
  for (const [key, value] of Object.entries(extra ?? {})) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return env
}

export function spawnBix(args: string[], opts: BixOptions = {}): RunningBix {
  const child = spawn(process.execPath, [RUN_JS, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: childEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(opts.uid === undefined ? {} : {uid: opts.uid}),
    ...(opts.gid === undefined ? {} : {gid: opts.gid}),
  })
  let stdout = ''
  let stderr = ''
  const listeners = new Set<() => void>()
  const notify = () => listeners.forEach((l) => l())
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    stdout += s
    notify()
  })
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s
    notify()
  })
  child.stdin!.on('error', () => {})
  if (!opts.openStdin) child.stdin!.end(opts.input)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, opts.timeoutMs ?? 60_000)
  const done = new Promise<BixResult>((resolveDone, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      notify()
      resolveDone({code, signal, stdout, stderr, timedOut})
    })
  })
  return {
    child,
    done,
    stdout: () => stdout,
    stderr: () => stderr,
    kill: (signal = 'SIGINT') => void child.kill(signal),
    waitFor(pattern, stream = 'stderr', timeoutMs = 30_000) {
      const read = () => (stream === 'stdout' ? stdout : stderr)
      return new Promise((resolveWait, reject) => {
        const check = () => {
          if (pattern.test(read())) {
            cleanup()
            resolveWait(read())
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup()
            reject(new Error(`bix exited before ${pattern} appeared on ${stream}:\n${read()}`))
          }
        }
        const giveUp = setTimeout(() => {
          cleanup()
          reject(new Error(`${pattern} did not appear on ${stream} within ${timeoutMs} ms:\n${read()}`))
        }, timeoutMs)
        const cleanup = () => {
          clearTimeout(giveUp)
          listeners.delete(check)
        }
        listeners.add(check)
        check()
      })
    },
  }
}

export function runBix(args: string[], opts: BixOptions = {}): Promise<BixResult> {
  return spawnBix(args, opts).done
}
