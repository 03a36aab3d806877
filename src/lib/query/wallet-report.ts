import type {DescriptorChain} from '../chain/descriptor.js'
import {fromDisplayHex} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import type {AddressReads, IndexStore} from '../store/index-store.js'
import {type Freshness, type HistoryEntry, type PendingSpend, type Utxo, addressReport} from './address-report.js'
import {scriptTarget} from './targets.js'

/**
 * `bix query descriptor` as a library call: what a wallet made of output
 * descriptors owns, found as wallets find it — each ranged chain is derived
 * from index 0 until `gap` consecutive scripts have no activity — with one
 * balance, one UTXO list and one history over all of its scripts. A
 * transaction's value change is summed over the wallet's scripts, so a
 * payment between two of its own addresses shows as minus the fee.
 */

/** Where a script of the wallet comes from: which descriptor, which branch of it, which index. */
export interface Derivation {
  /** position of the descriptor among those given */
  descriptor: number
  /** multipath element (0 receive, 1 change by convention); null for a descriptor without one */
  branch: number | null
  /** null for a descriptor that is one script */
  index: number | null
}

export interface WalletAddress extends Derivation {
  /** null for a script with no address form */
  address: string | null
  script: string
  scripthash: string
  balance: {confirmed: number; unconfirmed: number; total: number}
  tx_count: number
}

export interface WalletReport {
  descriptors: string[]
  gap: number
  /** how many scripts were derived and looked up */
  scripts_checked: number
  balance: {confirmed: number; unconfirmed: number; total: number}
  /** transactions touching any of the wallet's scripts, each counted once */
  tx_count: number
  /** the scripts with any activity, confirmed or in the mempool snapshot */
  addresses: WalletAddress[]
  /** newest first */
  utxos?: Array<Utxo & Derivation & {address: string | null}>
  pending_spends?: Array<PendingSpend & Derivation & {address: string | null}>
  /** newest first: unconfirmed (latest seen first), then by place in the chain */
  history?: HistoryEntry[]
  /** true when --limit left entries out of utxos or history */
  truncated?: boolean
  freshness: Freshness
}

export interface WalletOptions {
  gap: number
  utxos: boolean
  history: boolean
  /** entries per list; 0 for all */
  limit: number
  now: number
  network: NetworkName
  /** checked between scripts, so that Ctrl-C ends a long derivation */
  signal?: AbortSignal
}

/** One descriptor as given and the chains it derives (descriptorChains). */
export interface WalletDescriptor {
  text: string
  chains: DescriptorChain[]
}

export function walletReport(db: IndexStore, wallet: WalletDescriptor[], options: WalletOptions): WalletReport {
  const addresses: WalletAddress[] = []
  const utxos: NonNullable<WalletReport['utxos']> = []
  const pending: NonNullable<WalletReport['pending_spends']> = []
  const txs = new Map<string, HistoryEntry>()
  const balance = {confirmed: 0, unconfirmed: 0, total: 0}
  let freshness: Freshness | undefined
  let checked = 0
  const reader = db.addressReader()

  // a script two descriptors share (the same key given twice) counts once
  const seen = new Set<string>()
  const look = (script: Buffer, where: Derivation): boolean => {
    options.signal?.throwIfAborted()
    checked++
    const report = addressReport(db, scriptTarget(script.toString('hex'), options.network), {utxos: true, history: true, limit: 0, now: options.now, reader})
    freshness ??= report.freshness
    const txCount = report.chain_stats.tx_count + report.mempool_stats.tx_count
    if (txCount === 0) return false
    if (seen.has(report.scripthash)) return true
    seen.add(report.scripthash)
    addresses.push({...where, address: report.address, script: report.script!, scripthash: report.scripthash, balance: report.balance, tx_count: txCount})
    balance.confirmed += report.balance.confirmed
    balance.unconfirmed += report.balance.unconfirmed
    balance.total += report.balance.total
    for (const u of report.utxos ?? []) utxos.push({...u, ...where, address: report.address})
    for (const p of report.pending_spends ?? []) pending.push({...p, ...where, address: report.address})
    for (const h of report.history ?? []) {
      const entry = txs.get(h.txid)
      if (entry) entry.value_change += h.value_change
      else txs.set(h.txid, {...h})
    }
    return true
  }

  wallet.forEach((d, descriptor) => {
    for (const chain of d.chains) {
      if (!chain.ranged) {
        look(chain.scriptAt(0), {descriptor, branch: chain.branch, index: null})
        continue
      }
      for (let index = 0, unused = 0; unused < options.gap; index++) {
        unused = look(chain.scriptAt(index), {descriptor, branch: chain.branch, index}) ? 0 : unused + 1
      }
    }
  })

  const history = newestFirst([...txs.values()], reader)
  utxos.sort((a, b) => newer(a, b) || (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : a.vout - b.vout))
  const limit = options.limit > 0 ? options.limit : Number.POSITIVE_INFINITY
  const report: WalletReport = {
    descriptors: wallet.map((d) => d.text),
    gap: options.gap,
    scripts_checked: checked,
    balance,
    tx_count: txs.size,
    addresses,
    // a wallet without descriptors is refused before this; an index with no scripts still has a tip to name
    freshness: freshness!,
  }
  if (options.utxos) {
    report.utxos = utxos.slice(0, limit)
    report.pending_spends = pending
  }
  if (options.history) report.history = history.slice(0, limit)
  if ((options.utxos && utxos.length > limit) || (options.history && history.length > limit)) report.truncated = true
  return report
}

/** Unconfirmed first (by when first seen, latest first), then confirmed by height and place in the block, latest first. */
function newestFirst(entries: HistoryEntry[], reader: AddressReads): HistoryEntry[] {
  const place = new Map<string, number>()
  for (const e of entries) if (e.height !== null) place.set(e.txid, reader.txNumOf(fromDisplayHex(e.txid)) ?? 0)
  return entries.sort((a, b) => {
    if (a.height === null || b.height === null) return a.height === null && b.height === null ? b.time - a.time || (a.txid < b.txid ? -1 : 1) : a.height === null ? -1 : 1
    return place.get(b.txid)! - place.get(a.txid)!
  })
}

/** UTXOs: unconfirmed first, then by height, latest first. */
function newer(a: {height: number | null}, b: {height: number | null}): number {
  if (a.height === b.height) return 0
  if (a.height === null) return -1
  if (b.height === null) return 1
  return b.height - a.height
}
