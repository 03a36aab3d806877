/**
 * `npm run bench -- --scale`: does bix's index cost stay flat as the chain
 * grows towards mainnet's size, when the database no longer fits in memory?
 * For each chain length: a generated chain with 11 mainnet-size blocks after
 * it, `bix index --source blk` up to its main tip inside a memory cgroup a
 * quarter of the expected database (page cache included), sampled every
 * 250 ms from outside (/proc/<pid>/io, /proc/<pid>/status, the cgroup's
 * usage), reported per million transactions; then the catch-up: one more
 * block, then ten, each a new bix process under the same cap, with the
 * database evicted from the page cache first. See bench/README.md.
 */
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import path from 'node:path'
import {createInterface} from 'node:readline'

import {BIN, cleanEnv, databaseBytes} from './bix-cli.js'
import {MERGE_SCRIPT, mergeRowsFor} from './merge-recent.js'
import {startNode} from './chain-node.js'
import {CACHE_DIR, type ChainManifest, REPO_ROOT, ensureChain} from './generate-chain.js'
import {type MemoryCap, capUnavailable, createMemoryCap} from './memory-cap.js'
import {type HotFunction, hotFunctions} from './profile-summary.js'
import {count, mb} from './report.js'

/** mainnet-size blocks after each chain's main tip, for the catch-up runs */
export const CATCH_UP_BLOCKS = 11
/** what the issue expects the index to cost, to size the cap before measuring */
const EXPECTED_DB_BYTES_PER_TX = 200
/** the database must be at least this many times the memory the process may use */
const DB_OVER_CAP = 4
const MIN_CAP_MIB = 384
const MAX_CAP_MIB = 1536
const BIX_DEFAULT_MAX_MEMORY_MIB = 512
const SAMPLE_MS = 250
const MIB = 1024 * 1024
const RUNS_DIR = path.join(CACHE_DIR, 'runs', 'scale')
const PROFILES_DIR = path.join(CACHE_DIR, 'profiles', 'scale')
/** clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux in practice) */
const CLK_TCK = 100

export const TARGETS = {
  /** the largest chain's rate under its cap, as a share of the 1M chain's */
  flatRate: 0.8,
  blkRateAt1M: 50_000,
  catchUpOneMs: 1500,
  catchUpTenMs: 5000,
  peakRssBytes: 600e6,
  bytesPerTxAt30M: 170,
}

export interface ScaleOptions {
  sizes: number[]
  /** the cgroup limit in MiB, instead of the expected database over DB_OVER_CAP */
  capMiB?: number
  /** bix --max-memory in MiB, instead of min(512, cap / 2) */
  maxMemory?: number
  profile: boolean
  /** a run still going at this time is stopped (SIGTERM, bix writes its batch) and reported as far as it got */
  deadline?: Date
  seed?: string
}

/** What the process looked like at one moment, read from outside. */
interface ProcSample {
  ms: number
  readBytes: number
  writeBytes: number
  rss: number
  hwm: number
  cpuSeconds: number
  cgroupUsage?: number
  cgroupPeak?: number
  cgroupCache?: number
  /** the main thread's state (R running or runnable, D waiting on the disk, S sleeping: waiting for a worker or the node) */
  mainState: string
  /** some other thread (decoder, checkpointer, libuv's pool) waiting on the disk */
  otherInD: boolean
}

/** One stretch of the run (a million transactions, or whatever the step is). */
export interface Stretch {
  /** transactions indexed at the end of the stretch */
  txs: number
  seconds: number
  txPerSec: number
  /** the process's peak RSS so far (VmHWM) */
  peakRss: number
  /** the cgroup's charge at the end of the stretch, and how much of it was page cache */
  cgroupUsage?: number
  cgroupCache?: number
  readBytes: number
  writeBytes: number
  readPerTx: number
  writePerTx: number
  cpuShare: number
  /** share of the stretch's samples with the main thread (where SQLite writes) running, waiting on the disk, sleeping */
  mainRunning: number
  mainDisk: number
  mainSleeping: number
  /** share of samples with another thread waiting on the disk */
  otherDisk: number
}

