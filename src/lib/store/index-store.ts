import type {IndexedBlock} from '../chain/indexed-block.js'
import type {NetworkName} from '../chain/networks.js'
import {BixError} from '../errors.js'

/**
 * What the rest of bix knows of the index: one interface, two backends
 * (sqlite/, an embedded file, the default; postgres/, a server many hosts
 * read). Commands and the rest of lib/ open a store through open-store.ts
 * and never learn which backend they hold. Every call is synchronous:
 * SQLite is, and the PostgreSQL backend talks to its server through a
 * worker thread it waits on (postgres/connection.ts).
 *
 * Outputs are named by (tx_num, vout) out here; how a backend numbers them
 * is its own business (output-ids.ts).
 */

export type OpenMode = 'write' | 'read'
export type BackendName = 'sqlite' | 'postgres'

/** what OpenOptions.maxMemoryBytes is when not given */
export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024

export interface OpenOptions {
  /** the network the caller expects; in read mode it may be left out, and the index's own network is used */
  network?: NetworkName
  mode: OpenMode
  /** memory the backend may use for its cache (SQLite's page cache; PostgreSQL's sorts that build an index); default 256 MiB */
  maxMemoryBytes?: number
}

export interface StoredTip {
  height: number
  /** internal byte order */
  hash: Buffer
}

export interface IndexStore {
  readonly backend: BackendName
  /** the index as messages name it: a file's path, or a PostgreSQL URL with its password masked */
  readonly location: string
  readonly network: NetworkName
  readonly mode: OpenMode
  readonly schemaVersion: number

  /** The highest block the index holds, undefined when it is empty. */
  tip(): StoredTip | undefined
  blockHash(height: number): Buffer | undefined
  /** Hashes of the blocks from..to (inclusive) that the index holds, in height order. */
  blockHashes(fromHeight: number, toHeight: number): Buffer[]
  /** True while the first `bix index` run loads: queries wait for its end (its script index is built last). */
  building(): boolean

  /** `read` in one read transaction: every answer reflects one tip while `bix index` commits. */
  read<T>(read: () => T): T
  /** The same across awaits: one snapshot held while `work` runs (answers streamed from a file of targets). */
  readSnapshot<T>(work: () => Promise<T>): Promise<T>

  addressReader(): AddressReads
  txReader(): TxReads
  /** The mempool snapshot `bix sync-mempool` keeps: how big and how fresh. */
  mempoolInfo(): MempoolSnapshotInfo
  /** A script's outputs and spends in the mempool snapshot. */
  mempoolActivity(scriptKey: Buffer): MempoolActivity
  /** Values of confirmed outputs, spent or not, by outpoint (txid in internal order); absent ones are left out. */
  outputValues(outpoints: ReadonlyArray<{txid: Buffer; vout: number}>): Array<number | undefined>

  /** The only code that changes the chain part of the index (write mode). */
  writer(options?: WriterOptions): IndexWrites
  /** The only code that changes the mempool snapshot (write mode). */
  mempoolWriter(): MempoolWrites

  /** The `bix index` or `bix sync-mempool` writing this index now, if any. */
  writerHolder(): LockHolder | undefined
  /** Bytes the index takes on disk; also once closed (closing may shrink it: SQLite folds its write-ahead log into the file). */
  sizeBytes(): number
  close(): void
}

/** The confirmed side of a script's activity and the lookups that turn tx_nums into txids and blocks. */
export interface AddressReads {
  chainActivity(scriptKey: Buffer): ChainActivity
  /** The script's transactions older than `beforeTxNum` (all when undefined), newest first, at most `limit` (0: all). */
  history(scriptKey: Buffer, beforeTxNum: number | undefined, limit: number): TxChange[]
  /** Unspent outputs of the script before `before` (all when undefined), newest first, at most `limit` (0: all). */
  unspent(scriptKey: Buffer, before: OutputRef | undefined, limit: number): UnspentOutput[]
  /** One output: undefined when the index has no such output. */
  output(txNum: number, vout: number): {value: number; spentBy: number | null; scriptKey: Buffer} | undefined
  /** internal byte order */
  txidOf(txNum: number): Buffer
  /** The tx_num of a confirmed transaction (the latest of a BIP30 pair), undefined if the index does not hold it. */
  txNumOf(txid: Buffer): number | undefined
  /** Every tx_num of a confirmed txid, oldest first: one, or two for a coinbase repeated by a BIP30 duplicate. */
  txNumsOf(txid: Buffer): number[]
  blockOf(txNum: number): BlockOfTx
}

