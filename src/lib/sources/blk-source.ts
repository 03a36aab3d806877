import fs from 'node:fs/promises'

import {sha256d, toDisplayHex} from '../chain/hashes.js'
import {getBlockHeader} from '../node/node-api.js'
import {RpcError, RpcCode} from '../errors.js'
import type {NodeClient} from '../node/types.js'
import {listBlockFiles, scanBlockFile, unXor} from './blk-files.js'
import {type BlockSource, type RawBlock, type ReadAhead, type SourceKind, type WantedBlock, fetchInOrder} from './block-source.js'

/**
 * Blocks read straight from the node's blk*.dat files: no RPC, no hex, no
 * copy through bitcoind, so the fastest source when bix runs next to the node.
 *
 * The files hold blocks in the order they arrived: stale blocks, the odd
 * duplicate, and during initial download blocks up to ~1000 heights out of
 * order. So a window of wanted blocks is matched by header hash, blocks that
 * arrive early wait in a bounded buffer (beyond it only their position is
 * kept, to be read again when their turn comes), and a wanted block the
 * files do not have, or that is long overdue, is fetched from the node.
 * The bytes are checked by the indexer like any other (the node may not have
 * flushed what it is writing): a block that fails is fetched from the node.
 */

/** bitcoind downloads at most 1024 blocks ahead of its tip; twice that without the next block means it is not nearby */
const OVERDUE_AFTER = 2048
/** start scanning this many heights before the first wanted block (the download window again) */
const START_MARGIN = 1100

export interface BlkSourceOptions {
  blocksDir: string
  magic: Buffer
  /** xor.dat's key (undefined: not obfuscated) */
  xorKey: Buffer | undefined
  /** the node, to place files by height and to fetch what the files lack */
  client: NodeClient
  /** one block from the node, for blocks missing from the files or that fail verification */
  fallback: {kind: SourceKind; fetch: (block: WantedBlock, signal: AbortSignal) => Promise<Buffer>}
  readAhead: ReadAhead
  /** wanted blocks seen ahead of a missing one before it is fetched from the node (default 2048) */
  overdueAfter?: number
  /** heights below the first wanted block where scanning starts (default 1100) */
  startMargin?: number
}

interface Position {
  file: string
  offset: number
  length: number
}

/** Where this source's blocks came from, over its lifetime: for the run summary and tests. */
export interface BlkStats {
  fromFiles: number
  fromNode: number
  filesScanned: number
}

export class BlkBlockSource implements BlockSource {
  readonly kind = 'blk'
  readonly stats: BlkStats = {fromFiles: 0, fromNode: 0, filesScanned: 0}
  /** height of each file's first block, as the node knows it (null: unknown to the node, or empty) */
  private readonly firstHeights = new Map<string, number | null>()

  constructor(private readonly o: BlkSourceOptions) {}