export interface IndexRunResult {
  txs: number
  wallMs: number
  txPerSec: number
  exitCode: number
  stoppedAtDeadline: boolean
  oomKilled: boolean
  peakRss: number
  cpuSeconds: number
  cgroupPeak?: number
  limitHits?: number
  readBytes: number
  writeBytes: number
  dbBytes: number
  bytesPerTx: number
  /** the sorts at the end of a first run, after the last block (txid_keys, the old spends, the script index): their time and I/O */
  sortMs?: number
  sortReadBytes?: number
  sortWriteBytes?: number
  source?: string
  stretches: Stretch[]
  stderrTail: string
  stdout: string
  capKind?: 'v1' | 'v2'
}

export interface SizeResult {
  size: number
  chain: {datadir: string; txs: number; mainTip: number; bytes: number; generatedMs: number; generatedTxPerSec: number; unspentShare: number; inputAges: Record<string, number>}
  cap: {kind: 'cgroup v1' | 'cgroup v2'; limitBytes: number} | {kind: 'none'; reason: string}
  maxMemoryMiB: number
  expectedDbBytes: number
  index: IndexRunResult
  catchUpOne?: IndexRunResult
  catchUpTen?: IndexRunResult
  /** the merge of the recent tables the catch-ups left (bench/merge-recent.ts), and how many outputs it moved */
  merge?: IndexRunResult & {rows: number}
  profile?: HotFunction[]
}

export async function scaleBench(o: ScaleOptions, say: (line: string) => void): Promise<{results: SizeResult[]; report: string[]}> {
  const noCap = capUnavailable()
  if (noCap) say(`scale: NO MEMORY CAP (${noCap}): bix runs uncapped, figures are marked "uncapped"`)
  const results: SizeResult[] = []
  for (const size of o.sizes) {
    if (o.deadline && Date.now() > o.deadline.getTime()) {
      say(`scale: past the deadline, ${count(size)} not started`)
      break
    }
    results.push(await oneSize(size, o, noCap, say))
  }
  return {results, report: report(results)}
}

