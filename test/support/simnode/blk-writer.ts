/**
 * Writes `blocks/blkNNNNN.dat` and `xor.dat` the way Bitcoin Core 28+ does:
 * records `magic | size u32 LE | block` in arrival order (stale blocks too),
 * every byte XORed with the 8-byte key at its absolute file offset, files
 * pre-allocated in chunks so the tail on disk is zeros (key bytes once
 * de-XORed), and a new file once the next record would pass the size limit.
 * Test switches: out-of-order writing and a last record only partly flushed.
 */
import {closeSync, constants, ftruncateSync, fstatSync, mkdirSync, openSync, writeFileSync, writeSync} from 'node:fs'
import {join} from 'node:path'

import {NETWORKS} from '../../../src/lib/chain/networks.js'

/** Core's MAX_BLOCKFILE_SIZE (128 MiB) and BLOCKFILE_CHUNK_SIZE (16 MiB) */
export const CORE_MAX_FILE_SIZE = 128 * 1024 * 1024
export const CORE_CHUNK_SIZE = 16 * 1024 * 1024

export interface BlkWriterOptions {
  /** the blocks directory, e.g. <datadir>/regtest/blocks */
  dir: string
  /** 8 bytes; all zeros means no obfuscation */
  xorKey?: Buffer
  /** false: no xor.dat at all (a pre-28 blocks dir) */
  writeXorFile?: boolean
  maxFileSize?: number
  chunkSize?: number
  magic?: Buffer
  /**
   * Hold this many blocks and write them newest first, as headers-first
   * download leaves them; 0 or 1 writes in arrival order.
   */
  outOfOrderWindow?: number
  /** continue after the records already in `dir` (a restarted node), keeping its xor.dat */
  resume?: {key: Buffer; records: {file: number; offset: number; raw: Buffer; hash: string}[]}
}

export interface BlockLocation {
  file: number
  /** offset of the block itself (after magic and size) */
  offset: number
  size: number
}

export class BlkWriter {
  readonly dir: string
  readonly xorKey: Buffer
  readonly maxFileSize: number
  readonly chunkSize: number
  readonly magic: Buffer
  /** where each block hash ended up */
  readonly locations = new Map<string, BlockLocation>()
  private file = 0
  private used = 0
  private fd: number | undefined
  private pending: {hash: string; raw: Buffer}[] = []
  private readonly window: number
  private lastRecord: {file: number; start: number; length: number} | undefined
  private total = 0

  constructor(opts: BlkWriterOptions) {
    this.dir = opts.dir
    this.xorKey = opts.resume?.key ?? opts.xorKey ?? Buffer.alloc(8)
    if (this.xorKey.length !== 8) throw new Error('the xor key is 8 bytes')
    this.maxFileSize = opts.maxFileSize ?? CORE_MAX_FILE_SIZE
    this.chunkSize = Math.min(opts.chunkSize ?? CORE_CHUNK_SIZE, this.maxFileSize)
    this.magic = opts.magic ?? NETWORKS.regtest.magic
    this.window = opts.outOfOrderWindow ?? 0
    mkdirSync(this.dir, {recursive: true})
    if (opts.resume) {
      for (const r of opts.resume.records) {
        this.locations.set(r.hash, {file: r.file, offset: r.offset, size: r.raw.length})
        this.file = r.file
        this.used = r.offset + r.raw.length
        this.total += 8 + r.raw.length
      }
    } else if (opts.writeXorFile !== false) {
      writeFileSync(join(this.dir, 'xor.dat'), this.xorKey)
    }
  }

  static fileName(n: number): string {
    return `blk${String(n).padStart(5, '0')}.dat`
  }

  /** bytes of block records written so far (Core's size_on_disk counts these) */
  get bytesWritten(): number {
    return this.total
  }

  append(hash: string, raw: Buffer): void {
    if (this.window <= 1) {
      this.write(hash, raw)
      return
    }
    this.pending.push({hash, raw})
    if (this.pending.length >= this.window) this.flush()
  }

  /** Writes out blocks held back by the out-of-order window (newest first). */
  flush(): void {
    const batch = this.pending.reverse()
    this.pending = []
    for (const {hash, raw} of batch) this.write(hash, raw)
  }

  /**
   * Leaves only the first `keepBytes` of the last record on disk (the rest
   * back to pre-allocated zeros), like a crash before the write was flushed.
   */
  truncateLastRecord(keepBytes: number): void {
    if (!this.lastRecord) throw new Error('nothing written yet')
    const {file, start, length} = this.lastRecord
    if (keepBytes >= length) return
    const fd = openSync(join(this.dir, BlkWriter.fileName(file)), 'r+')
    try {
      writeSync(fd, Buffer.alloc(length - keepBytes), 0, length - keepBytes, start + keepBytes)
    } finally {
      closeSync(fd)
    }
  }

  close(): void {
    this.flush()
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }

  private write(hash: string, raw: Buffer): void {
    const recordSize = 8 + raw.length
    if (this.fd !== undefined && this.used > 0 && this.used + recordSize > this.maxFileSize) {
      closeSync(this.fd)
      this.fd = undefined
      this.file++
      this.used = 0
    }
    if (this.fd === undefined) this.fd = openSync(join(this.dir, BlkWriter.fileName(this.file)), constants.O_RDWR | constants.O_CREAT, 0o600)
    const start = this.used
    this.preallocate(start + recordSize)
    const record = Buffer.alloc(recordSize)
    this.magic.copy(record, 0)
    record.writeUInt32LE(raw.length, 4)
    raw.copy(record, 8)
    xorAt(record, this.xorKey, start)
    writeSync(this.fd, record, 0, record.length, start)
    this.used += recordSize
    this.total += recordSize
    this.locations.set(hash, {file: this.file, offset: start + 8, size: raw.length})
    this.lastRecord = {file: this.file, start, length: recordSize}
  }

  /** Grows the file in whole chunks (sparse zeros), as Core's posix_fallocate does. */
  private preallocate(needed: number): void {
    const size = fstatSync(this.fd!).size
    if (size >= needed) return
    const chunks = Math.ceil(needed / this.chunkSize)
    ftruncateSync(this.fd!, Math.max(chunks * this.chunkSize, needed))
  }
}

/** XORs data in place as if it sat at `fileOffset` in an obfuscated file. */
export function xorAt(data: Buffer, key: Buffer, fileOffset: number): void {
  if (key.every((b) => b === 0)) return
  for (let i = 0; i < data.length; i++) data[i] ^= key[(fileOffset + i) % 8]
}
