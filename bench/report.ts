/**
 * What a benchmark run reports: the median of each measured part, the
 * ratios to the physical limits, the issue's targets judged PASS/MISS, and
 * the short table printed at the end.
 */

export const PART_IDS = ['a', 'e', 'b', 'c', 'd', 'q', 'h', 'f', 'm', 'n'] as const
export type PartId = (typeof PART_IDS)[number]

export const PART_LABELS: Record<PartId, string> = {
  a: '(a) limit: read+parse blk files',
  b: '(b) bix index --source blk',
  c: '(c) bix index --source rest',
  d: '(d) bix index --source rpc',
  e: '(e) limit: getblock over RPC',
  q: 'cold bix query address',
  h: 'cold bix query address, 100,000-entry address',
  f: 'bix query address --file, 10,000 addresses',
  m: '(m) bix sync-mempool, all new',
  n: '(n) bix sync-mempool, 1% changed',
}

/** One measurement of one part. */
export interface Sample {
  txs: number
  /** wall clock: for bix runs the whole process, startup included */
  ms: number
  txPerSec: number
  /** bix runs: the index's own elapsed time (summary.elapsed_ms) */
  indexMs?: number
  peakRss?: number
  cpuSeconds?: number
  dbBytes?: number
  bytesPerTx?: number
  /** the query: wall clock of each of the cold runs */
  queryMs?: number[]
  /** the query: wall clock of `node -e 0` alone in the same environment (median) */
  nodeMs?: number
  /** the query with NODE_EXTRA_CA_CERTS unset, when the environment sets it (median) */
  withoutExtraCertsMs?: number
  /** `node -e 0` with NODE_EXTRA_CA_CERTS unset, run between those queries (median) */
  nodeWithoutExtraCertsMs?: number
  /** mempool syncs: the sync's own elapsed time (summary.elapsed_ms) */
  syncMs?: number
  /** mempool syncs: what listing the mempool and fetching the new transactions alone take (the node's share) */
  limitMs?: number
}