  async *blocks(wanted: readonly WantedBlock[], signal: AbortSignal): AsyncGenerator<RawBlock> {
    if (wanted.length === 0) return
    const indexOf = new Map<string, number>()
    wanted.forEach((block, i) => indexOf.set(hashKey(block.hash), i))
    const early = new Map<number, Buffer>()
    const placed = new Map<number, Position>()
    let earlyBytes = 0
    let next = 0

    const fromFile = (i: number, bytes: Buffer): RawBlock => {
      this.stats.fromFiles++
      const block = wanted[i]
      return {...block, bytes, from: 'blk', refetch: () => this.fromNode(block, signal)}
    }
    /** the next wanted block, if the files have already given it */
    const ready = async (): Promise<RawBlock | undefined> => {
      const bytes = early.get(next)
      if (bytes) {
        early.delete(next)
        earlyBytes -= bytes.length
        return fromFile(next++, bytes)
      }
      const position = placed.get(next)
      if (position) {
        placed.delete(next)
        return fromFile(next++, await readAt(position, this.o.xorKey))
      }
      return undefined
    }

    const files = await listBlockFiles(this.o.blocksDir)
    const start = await this.startFile(files, wanted[0].height, signal)
    for (let f = start; f < files.length && next < wanted.length; f++) {
      this.stats.filesScanned++
      for await (const record of scanBlockFile(files[f], {magic: this.o.magic, xorKey: this.o.xorKey, signal})) {
        if (record.bytes.length < 80) continue
        const i = indexOf.get(hashKey(sha256d(record.bytes.subarray(0, 80))))
        // stale, another window's, already delivered or a duplicate
        if (i === undefined || i < next || early.has(i) || placed.has(i)) continue
        if (i === next) {
          yield fromFile(next++, record.bytes)
        } else if (earlyBytes + record.bytes.length <= this.o.readAhead.maxBytes) {
          early.set(i, record.bytes)
          earlyBytes += record.bytes.length
        } else {
          placed.set(i, {file: record.file, offset: record.offset, length: record.bytes.length})
        }
        for (let raw = await ready(); raw; raw = await ready()) yield raw
        // the next block is not where its neighbours are: ask the node for it rather than hold everything up
        while (next < wanted.length && early.size + placed.size > (this.o.overdueAfter ?? OVERDUE_AFTER)) {
          yield await this.fromNode(wanted[next++], signal)
          for (let raw = await ready(); raw; raw = await ready()) yield raw
        }
        if (next >= wanted.length) break
      }
    }

    // the rest: what the files gave early, and from the node what they lack (unflushed, or before the start file)
    const rest = wanted.slice(next).map((block, k) => ({block, i: next + k}))
    const fetchRest = async ({block, i}: {block: WantedBlock; i: number}, s: AbortSignal): Promise<Buffer> => {
      const bytes = early.get(i)
      if (bytes) return bytes
      const position = placed.get(i)
      if (position) return readAt(position, this.o.xorKey)
      this.stats.fromNode++
      return this.o.fallback.fetch(block, s)
    }
    for await (const {item, bytes} of fetchInOrder(rest, fetchRest, this.o.readAhead, signal)) {
      const inFiles = early.delete(item.i) || placed.delete(item.i)
      yield inFiles ? fromFile(item.i, bytes) : {...item.block, bytes, from: this.o.fallback.kind}
    }
  }

  private async fromNode(block: WantedBlock, signal: AbortSignal): Promise<RawBlock> {
    this.stats.fromNode++
    return {...block, bytes: await this.o.fallback.fetch(block, signal), from: this.o.fallback.kind}
  }

  /**
   * The file to start scanning from: the last one whose first block is at
   * least START_MARGIN below `height`, found by binary search on the height
   * of each file's first block (asked of the node), so an incremental run
   * reads a file or two instead of the whole directory.
   */
  private async startFile(files: readonly string[], height: number, signal: AbortSignal): Promise<number> {
    const goal = height - (this.o.startMargin ?? START_MARGIN)
    if (goal < 0 || files.length <= 1) return 0
    let lo = 0
    let hi = files.length - 1
    let best = 0
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const first = await this.firstHeight(files[mid], signal)
      if (first !== null && first <= goal) {
        best = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return best
  }

  private async firstHeight(file: string, signal: AbortSignal): Promise<number | null> {
    const known = this.firstHeights.get(file)
    if (known !== undefined) return known
    let height: number | null = null
    for await (const record of scanBlockFile(file, {magic: this.o.magic, xorKey: this.o.xorKey, signal})) {
      if (record.bytes.length < 80) continue
      try {
        height = (await getBlockHeader(this.o.client, toDisplayHex(sha256d(record.bytes.subarray(0, 80))), {signal})).height
      } catch (err) {
        // a block the node does not know: not this node's files, or garbage
        if (!(err instanceof RpcError && err.code === RpcCode.invalidAddressOrKey)) throw err
      }
      break
    }
    // the newest file is still being written: its first block can change from none to some
    if (height !== null) this.firstHeights.set(file, height)
    return height
  }
}

function hashKey(hash: Buffer): string {
  return hash.toString('latin1')
}

/** A record's bytes again, from where the scan saw it. */
async function readAt(position: Position, xorKey: Buffer | undefined): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(position.length)
  const handle = await fs.open(position.file, 'r')
  try {
    const {bytesRead} = await handle.read(bytes, 0, position.length, position.offset)
    if (bytesRead !== position.length) throw new Error(`${position.file}: ${bytesRead} of ${position.length} bytes at offset ${position.offset}`)
  } finally {
    await handle.close()
  }
  if (xorKey) unXor(bytes, 0, bytes.length, position.offset, xorKey)
  return bytes
}
