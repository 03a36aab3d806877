import {fromDisplayHex, toDisplayHex} from '../chain/hashes.js'
import {isProvablyUnspendable} from '../chain/script.js'
import {BixError, badInput} from '../errors.js'
import type {AddressReads, IndexStore, MempoolActivity, MempoolSnapshotInfo, OutputRef, TxChange, UnspentOutput} from '../store/index-store.js'
import {refuseWhileBuilding} from '../store/first-run.js'
import type {QueryTarget} from './targets.js'

/**
 * `bix query address` as a library call: one script's balance, statistics,
 * history and UTXOs, confirmed (from the index) and unconfirmed (from the
 * mempool snapshot, when it matches the index's tip). The shape follows
 * Esplora's /address and /scripthash answers; amounts are integer satoshis.
 */

export interface TxoStats {
  funded_txo_count: number
  funded_txo_sum: number
  spent_txo_count: number
  spent_txo_sum: number
  tx_count: number
}

export interface HistoryEntry {
  txid: string
  /** null while unconfirmed */
  height: number | null
  /** block time; for an unconfirmed transaction, when the node first saw it */
  time: number
  /** satoshis the transaction paid to the script minus what it spent from it */
  value_change: number
}

export interface Utxo {
  txid: string
  vout: number
  value: number
  /** null for an output of an unconfirmed transaction */
  height: number | null
}

/** An output of the script that an unconfirmed transaction spends: gone once that transaction confirms. */
export interface PendingSpend extends Utxo {
  spent_by: string
}

export interface Activity {
  txid: string
  height: number | null
  time: number
}

export interface Freshness {
  /** the index tip the answer reflects */
  index: {height: number; hash: string} | null
  mempool: {
    /** unix seconds of the last sync; null: never synced */
    synced_at: number | null
    /** seconds since then */
    age_seconds: number | null
    /** false when there is no snapshot, or it was taken at another index tip (bix sync-mempool refreshes it) */
    used: boolean
  }
}

export interface AddressReport {
  address: string | null
  scripthash: string
  script: string | null
  chain_stats: TxoStats
  mempool_stats: TxoStats
  balance: {confirmed: number; unconfirmed: number; total: number}
  first_activity: Activity | null
  last_activity: Activity | null
  utxos?: Utxo[]
  pending_spends?: PendingSpend[]
  history?: HistoryEntry[]
  /** what the next page starts after (--after), when --limit cut a list short */
  next_after?: {history?: string; utxos?: string}
  freshness: Freshness
}

export interface ReportOptions {
  utxos: boolean
  history: boolean
  /** entries per list; 0 for all */
  limit: number
  /** a txid (pages history) or txid:vout (pages UTXOs) */
  after?: string
  /** unix seconds, for the snapshot's age */
  now: number
  /** one reader for all the targets of a read snapshot, so that its statements are prepared once (default: a new one) */
  reader?: AddressReads
}

