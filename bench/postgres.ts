/**
 * `npm run bench -- --postgres`: the PostgreSQL backend against SQLite on the
 * same generated chain (issue 15's figures). A throwaway PostgreSQL is
 * started as in the tests (test/support/postgres-server.ts), on a Unix socket
 * and with its settings: fsync, synchronous_commit and full_page_writes off,
 * which spares the server the disk flushes a production one makes (bix's
 * SQLite does not flush at each commit either: synchronous=NORMAL in WAL).
 *
 * Rows: the first build (`--source blk`) on each backend: tx/s, bytes/tx on
 * disk, peak RSS of bix and of the server; a cold `query address` of the
 * busiest address (median of 11); and 8 readers querying in a loop while an
 * index run writes (their latency, median and p95).
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import path from 'node:path'

import {testPostgres} from '../test/support/postgres-server.js'
import {BIN, cleanEnv, databaseBytes, jsonOf, runBix} from './bix-cli.js'
import {startNode} from './chain-node.js'
import {CACHE_DIR, type ChainManifest} from './generate-chain.js'

const QUERY_RUNS = 11
const READERS = 8
const RUNS_DIR = path.join(CACHE_DIR, 'runs', 'postgres')

export interface PostgresBenchRow {
  backend: 'sqlite' | 'postgres'
  txPerSec: number
  wallMs: number
  bytesPerTx: number
  bixPeakRss?: number
  serverPeakRss?: number
  coldQueryMs: number
  readerMs: {median: number; p95: number; count: number}
}

export async function postgresBench(chain: ChainManifest, say: (line: string) => void): Promise<{rows: PostgresBenchRow[]; report: string[]}> {
  const server = testPostgres()
  if (!server) throw new Error('PostgreSQL binaries not found (Debian: apt-get install postgresql)')
  const socketDir = decodeURIComponent(/[?&]host=([^&]*)/.exec(server.url)![1])
  rmSync(RUNS_DIR, {recursive: true, force: true})
  mkdirSync(RUNS_DIR, {recursive: true})
  const node = await startNode(chain.datadir)
  const rows: PostgresBenchRow[] = []
  try {
    const port = String(node.ready.port)
    for (const backend of ['sqlite', 'postgres'] as const) {
      const db = backend === 'sqlite' ? path.join(RUNS_DIR, 'index.db') : server.createDatabase(`bench_${Date.now()}`)
      const base = ['--network', 'regtest', '--datadir', chain.datadir, '--rpcport', port, '--db', db]
      say(`${backend}: first build of ${chain.stats.txs} txs`)
      const serverPeak = backend === 'postgres' ? pollPeak(() => serverRss(socketDir)) : undefined
      const run = await runBix(['index', ...base, '--source', 'blk', '--json'])
      serverPeak?.stop()
      const summary = jsonOf<{transactions: number; hash: string; database_bytes: number}>(run, `bix index (${backend})`)
      if (summary.transactions !== chain.stats.txs || summary.hash !== chain.stats.tipHash) throw new Error(`${backend}: indexed ${summary.transactions} txs up to ${summary.hash}`)
      const bytes = backend === 'sqlite' ? databaseBytes(db) : summary.database_bytes

      const query = ['query', 'address', chain.stats.busiest.address, ...base, '--offline', '--json']
      const times: number[] = []
      for (let i = 0; i < QUERY_RUNS; i++) {
        const q = await runBix(query)
        jsonOf(q, `query address (${backend})`)
        times.push(q.wallMs)
      }

      // 8 readers while a second index run writes: a fresh index, so that the writer is busy throughout
      const db2 = backend === 'sqlite' ? path.join(RUNS_DIR, 'index2.db') : server.createDatabase(`bench_busy_${Date.now()}`)
      const base2 = ['--network', 'regtest', '--datadir', chain.datadir, '--rpcport', port, '--db', db2]
      const first = await runBix(['index', ...base2, '--source', 'blk', '--to-height', String(Math.floor(chain.stats.blocks / 4)), '--json'])
      jsonOf(first, `bix index --to-height (${backend})`)
      const writer = spawn(process.execPath, [BIN, 'index', ...base2, '--source', 'blk', '--json'], {env: cleanEnv(), stdio: 'ignore'})
      const latencies = await readWhileWriting(writer, ['query', 'address', chain.stats.busiest.address, ...base2, '--offline', '--json'])
      rows.push({
        backend,
        txPerSec: (summary.transactions * 1000) / run.wallMs,
        wallMs: run.wallMs,
        bytesPerTx: bytes / summary.transactions,
        bixPeakRss: run.peakRss,
        serverPeakRss: serverPeak?.peak(),
        coldQueryMs: median(times),
        readerMs: {median: median(latencies), p95: percentile(latencies, 0.95), count: latencies.length},
      })
      say(`${backend}: ${JSON.stringify(rows.at(-1))}`)
    }
  } finally {
    await node.stop()
    server.stop()
  }
  const [sqlite, pg] = rows
  const mib = (b?: number) => (b === undefined ? '-' : `${(b / 2 ** 20).toFixed(0)} MiB`)
  const report = [
    `PostgreSQL vs SQLite, ${chain.stats.txs} txs (--source blk, first build, wall clock of the whole process; the server with fsync off, as in the tests)`,
    '| backend | first build tx/s | bytes/tx | peak RSS bix | peak RSS server | cold query ms | 8 readers while indexing: median / p95 ms (n) |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.backend} | ${r.txPerSec.toFixed(0)} | ${r.bytesPerTx.toFixed(1)} | ${mib(r.bixPeakRss)} | ${mib(r.serverPeakRss)} | ${r.coldQueryMs.toFixed(0)} | ${r.readerMs.median.toFixed(0)} / ${r.readerMs.p95.toFixed(0)} (${r.readerMs.count}) |`,
    ),
    `first build: PostgreSQL at ${((pg.txPerSec / sqlite.txPerSec) * 100).toFixed(0)} % of SQLite (target >= 50 %): ${pg.txPerSec >= 0.5 * sqlite.txPerSec ? 'PASS' : 'MISS'}`,
    `cold query: PostgreSQL ${(pg.coldQueryMs / sqlite.coldQueryMs).toFixed(2)}x SQLite (target <= 2x): ${pg.coldQueryMs <= 2 * sqlite.coldQueryMs ? 'PASS' : 'MISS'}`,
    `readers while indexing: PostgreSQL median ${(pg.readerMs.median / sqlite.readerMs.median).toFixed(2)}x SQLite (target <= 2x): ${pg.readerMs.median <= 2 * sqlite.readerMs.median ? 'PASS' : 'MISS'}`,
  ]
  return {rows, report}
}

/** READERS processes each running `args` in a loop until the writer exits; every query's wall time. */
async function readWhileWriting(writer: ChildProcess, args: string[]): Promise<number[]> {
  let writing = true
  const done = new Promise<void>((resolve) => writer.once('exit', () => resolve()))
  void done.then(() => (writing = false))
  const latencies: number[] = []
  await Promise.all(
    Array.from({length: READERS}, async () => {
      while (writing) {
        const q = await runBix(args)
        // a reader that starts before the first run's tables are there, or while the writer builds, is not a latency
        if (q.exitCode === 0) latencies.push(q.wallMs)
      }
    }),
  )
  await done
  return latencies
}

/** Resident memory of the PostgreSQL server's processes (postmaster and backends) started in `dataDir`, in bytes. */
function serverRss(dataDir: string): number {
  let total = 0
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (!cmdline.startsWith('postgres')) continue
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      // backends inherit the postmaster's command line, which names the data directory
      if (!cmdline.includes(dataDir) && !isChildOfServer(pid, dataDir)) continue
      // shared memory is counted once per process that touched it: RssAnon is each one's own
      const anon = /RssAnon:\s+(\d+) kB/.exec(status)
      if (anon) total += Number(anon[1]) * 1024
    } catch {
      // gone meanwhile
    }
  }
  return total
}

function isChildOfServer(pid: string, dataDir: string): boolean {
  const ppid = /PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return ppid !== undefined && readFileSync(`/proc/${ppid}/cmdline`, 'utf8').includes(dataDir)
}

function pollPeak(sample: () => number): {stop(): void; peak(): number} {
  let peak = 0
  const timer = setInterval(() => (peak = Math.max(peak, sample())), 100)
  return {stop: () => clearInterval(timer), peak: () => peak}
}

const median = (xs: number[]) => percentile(xs, 0.5)

function percentile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}
