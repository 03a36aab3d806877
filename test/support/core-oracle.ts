/**
 * What Bitcoin Core says each output script owns — the truth `bix query
 * address` is held to. Everything comes from the node's own answers (Core, or
 * the simulator through the same RPCs when BITCOIND is unset), nothing from
 * code of ours that parses blocks:
 *
 * - `getblock <hash> 3` for every block from genesis to the tip: each output
 *   with its script and value, each input with its prevout's script and value;
 * - `scantxoutset start [raw(<script>)…]`: the unspent outputs;
 * - for the mempool, `getrawmempool true`, `getrawtransaction`, `gettxout`
 *   (the confirmed coin a mempool input spends) and `gettxspendingprevout`.
 *
 * API:
 *   coreTruth(node)                      → CoreTruth: per script chain_stats, history (bix's order:
 *                                           newest first, by height then place in the block), UTXOs,
 *                                           first/last activity; plain JSON, so a recording can hold it
 *   coreMempoolTruth(node, truth)        → MempoolTruth: per script the mempool touches, its
 *                                           mempool_stats, unconfirmed history, UTXOs, pending spends
 *   coreChainStatsByHeight(node, s, h)   → one script's chain_stats after each block 0…h
 *   assertIndexAgrees(db, truth, {mempool?, absent?})
 *                                         → asks bix (offline, many --script per process) about every
 *                                           script of `truth` (and `absent` ones, which must show
 *                                           nothing) and asserts chain_stats, balance, every history
 *                                           entry (txid, height, value_change, in order), the UTXOs and
 *                                           first/last activity equal Core's; with `mempool`, the
 *                                           unconfirmed side too. Returns the number of scripts checked.
 *   assertIndexAgreesWithCore(db, node)  → coreTruth(node), then assertIndexAgrees.
 *   assertSameTruth(live, recorded, …)   → a node's answers equal a recording of Core's.
 *
 * The genesis block's coinbase output is not in Core's UTXO set (scantxoutset
 * never returns it; Core never adds it to the coins database), and bix does
 * not index it: the truth leaves it out and names it in `genesis`.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'

import {runBix} from './cli.js'

export interface TxoStats {
  funded_txo_count: number
  funded_txo_sum: number
  spent_txo_count: number
  spent_txo_sum: number
  tx_count: number
}

export interface TruthHistoryEntry {
  txid: string
  /** null: unconfirmed */
  height: number | null
  value_change: number
}

export interface TruthUtxo {
  txid: string
  vout: number
  value: number
  /** null: an output of a mempool transaction */
  height: number | null
}

export interface ScriptTruth {
  /** the output script, hex */
  script: string
  chain_stats: TxoStats
  /** newest first, as bix lists it: by height, then by place in the block */
  history: TruthHistoryEntry[]
  /** from scantxoutset, sorted by txid:vout */
  utxos: TruthUtxo[]
  first_activity: {txid: string; height: number}
  last_activity: {txid: string; height: number}
}

export interface CoreTruth {
  tip: {height: number; hash: string}
  /** every transaction of the active chain, in chain order, the genesis coinbase included */
  txids: string[]
  /** the genesis coinbase's output: in block 0, never in the UTXO set, not indexed by bix */
  genesis: {txid: string; vout: number; script: string; value: number}
  /** every output script of the active chain (the genesis output's only use left out), sorted by script */
  scripts: ScriptTruth[]
}

export interface PendingSpendTruth extends TruthUtxo {
  spent_by: string
}

export interface ScriptMempoolTruth {
  script: string
  mempool_stats: TxoStats
  /** newest first, as bix lists it: by time the node first saw it (latest first), then txid */
  history: TruthHistoryEntry[]
  /** the script's outputs a mempool transaction spends, with that transaction (gettxspendingprevout) */
  pending_spends: PendingSpendTruth[]
  /** confirmed UTXOs no mempool transaction spends, plus unspent mempool outputs; sorted by txid:vout */
  utxos: TruthUtxo[]
}

export interface MempoolTruth {
  txids: string[]
  /** every script a mempool transaction pays or spends, sorted by script */
  scripts: ScriptMempoolTruth[]
}

/** What the oracle needs of a node: its RPC. */
export interface RpcNode {
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>
}

interface CoreBlock {
  hash: string
  height: number
  tx: Array<{
    txid: string
    vin: Array<{coinbase?: string; txid?: string; vout?: number; prevout?: {value: number; scriptPubKey: {hex: string}}}>
    vout: Array<{n: number; value: number; scriptPubKey: {hex: string}}>
  }>
}