export function addressReport(db: IndexStore, target: QueryTarget, options: ReportOptions): AddressReport {
  refuseWhileBuilding(db)
  const tip = db.tip()
  const reader = options.reader ?? db.addressReader()
  const snapshot = db.mempoolInfo()
  const mempoolUsed = mempoolSnapshotIsCurrent(snapshot, tip?.hash)
  const pool = mempoolView(reader, mempoolUsed ? db.mempoolActivity(target.scriptKey) : undefined)
  // Core never puts an OP_RETURN output in its UTXO set: it is counted as funded, never as unspent
  // (a --scripthash target does not say its script, so this needs --script)
  const unspendable = target.script !== null && isProvablyUnspendable(Buffer.from(target.script, 'hex'))
  if (unspendable) pool.utxos = []

  const {firstTxNum, lastTxNum, ...chain} = reader.chainActivity(target.scriptKey)
  const confirmed = unspendable ? 0 : chain.funded_txo_sum - chain.spent_txo_sum
  const unconfirmed = unspendable ? 0 : pool.stats.funded_txo_sum - pool.stats.spent_txo_sum
  const confirmedEntry = (change: TxChange): HistoryEntry => {
    const block = reader.blockOf(change.txNum)
    return {txid: toDisplayHex(reader.txidOf(change.txNum)), height: block.height, time: block.time, value_change: change.delta}
  }
  const entryOf = (txNum: number) => confirmedEntry({txNum, delta: 0})
  const inHistory = (txNum: number) => reader.history(target.scriptKey, txNum + 1, 1).some((c) => c.txNum === txNum)
  const report: AddressReport = {
    address: target.address,
    scripthash: target.scripthash,
    script: target.script,
    chain_stats: chain,
    mempool_stats: pool.stats,
    balance: {confirmed, unconfirmed, total: confirmed + unconfirmed},
    first_activity: firstTxNum !== undefined ? activity(entryOf(firstTxNum)) : pool.history.length > 0 ? activity(pool.history.at(-1)!) : null,
    last_activity: pool.history.length > 0 ? activity(pool.history[0]) : lastTxNum !== undefined ? activity(entryOf(lastTxNum)) : null,
    freshness: {
      index: tip ? {height: tip.height, hash: toDisplayHex(tip.hash)} : null,
      mempool: {
        synced_at: snapshot.syncedAt,
        age_seconds: snapshot.syncedAt === null ? null : Math.max(0, options.now - snapshot.syncedAt),
        used: mempoolUsed,
      },
    },
  }

  const after = parseAfter(options.after)
  const limit = options.limit > 0 ? options.limit : Number.POSITIVE_INFINITY
  if (options.history) {
    // newest first: unconfirmed (latest seen first), then confirmed by their place in the chain
    let unconfirmedFrom = 0
    let confirmedBefore: number | undefined
    if (after?.kind === 'txid') {
      const at = pool.history.findIndex((h) => h.txid === after.txid)
      if (at >= 0) unconfirmedFrom = at + 1
      else {
        // a txid that two transactions share (BIP30) names the older one: a page never ends between them (below)
        confirmedBefore = reader.txNumsOf(fromDisplayHex(after.txid)).find(inHistory)
        if (confirmedBefore === undefined) throw badInput(`--after ${after.txid}: not a transaction of this address's history`)
        unconfirmedFrom = pool.history.length
      }
    }
    const page = pool.history.slice(unconfirmedFrom, unconfirmedFrom + limit)
    const room = limit - page.length
    // one more than fits says whether there is a next page
    const older = room > 0 ? reader.history(target.scriptKey, confirmedBefore, Number.isFinite(room) ? room + 1 : 0) : []
    const confirmedPage = older.slice(0, room)
    let olderLeft = older.length > room
    // a page ending on the later of two transactions sharing a txid takes in the earlier one too, so that --after can name where it ends
    const last = confirmedPage.at(-1)
    const twin = last && reader.txNumsOf(reader.txidOf(last.txNum)).find((txNum) => txNum < last.txNum && inHistory(txNum))
    if (last && twin !== undefined) {
      confirmedPage.push(...reader.history(target.scriptKey, last.txNum, 0).filter((c) => c.txNum >= twin))
      olderLeft = reader.history(target.scriptKey, twin, 1).length > 0
    }
    page.push(...confirmedPage.map(confirmedEntry))
    report.history = page
    const more = unconfirmedFrom + page.length < pool.history.length || olderLeft || (room <= 0 && lastTxNum !== undefined)
    if (more && page.length > 0) report.next_after = {...report.next_after, history: page.at(-1)!.txid}
  }

  if (options.utxos) {
    let unconfirmedFrom = 0
    let confirmedBefore: OutputRef | undefined
    if (after?.kind === 'outpoint') {
      const at = pool.utxos.findIndex((u) => u.txid === after.txid && u.vout === after.vout)
      if (at >= 0) unconfirmedFrom = at + 1
      else {
        const txNum = reader.txNumOf(fromDisplayHex(after.txid))
        const out = txNum === undefined ? undefined : reader.output(txNum, after.vout)
        if (txNum === undefined || !out || out.spentBy !== null || !out.scriptKey.equals(target.scriptKey)) {
          throw badInput(`--after ${after.txid}:${after.vout}: not an unspent output of this address`)
        }
        confirmedBefore = {txNum, vout: after.vout}
        unconfirmedFrom = pool.utxos.length
      }
    }
    const page = pool.utxos.slice(unconfirmedFrom, unconfirmedFrom + limit)
    let room = limit - page.length
    let before = confirmedBefore
    let more = unconfirmedFrom + page.length < pool.utxos.length
    // confirmed outputs a mempool transaction spends are left out of the page (they are pending_spends): read on past them
    // also when the unconfirmed outputs filled the page: one more confirmed output says there is a next page
    while (room >= 0 && !unspendable) {
      const want = Number.isFinite(room) ? room + 1 : 0
      const rows = reader.unspent(target.scriptKey, before, want)
      for (const row of rows) {
        if (pool.spentConfirmed.has(refKey(row))) continue
        if (room === 0) {
          more = true
          break
        }
        page.push(confirmedUtxo(reader, row))
        room--
      }
      if (want === 0 || rows.length < want || more) break
      before = rows.at(-1)!
    }
    report.utxos = page
    report.pending_spends = pool.pending.map((p) => ('txNum' in p ? {...confirmedUtxo(reader, p), spent_by: p.spentBy} : p))
    if (more && page.length > 0) {
      const last = page.at(-1)!
      report.next_after = {...report.next_after, utxos: `${last.txid}:${last.vout}`}
    }
  }
  return report
}

