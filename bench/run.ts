/**
 * `npm run bench`: bix's indexing held against the physical limits of the
 * machine, on a generated mainnet-shaped regtest chain served by the
 * simulator. See bench/README.md.
 *
 *   npm run bench -- [--txs N] [--runs N] [--only a,e,b,c,d,q,h,f,m,n] [--parallelism N] [--max-memory MiB] [--mempool-txs N] [--profile]
 *   npm run bench -- --postgres [--txs N]
 *   npm run bench -- --scale [--scale-sizes 1000000,10000000,30000000] [--scale-cap MiB] [--max-memory MiB] [--scale-deadline HH:MM] [--profile]
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {parseArgs} from 'node:util'

import {databaseBytes, jsonOf, runBix, runNode} from './bix-cli.js'
import {CACHE_DIR, type ChainManifest, DEFAULT_TXS, REPO_ROOT, ensureChain} from './generate-chain.js'
import {measureMempoolFetchLimit, measureParseLimit, measureRpcLimit} from './limits.js'
import {hotFunctions} from './profile-summary.js'
import {PART_IDS, PART_LABELS, type PartId, type PartResult, type Sample, count, judge, mb, median, ratiosOf, summarize, table} from './report.js'
import {heavyAddressBench} from './heavy-address.js'
import {manyAddressesBench} from './many-addresses.js'
import {postgresBench} from './postgres.js'
import {scaleBench} from './scale.js'
import {startNode} from './chain-node.js'
import type {MempoolChange, MempoolServerReady} from './serve-mempool.js'

const QUERY_RUNS = 11
/** bix index's default --max-memory (MiB); read-ahead is a quarter of it (src/lib/index/index-node.ts) */
const BIX_DEFAULT_MAX_MEMORY = 512
const READ_AHEAD_SHARE = 0.25
const INDEX_SOURCES = {b: 'blk', c: 'rest', d: 'rpc'} as const
/** the mempool parts run on a node of their own, not on the generated chain */
const MEMPOOL_PARTS: readonly PartId[] = ['m', 'n']
/** parts with their own data, no generated chain */
const CHAINLESS_PARTS: readonly PartId[] = [...MEMPOOL_PARTS, 'h']
/** history entries of the heavy address (part h) */
const HEAVY_ENTRIES = 100_000
/** addresses of part f */
const MANY_ADDRESSES = 10_000
const DEFAULT_MEMPOOL_TXS = 100_000
const RUNS_DIR = path.join(CACHE_DIR, 'runs')
const PROFILES_DIR = path.join(CACHE_DIR, 'profiles')

interface Options {
  txs: number
  runs: number
  only: Set<PartId>
  parallelism: number
  maxMemory?: number
  profile: boolean
  seed?: string
  /** transactions in the mempool of parts m and n */
  mempoolTxs: number
  /** the PostgreSQL backend against SQLite instead of the parts (bench/postgres.ts) */
  postgres: boolean
  /** the scale benchmark instead of the parts (bench/scale.ts) */
  scale?: {sizes: number[]; capMiB?: number; deadline?: Date}
}

const DEFAULT_SCALE_SIZES = '1000000,10000000,30000000'

/** bix index --json's summary, the fields the benchmark reads. */
interface IndexSummary {
  transactions: number
  blocks: number
  height: number
  hash: string | null
  elapsed_ms: number
  source: string
}