interface ScanResult {
  success: boolean
  unspents: Array<{txid: string; vout: number; amount: number; height: number; scriptPubKey: string}>
}

/** Core's JSON amounts are BTC as doubles; every amount up to 21e6 BTC rounds back exactly. */
export const satsOf = (btc: number): number => Math.round(btc * 1e8)

const byOutpoint = (a: {txid: string; vout: number}, b: {txid: string; vout: number}) => (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : a.vout - b.vout)

/** Descriptors per scantxoutset call, and scripts per bix process (its command line stays far below ARG_MAX). */
const SCAN_BATCH = 500
const QUERY_BATCH = 200

export async function coreTruth(node: RpcNode): Promise<CoreTruth> {
  const tipHash = await node.rpc<string>('getbestblockhash')
  const tipHeight = (await node.rpc<{height: number}>('getblockheader', [tipHash])).height
  const {acc, txids, genesis} = await readChain(node, tipHeight)
  assert.equal(await node.rpc<string>('getbestblockhash'), tipHash, 'the node\'s tip moved while the oracle read the chain')

  const scriptList = [...acc.keys()].sort()
  const utxos = await scanUtxos(node, scriptList)
  const scripts = scriptList.map((script): ScriptTruth => {
    const {stats, txs} = acc.get(script)!
    const oldestFirst = [...txs.values()]
    const first = oldestFirst[0]
    const last = oldestFirst.at(-1)!
    return {
      script,
      chain_stats: stats,
      history: [...oldestFirst].reverse(),
      utxos: utxos.get(script) ?? [],
      first_activity: {txid: first.txid, height: first.height!},
      last_activity: {txid: last.txid, height: last.height!},
    }
  })
  return {tip: {height: tipHeight, hash: tipHash}, txids, genesis, scripts}
}

/**
 * One script's chain_stats as they stood after each block 0…toHeight of the active chain
 * (index = height), from getblock 3: what an index that stopped at that height must answer.
 */
export async function coreChainStatsByHeight(node: RpcNode, script: string, toHeight: number): Promise<TxoStats[]> {
  const stats: TxoStats = {funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0, tx_count: 0}
  const byHeight: TxoStats[] = []
  for (let height = 0; height <= toHeight; height++) {
    const block = await node.rpc<CoreBlock>('getblock', [await node.rpc<string>('getblockhash', [height]), 3])
    for (const tx of height === 0 ? [] : block.tx) {
      let touched = false
      for (const input of tx.vin) {
        if (input.coinbase !== undefined || input.prevout!.scriptPubKey.hex !== script) continue
        stats.spent_txo_count++
        stats.spent_txo_sum += satsOf(input.prevout!.value)
        touched = true
      }
      for (const out of tx.vout) {
        if (out.scriptPubKey.hex !== script) continue
        stats.funded_txo_count++
        stats.funded_txo_sum += satsOf(out.value)
        touched = true
      }
      if (touched) stats.tx_count++
    }
    byHeight.push({...stats})
  }
  return byHeight
}

interface ScriptAcc {
  stats: TxoStats
  /** txid → entry, in chain order (insertion order) */
  txs: Map<string, TruthHistoryEntry>
}

/** Every output and spend of blocks 0…tipHeight of the active chain, by script (getblock 3). */
async function readChain(node: RpcNode, tipHeight: number): Promise<{acc: Map<string, ScriptAcc>; txids: string[]; genesis: CoreTruth['genesis']}> {
  const acc = new Map<string, ScriptAcc>()
  const touch = (script: string, txid: string, height: number, delta: number) => {
    let a = acc.get(script)
    if (!a) acc.set(script, (a = {stats: {funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0, tx_count: 0}, txs: new Map()}))
    const entry = a.txs.get(txid)
    if (entry) entry.value_change += delta
    else {
      a.txs.set(txid, {txid, height, value_change: delta})
      a.stats.tx_count++
    }
    return a.stats
  }

  const txids: string[] = []
  let genesis: CoreTruth['genesis'] | undefined
  for (let height = 0; height <= tipHeight; height++) {
    const hash = await node.rpc<string>('getblockhash', [height])
    const block = await node.rpc<CoreBlock>('getblock', [hash, 3])
    for (const tx of block.tx) {
      txids.push(tx.txid)
      if (height === 0) {
        // Core never adds the genesis coinbase's output to its coins: it is no UTXO, and bix does not index it
        const out = tx.vout[0]
        genesis = {txid: tx.txid, vout: out.n, script: out.scriptPubKey.hex, value: satsOf(out.value)}
        continue
      }
      for (const input of tx.vin) {
        if (input.coinbase !== undefined) continue
        assert.ok(input.prevout, `getblock 3 gave no prevout for an input of ${tx.txid}`)
        const value = satsOf(input.prevout.value)
        const stats = touch(input.prevout.scriptPubKey.hex, tx.txid, height, -value)
        stats.spent_txo_count++
        stats.spent_txo_sum += value
      }
      for (const out of tx.vout) {
        const value = satsOf(out.value)
        const stats = touch(out.scriptPubKey.hex, tx.txid, height, value)
        stats.funded_txo_count++
        stats.funded_txo_sum += value
      }
    }
  }
  assert.ok(genesis, 'no genesis block')
  return {acc, txids, genesis}
}