const activity = (entry: HistoryEntry): Activity => ({txid: entry.txid, height: entry.height, time: entry.time})

function confirmedUtxo(reader: AddressReads, row: UnspentOutput): Utxo {
  return {txid: toDisplayHex(reader.txidOf(row.txNum)), vout: row.vout, value: row.value, height: reader.blockOf(row.txNum).height}
}

const refKey = (ref: OutputRef) => `${ref.txNum}:${ref.vout}`

/** True when the snapshot was completed against the index's current tip: on another tip, some of its transactions may be confirmed or conflicted. */
function mempoolSnapshotIsCurrent(info: MempoolSnapshotInfo, indexTipHash: Buffer | undefined): boolean {
  return info.syncedAt !== null && indexTipHash !== undefined && info.tipHash === toDisplayHex(indexTipHash)
}

type After = {kind: 'txid'; txid: string} | {kind: 'outpoint'; txid: string; vout: number}

function parseAfter(text: string | undefined): After | undefined {
  if (text === undefined) return undefined
  const match = /^([0-9a-fA-F]{64})(?::(\d{1,7}))?$/.exec(text)
  if (!match) throw badInput(`--after ${text}: expected a txid (64 hex digits) or txid:vout`)
  const txid = match[1].toLowerCase()
  return match[2] === undefined ? {kind: 'txid', txid} : {kind: 'outpoint', txid, vout: Number(match[2])}
}

/** The script's unconfirmed side, from the mempool snapshot (or nothing when it is not used). */
interface MempoolView {
  stats: TxoStats
  /** newest first */
  history: HistoryEntry[]
  /** outputs of mempool transactions no other one spends, newest first */
  utxos: Utxo[]
  /** confirmed output (refKey) → the mempool transaction spending it */
  spentConfirmed: Map<string, string>
  /** the script's outputs a mempool transaction spends: unconfirmed ones described, confirmed ones by (tx_num, vout) */
  pending: Array<PendingSpend | (UnspentOutput & {spentBy: string})>
}

function mempoolView(reader: AddressReads, activity: MempoolActivity | undefined): MempoolView {
  const stats: TxoStats = {funded_txo_count: 0, funded_txo_sum: 0, spent_txo_count: 0, spent_txo_sum: 0, tx_count: 0}
  const view: MempoolView = {stats, history: [], utxos: [], spentConfirmed: new Map(), pending: []}
  if (!activity) return view
  const txs = new Map<string, HistoryEntry>()
  const touch = (txid: Buffer, delta: number) => {
    const key = toDisplayHex(txid)
    const entry = txs.get(key)
    if (entry) entry.value_change += delta
    else txs.set(key, {txid: key, height: null, time: activity.firstSeen.get(key) ?? 0, value_change: delta})
  }
  const spentUnconfirmed = new Map<string, string>()
  for (const spend of activity.spends) {
    stats.spent_txo_count++
    stats.spent_txo_sum += spend.value
    touch(spend.txid, -spend.value)
    const spender = toDisplayHex(spend.txid)
    const txNum = reader.txNumOf(spend.prevTxid)
    if (txNum === undefined) spentUnconfirmed.set(`${toDisplayHex(spend.prevTxid)}:${spend.prevVout}`, spender)
    else {
      const ref = {txNum, vout: spend.prevVout}
      view.spentConfirmed.set(refKey(ref), spender)
      view.pending.push({...ref, value: spend.value, spentBy: spender})
    }
  }
  for (const out of activity.outputs) {
    stats.funded_txo_count++
    stats.funded_txo_sum += out.value
    touch(out.txid, out.value)
  }
  stats.tx_count = txs.size
  view.history = [...txs.values()].sort((a, b) => b.time - a.time || (a.txid < b.txid ? -1 : 1))
  const seen = (txid: string) => activity.firstSeen.get(txid) ?? 0
  for (const out of activity.outputs) {
    const utxo: Utxo = {txid: toDisplayHex(out.txid), vout: out.vout, value: out.value, height: null}
    const spender = spentUnconfirmed.get(`${utxo.txid}:${utxo.vout}`)
    if (spender) view.pending.push({...utxo, spent_by: spender})
    else view.utxos.push(utxo)
  }
  view.utxos.sort((a, b) => seen(b.txid) - seen(a.txid) || (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : a.vout - b.vout))
  return view
}
