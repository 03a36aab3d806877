import {NETWORKS, type NetworkName} from '../chain/networks.js'
import {toDisplayHex} from '../chain/hashes.js'
import {type IndexedBlock, txidAt} from '../chain/indexed-block.js'
import {BixError, RpcCode, RpcError} from '../errors.js'
import type {BlockSource, WantedBlock} from '../sources/block-source.js'
import {prevHashOf} from './decode.js'
import type {StaleSpends} from '../store/index-store.js'
import type {BlockDecoder} from './decoder.js'
import {findForkHeight} from './fork.js'
import type {NodeChain} from './node-chain.js'

/** What the indexer needs of the store: read the chain it holds, append, undo. */
export interface IndexStore {
  tip(): {height: number; hash: Buffer} | undefined
  /** hashes for heights from..to, in height order */
  blockHashes(from: number, to: number): Buffer[]
  /** one transaction that also moves the tip; throws if the first block does not continue it */
  applyBlocks(blocks: IndexedBlock[]): unknown
  /** a decoded block, before it is batched: the store may begin reading what writing it will read */
  readAhead?(block: IndexedBlock): void
  /** removes every block above `height`, in one transaction; `stale` says what those blocks spent, when the node still has them */
  undoAbove(height: number, stale?: StaleSpends): unknown
}

export interface BatchLimits {
  /** blocks per write transaction */
  blocks: number
  /** txids + outputs + spends per write transaction: bounds memory whatever the block size */
  rows: number
}

export interface IndexProgress {
  /** highest height decoded and checked (written at the next commit) */
  height: number
  /** the height the run is going to */
  targetHeight: number
  /** the height the run started from */
  startHeight: number
  blocks: number
  transactions: number
  elapsedMs: number
}

export interface IndexEvents {
  onProgress?(progress: IndexProgress): void
  /** the node's chain no longer holds what the index had above forkHeight */
  onReorg?(reorg: Reorg): void
}

export interface Reorg {
  forkHeight: number
  /** blocks removed from the index */
  undone: number
}

export interface IndexRunOptions {
  network: NetworkName
  /** the node's active chain: where blocks are wanted from */
  chain: NodeChain
  store: IndexStore
  source: BlockSource
  /** stop at this height (default: the node's tip) */
  toHeight?: number
  batch: BatchLimits
  /** parses and checks blocks (on a worker thread, or inline) */
  decoder: BlockDecoder
  /** bytes of blocks handed to the decoder and not yet taken back (default 0: one at a time) */
  decodeAheadBytes?: number
  /** heights asked of the node at a time */
  windowBlocks: number
  signal: AbortSignal
  events?: IndexEvents
}

export interface IndexRunResult {
  /** the index's tip before the run (-1: empty) */
  startHeight: number
  /** the index's tip after it */
  height: number
  /** display hex, null for an empty index */
  hash: string | null
  /** the node's tip when last asked */
  nodeHeight: number
  /** blocks written (a block written twice because of a reorg counts twice) */
  blocks: number
  transactions: number
  reorgs: Reorg[]
  elapsedMs: number
}

/** Deeper reorgs are undone by a scan of the outputs rather than by fetching every abandoned block. */
const MAX_STALE_BLOCKS_FETCHED = 1000

/** A run that keeps meeting reorgs without making progress has a node that is not settling. */
const MAX_RESTARTS_WITHOUT_PROGRESS = 50

/**
 * Brings the index to the node's tip (or toHeight): find where the index
 * leaves the node's active chain, undo what is above, then fetch, check and
 * write the blocks after it, a batch per transaction. A block that does not
 * continue the chain means the node reorganised meanwhile: what was checked
 * is written and the run starts over from the fork. Interrupted (the
 * signal), it writes the batch in hand and throws Interrupted naming the
 * height reached.
 */
export async function runIndex(options: IndexRunOptions): Promise<IndexRunResult> {
  const run = new IndexRun(options)
  return run.run()
}

class IndexRun {
  private readonly started = Date.now()
  private readonly startHeight: number
  private blocks = 0
  private transactions = 0
  private readonly reorgs: Reorg[] = []
  private nodeHeight = -1
  private targetHeight = -1
  /** decoded and linked, not yet written */
  private batch: IndexedBlock[] = []
  private batchRows = 0
  private batchTransactions = 0

  constructor(private readonly o: IndexRunOptions) {
    this.startHeight = o.store.tip()?.height ?? -1
  }