export interface PartResult {
  samples: Sample[]
  median: Sample
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Field by field median over the runs (fields missing from a run are left out of its median). */
export function summarize(samples: Sample[]): PartResult {
  const pick = (key: keyof Omit<Sample, 'queryMs'>): number | undefined => {
    const values = samples.map((s) => s[key]).filter((v): v is number => v !== undefined)
    return values.length > 0 ? median(values) : undefined
  }
  const m: Sample = {txs: pick('txs')!, ms: pick('ms')!, txPerSec: pick('txPerSec')!}
  for (const key of ['indexMs', 'peakRss', 'cpuSeconds', 'dbBytes', 'bytesPerTx', 'syncMs', 'limitMs', 'nodeMs', 'withoutExtraCertsMs', 'nodeWithoutExtraCertsMs'] as const) {
    const v = pick(key)
    if (v !== undefined) m[key] = v
  }
  return {samples, median: m}
}

export interface Target {
  name: string
  /** the measured value, as text */
  measured: string
  pass: boolean
}

export interface Ratios {
  /** how many times slower blk indexing is than the parse limit: a tx/s ÷ b tx/s */
  blkVsParse?: number
  /** how many times slower RPC indexing is than fetching alone: e tx/s ÷ d tx/s */
  rpcVsFetch?: number
}

export function ratiosOf(parts: Partial<Record<PartId, PartResult>>): Ratios {
  const rate = (id: PartId) => parts[id]?.median.txPerSec
  const over = (x?: number, y?: number) => (x !== undefined && y !== undefined && y > 0 ? x / y : undefined)
  return {blkVsParse: over(rate('a'), rate('b')), rpcVsFetch: over(rate('e'), rate('d'))}
}

/** The issue's targets (2-core machine, medians), for the parts that ran. */
export function judge(parts: Partial<Record<PartId, PartResult>>, ratios: Ratios): Target[] {
  const targets: Target[] = []
  const b = parts.b?.median
  if (b) targets.push({name: 'blk indexing ≥ 50,000 tx/s (issue 12; was 40,000)', measured: `${count(b.txPerSec)} tx/s`, pass: b.txPerSec >= 50_000})
  // issue 12: every source as fast as blk, on the same chain
  for (const id of ['c', 'd'] as const) {
    const other = parts[id]?.median
    if (b && other) {
      const share = other.txPerSec / b.txPerSec
      targets.push({name: `${PART_LABELS[id].slice(4)} ≥ 90 % of blk`, measured: `${count(other.txPerSec)} tx/s, ${(share * 100).toFixed(0)} %`, pass: share >= 0.9})
    }
  }
  if (ratios.blkVsParse !== undefined) {
    targets.push({name: 'blk indexing within 3× of the parse limit (a)', measured: `${ratios.blkVsParse.toFixed(2)}×`, pass: ratios.blkVsParse <= 3})
  }
  if (ratios.rpcVsFetch !== undefined) {
    targets.push({name: 'RPC indexing within 1.3× of the fetch limit (e)', measured: `${ratios.rpcVsFetch.toFixed(2)}×`, pass: ratios.rpcVsFetch <= 1.3})
  }
  for (const id of ['b', 'c', 'd'] as const) {
    const rss = parts[id]?.samples.map((s) => s.peakRss).filter((v): v is number => v !== undefined)
    if (rss && rss.length > 0) {
      const worst = Math.max(...rss)
      targets.push({name: `peak RSS of ${PART_LABELS[id].slice(4)} ≤ 600 MB (issue 12; was under 1 GB)`, measured: mb(worst), pass: worst <= 600e6})
    }
  }
  const db = (parts.b ?? parts.c ?? parts.d)?.median.bytesPerTx
  if (db !== undefined) targets.push({name: 'database ≤ 200 bytes per transaction', measured: `${db.toFixed(1)} B/tx`, pass: db <= 200})
  const q = parts.q?.median
  if (q?.nodeMs !== undefined) {
    targets.push({
      name: 'cold query of the busiest address ≤ 2× `node -e 0`',
      measured: `${q.ms.toFixed(0)} ms, ${(q.ms / q.nodeMs).toFixed(2)}× \`node -e 0\` (${q.nodeMs.toFixed(0)} ms)`,
      pass: q.ms <= 2 * q.nodeMs,
    })
  }
  const h = parts.h?.median
  if (h) targets.push({name: 'balance of a 100,000-entry address well under a second (whole process)', measured: `${h.ms.toFixed(0)} ms`, pass: h.ms < 700})
  const f = parts.f?.median
  if (f) targets.push({name: '10,000 addresses from a file in one process ≤ 5 s', measured: `${f.ms.toFixed(0)} ms`, pass: f.ms <= 5000})
  return targets
}

export function table(parts: Partial<Record<PartId, PartResult>>, ratios: Ratios): string {
  const header = ['part', 'tx/s', 'wall', 'vs limit', 'CPU', 'peak RSS', 'DB B/tx']
  const rows: string[][] = [header]
  for (const id of PART_IDS) {
    const part = parts[id]
    if (!part || id === 'q' || id === 'h' || id === 'f') continue
    const m = part.median
    let vs = id === 'b' && ratios.blkVsParse ? `${ratios.blkVsParse.toFixed(2)}× (a)` : id === 'd' && ratios.rpcVsFetch ? `${ratios.rpcVsFetch.toFixed(2)}× (e)` : ''
    if (m.limitMs) vs = `${(m.ms / m.limitMs).toFixed(2)}× fetch`
    const cpu = m.cpuSeconds !== undefined ? `${((m.cpuSeconds * 1000) / m.ms).toFixed(2)} cores` : ''
    rows.push([
      PART_LABELS[id],
      count(m.txPerSec),
      `${(m.ms / 1000).toFixed(1)} s`,
      vs,
      cpu,
      m.peakRss !== undefined ? mb(m.peakRss) : '',
      m.bytesPerTx !== undefined ? m.bytesPerTx.toFixed(1) : '',
    ])
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  const lines = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd())
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  if (parts.q) {
    const q = parts.q.median
    const ratio = (bix: number, node: number | undefined) => (node === undefined ? '' : ` = ${(bix / node).toFixed(2)}× \`node -e 0\` (${node.toFixed(0)} ms)`)
    const certs =
      q.withoutExtraCertsMs === undefined ? '' : `; with NODE_EXTRA_CA_CERTS unset: ${q.withoutExtraCertsMs.toFixed(0)} ms${ratio(q.withoutExtraCertsMs, q.nodeWithoutExtraCertsMs)}`
    lines.push('', `${PART_LABELS.q}: ${q.ms.toFixed(0)} ms (median wall clock of ${parts.q.samples.flatMap((s) => s.queryMs ?? []).length} new processes${ratio(q.ms, q.nodeMs)}${certs})`)
  }
  if (parts.h) {
    const pages = parts.h.samples.flatMap((s) => s.queryMs ?? [])
    const page = pages.length > 0 ? median(pages) : undefined
    lines.push(`${PART_LABELS.h}: balance ${parts.h.median.ms.toFixed(0)} ms${page === undefined ? '' : `, first page of history and UTXOs ${page.toFixed(0)} ms`} (median of new processes)`)
  }
  if (parts.f) {
    const f = parts.f.median
    lines.push(`${PART_LABELS.f}: ${f.ms.toFixed(0)} ms for ${count(f.txs)} history entries (whole process${f.peakRss === undefined ? '' : `, peak RSS ${mb(f.peakRss)}`})`)
  }
  return lines.join('\n')
}

export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`
}
