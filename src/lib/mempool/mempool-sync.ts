
import {fromDisplayHex, toDisplayHex} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import {BixError, isBixError} from '../errors.js'
import {type IndexNodeOptions, type IndexRunSummary, indexNode} from '../index/index-node.js'
import {getBestBlockHash, getBlockchainInfo, getRawMempool} from '../node/node-api.js'
import {checkNode} from '../node/preflight.js'
import type {NodeClient} from '../node/types.js'
import type {IndexStore, MempoolWrites, WriterLock} from '../store/index-store.js'
import {acquireWriterLock, openStore, storeExists, storeLabel} from '../store/open-store.js'
import {type FetchedEntry, fetchMempoolTxs, waitForLoadedMempool} from './mempool-rpc.js'
import {Staging} from './staging.js'

/**
 * `bix sync-mempool` as a library call: make the index's copy of the
 * mempool equal to the node's, on the index's tip.
 *
 * The snapshot is only meaningful against one chain tip, so the index must
 * be at the node's tip before (IndexBehind otherwise, or --index brings it
 * there) and the node must still be there after: a block found meanwhile
 * may have confirmed transactions after the listing, which then are
 * neither in the index nor in the snapshot. A sync that sees the tip move
 * does not complete; with --index it indexes the new block and goes again.
 *
 * Only the difference is fetched: the node's txids against the stored
 * ones, then the new transactions in batches (getmempoolentry +
 * getrawtransaction), a few batches in flight, staged parents before
 * children and written in transactions of `commitTxs`. A small change is
 * one transaction: the old snapshot or the new one. A big one (a first
 * sync of 300,000) is written as it arrives and marked incomplete until its
 * last transaction; the next run repairs an incomplete one by the same diff.
 */

export interface SyncMempoolOptions {
  client: NodeClient
  network: NetworkName
  dbPath: string
  /** bring the index to the node's tip first, and again when the tip moves during the sync (bix sync-mempool --index) */
  index?: Pick<IndexNodeOptions, 'blocksDir' | 'source' | 'maxMemoryBytes' | 'parallelism'>
  /** batches of transactions fetched at once (the client's connections) */
  parallelism: number
  waitLock: boolean
  signal: AbortSignal
  /** transactions per getmempoolentry + getrawtransaction batch (default 250) */
  fetchBatch?: number
  /** transactions per write transaction (default 10,000) */
  commitTxs?: number
  events?: SyncMempoolEvents
}

export interface SyncMempoolEvents {
  onWaitLoaded?(): void
  onWaitLock?(holder: string): void
  /** the index is not at the node's tip, or the tip moved during the sync; --index runs bix index now */
  onIndexing?(why: string): void
  onIndexed?(summary: IndexRunSummary): void
  /** how many new transactions there are to fetch */
  onFetchStart?(total: number): void
  onFetchProgress?(done: number, total: number): void
}

export interface ChainTipRef {
  height: number
  /** display hex */
  hash: string
}

/** The --json output of bix sync-mempool. */
export interface MempoolSyncResult {
  network: NetworkName
  database: string
  /** transactions written to the snapshot */
  added: number
  /** transactions that had left the node's mempool (confirmed, replaced, evicted, expired) */
  removed: number
  /** listed by the node, but gone before they could be fetched (with what spent them) */
  vanished: number
  /** transactions in the snapshot now: the node's mempool */
  total: number
  /** the tip the snapshot was taken on: the index's and the node's */
  tip: ChainTipRef
  /** unix seconds */
  syncedAt: number
  /** with --index: blocks indexed first (and after each move of the tip) */
  indexedBlocks: number
  /** syncs tried: more than 1 when the tip moved and --index went again */
  attempts: number
  elapsedMs: number
}

export const DEFAULT_FETCH_BATCH = 250
const DEFAULT_COMMIT_TXS = 10_000
/**
 * SQLite's page cache: a fixed size, so memory stays flat however big the
 * mempool (the lookups of spent outputs are scattered over the whole index
 * and go to the disk whatever the cache).
 */
const CACHE_BYTES = 64 * 1024 * 1024
/** with --index, how often the tip may move during a sync before giving up */
const MAX_ATTEMPTS = 5