/** One confirmed transaction as the index holds it. */
export interface TxReads {
  txNumOf(txid: Buffer): number | undefined
  place(txNum: number): TxPlace
  /** The transaction's outputs the index holds, by vout (the genesis coinbase's output is not indexed). */
  outputs(txNum: number): IndexedTxOutput[]
  output(txNum: number, vout: number): IndexedTxOutput | undefined
}

export interface IndexWrites {
  /**
   * Appends `blocks` (consecutive, continuing the tip) in one transaction,
   * which also moves the tip. Throws TipMismatch when they do not continue
   * the tip, DatabaseError when a spend names an output the index does not
   * hold or holds as spent; either way nothing of the batch is written. It
   * may return before the batch is committed (PostgreSQL sends it and goes
   * on): then a failure the server finds is thrown by the next call on the
   * store (the next batch, or tip()).
   */
  applyBlocks(blocks: readonly IndexedBlock[]): void
  /** rows (txids, outputs, spends) a batch should hold at most, where the writer wants batches smaller than the run's memory allows */
  readonly maxBatchRows?: number
  /** A block that a coming batch will hold, announced as soon as it is decoded (SQLite: see WriterOptions.prefetch). */
  readAhead?(block: IndexedBlock): void
  /** Removes every block above `height`, un-spending what they spent, in one transaction. */
  undoAbove(height: number, stale?: StaleSpends): void
  /** A first run on an empty index: defer what can be built once at the end. Survives a crash (building() stays true). */
  startBulkLoad(): void
  finishBulkLoad(): void
  /** Ends the writer's housekeeping (see WriterOptions.longRun); the store stays open. */
  close(): Promise<void>
}

export interface WriterOptions {
  /** a long run (a first build, a long catch-up): the backend may tidy up on a thread of its own meanwhile (SQLite checkpoints its write-ahead log) */
  longRun?: boolean
  /** recent transactions whose txids are kept in memory for spends (default 2^19) */
  recentTxids?: number
  /** SQLite, tests: a first run leaves spends of outputs this many transactions older than their spender to its end (at most, and by default, 2^19) */
  nearSpendTxs?: number
  /** SQLite: merge the recent tables into the main ones once they hold this many outputs (default: by the page cache's size) */
  mergeRows?: number
  /** SQLite: a merge of the recent tables (of this many outputs) begins, after a batch */
  onMerge?(outputs: number): void
  /** SQLite: read the pages each batch after a first run will touch on threads of their own before writing it (PagePrefetcher), when the index is large enough to be cold */
  prefetch?: boolean
}

export interface MempoolWrites {
  /** Every txid in the snapshot (internal byte order); read them all before writing. */
  txids(): Iterable<Buffer>
  /** Script key and value of an output: confirmed in the index, or made by a transaction of the snapshot. */
  output(txid: Buffer, vout: number): OutputValue | undefined
  /** One change, in one transaction. */
  apply(change: MempoolChange): void
}

export interface OutputRef {
  txNum: number
  vout: number
}

export interface UnspentOutput extends OutputRef {
  value: number
}

/** What the blocks being undone spent, read from the blocks themselves. */
export interface StaleSpends {
  /** every input of the undone blocks but their coinbases' */
  spends: ReadonlyArray<{prevTxid: Buffer; prevVout: number}>
  /** their coinbases' txids: a coinbase repeating an earlier txid (BIP30) had taken over that one's outputs */
  coinbaseTxids: readonly Buffer[]
}