async function oneSize(size: number, o: ScaleOptions, noCap: string | undefined, say: (line: string) => void): Promise<SizeResult> {
  const chain = ensureChain({txs: size, seed: o.seed, catchUpBlocks: CATCH_UP_BLOCKS, onProgress: say})
  const {stats} = chain
  const cumulative = cumulativeTxs(stats.txsByHeight)
  const expectedDbBytes = size * EXPECTED_DB_BYTES_PER_TX
  const capMiB = o.capMiB ?? Math.min(MAX_CAP_MIB, Math.max(MIN_CAP_MIB, Math.floor(expectedDbBytes / DB_OVER_CAP / MIB)))
  const maxMemoryMiB = o.maxMemory ?? Math.min(BIX_DEFAULT_MAX_MEMORY_MIB, Math.floor(capMiB / 2))
  say(
    `scale ${count(size)}: chain of ${count(stats.txs)} txs (${mb(stats.bytes)}), expected database ${mb(expectedDbBytes)}, ` +
      (noCap ? 'uncapped' : `cap ${capMiB} MiB${expectedDbBytes < DB_OVER_CAP * capMiB * MIB ? ` (the database will be under ${DB_OVER_CAP}× the cap: ${MIN_CAP_MIB} MiB is the floor)` : ''}`) +
      `, --max-memory ${maxMemoryMiB}`,
  )
  const node = await startNode(chain.datadir, ['--headers-through', String(stats.mainTip)])
  try {
    say(`scale ${count(size)}: node on port ${node.ready.port} (headers to ${stats.mainTip}, the ${CATCH_UP_BLOCKS} catch-up blocks in full) in ${(node.ready.loadMs / 1000).toFixed(1)} s`)
    const dir = path.join(RUNS_DIR, String(size))
    rmSync(dir, {recursive: true, force: true})
    mkdirSync(dir, {recursive: true})
    const db = path.join(dir, 'index.db')
    const base = ['index', '--network', 'regtest', '--datadir', chain.datadir, '--rpcport', String(node.ready.port), '--db', db, '--max-memory', String(maxMemoryMiB)]
    // the generator's writes left the blk files in the page cache, charged to no cap: bix must read them from disk
    evictFromPageCache(blkFiles(chain))
    const profileDir = o.profile ? path.join(PROFILES_DIR, String(size)) : undefined
    if (profileDir) rmSync(profileDir, {recursive: true, force: true})
    const index = await cappedRun([...base, '--source', 'blk', '--to-height', String(stats.mainTip)], {
      capMiB: noCap ? undefined : capMiB,
      cumulative,
      step: size >= 2_000_000 ? 1_000_000 : Math.max(1, Math.round(size / 5)),
      deadline: o.deadline,
      nodeArgs: profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
      say: (line) => say(`scale ${count(size)}: ${line}`),
    })
    const result: SizeResult = {
      size,
      chain: {
        datadir: chain.datadir,
        txs: stats.txs,
        mainTip: stats.mainTip,
        bytes: stats.bytes,
        generatedMs: chain.generatedMs,
        generatedTxPerSec: ((stats.txs + stats.catchUp.txs) * 1000) / chain.generatedMs,
        unspentShare: stats.unspentShare,
        inputAges: stats.inputAges,
      },
      cap: noCap ? {kind: 'none', reason: noCap} : {kind: index.capKind === 'v2' ? 'cgroup v2' : 'cgroup v1', limitBytes: capMiB * MIB},
      maxMemoryMiB,
      expectedDbBytes,
      index,
      profile: profileDir && existsSync(profileDir) ? hotFunctions(profileDir) : undefined,
    }
    const complete = index.exitCode === 0 && index.txs === stats.txs
    say(
      `scale ${count(size)}: indexed ${count(index.txs)} txs in ${(index.wallMs / 1000).toFixed(1)} s, ${count(index.txPerSec)} tx/s, ` +
        `peak RSS ${mb(index.peakRss)}, ${index.bytesPerTx.toFixed(1)} B/tx${complete ? '' : ` — INCOMPLETE (exit ${index.exitCode}${index.oomKilled ? ', OOM-killed' : ''}${index.stoppedAtDeadline ? ', stopped at the deadline' : ''})`}`,
    )
    if (!complete) return result
    for (const [blocks, key] of [
      [1, 'catchUpOne'],
      [CATCH_UP_BLOCKS - 1, 'catchUpTen'],
    ] as const) {
      const from = key === 'catchUpOne' ? stats.mainTip : stats.mainTip + 1
      evictFromPageCache([db, `${db}-wal`])
      const run = await cappedRun([...base, '--to-height', String(from + blocks)], {
        capMiB: noCap ? undefined : capMiB,
        cumulative,
        step: Number.MAX_SAFE_INTEGER,
        say: (line) => say(`scale ${count(size)} catch-up: ${line}`),
      })
      const expected = cumulative[from + blocks] - cumulative[from]
      if (run.exitCode !== 0 || run.txs !== expected) throw new Error(`catch-up of ${blocks} block(s) exited ${run.exitCode} having indexed ${run.txs} txs of ${expected}: ${run.stderrTail}`)
      result[key] = run
      say(`scale ${count(size)}: catch-up of ${blocks} block${blocks === 1 ? '' : 's'} (${count(expected)} txs, from ${run.source}): ${(run.wallMs / 1000).toFixed(2)} s whole process, read ${mb(run.readBytes)}, peak RSS ${mb(run.peakRss)}`)
    }
    evictFromPageCache([db, `${db}-wal`])
    const merge = await cappedRun(['--db', db, '--max-memory', String(maxMemoryMiB)], {
      capMiB: noCap ? undefined : capMiB,
      cumulative,
      step: Number.MAX_SAFE_INTEGER,
      nodeArgs: ['--import', 'tsx'],
      script: MERGE_SCRIPT,
      say: (line) => say(`scale ${count(size)} merge: ${line}`),
    })
    if (merge.exitCode !== 0) throw new Error(`the merge exited ${merge.exitCode}: ${merge.stderrTail}`)
    result.merge = {...merge, rows: (JSON.parse(merge.stdout) as {rows: number}).rows}
    say(`scale ${count(size)}: merge of the ${count(result.merge.rows)} outputs the catch-ups left: ${(merge.wallMs / 1000).toFixed(2)} s whole process, read ${mb(merge.readBytes)}, written ${mb(merge.writeBytes)}`)
    return result
  } finally {
    await node.stop()
  }
}

