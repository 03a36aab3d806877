import {existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

/**
 * A memory cgroup for one measured process: its limit counts the page cache
 * the process faults in, not only its heap, so a database several times the
 * limit cannot hide in the machine's free memory. cgroup v1
 * (/sys/fs/cgroup/memory, memory.limit_in_bytes) or v2 (memory.max); the
 * process joins it by writing its own pid to cgroup.procs before exec'ing
 * node (see wrap()). Needs root or a delegated cgroup.
 */
export interface MemoryCap {
  kind: 'v1' | 'v2'
  dir: string
  limitBytes: number
  /** the command line that runs `argv` inside the group */
  wrap(argv: string[]): string[]
  /** memory charged to the group now (RSS + page cache + kernel) */
  usage(): number
  /** the most ever charged; undefined where the kernel does not keep it (v2 before 5.19) */
  peak(): number | undefined
  /** page cache and anonymous memory now, from memory.stat */
  breakdown(): {cache: number; anon: number}
  /** times the limit was hit (v1 failcnt, v2 events "max"), and OOM kills */
  pressure(): {limitHits: number; oomKills: number}
  remove(): void
}

const V1_ROOT = '/sys/fs/cgroup/memory'
const V2_ROOT = '/sys/fs/cgroup'

/** Why no cap can be made here, or undefined when one can. */
export function capUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`
  if (existsSync(path.join(V1_ROOT, 'memory.limit_in_bytes'))) return undefined
  const controllers = path.join(V2_ROOT, 'cgroup.controllers')
  if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('memory')) return undefined
  return `no cgroup memory controller at ${V1_ROOT} (v1) or in ${controllers} (v2)`
}

/** A new group named `name` limited to `limitBytes`; throws with the reason when the system refuses. */
export function createMemoryCap(name: string, limitBytes: number): MemoryCap {
  const why = capUnavailable()
  if (why) throw new Error(why)
  const v1 = existsSync(path.join(V1_ROOT, 'memory.limit_in_bytes'))
  const dir = path.join(v1 ? V1_ROOT : V2_ROOT, name)
  mkdirSync(dir)
  const file = (f: string) => path.join(dir, f)
  const read = (f: string) => readFileSync(file(f), 'utf8').trim()
  const stat = (f: string): Record<string, number> =>
    Object.fromEntries(
      read(f)
        .split('\n')
        .map((line) => line.split(' '))
        .map(([k, v]) => [k, Number(v)]),
    )
  try {
    writeFileSync(file(v1 ? 'memory.limit_in_bytes' : 'memory.max'), String(limitBytes))
    // no swap here, but where there is, the cap must not spill into it
    if (v1 && existsSync(file('memory.memsw.limit_in_bytes'))) writeFileSync(file('memory.memsw.limit_in_bytes'), String(limitBytes))
    if (!v1 && existsSync(file('memory.swap.max'))) writeFileSync(file('memory.swap.max'), '0')
  } catch (err) {
    rmdirSync(dir)
    throw err
  }
  const procs = file('cgroup.procs')
  return {
    kind: v1 ? 'v1' : 'v2',
    dir,
    limitBytes,
    wrap: (argv) => ['/bin/sh', '-c', `echo $$ > '${procs}' && exec "$@"`, 'sh', ...argv],
    usage: () => Number(read(v1 ? 'memory.usage_in_bytes' : 'memory.current')),
    peak: () => (v1 ? Number(read('memory.max_usage_in_bytes')) : existsSync(file('memory.peak')) ? Number(read('memory.peak')) : undefined),
    breakdown: () => {
      const s = stat('memory.stat')
      return v1 ? {cache: s.total_cache ?? s.cache ?? 0, anon: s.total_rss ?? s.rss ?? 0} : {cache: s.file ?? 0, anon: s.anon ?? 0}
    },
    pressure: () => {
      if (v1) {
        const oom = stat('memory.oom_control')
        return {limitHits: Number(read('memory.failcnt')), oomKills: oom.oom_kill ?? 0}
      }
      const events = stat('memory.events')
      return {limitHits: events.max ?? 0, oomKills: events.oom_kill ?? 0}
    },
    remove: () => {
      // the page cache it charged moves to the parent (v1 reparents on rmdir); retry while the exited process is reaped
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(dir)
          return
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
        }
      }
      rmdirSync(dir)
    },
  }
}