export interface BlockOfTx {
  height: number
  /** internal byte order */
  hash: Buffer
  /** the header's timestamp, unix seconds */
  time: number
}

export interface ChainActivity {
  funded_txo_count: number
  funded_txo_sum: number
  spent_txo_count: number
  spent_txo_sum: number
  /** transactions that paid or spent the script */
  tx_count: number
  /** the oldest and newest of them, undefined without any */
  firstTxNum?: number
  lastTxNum?: number
}

export interface TxChange {
  txNum: number
  /** satoshis paid to the script minus satoshis spent from it */
  delta: number
}

export interface TxPlace {
  txNum: number
  /** internal byte order */
  txid: Buffer
  height: number
  /** internal byte order */
  blockHash: Buffer
  /** the header's timestamp, unix seconds */
  blockTime: number
  /** 0 for the coinbase */
  position: number
}

export interface IndexedTxOutput {
  vout: number
  /** satoshis */
  value: number
  /** the spending transaction's tx_num, null while unspent */
  spentBy: number | null
}

export interface MempoolSnapshotInfo {
  txCount: number
  /** unix seconds of the last completed sync; null: never synced */
  syncedAt: number | null
  /** display hex of the index tip the snapshot was taken against */
  tipHash: string | null
}

export interface MempoolOutput {
  /** internal byte order */
  txid: Buffer
  vout: number
  value: number
}

export interface MempoolSpend {
  /** the spending mempool transaction, internal byte order */
  txid: Buffer
  vin: number
  prevTxid: Buffer
  prevVout: number
  /** the value of the output spent */
  value: number
}

export interface MempoolActivity {
  outputs: MempoolOutput[]
  spends: MempoolSpend[]
  /** txid (display hex) → when the node first saw it (unix seconds), for every transaction above */
  firstSeen: Map<string, number>
}

export interface OutputValue {
  /** first 8 bytes of sha256(scriptPubKey) */
  scriptKey: Buffer
  /** satoshis */
  value: number
}

export interface MempoolSpendRow extends OutputValue {
  /** the output spent, txid in internal byte order */
  prevTxid: Buffer
  prevVout: number
}

export interface MempoolTxRow {
  /** internal byte order */
  txid: Buffer
  /** unix seconds, the node's time of entry */
  firstSeen: number
  vsize: number
  /** satoshis */
  fee: number
  /** by vout */
  outputs: readonly OutputValue[]
  /** by vin, each with the output it spends */
  spends: readonly MempoolSpendRow[]
}

export interface MempoolChange {
  /** txids (internal byte order) that left the node's mempool */
  remove: readonly Buffer[]
  /** parents before children */
  add: readonly MempoolTxRow[]
  /** set on the change that completes a sync: the snapshot now equals the node's mempool on this tip */
  complete?: {syncedAt: number; tipHash: string}
}

/** One writer per index at a time: `bix index` and `bix sync-mempool` take it; readers never do. */
export interface LockHolder {
  pid: number
  /** what the holder runs: "index" or "sync-mempool" */
  command?: string
  host: string
  /** /proc/<pid>/stat start time in clock ticks; absent off Linux */
  startTicks?: number
  since: string
}

export interface WriterLock {
  release(): void
}

export interface AcquireOptions {
  /** what the caller runs, for the message another writer gets */
  command: string
  /** wait for the holder to finish instead of failing with IndexBusy */
  wait: boolean
  signal?: AbortSignal
  /** told once, when the lock is held by another live process and we wait */
  onWait?: (holder: LockHolder) => void
}

/** The blocks given do not continue the index's tip: the node's chain changed (a reorg) or the caller skipped a block. */
export class TipMismatch extends BixError {
  constructor(message: string) {
    super('BadBlock', message)
  }
}

/** meta keys the mempool sync writes, in both backends */
export const MEMPOOL_SYNCED_AT = 'mempool_synced_at'
export const MEMPOOL_TIP = 'mempool_tip'