interface CappedRunOptions {
  capMiB?: number
  /** transactions in the chain up to each height */
  cumulative: number[]
  /** a stretch of the report every this many transactions */
  step: number
  deadline?: Date
  nodeArgs?: string[]
  /** what node runs, bix by default */
  script?: string
  say: (line: string) => void
}

let groups = 0

/**
 * `node bin/run.js <args>` inside a fresh memory cgroup (when capMiB is
 * set), sampled from outside until it exits. Progress comes from bix's own
 * plain progress lines (height; transactions from the chain's per-height
 * counts); I/O from /proc/<pid>/io (storage reads and writes, not page cache
 * hits), memory from /proc/<pid>/status and the cgroup.
 */
async function cappedRun(args: string[], o: CappedRunOptions): Promise<IndexRunResult> {
  const cap: MemoryCap | undefined = o.capMiB === undefined ? undefined : createMemoryCap(`bix-bench-${process.pid}-${++groups}`, o.capMiB * MIB)
  try {
    const argv = [process.execPath, ...(o.nodeArgs ?? []), o.script ?? BIN, ...args]
    const [command, ...rest] = cap ? cap.wrap(argv) : argv
    const started = performance.now()
    const child = spawn(command, rest, {cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe']})
    const pid = child.pid!
    let last: ProcSample | undefined
    const all: ProcSample[] = []
    const sample = () => {
      const s = readProc(pid, performance.now() - started, cap)
      if (s) {
        last = s
        all.push(s)
      }
    }
    const points: Array<{txs: number; sample: ProcSample}> = [{txs: 0, sample: zeroSample()}]
    let stderrTail = ''
    let stdout = ''
    let sortStart: ProcSample | undefined
    let source: string | undefined
    let stoppedAtDeadline = false
    let nextReport = o.step
    const onProgress = (height: number, target: number) => {
      sample()
      if (!last) return
      const txs = o.cumulative[Math.min(height, o.cumulative.length - 1)]
      points.push({txs, sample: last})
      if (txs >= nextReport) {
        nextReport = (Math.floor(txs / o.step) + 1) * o.step
        const elapsed = last.ms / 1000
        o.say(`${count(txs)} txs after ${elapsed.toFixed(0)} s (${count((txs * 1000) / last.ms)} tx/s so far), RSS ${mb(last.rss)}, cgroup ${last.cgroupUsage !== undefined ? mb(last.cgroupUsage) : '-'}, read ${mb(last.readBytes)}, written ${mb(last.writeBytes)}`)
      }
      // a run that will not finish before the deadline at its current pace is stopped now, its curve kept
      if (o.deadline && !stoppedAtDeadline && txs > 0) {
        const targetTxs = o.cumulative[Math.min(target, o.cumulative.length - 1)]
        const etaMs = ((targetTxs - txs) * last.ms) / txs
        if (Date.now() + etaMs > o.deadline.getTime() && Date.now() > o.deadline.getTime() - 5 * 60_000) {
          stoppedAtDeadline = true
          o.say(`stopping: at ${count((txs * 1000) / last.ms)} tx/s the rest would end after the deadline`)
          child.kill('SIGTERM')
        }
      }
    }
    createInterface({input: child.stderr!}).on('line', (line) => {
      stderrTail = (stderrTail + line + '\n').slice(-2000)
      const progress = /^indexing: (\d+)\/(\d+) blocks/.exec(line)
      if (progress) onProgress(Number(progress[1]), Number(progress[2]))
      else if (line.startsWith('finishing the first run')) {
        sample()
        sortStart = last
        // every block is in: the stretches end here, the sort is reported on its own
        if (last) points.push({txs: o.cumulative[o.cumulative.length - 1 - CATCH_UP_BLOCKS] ?? 0, sample: last})
      } else if (line.startsWith('source: ')) source = line.slice('source: '.length).split(' ')[0]
    })
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    const poller = setInterval(sample, SAMPLE_MS)
    sample()
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.on('error', reject)
      child.on('close', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : 128)))
    })
    const wallMs = performance.now() - started
    clearInterval(poller)
    const end = last ?? zeroSample()
    // the summary line: "indexed N blocks (M transactions) in …: height H (…)"
    const summary = /indexed [\d,]+ blocks? \(([\d,]+) transactions\)[^\n]*: height ([\d,]+)/.exec(stdout)
    const upTo = /up to date at height ([\d,]+)/.exec(stdout)
    const dbPath = args[args.indexOf('--db') + 1]
    const txs = summary ? Number(summary[1].replace(/,/g, '')) : upTo ? 0 : points[points.length - 1].txs
    if (summary && !sortStart) points.push({txs, sample: end})
    const pressure = cap?.pressure()
    const dbBytes = databaseBytes(dbPath)
    return {
      txs,
      wallMs,
      txPerSec: (txs * 1000) / wallMs,
      exitCode,
      stoppedAtDeadline,
      oomKilled: (pressure?.oomKills ?? 0) > 0,
      peakRss: end.hwm,
      cpuSeconds: end.cpuSeconds,
      cgroupPeak: cap?.peak(),
      limitHits: pressure?.limitHits,
      readBytes: end.readBytes,
      writeBytes: end.writeBytes,
      dbBytes,
      bytesPerTx: txs > 0 ? dbBytes / txs : 0,
      sortMs: sortStart === undefined ? undefined : wallMs - sortStart.ms,
      sortReadBytes: sortStart === undefined ? undefined : end.readBytes - sortStart.readBytes,
      sortWriteBytes: sortStart === undefined ? undefined : end.writeBytes - sortStart.writeBytes,
      source,
      stretches: stretches(points, o.step, all),
      stderrTail: stderrTail.split('\n').slice(-6).join('\n'),
      stdout,
      capKind: cap?.kind,
    }
  } finally {
    cap?.remove()
  }
}