type Attempt =
  | {kind: 'done'; added: number; removed: number; vanished: number; total: number; tip: ChainTipRef; syncedAt: number}
  | {kind: 'behind'; index?: ChainTipRef; node: ChainTipRef; building: boolean}
  | {kind: 'moved'; from: ChainTipRef; to: string}

export async function syncMempool(o: SyncMempoolOptions): Promise<MempoolSyncResult> {
  const started = performance.now()
  const {client, network, signal} = o
  await checkNode(client, {network, call: {signal}})
  await waitForLoadedMempool(client, {signal, onWaiting: () => o.events?.onWaitLoaded?.()})
  if (!o.index && !storeExists(o.dbPath)) {
    throw new BixError('DatabaseError', `no index at ${o.dbPath}; run bix index first, or bix sync-mempool --index`)
  }
  const lock = await acquireWriterLock(o.dbPath, {command: 'sync-mempool', wait: o.waitLock, signal, onWait: (holder) => o.events?.onWaitLock?.(`pid ${holder.pid}`)})
  try {
    let indexedBlocks = 0
    for (let attempts = 1; ; attempts++) {
      const db = openStore(o.dbPath, {network, mode: 'write', maxMemoryBytes: CACHE_BYTES})
      let outcome: Attempt
      try {
        outcome = await syncOnce(db, o)
      } finally {
        db.close()
      }
      if (outcome.kind === 'done') {
        const {kind: _, ...counts} = outcome
        return {network, database: storeLabel(o.dbPath), ...counts, indexedBlocks, attempts, elapsedMs: Math.round(performance.now() - started)}
      }
      const why = whyNotSynced(outcome)
      if (!o.index) throw new BixError('IndexBehind', `${why}; run bix index first, or bix sync-mempool --index`)
      if (attempts >= MAX_ATTEMPTS) throw new BixError('IndexBehind', `${why}, for the ${attempts}th time; the node's chain is not settling, try again later`)
      o.events?.onIndexing?.(why)
      const summary = await indexWith(o, lock)
      indexedBlocks += summary.blocks
      o.events?.onIndexed?.(summary)
    }
  } finally {
    lock.release()
  }
}

function indexWith(o: SyncMempoolOptions, lock: WriterLock): Promise<IndexRunSummary> {
  return indexNode({...o.index!, client: o.client, network: o.network, dbPath: o.dbPath, waitLock: false, heldLock: lock, signal: o.signal})
}

function whyNotSynced(outcome: Exclude<Attempt, {kind: 'done'}>): string {
  const at = (tip: ChainTipRef) => `height ${tip.height} (${tip.hash})`
  if (outcome.kind === 'moved') return `the node's tip moved from ${at(outcome.from)} to ${outcome.to} during the mempool sync, which was not completed`
  const index = outcome.index ? `at ${at(outcome.index)}` : 'empty'
  if (outcome.building && outcome.index?.hash === outcome.node.hash) return `the index's first bix index run, ${index}, has not finished`
  return `the index is ${index}, not at the node's tip, ${at(outcome.node)}`
}

