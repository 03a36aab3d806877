import {NETWORKS, type NetworkName} from '../chain/networks.js'
import {fromDisplayHex} from '../chain/hashes.js'
import {checkNode} from '../node/preflight.js'
import type {NodeClient} from '../node/types.js'
import {BlkBlockSource, type BlkStats} from '../sources/blk-source.js'
import type {SourceKind} from '../sources/block-source.js'
import {type SourceChoice, chooseSource} from '../sources/choose-source.js'
import type {WriterLock} from '../store/index-store.js'
import {acquireWriterLock, openStore} from '../store/open-store.js'
import {type NodeChain, RestNodeChain, RpcNodeChain} from './node-chain.js'
import {type IndexProgress, type IndexRunResult, type Reorg, runIndex} from './indexer.js'
import {InlineDecoder, WorkerDecoder} from './decoder.js'
import {Speed} from './speed.js'

/**
 * `bix index` as a library call: check the node, take the writer lock, open
 * the database, pick a block source, run the indexer and sum up. Everything a
 * user sees goes through `events`; nothing here prints.
 */

export interface IndexNodeOptions {
  client: NodeClient
  network: NetworkName
  dbPath: string
  blocksDir: string
  source: SourceChoice
  toHeight?: number
  maxMemoryBytes: number
  /** blocks fetched at once over HTTP (the client's connections) */
  parallelism: number
  waitLock: boolean
  /** the writer lock, already held by the caller (bix sync-mempool --index): indexNode neither takes nor releases it */
  heldLock?: WriterLock
  /** blocks per write transaction (default: by memory and block size) */
  batchBlocks?: number
  /** decode blocks on a worker thread while the main thread writes (default true) */
  decodeOnWorker?: boolean
  signal: AbortSignal
  events?: IndexNodeEvents
}

export interface SpeedNow {
  blocksPerSecond: number
  transactionsPerSecond: number
  etaMs?: number
}

export interface IndexNodeEvents {
  onSource?(kind: SourceKind, reason: string): void
  onWaitLock?(holder: string): void
  onReorg?(reorg: Reorg): void
  onProgress?(progress: IndexProgress, speed: SpeedNow): void
  /** a block's bytes did not decode (damaged on the way, or read from a file half written) and it is asked for again */
  onRefetch?(height: number, reason: string): void
  /** the first run has loaded its blocks and now sorts what it left to its end: txid_keys, the old spends, the script index (minutes on mainnet) */
  onFinishingFirstRun?(): void
  /** SQLite: the recent tables, holding this many outputs, are being merged into the main ones (a minute or more on a large index) */
  onMergingRecent?(outputs: number): void
}

/** What bix index's summary line says; its --json is this in snake_case (ui/json.ts). */
export interface IndexRunSummary extends IndexRunResult {
  network: NetworkName
  database: string
  /** bytes the index takes on disk */
  databaseBytes: number
  source: SourceKind
  sourceReason: string
  /** --source blk: how many blocks came from the files and how many from the node */
  blockFiles?: BlkStats
}

/**
 * How --max-memory is shared: SQLite's page cache, blocks fetched ahead,
 * blocks being decoded, decoded blocks waiting to be written; the rest is
 * headroom for the runtime.
 */
export const CACHE_SHARE = 0.25
const READ_AHEAD_SHARE = 0.15
const DECODE_AHEAD_SHARE = 0.1
const BATCH_SHARE = 0.2
/** what one row (txid, output or spend) of a batch costs: its columns in the decoded block, and the writer's pending arrays and Buffer views; a rough, generous figure */
const BYTES_PER_ROW = 300
/** a run at least this far behind is a long one: the store may tidy up on a thread meanwhile (WriterOptions.longRun) */
const LONG_RUN_BLOCKS = 100
/** blocks per write transaction when blocks are small (regtest, early mainnet) */
const DEFAULT_BATCH_BLOCKS = 1000
/** heights listed at a time: bounds a reorg's detection delay over HTTP; files are scanned a long window at a time */
const WINDOW_BLOCKS: Record<SourceKind, number> = {rpc: 2000, rest: 2000, blk: 50_000}