/** scantxoutset over raw() descriptors, many per call, grouped by the scriptPubKey of each unspent. */
async function scanUtxos(node: RpcNode, scripts: string[]): Promise<Map<string, TruthUtxo[]>> {
  const found = new Map<string, TruthUtxo[]>()
  // raw() of an empty script is no descriptor Core accepts; no test chain has one
  const scannable = scripts.filter((s) => s.length > 0)
  for (let i = 0; i < scannable.length; i += SCAN_BATCH) {
    const batch = scannable.slice(i, i + SCAN_BATCH)
    const scan = await node.rpc<ScanResult>('scantxoutset', ['start', batch.map((s) => ({desc: `raw(${s})`}))])
    assert.ok(scan.success, 'scantxoutset did not finish')
    for (const u of scan.unspents) {
      let list = found.get(u.scriptPubKey)
      if (!list) found.set(u.scriptPubKey, (list = []))
      list.push({txid: u.txid, vout: u.vout, value: satsOf(u.amount), height: u.height})
    }
  }
  for (const list of found.values()) list.sort(byOutpoint)
  return found
}

interface CoreMempoolEntry {
  time: number
}

interface CoreVerboseTx {
  txid: string
  vin: Array<{txid: string; vout: number}>
  vout: Array<{n: number; value: number; scriptPubKey: {hex: string}}>
}

/** The mempool's side of every script it touches, from Core's answers about the mempool and the coins it spends. */
export async function coreMempoolTruth(node: RpcNode, truth: CoreTruth): Promise<MempoolTruth> {
  const entries = await node.rpc<Record<string, CoreMempoolEntry>>('getrawmempool', [true])
  const txs = new Map<string, CoreVerboseTx>()
  for (const txid of Object.keys(entries)) txs.set(txid, await node.rpc<CoreVerboseTx>('getrawtransaction', [txid, 1]))

  interface Acc {
    stats: TxoStats
    txs: Map<string, TruthHistoryEntry>
    /** outputs of mempool transactions paying the script */
    outputs: TruthUtxo[]
    /** outpoints of the script a mempool transaction spends */
    spent: TruthUtxo[]
  }
  const acc = new Map<string, Acc>()
  const touch = (script: string, txid: string, delta: number) => {
    let a = acc.get(script)
    if (!a) acc.set(script, (a = {stats: {funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0, tx_count: 0}, txs: new Map(), outputs: [], spent: []}))
    const entry = a.txs.get(txid)
    if (entry) entry.value_change += delta
    else a.txs.set(txid, {txid, height: null, value_change: delta})
    return a
  }
  for (const [txid, tx] of txs) {
    for (const input of tx.vin) {
      const parent = txs.get(input.txid)
      let prevout: {script: string; value: number; height: number | null}
      if (parent) {
        const out = parent.vout[input.vout]
        prevout = {script: out.scriptPubKey.hex, value: satsOf(out.value), height: null}
      } else {
        // the confirmed coin is still in the UTXO set while only the mempool spends it
        const coin = await node.rpc<{value: number; confirmations: number; scriptPubKey: {hex: string}} | null>('gettxout', [input.txid, input.vout, false])
        assert.ok(coin, `mempool transaction ${txid} spends ${input.txid}:${input.vout}, which is neither in the mempool nor unspent in the chain`)
        prevout = {script: coin.scriptPubKey.hex, value: satsOf(coin.value), height: truth.tip.height - coin.confirmations + 1}
      }
      const a = touch(prevout.script, txid, -prevout.value)
      a.stats.spent_txo_count++
      a.stats.spent_txo_sum += prevout.value
      a.spent.push({txid: input.txid, vout: input.vout, value: prevout.value, height: prevout.height})
    }
    for (const out of tx.vout) {
      const value = satsOf(out.value)
      const a = touch(out.scriptPubKey.hex, txid, value)
      a.stats.funded_txo_count++
      a.stats.funded_txo_sum += value
      a.outputs.push({txid, vout: out.n, value, height: null})
    }
  }

  const confirmedUtxos = new Map(truth.scripts.map((s) => [s.script, s.utxos]))
  const scripts: ScriptMempoolTruth[] = []
  for (const script of [...acc.keys()].sort()) {
    const a = acc.get(script)!
    a.stats.tx_count = a.txs.size
    // who spends each of the script's outputs, as the node's mempool says
    const candidates = [...(confirmedUtxos.get(script) ?? []), ...a.outputs]
    const spenders = new Map<string, string>()
    if (candidates.length > 0) {
      const answer = await node.rpc<Array<{txid: string; vout: number; spendingtxid?: string}>>('gettxspendingprevout', [candidates.map((c) => ({txid: c.txid, vout: c.vout}))])
      for (const s of answer) if (s.spendingtxid) spenders.set(`${s.txid}:${s.vout}`, s.spendingtxid)
    }
    const pending = candidates.filter((c) => spenders.has(`${c.txid}:${c.vout}`)).map((c) => ({...c, spent_by: spenders.get(`${c.txid}:${c.vout}`)!}))
    const seen = (txid: string) => entries[txid].time
    scripts.push({
      script,
      mempool_stats: a.stats,
      history: [...a.txs.values()].sort((x, y) => seen(y.txid) - seen(x.txid) || (x.txid < y.txid ? -1 : 1)),
      pending_spends: pending.sort(byOutpoint),
      utxos: candidates.filter((c) => !spenders.has(`${c.txid}:${c.vout}`)).sort(byOutpoint),
    })
  }
  return {txids: [...txs.keys()].sort(), scripts}
}