function zeroSample(): ProcSample {
  return {ms: 0, readBytes: 0, writeBytes: 0, rss: 0, hwm: 0, cpuSeconds: 0, mainState: '?', otherInD: false}
}

/** The state letter of a /proc/…/stat line (the field after the parenthesised command name). */
function stateOf(stat: string): string {
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
}

/** The process as /proc and its cgroup show it now; undefined once it is gone. */
function readProc(pid: number, ms: number, cap: MemoryCap | undefined): ProcSample | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8')
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the parenthesised command name: utime and stime are the 12th and 13th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024
    const num = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? 0)
    const s: ProcSample = {
      ms,
      readBytes: num('read_bytes'),
      writeBytes: num('write_bytes'),
      rss: kb('VmRSS'),
      hwm: kb('VmHWM'),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
      mainState: fields[0],
      otherInD: false,
    }
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      if (Number(tid) === pid) continue
      try {
        if (stateOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')) === 'D') s.otherInD = true
      } catch {
        // the thread ended between the listing and the read
      }
    }
    // the shell that puts the process in the group has not exec'd node yet: nothing to read
    if (s.rss === 0) return undefined
    if (cap) {
      s.cgroupUsage = cap.usage()
      s.cgroupPeak = cap.peak()
      s.cgroupCache = cap.breakdown().cache
    }
    return s
  } catch {
    return undefined
  }
}