export async function indexNode(o: IndexNodeOptions): Promise<IndexRunSummary> {
  const {client, network, signal} = o
  const node = await checkNode(client, {network, requireUnpruned: true, call: {signal}})
  const lock =
    o.heldLock ??
    (await acquireWriterLock(o.dbPath, {
      command: 'index',
      wait: o.waitLock,
      signal,
      onWait: (holder) => o.events?.onWaitLock?.(`pid ${holder.pid}`),
    }))
  let summary: IndexRunSummary
  try {
    const db = openStore(o.dbPath, {network, mode: 'write', maxMemoryBytes: Math.floor(o.maxMemoryBytes * CACHE_SHARE)})
    try {
      // the first run builds the script index once at the end (see startBulkLoad); a run after a killed one goes on with it
      const resumingBulkLoad = db.building()
      const bulkLoad = resumingBulkLoad || db.tip() === undefined
      const readAhead = {concurrency: o.parallelism, maxBytes: Math.floor(o.maxMemoryBytes * READ_AHEAD_SHARE)}
      const tipHeight = db.tip()?.height ?? -1
      const blocksBehind = Math.max(0, (o.toHeight ?? node.blocks) - tipHeight)
      const chosen = await chooseSource({
        choice: o.source,
        client,
        network,
        blocksDir: o.blocksDir,
        blocksBehind,
        readAhead,
        signal,
      })
      o.events?.onSource?.(chosen.source.kind, chosen.reason)
      // a node that serves blocks over REST serves headers too: 2000 hashes a request, checked to link
      const chain: NodeChain =
        chosen.source.kind === 'rest' ? new RestNodeChain(client, fromDisplayHex(NETWORKS[network].genesisHash)) : new RpcNodeChain(client)
      const speed = new Speed()
      const onRefetch = o.events?.onRefetch
      const decoder = o.decodeOnWorker === false ? new InlineDecoder(onRefetch) : new WorkerDecoder(onRefetch)
      const writer = db.writer({longRun: bulkLoad || blocksBehind >= LONG_RUN_BLOCKS, prefetch: true, onMerge: (outputs) => o.events?.onMergingRecent?.(outputs)})
      if (bulkLoad && !resumingBulkLoad) writer.startBulkLoad()
      let result: IndexRunResult
      try {
        result = await runIndex({
          network,
          chain,
          store: {
            tip: () => db.tip(),
            blockHashes: (from, to) => db.blockHashes(from, to),
            applyBlocks: (blocks) => writer.applyBlocks(blocks),
            readAhead: (block) => writer.readAhead?.(block),
            undoAbove: (height, stale) => writer.undoAbove(height, stale),
          },
          source: chosen.source,
          decoder,
          decodeAheadBytes: decoder instanceof WorkerDecoder ? Math.floor(o.maxMemoryBytes * DECODE_AHEAD_SHARE) : 0,
          toHeight: o.toHeight,
          batch: {
            blocks: o.batchBlocks ?? DEFAULT_BATCH_BLOCKS,
            rows: Math.min(writer.maxBatchRows ?? Infinity, Math.max(10_000, Math.floor((o.maxMemoryBytes * BATCH_SHARE) / BYTES_PER_ROW))),
          },
          windowBlocks: WINDOW_BLOCKS[chosen.source.kind],
          signal,
          events: {
            onReorg: (reorg) => o.events?.onReorg?.(reorg),
            onProgress: (progress) => {
              speed.record(Date.now(), progress.blocks, progress.transactions)
              const rates = speed.rates()
              o.events?.onProgress?.(progress, {
                blocksPerSecond: rates.blocks,
                transactionsPerSecond: rates.transactions,
                etaMs: speed.etaMs(progress.targetHeight - progress.height),
              })
            },
          },
        })
      } finally {
        await decoder.close()
        await writer.close()
      }
      if (bulkLoad) {
        o.events?.onFinishingFirstRun?.()
        writer.finishBulkLoad()
      }
      summary = {
        ...result,
        network,
        database: db.location,
        databaseBytes: 0,
        source: chosen.source.kind,
        sourceReason: chosen.reason,
        blockFiles: chosen.source instanceof BlkBlockSource ? {...chosen.source.stats} : undefined,
      }
    } finally {
      db.close()
    }
    // measured once closed: closing folds SQLite's write-ahead log into the file
    summary.databaseBytes = db.sizeBytes()
  } finally {
    if (lock !== o.heldLock) lock.release()
  }
  return summary
}