  async run(): Promise<IndexRunResult> {
    const {signal} = this.o
    let restarts = 0
    try {
      for (;;) {
        const before = this.tipHeight()
        const nodeTip = await this.o.chain.tip(signal)
        this.nodeHeight = nodeTip.height
        this.targetHeight = this.o.toHeight === undefined ? nodeTip.height : Math.min(this.o.toHeight, nodeTip.height)
        const fork = await this.undoStaleBranch()
        if (fork >= this.targetHeight) break
        const outcome = await this.indexAfter()
        // 'done' is checked once more by the next round: the node may have moved meanwhile
        if (outcome === 'reorg' && this.tipHeight() <= before && ++restarts > MAX_RESTARTS_WITHOUT_PROGRESS) {
          throw new BixError('NodeError', `the node's chain kept changing under the index (${restarts} restarts without progress)`)
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err
      // interrupted: keep what is checked, and say where the index stands
      await this.flush()
      throw this.interrupted(signal.reason)
    }
    return this.result()
  }

  private result(): IndexRunResult {
    const tip = this.o.store.tip()
    return {
      startHeight: this.startHeight,
      height: tip?.height ?? -1,
      hash: tip ? toDisplayHex(tip.hash) : null,
      nodeHeight: this.nodeHeight,
      blocks: this.blocks,
      transactions: this.transactions,
      reorgs: this.reorgs,
      elapsedMs: Date.now() - this.started,
    }
  }

  private tipHeight(): number {
    return this.o.store.tip()?.height ?? -1
  }

  /** Compares the index with the node's chain and removes what the node no longer has; returns the fork height. */
  private async undoStaleBranch(): Promise<number> {
    const {store, chain, signal} = this.o
    const storedHeight = this.tipHeight()
    const fork = await findForkHeight({
      storedHeight,
      nodeHeight: this.nodeHeight,
      storedHashes: (from, to) => store.blockHashes(from, to),
      nodeHashes: async (heights) => {
        try {
          return await chain.hashesAt(heights, signal)
        } catch (err) {
          // the node's chain got shorter since its tip was asked: those heights are not shared
          if (err instanceof RpcError && err.code === RpcCode.invalidParameter) return heights.map(() => undefined)
          throw err
        }
      },
    })
    if (fork < storedHeight) {
      await store.undoAbove(fork, await this.staleSpends(fork + 1, storedHeight))
      const reorg = {forkHeight: fork, undone: storedHeight - fork}
      this.reorgs.push(reorg)
      this.o.events?.onReorg?.(reorg)
    }
    return fork
  }

  /**
   * What the index's blocks from..to spent, read from those blocks: the node
   * keeps the blocks of branches it left, so they are fetched by hash and
   * checked like any other. Undefined when the node cannot give them all (a
   * reindexed node, another node after failover) or there are too many: the
   * undo then finds the spends by a scan instead.
   */
  private async staleSpends(from: number, to: number): Promise<StaleSpends | undefined> {
    if (to - from + 1 > MAX_STALE_BLOCKS_FETCHED) return undefined
    const {store, source, decoder, signal} = this.o
    const wanted = store.blockHashes(from, to).map((hash, i) => ({height: from + i, hash}))
    const stale: {spends: StaleSpends['spends'][number][]; coinbaseTxids: Buffer[]} = {spends: [], coinbaseTxids: []}
    try {
      for await (const raw of source.blocks(wanted, signal)) {
        const block = await decoder.decode(raw)
        const {spends} = block
        for (let i = 0; i < spends.count; i++) {
          stale.spends.push({prevTxid: Buffer.from(spends.prevTxids.subarray(i * 32, i * 32 + 32)), prevVout: spends.prevVout[i]})
        }
        if (block.txCount > 0) stale.coinbaseTxids.push(Buffer.from(txidAt(block, 0)))
      }
    } catch (err) {
      if (signal.aborted) throw err
      return undefined
    }
    return stale
  }

  /** Indexes the blocks above `fork` up to the target height, window by window. */
  private async indexAfter(): Promise<'done' | 'reorg'> {
    const {chain, signal, windowBlocks} = this.o
    // after undoStaleBranch the index's tip is the fork
    const tip = this.o.store.tip()
    let last: WantedBlock | null = tip ? {height: tip.height, hash: tip.hash} : null
    let next = prefetch(chain.after(last, this.targetHeight, windowBlocks, signal))
    while (!last || last.height < this.targetHeight) {
      const wanted = await next
      if (wanted.length === 0) {
        if (!last) throw new BixError('WrongNetwork', `the node has no chain from the ${this.o.network} genesis block`)
        await this.flush()
        return 'reorg'
      }
      const windowEnd = wanted[wanted.length - 1]
      // ask for the next window while this one is fetched
      next = windowEnd.height < this.targetHeight ? prefetch(chain.after(windowEnd, this.targetHeight, windowBlocks, signal)) : Promise.resolve([])
      if (!(await this.indexWindow(wanted, last))) {
        await this.flush()
        return 'reorg'
      }
      last = windowEnd
    }
    await this.flush()
    return 'done'
  }

  /**
   * Fetches, checks and batches one window; false when a block does not
   * continue the one before it. Blocks are handed to the decoder as they
   * arrive and taken back in order: as soon as decoded, or once the bytes
   * being decoded reach the decode-ahead budget.
   */
  private async indexWindow(wanted: WantedBlock[], last: WantedBlock | null): Promise<boolean> {
    const {source, signal, decoder} = this.o
    const decodeAhead = this.o.decodeAheadBytes ?? 0
    const decoding: Array<{block: Promise<IndexedBlock>; bytes: number; done: boolean}> = []
    let decodingBytes = 0
    let prevHash = last?.hash

    /** the oldest block in decoding, checked to link, into the batch; false when it does not link */
    const take = async (): Promise<boolean> => {
      const head = decoding.shift()!
      decodingBytes -= head.bytes
      const block = await head.block
      if (prevHash === undefined) {
        const genesis = NETWORKS[this.o.network].genesisHash
        if (toDisplayHex(block.hash) !== genesis) {
          throw new BixError('WrongNetwork', `the node's block 0 is ${toDisplayHex(block.hash)}, not the ${this.o.network} genesis block ${genesis}`)
        }
      } else if (!prevHashOf(block).equals(prevHash)) {
        return false
      }
      await this.add(block)
      prevHash = block.hash
      this.o.events?.onProgress?.(this.progress(block.height))
      signal.throwIfAborted()
      return true
    }

    for await (const raw of source.blocks(wanted, signal)) {
      // measured before decode(): a worker decoder takes the bytes by transfer, which leaves raw.bytes empty
      const bytes = raw.bytes.length
      const entry = {block: decoder.decode(raw), bytes, done: false}
      // settled or not, a decode the run gives up on must not become an unhandled rejection
      entry.block.then(
        (block) => {
          entry.done = true
          this.o.store.readAhead?.(block)
        },
        () => (entry.done = true),
      )
      decoding.push(entry)
      decodingBytes += entry.bytes
      while (decoding.length > 0 && (decoding[0].done || decodingBytes > decodeAhead)) {
        if (!(await take())) return false
      }
    }
    while (decoding.length > 0) if (!(await take())) return false
    return true
  }

  private async add(block: IndexedBlock): Promise<void> {
    this.batch.push(block)
    this.batchRows += block.txCount + block.outputs.count + block.spends.count
    this.batchTransactions += block.txCount
    if (this.batch.length >= this.o.batch.blocks || this.batchRows >= this.o.batch.rows) await this.flush()
  }

  /** Writes the batch in hand: one transaction, which moves the index's tip. */
  private async flush(): Promise<void> {
    if (this.batch.length === 0) return
    await this.o.store.applyBlocks(this.batch)
    this.blocks += this.batch.length
    this.transactions += this.batchTransactions
    this.batch = []
    this.batchRows = 0
    this.batchTransactions = 0
  }

  private progress(height: number): IndexProgress {
    return {
      height,
      targetHeight: this.targetHeight,
      startHeight: this.startHeight,
      blocks: this.blocks + this.batch.length,
      transactions: this.transactions + this.batchTransactions,
      elapsedMs: Date.now() - this.started,
    }
  }

  private interrupted(reason: unknown): BixError {
    const tip = this.o.store.tip()
    const where = tip ? `the index is at height ${tip.height} (${toDisplayHex(tip.hash)})` : 'the index is empty'
    const base = reason instanceof BixError ? reason : new BixError('Interrupted', 'interrupted')
    return new BixError(base.kind, `${base.message}: ${where}; run bix index again to continue`, {exitCode: base.exitCode})
  }
}

/** A promise the run may drop (a reorg makes the next window moot) without an unhandled rejection. */
function prefetch<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {})
  return promise
}