/** bix's --json report, the parts the truth speaks to. */
export interface BixReport {
  address: string | null
  scripthash: string
  script: string | null
  chain_stats: TxoStats
  mempool_stats: TxoStats
  balance: {confirmed: number; unconfirmed: number; total: number}
  first_activity: {txid: string; height: number | null} | null
  last_activity: {txid: string; height: number | null} | null
  utxos?: TruthUtxo[]
  pending_spends?: PendingSpendTruth[]
  history?: Array<TruthHistoryEntry & {time: number}>
  freshness: {index: {height: number; hash: string} | null; mempool: {synced_at: number | null; used: boolean}}
}

/** Electrum's script hash: the script's SHA-256, byte-reversed — how bix is asked about an empty script. */
const electrumScriptHash = (script: string) => createHash('sha256').update(Buffer.from(script, 'hex')).digest().reverse().toString('hex')

/** bix's reports for these scripts, in order, from as few processes as the command line allows. */
export async function bixReports(db: string, scripts: string[]): Promise<BixReport[]> {
  const reports: BixReport[] = []
  for (let i = 0; i < scripts.length; i += QUERY_BATCH) {
    const batch = scripts.slice(i, i + QUERY_BATCH)
    const nonEmpty = batch.filter((s) => s.length > 0)
    const empty = batch.filter((s) => s.length === 0)
    const args = [...nonEmpty.flatMap((s) => ['--script', s]), ...empty.flatMap((s) => ['--scripthash', electrumScriptHash(s)])]
    const r = await runBix(['query', 'address', '--network', 'regtest', '--db', db, '--offline', '--json', '--utxos', '--history', '--limit', '0', ...args], {timeoutMs: 120_000})
    assert.equal(r.code, 0, r.stderr)
    // an array, one answer per target; each --script answer names its script, a --scripthash one does not
    const answered = JSON.parse(r.stdout) as BixReport[]
    assert.equal(answered.length, batch.length)
    const byScript = new Map<string, BixReport>(answered.map((report) => [report.script ?? '', report]))
    assert.equal(byScript.size, batch.length, 'one answer per script')
    reports.push(...batch.map((s) => byScript.get(s)!))
  }
  return reports
}

const key = (u: TruthUtxo) => `${u.txid}:${u.vout}`

/**
 * Asks bix about every script of `truth` and asserts each answer is Core's; with `pool`, the
 * unconfirmed side too (the index's mempool snapshot must be of the same tip). Returns the number
 * of scripts checked.
 */