/** Progress points cut into stretches of `step` transactions. */
function stretches(points: Array<{txs: number; sample: ProcSample}>, step: number, all: ProcSample[]): Stretch[] {
  const out: Stretch[] = []
  let from = points[0]
  for (let i = 1; i < points.length; i++) {
    const to = points[i]
    const atStep = Math.floor(to.txs / step) > Math.floor(from.txs / step)
    if (!atStep && i < points.length - 1) continue
    const txs = to.txs - from.txs
    const seconds = (to.sample.ms - from.sample.ms) / 1000
    if (txs <= 0 || seconds <= 0) continue
    const inside = all.filter((x) => x.ms > from.sample.ms && x.ms <= to.sample.ms)
    const share = (test: (x: ProcSample) => boolean) => (inside.length === 0 ? 0 : inside.filter(test).length / inside.length)
    out.push({
      mainRunning: share((x) => x.mainState === 'R'),
      mainDisk: share((x) => x.mainState === 'D'),
      mainSleeping: share((x) => x.mainState === 'S'),
      otherDisk: share((x) => x.otherInD),
      txs: to.txs,
      seconds,
      txPerSec: txs / seconds,
      peakRss: to.sample.hwm,
      cgroupUsage: to.sample.cgroupUsage,
      cgroupCache: to.sample.cgroupCache,
      readBytes: to.sample.readBytes - from.sample.readBytes,
      writeBytes: to.sample.writeBytes - from.sample.writeBytes,
      readPerTx: (to.sample.readBytes - from.sample.readBytes) / txs,
      writePerTx: (to.sample.writeBytes - from.sample.writeBytes) / txs,
      cpuShare: (to.sample.cpuSeconds - from.sample.cpuSeconds) / seconds,
    })
    from = to
  }
  return out
}

function cumulativeTxs(txsByHeight: number[]): number[] {
  const out = new Array<number>(txsByHeight.length)
  let sum = 0
  txsByHeight.forEach((n, h) => (out[h] = sum += n))
  return out
}

function blkFiles(chain: ChainManifest): string[] {
  return readdirSync(chain.blocksDir)
    .filter((f) => /^blk\d+\.dat$/.test(f))
    .map((f) => path.join(chain.blocksDir, f))
}

/**
 * Drops files from the page cache (posix_fadvise DONTNEED through GNU dd's
 * iflag=nocache): what a process reads next comes from the disk and is
 * charged to its cgroup, as after a reboot or under memory pressure.
 */
function evictFromPageCache(files: string[]): void {
  // dirty pages cannot be dropped: written back first, or the run measured after this would read behind the writeback
  // of the run before it (the first build's last gigabytes), and find part of the file still cached
  spawnSync('sync', {stdio: 'ignore'})
  for (const file of files) {
    if (!existsSync(file)) continue
    const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], {stdio: 'ignore'})
    if (r.status !== 0) throw new Error(`dd could not evict ${file} from the page cache (exit ${r.status})`)
  }
}