function options(): Options {
  const {values} = parseArgs({
    options: {
      txs: {type: 'string', default: String(DEFAULT_TXS)},
      runs: {type: 'string', default: '1'},
      only: {type: 'string', default: PART_IDS.join(',')},
      parallelism: {type: 'string', default: '4'},
      'max-memory': {type: 'string'},
      profile: {type: 'boolean', default: false},
      seed: {type: 'string'},
      'mempool-txs': {type: 'string', default: String(DEFAULT_MEMPOOL_TXS)},
      scale: {type: 'boolean', default: false},
      postgres: {type: 'boolean', default: false},
      'scale-sizes': {type: 'string', default: DEFAULT_SCALE_SIZES},
      'scale-cap': {type: 'string'},
      'scale-deadline': {type: 'string'},
    },
  })
  const int = (name: string, text: string | undefined) => {
    const n = Number(text)
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${text}`)
    return n
  }
  const only = values.only.split(',').map((s) => s.trim()).filter(Boolean)
  for (const id of only) if (!(PART_IDS as readonly string[]).includes(id)) throw new Error(`--only: unknown part "${id}" (parts: ${PART_IDS.join(', ')})`)
  return {
    txs: int('txs', values.txs),
    runs: int('runs', values.runs),
    only: new Set(only as PartId[]),
    parallelism: int('parallelism', values.parallelism),
    maxMemory: values['max-memory'] === undefined ? undefined : int('max-memory', values['max-memory']),
    profile: values.profile,
    seed: values.seed,
    mempoolTxs: int('mempool-txs', values['mempool-txs']),
    postgres: values.postgres,
    scale: values.scale
      ? {
          sizes: values['scale-sizes'].split(',').map((n) => int('scale-sizes', n.trim().replace(/_/g, ''))),
          capMiB: values['scale-cap'] === undefined ? undefined : int('scale-cap', values['scale-cap']),
          deadline: values['scale-deadline'] === undefined ? undefined : deadlineAt(values['scale-deadline']),
        }
      : undefined,
  }
}

/** HH:MM (UTC) today, or tomorrow when that has passed. */
function deadlineAt(text: string): Date {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text)
  if (!m) throw new Error(`--scale-deadline must be HH:MM (UTC), not ${text}`)
  const d = new Date()
  d.setUTCHours(Number(m[1]), Number(m[2]), 0, 0)
  if (d.getTime() < Date.now()) d.setUTCDate(d.getUTCDate() + 1)
  return d
}

const say = (line: string) => process.stderr.write(`${line}\n`)

async function main(): Promise<void> {
  const o = options()
  const startedAt = new Date()
  if (o.scale) return scale(o, o.scale, startedAt)
  if (o.postgres) return postgres(o, startedAt)
  const chainParts = [...o.only].filter((id) => !CHAINLESS_PARTS.includes(id))
  const chain = chainParts.length > 0 ? ensureChain({txs: o.txs, seed: o.seed, onProgress: say}) : undefined
  const needsNode = chainParts.some((id) => id !== 'a' && id !== 'f')
  const node = needsNode ? await startNode(chain!.datadir) : undefined
  if (node) say(`node: simulator on port ${node.ready.port}, ${node.ready.blocks} blocks loaded in ${(node.ready.loadMs / 1000).toFixed(1)} s`)
  const samples: Partial<Record<PartId, Sample[]>> = {}
  const record = (id: PartId, sample: Sample) => {
    ;(samples[id] ??= []).push(sample)
    const extra = [sample.peakRss !== undefined ? `peak RSS ${mb(sample.peakRss)}` : '', sample.bytesPerTx !== undefined ? `${sample.bytesPerTx.toFixed(1)} B/tx` : '']
    say(`${PART_LABELS[id]}: ${count(sample.txPerSec)} tx/s, ${(sample.ms / 1000).toFixed(1)} s ${extra.filter(Boolean).join(', ')}`)
  }
  const profiles: Record<string, ReturnType<typeof hotFunctions>> = {}
  try {
    for (let run = 1; run <= o.runs; run++) {
      if (o.runs > 1) say(`— run ${run} of ${o.runs}`)
      if (o.only.has('a')) record('a', await parseLimit(chain!))
      if (o.only.has('e')) record('e', await fetchLimit(chain!, node!.ready.port, o))
      for (const id of ['b', 'c', 'd'] as const) {
        if (!o.only.has(id)) continue
        const profileDir = o.profile ? path.join(PROFILES_DIR, `${INDEX_SOURCES[id]}-${run}`) : undefined
        record(id, await indexRun(INDEX_SOURCES[id], chain!, node!.ready.port, o, profileDir))
        if (profileDir) profiles[`${INDEX_SOURCES[id]}-${run}`] = hotFunctions(profileDir)
      }
    }
    if (o.only.has('q')) record('q', await coldQuery(chain!, o))
    if (o.only.has('f')) record('f', await manyAddresses(chain!, o))
    if (o.only.has('h')) {
      const heavy = heavyAddressBench(HEAVY_ENTRIES)
      record('h', {txs: heavy.txCount, ms: heavy.balanceMs, txPerSec: (heavy.txCount * 1000) / heavy.balanceMs, queryMs: [heavy.pageMs]})
    }
    if (o.only.has('m') || o.only.has('n')) await mempoolSyncs(o, record)
  } finally {
    await node?.stop()
  }

  const parts: Partial<Record<PartId, PartResult>> = {}
  for (const id of PART_IDS) if (samples[id]) parts[id] = summarize(samples[id]!)
  const ratios = ratiosOf(parts)
  const targets = judge(parts, ratios)

  const out: string[] = ['', table(parts, ratios), '', 'targets (issue, 2-core machine, medians):']
  for (const t of targets) out.push(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.measured}`)
  for (const [name, hot] of Object.entries(profiles)) {
    out.push('', `profile of bix index ${name} (self time; .cpuprofile files in ${path.join(PROFILES_DIR, name)}):`)
    for (const f of hot) out.push(`  ${f.ms.toFixed(0).padStart(7)} ms ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.name}`)
  }
  const resultFile = path.join(REPO_ROOT, 'bench', 'results', `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(
    resultFile,
    JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        machine: {cpus: os.cpus().length, model: os.cpus()[0]?.model, memory: os.totalmem(), node: process.version, loadAverage: os.loadavg()},
        options: {...o, only: [...o.only]},
        chain: chain && {datadir: chain.datadir, generatedMs: chain.generatedMs, shape: chain.shape, ...chain.stats},
        node: node?.ready,
        parts,
        ratios,
        targets,
        profiles,
      },
      null,
      2,
    ) + '\n',
  )
  out.push('', `results: ${path.relative(REPO_ROOT, resultFile)}`)
  console.log(out.join('\n'))
}

async function scale(o: Options, scale: NonNullable<Options['scale']>, startedAt: Date): Promise<void> {
  const {results, report} = await scaleBench({...scale, maxMemory: o.maxMemory, profile: o.profile, seed: o.seed}, say)
  const resultFile = path.join(REPO_ROOT, 'bench', 'results', `scale-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  const machine = {cpus: os.cpus().length, model: os.cpus()[0]?.model, memory: os.totalmem(), node: process.version, loadAverage: os.loadavg(), readAheadKb: readAhead()}
  writeFileSync(resultFile, JSON.stringify({startedAt: startedAt.toISOString(), machine, options: scale, results}, null, 2) + '\n')
  console.log([...report, '', `load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (${os.cpus().length} CPUs)`, `results: ${path.relative(REPO_ROOT, resultFile)}`].join('\n'))
}

/** The PostgreSQL backend's figures against SQLite's, on the --txs chain (bench/postgres.ts). */
async function postgres(o: Options, startedAt: Date): Promise<void> {
  const chain = ensureChain({txs: o.txs, seed: o.seed, onProgress: say})
  const {rows, report} = await postgresBench(chain, say)
  const resultFile = path.join(REPO_ROOT, 'bench', 'results', `postgres-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(resultFile, JSON.stringify({startedAt: startedAt.toISOString(), txs: chain.stats.txs, rows}, null, 2) + '\n')
  console.log([...report, `results: ${path.relative(REPO_ROOT, resultFile)}`].join('\n'))
}

/** Each block device's read-ahead (KiB): a large one turns SQLite's random page reads into long reads under a memory cap. */
function readAhead(): Record<string, number> {
  const out: Record<string, number> = {}
  try {
    for (const dev of readdirSync('/sys/block')) {
      const file = `/sys/block/${dev}/queue/read_ahead_kb`
      if (existsSync(file)) out[dev] = Number(readFileSync(file, 'utf8').trim())
    }
  } catch {
    // not Linux
  }
  return out
}

async function parseLimit(chain: ChainManifest): Promise<Sample> {
  const r = await measureParseLimit(chain.datadir)
  if (r.txs !== chain.stats.txs) throw new Error(`(a) parsed ${r.txs} transactions from the blk files, the generator wrote ${chain.stats.txs}`)
  return {txs: r.txs, ms: r.ms, txPerSec: (r.txs * 1000) / r.ms}
}

async function fetchLimit(chain: ChainManifest, port: number, o: Options): Promise<Sample> {
  const maxMemory = (o.maxMemory ?? BIX_DEFAULT_MAX_MEMORY) * 1024 * 1024
  const r = await measureRpcLimit({
    datadir: chain.datadir,
    port,
    parallelism: o.parallelism,
    readAhead: {concurrency: o.parallelism, maxBytes: Math.floor(maxMemory * READ_AHEAD_SHARE)},
  })
  if (r.txs !== chain.stats.txs) throw new Error(`(e) fetched ${r.txs} transactions over RPC, the generator wrote ${chain.stats.txs}`)
  return {txs: r.txs, ms: r.ms, txPerSec: (r.txs * 1000) / r.ms}
}

/** One `bix index` from an empty database, measured from outside the process. */
async function indexRun(source: 'blk' | 'rest' | 'rpc', chain: ChainManifest, port: number, o: Options, profileDir?: string): Promise<Sample> {
  const dir = path.join(RUNS_DIR, source)
  rmSync(dir, {recursive: true, force: true})
  mkdirSync(dir, {recursive: true})
  const db = path.join(dir, 'index.db')
  const args = ['index', '--network', 'regtest', '--datadir', chain.datadir, '--rpcport', String(port), '--db', db, '--source', source]
  args.push('--rpc-parallelism', String(o.parallelism), '--json')
  if (o.maxMemory !== undefined) args.push('--max-memory', String(o.maxMemory))
  if (profileDir) rmSync(profileDir, {recursive: true, force: true})
  const run = await runBix(args, {nodeArgs: profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []})
  const summary = jsonOf<IndexSummary>(run, `bix index --source ${source}`)
  if (summary.transactions !== chain.stats.txs || summary.hash !== chain.stats.tipHash) {
    throw new Error(
      `bix index --source ${source} indexed ${summary.transactions} txs up to ${summary.hash}; the chain has ${chain.stats.txs} up to ${chain.stats.tipHash}`,
    )
  }
  const dbBytes = databaseBytes(db)
  return {
    txs: summary.transactions,
    ms: run.wallMs,
    txPerSec: (summary.transactions * 1000) / run.wallMs,
    indexMs: summary.elapsed_ms,
    peakRss: run.peakRss,
    cpuSeconds: run.cpuSeconds,
    dbBytes,
    bytesPerTx: dbBytes / summary.transactions,
  }
}

/** `bix query address <busiest>` in a new process each time, on the database the last index run built. */
async function coldQuery(chain: ChainManifest, o: Options): Promise<Sample> {
  const source = o.only.has('b') ? 'blk' : o.only.has('c') ? 'rest' : o.only.has('d') ? 'rpc' : 'blk'
  const db = path.join(RUNS_DIR, source, 'index.db')
  if (databaseBytes(db) === 0) throw new Error(`the query part needs an index: run part b (or c, d) first; ${db} is missing`)
  const args = ['query', 'address', chain.stats.busiest.address, '--network', 'regtest', '--db', db, '--json']
  // each query is followed by `node -e 0`, started and measured the same way, so that both see
  // the same load: the target is a ratio, what bix adds to what the machine charges every process
  const coldRuns = async (env?: NodeJS.ProcessEnv): Promise<{bix: number[]; node: number[]}> => {
    const bix: number[] = []
    const node: number[] = []
    for (let i = 0; i < QUERY_RUNS; i++) {
      const run = await runBix(args, {env})
      jsonOf<unknown>(run, 'bix query address')
      bix.push(run.wallMs)
      const bare = await runNode(['-e', '0'], env)
      if (bare.exitCode !== 0) throw new Error(`node -e 0 exited ${bare.exitCode}`)
      node.push(bare.wallMs)
    }
    return {bix, node}
  }
  const asIs = await coldRuns()
  const ms = median(asIs.bix)
  const entries = chain.stats.busiest.received + chain.stats.busiest.spent
  // a CA bundle named in NODE_EXTRA_CA_CERTS is read by Node at every start (~90 ms for the system bundle here)
  const unset = process.env.NODE_EXTRA_CA_CERTS ? await coldRuns({NODE_EXTRA_CA_CERTS: ''}) : undefined
  return {
    txs: entries,
    ms,
    txPerSec: (entries * 1000) / ms,
    queryMs: asIs.bix,
    nodeMs: median(asIs.node),
    withoutExtraCertsMs: unset && median(unset.bix),
    nodeWithoutExtraCertsMs: unset && median(unset.node),
  }
}

/** Part f: 10,000 addresses of the chain from one file, one process, answers as JSON Lines. */
async function manyAddresses(chain: ChainManifest, o: Options): Promise<Sample> {
  const source = o.only.has('b') ? 'blk' : o.only.has('c') ? 'rest' : o.only.has('d') ? 'rpc' : 'blk'
  const db = path.join(RUNS_DIR, source, 'index.db')
  if (databaseBytes(db) === 0) throw new Error(`the --file part needs an index: run part b (or c, d) first; ${db} is missing`)
  const r = await manyAddressesBench({datadir: chain.datadir, db, blocks: chain.stats.blocks, busiest: chain.stats.busiest.address, count: MANY_ADDRESSES, workDir: RUNS_DIR})
  return {txs: r.entries, ms: r.ms, txPerSec: (r.entries * 1000) / r.ms, peakRss: r.peakRss}
}

/** bix sync-mempool --json's summary, the fields the benchmark reads. */
interface MempoolSyncSummary {
  added: number
  removed: number
  total: number
  elapsed_ms: number
}

/**
 * (m) `bix sync-mempool` into a fresh index of a node whose mempool holds
 * --mempool-txs transactions, all new to the index; then (n) again after
 * 1 % of them changed (half evicted, as many new ones arrived). Each is
 * checked to leave the index's copy the size of the node's mempool, having
 * fetched exactly what changed.
 */
async function mempoolSyncs(o: Options, record: (id: PartId, sample: Sample) => void): Promise<void> {
  say(`mempool: building a node with ${count(o.mempoolTxs)} mempool transactions…`)
  const node = await startMempoolNode(o.mempoolTxs)
  try {
    say(`mempool: node on port ${node.ready.port}, height ${node.ready.height}, ${count(node.ready.mempool)} transactions, built in ${(node.ready.buildMs / 1000).toFixed(1)} s`)
    const dir = path.join(RUNS_DIR, 'mempool')
    rmSync(dir, {recursive: true, force: true})
    mkdirSync(dir, {recursive: true})
    const db = path.join(dir, 'index.db')
    const nodeArgs = ['--network', 'regtest', '--datadir', node.ready.datadir, '--rpcport', String(node.ready.port), '--db', db, '--rpc-parallelism', String(o.parallelism)]
    const indexed = jsonOf<IndexSummary>(await runBix(['index', ...nodeArgs, '--source', 'rpc', '--json']), 'bix index (mempool node)')
    if (indexed.height !== node.ready.height) throw new Error(`bix index reached height ${indexed.height}, the mempool node is at ${node.ready.height}`)

    const fetchArgs = {datadir: node.ready.datadir, port: node.ready.port, parallelism: o.parallelism}
    const sync = async (id: PartId, what: string, expect: {added: number; removed: number; total: number}, limitMs: number) => {
      const run = await runBix(['sync-mempool', ...nodeArgs, '--json'])
      const summary = jsonOf<MempoolSyncSummary>(run, `bix sync-mempool (${what})`)
      if (summary.added !== expect.added || summary.removed !== expect.removed || summary.total !== expect.total) {
        throw new Error(`bix sync-mempool (${what}): +${summary.added} −${summary.removed} = ${summary.total}; expected +${expect.added} −${expect.removed} = ${expect.total}`)
      }
      const changed = summary.added + summary.removed
      const sample: Sample = {
        txs: changed,
        ms: run.wallMs,
        txPerSec: (changed * 1000) / run.wallMs,
        syncMs: summary.elapsed_ms,
        limitMs,
        peakRss: run.peakRss,
        cpuSeconds: run.cpuSeconds,
      }
      if (o.only.has(id)) record(id, sample)
    }
    // the node's share first: listing and fetching alone, as bix will ask
    const all = await measureMempoolFetchLimit(fetchArgs)
    if (all.fetched !== node.ready.mempool) throw new Error(`fetched ${all.fetched} of the node's ${node.ready.mempool} mempool transactions`)
    await sync('m', 'all new', {added: node.ready.mempool, removed: 0, total: node.ready.mempool}, all.ms)
    const change = await node.change(Math.max(2, Math.round(node.ready.mempool / 100)))
    const changed = await measureMempoolFetchLimit({...fetchArgs, known: new Set(all.listed)})
    if (changed.fetched !== change.added) throw new Error(`fetched ${changed.fetched} new mempool transactions, the node added ${change.added}`)
    await sync('n', '1% changed', change, changed.ms)
  } finally {
    await node.stop()
  }
}

interface RunningMempoolNode {
  ready: MempoolServerReady
  change(n: number): Promise<{added: number; removed: number; total: number}>
  stop(): Promise<void>
}

/** bench/serve-mempool.ts in a child process, driven over its stdin and stdout. */
async function startMempoolNode(txs: number): Promise<RunningMempoolNode> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'serve-mempool.ts'), '--txs', String(txs)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const lines = createInterface({input: child.stdout!})
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the mempool node exited (${code}) before answering`))
      child.once('exit', onExit)
      lines.once('line', (line) => {
        child.off('exit', onExit)
        resolve(line)
      })
    })
  const ready = JSON.parse(await nextLine()) as MempoolServerReady
  return {
    ready,
    async change(n) {
      child.stdin!.write(`change ${n}\n`)
      const change = JSON.parse(await nextLine()) as MempoolChange
      return {added: change.added, removed: change.removed, total: change.size}
    },
    async stop() {
      child.stdin!.end()
      await exited
    },
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