async function syncOnce(db: IndexStore, o: SyncMempoolOptions): Promise<Attempt> {
  const {client, signal} = o
  const writer = db.mempoolWriter()
  const indexTip = db.tip()
  // seen after the lock is held and before the listing: the index cannot move now, the node can
  const tip = await nodeTip(client, signal)
  // an unfinished first run cannot resolve the mempool's inputs yet (txid_keys is built at its end): bix index finishes it
  if (!indexTip || toDisplayHex(indexTip.hash) !== tip.hash || db.building()) {
    return {kind: 'behind', index: indexTip && {height: indexTip.height, hash: toDisplayHex(indexTip.hash)}, node: tip, building: db.building()}
  }

  const listed = await getRawMempool(client, {signal})
  const {remove, toFetch, kept} = diff(writer, listed)
  const staging = new Staging(toFetch, (txid, vout) => writer.output(txid, vout))
  let unwrittenRemovals: Buffer[] = remove
  let wroteAny = false
  const write = (complete?: {syncedAt: number; tipHash: string}) => {
    writer.apply({remove: unwrittenRemovals, add: staging.take(), complete})
    unwrittenRemovals = []
    wroteAny = true
  }

  const commitTxs = o.commitTxs ?? DEFAULT_COMMIT_TXS
  o.events?.onFetchStart?.(toFetch.length)
  let fetched = 0
  try {
    for await (const entries of fetchInOrder(toFetch, o.fetchBatch ?? DEFAULT_FETCH_BATCH, o.parallelism, (txids) => fetchMempoolTxs(client, txids, {signal}))) {
      for (const entry of entries) staging.add(entry)
      fetched += entries.length
      o.events?.onFetchProgress?.(fetched, toFetch.length)
      if (staging.readyCount >= commitTxs) write()
    }
  } catch (err) {
    throw interrupted(err, () => {
      // a snapshot already marked incomplete keeps what was fetched; a complete one is left as it was
      if (wroteAny) write()
      return wroteAny
    })
  }

  const after = await getBestBlockHash(client, {signal})
  if (after !== tip.hash) {
    if (wroteAny) write()
    return {kind: 'moved', from: tip, to: after}
  }
  if (staging.unresolved > 0) {
    const first = staging.firstUnresolved!
    throw new BixError(
      'DatabaseError',
      `mempool transaction ${first.txid} spends ${first.prevout}, which is neither in the index nor in the mempool` +
        (staging.unresolved > 1 ? ` (and ${staging.unresolved - 1} more like it)` : '') +
        `; the index at height ${tip.height} is incomplete or damaged`,
    )
  }
  const added = staging.staged
  const syncedAt = Math.floor(Date.now() / 1000)
  write({syncedAt, tipHash: tip.hash})
  return {kind: 'done', added, removed: remove.length, vanished: staging.vanished, total: kept + added, tip, syncedAt}
}

async function nodeTip(client: NodeClient, signal: AbortSignal): Promise<ChainTipRef> {
  const chain = await getBlockchainInfo(client, {signal})
  return {height: chain.blocks, hash: chain.bestBlockHash}
}

/** What to remove (stored, no longer listed) and what to fetch (listed, not stored), in the node's order. */
function diff(writer: MempoolWrites, listed: readonly string[]): {remove: Buffer[]; toFetch: string[]; kept: number} {
  const stored = new Set<string>()
  for (const txid of writer.txids()) stored.add(toDisplayHex(txid))
  const toFetch: string[] = []
  for (const txid of listed) {
    // marking the stored ones that are still listed leaves the removed ones in `stored`
    if (!stored.delete(txid)) toFetch.push(txid)
  }
  const remove = [...stored].map(fromDisplayHex)
  return {remove, toFetch, kept: listed.length - toFetch.length}
}

/**
 * Batches of `size` txids fetched `concurrency` at a time, answers handed
 * out in listing order so parents (which Core lists first) mostly arrive
 * before their children.
 */
async function* fetchInOrder(
  txids: readonly string[],
  size: number,
  concurrency: number,
  fetch: (txids: readonly string[]) => Promise<FetchedEntry[]>,
): AsyncGenerator<FetchedEntry[]> {
  const inFlight: Array<Promise<FetchedEntry[]>> = []
  let next = 0
  const launch = () => {
    const promise = fetch(txids.slice(next, next + size))
    // a batch still in flight when an earlier one fails must not become an unhandled rejection
    promise.catch(() => {})
    inFlight.push(promise)
    next += size
  }
  while (next < txids.length && inFlight.length < concurrency) launch()
  while (inFlight.length > 0) {
    const entries = await inFlight.shift()!
    if (next < txids.length) launch()
    yield entries
  }
}

/** Ctrl-C during the fetch: `save` writes what it can; the message says where the snapshot stands. */
function interrupted(err: unknown, save: () => boolean): unknown {
  if (!isBixError(err) || err.kind !== 'Interrupted') return err
  const kept = save()
  const where = kept ? 'the mempool snapshot is incomplete; run bix sync-mempool again to finish it' : 'the mempool snapshot was left as it was'
  return new BixError(err.kind, `${err.message}: ${where}`, {exitCode: err.exitCode})
}