function report(results: SizeResult[]): string[] {
  const out: string[] = ['', 'scale: bix index --source blk under a memory cap (page cache included), per stretch of the chain']
  for (const r of results) {
    const capText = r.cap.kind === 'none' ? `UNCAPPED (${r.cap.reason})` : `cap ${mb(r.cap.limitBytes)} (${r.cap.kind})`
    const overCap = r.cap.kind === 'none' ? 'uncapped' : `${(r.index.dbBytes / r.cap.limitBytes).toFixed(1)}× the cap`
    out.push(
      '',
      `${count(r.size)} txs: ${capText}, --max-memory ${r.maxMemoryMiB} MiB, database ${mb(r.index.dbBytes)} (${overCap}); chain ${mb(r.chain.bytes)} generated in ${(r.chain.generatedMs / 1000).toFixed(0)} s (${count(r.chain.generatedTxPerSec)} tx/s), ${(r.chain.unspentShare * 100).toFixed(1)} % of its outputs unspent at the tip`,
    )
    out.push('  txs indexed    tx/s   peak RSS   cgroup (cache)       read/tx  written/tx   CPU   main thread R/D/S   other D')
    for (const s of r.index.stretches) {
      const cg = s.cgroupUsage !== undefined ? `${mb(s.cgroupUsage)} (${mb(s.cgroupCache ?? 0)})` : '-'
      out.push(
        `  ${count(s.txs).padStart(11)} ${count(s.txPerSec).padStart(7)} ${mb(s.peakRss).padStart(10)}   ${cg.padEnd(19)} ${`${count(s.readPerTx)} B`.padStart(9)} ${`${count(s.writePerTx)} B`.padStart(11)} ${`${(s.cpuShare * 100).toFixed(0)} %`.padStart(5)}   ${[s.mainRunning, s.mainDisk, s.mainSleeping].map((x) => `${(x * 100).toFixed(0)}`.padStart(3)).join(' /')} %   ${`${(s.otherDisk * 100).toFixed(0)} %`.padStart(7)}`,
      )
    }
    const i = r.index
    out.push(
      `  then the first run's end (its sorts): ${i.sortMs !== undefined ? `${(i.sortMs / 1000).toFixed(1)} s, read ${mb(i.sortReadBytes ?? 0)}, written ${mb(i.sortWriteBytes ?? 0)}` : '-'}`,
      `  whole run: ${count(i.txs)} txs in ${(i.wallMs / 1000).toFixed(1)} s = ${count(i.txPerSec)} tx/s, CPU ${i.cpuSeconds.toFixed(0)} s, peak RSS ${mb(i.peakRss)}, cgroup peak ${i.cgroupPeak !== undefined ? mb(i.cgroupPeak) : '-'} (limit hit ${i.limitHits ?? '-'} times), read ${mb(i.readBytes)}, written ${mb(i.writeBytes)}, ${i.bytesPerTx.toFixed(1)} B/tx` +
        (i.exitCode !== 0 ? ` — exit ${i.exitCode}${i.oomKilled ? ' (OOM-killed)' : ''}${i.stoppedAtDeadline ? ' (stopped at the deadline)' : ''}` : ''),
    )
    for (const [label, run] of [
      ['catch-up, 1 block', r.catchUpOne],
      ['catch-up, 10 blocks', r.catchUpTen],
    ] as const) {
      if (run) out.push(`  ${label}: ${(run.wallMs / 1000).toFixed(2)} s whole process (${run.source}), CPU ${run.cpuSeconds.toFixed(2)} s, read ${mb(run.readBytes)}, written ${mb(run.writeBytes)}, peak RSS ${mb(run.peakRss)}`)
    }
    const m = r.merge
    if (m) {
      out.push(
        `  then the merge of the ${count(m.rows)} outputs they left in the recent tables: ${(m.wallMs / 1000).toFixed(2)} s whole process, CPU ${m.cpuSeconds.toFixed(2)} s, ` +
          `read ${mb(m.readBytes)}, written ${mb(m.writeBytes)}, peak RSS ${mb(m.peakRss)} (bix merges once they hold ${count(mergeRowsFor(r.maxMemoryMiB))} at --max-memory ${r.maxMemoryMiB})`,
      )
    }
    if (r.profile) {
      out.push('  profile (self time):')
      for (const f of r.profile) out.push(`    ${f.ms.toFixed(0).padStart(7)} ms ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}`)
    }
  }
  out.push('', 'scale targets (issue 12):')
  for (const t of judgeScale(results)) out.push(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.measured}`)
  return out
}

export interface ScaleTarget {
  name: string
  pass: boolean
  measured: string
}

/** The issue's targets, each judged on what was measured; a target nothing measured is a MISS that says so. */
export function judgeScale(results: SizeResult[]): ScaleTarget[] {
  const done = results.filter((r) => r.index.exitCode === 0)
  const at = (size: number) => done.find((r) => r.size === size)
  const largest = done.at(-1)
  const one = at(1_000_000)
  const thirty = at(30_000_000)
  const uncapped = (r: SizeResult) => (r.cap.kind === 'none' ? ' UNCAPPED' : '')
  const targets: ScaleTarget[] = []
  // a run stopped at the deadline still says how fast it went as far as it got (a MISS: the whole length was not indexed)
  const partial = results.find((r) => r.size === 30_000_000 && r.index.exitCode !== 0 && r.index.txs > 0)
  const flatBase = thirty ?? partial ?? largest
  const flatName = `30M-under-cap rate ≥ ${TARGETS.flatRate * 100} % of the 1M rate`
  targets.push(
    one && flatBase && flatBase !== one
      ? {
          name: flatName,
          pass: flatBase === thirty && flatBase.index.txPerSec >= TARGETS.flatRate * one.index.txPerSec,
          measured:
            `${count(flatBase.size)}: ${count(flatBase.index.txPerSec)} tx/s${uncapped(flatBase)} = ${((100 * flatBase.index.txPerSec) / one.index.txPerSec).toFixed(0)} % of 1M's ${count(one.index.txPerSec)}` +
            (flatBase === thirty ? '' : flatBase === partial ? ` (stopped after ${count(partial.index.txs)} txs; the last stretch ran at ${count(partial.index.stretches.at(-1)?.txPerSec ?? 0)} tx/s)` : ' (30M not measured)'),
        }
      : {name: flatName, pass: false, measured: 'not measured (needs 1M and a larger size)'},
  )
  targets.push({
    name: `--source blk ≥ ${count(TARGETS.blkRateAt1M)} tx/s at 1M`,
    pass: one !== undefined && one.index.txPerSec >= TARGETS.blkRateAt1M,
    measured: one ? `${count(one.index.txPerSec)} tx/s${uncapped(one)} (whole process, the first run's sorts included)` : 'not measured',
  })
  const catchUp = thirty ?? largest
  for (const [key, limit, label] of [
    ['catchUpOne', TARGETS.catchUpOneMs, 'one block'],
    ['catchUpTen', TARGETS.catchUpTenMs, '10 blocks'],
  ] as const) {
    const run = catchUp?.[key]
    targets.push({
      name: `catch-up of ${label} ≤ ${limit / 1000} s`,
      pass: catchUp === thirty && run !== undefined && run.wallMs <= limit,
      measured: run ? `${(run.wallMs / 1000).toFixed(2)} s on the ${count(catchUp!.size)} index${uncapped(catchUp!)}${catchUp === thirty ? '' : ' (30M not measured)'}` : 'not measured',
    })
  }
  const rss = results.flatMap((r) => [r.index, r.catchUpOne, r.catchUpTen].filter((x) => x !== undefined).map((x) => ({size: r.size, rss: x.peakRss})))
  const worst = rss.reduce((a, b) => (b.rss > a.rss ? b : a), {size: 0, rss: 0})
  targets.push({
    name: `peak RSS ≤ ${mb(TARGETS.peakRssBytes)} at every length`,
    pass: rss.length > 0 && worst.rss <= TARGETS.peakRssBytes,
    measured: rss.length > 0 ? `highest ${mb(worst.rss)} (${count(worst.size)})` : 'not measured',
  })
  const bytes = thirty ?? largest
  targets.push({
    name: `≤ ${TARGETS.bytesPerTxAt30M} B/tx at 30M`,
    pass: bytes === thirty && bytes !== undefined && bytes.index.bytesPerTx <= TARGETS.bytesPerTxAt30M,
    measured: bytes ? `${bytes.index.bytesPerTx.toFixed(1)} B/tx at ${count(bytes.size)}${bytes === thirty ? '' : ' (30M not measured)'}` : 'not measured',
  })
  return targets
}