export async function assertIndexAgrees(db: string, truth: CoreTruth, opts: {mempool?: MempoolTruth; absent?: string[]} = {}): Promise<number> {
  const pool = opts.mempool
  const poolOf = new Map((pool?.scripts ?? []).map((s) => [s.script, s]))
  // scripts only the mempool pays are asked about too, and scripts the caller knows Core's chain lacks
  const scripts = [...new Set([...truth.scripts.map((s) => s.script), ...poolOf.keys(), ...(opts.absent ?? [])])].sort()
  const chainOf = new Map(truth.scripts.map((s) => [s.script, s]))
  const reports = await bixReports(db, scripts)
  const none: TxoStats = {funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0, tx_count: 0}
  scripts.forEach((script, i) => {
    const report = reports[i]
    const chain = chainOf.get(script)
    const mem = poolOf.get(script)
    const what = `script ${script}`
    assert.deepEqual(report.freshness.index, {height: truth.tip.height, hash: truth.tip.hash}, `index tip in the answer for ${what}`)
    assert.deepEqual(report.chain_stats, chain?.chain_stats ?? none, `chain_stats of ${what}`)
    const confirmedHistory = (report.history ?? []).filter((h) => h.height !== null).map(({txid, height, value_change}) => ({txid, height, value_change}))
    assert.deepEqual(confirmedHistory, chain?.history ?? [], `confirmed history of ${what}`)
    const utxoSum = (chain?.utxos ?? []).reduce((sum, u) => sum + u.value, 0)
    assert.equal(report.balance.confirmed, utxoSum, `confirmed balance of ${what} (Core's UTXOs)`)
    assert.deepEqual(
      report.first_activity && {txid: report.first_activity.txid, height: report.first_activity.height},
      chain ? chain.first_activity : mem ? {txid: mem.history.at(-1)!.txid, height: null} : null,
      `first activity of ${what}`,
    )
    if (!pool) {
      assert.deepEqual([...(report.utxos ?? [])].sort(byOutpoint), chain?.utxos ?? [], `UTXOs of ${what}`)
      assert.deepEqual(report.last_activity && {txid: report.last_activity.txid, height: report.last_activity.height}, chain ? chain.last_activity : null, `last activity of ${what}`)
      return
    }
    assert.equal(report.freshness.mempool.used, true, `mempool snapshot used for ${what}`)
    assert.deepEqual(report.mempool_stats, mem?.mempool_stats ?? none, `mempool_stats of ${what}`)
    const unconfirmed = (report.history ?? []).filter((h) => h.height === null).map(({txid, height, value_change}) => ({txid, height, value_change}))
    assert.deepEqual(unconfirmed, mem?.history ?? [], `unconfirmed history of ${what}`)
    const unconfirmedSum = mem ? mem.mempool_stats.funded_txo_sum - mem.mempool_stats.spent_txo_sum : 0
    assert.deepEqual(report.balance, {confirmed: utxoSum, unconfirmed: unconfirmedSum, total: utxoSum + unconfirmedSum}, `balance of ${what}`)
    assert.deepEqual([...(report.pending_spends ?? [])].sort(byOutpoint), mem?.pending_spends ?? [], `pending spends of ${what}`)
    const utxos = mem?.utxos ?? chain?.utxos ?? []
    assert.deepEqual([...(report.utxos ?? [])].sort(byOutpoint), utxos, `UTXOs of ${what}, the mempool's included`)
    assert.ok(!(report.utxos ?? []).some((u) => (mem?.pending_spends ?? []).some((p) => key(p) === key(u))), `a pending spend listed as spendable for ${what}`)
    const last = mem ? {txid: mem.history[0].txid, height: null} : chain ? chain.last_activity : null
    assert.deepEqual(report.last_activity && {txid: report.last_activity.txid, height: report.last_activity.height}, last, `last activity of ${what}`)
  })
  return scripts.length
}

/**
 * Asserts a node's answers (the simulator's, or a later Core's) equal a recording of Core's. The
 * mempool's unconfirmed history is compared as a set: its order follows when each node first saw
 * each transaction.
 */
export function assertSameTruth(live: CoreTruth, recorded: CoreTruth, mempool?: {live: MempoolTruth; recorded: MempoolTruth}): void {
  assert.deepEqual(live, recorded, 'the node\'s account of the chain is not the recorded Core\'s')
  if (!mempool) return
  const unordered = (m: MempoolTruth) => ({...m, scripts: m.scripts.map((s) => ({...s, history: [...s.history].sort((a, b) => (a.txid < b.txid ? -1 : 1))}))})
  assert.deepEqual(unordered(mempool.live), unordered(mempool.recorded), 'the node\'s account of its mempool is not the recorded Core\'s')
}

/** Reads Core's truth from the node and asserts the index agrees with it on every output script; returns how many. */
export async function assertIndexAgreesWithCore(db: string, node: RpcNode): Promise<number> {
  return assertIndexAgrees(db, await coreTruth(node))
}
