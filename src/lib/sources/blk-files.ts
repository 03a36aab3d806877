import {type FileHandle, open, readFile, readdir} from 'node:fs/promises'
import path from 'node:path'

import {badInput} from '../errors.js'

/**
 * Bitcoin Core's block files (blocks/blk?????.dat), read the way Core's
 * -reindex reads them (LoadExternalBlockFile): records of magic, 32-bit size
 * and a serialized block, possibly XOR-obfuscated with the 8-byte key in
 * xor.dat (Core 28+), in arrival order — stale blocks included, so the caller
 * checks each block's hash and merkle root and matches it to the active chain.
 */

export interface BlockRecord {
  file: string
  /** where the block's bytes start in the file (after magic and size), as in Core's block index */
  offset: number
  /** the de-obfuscated serialized block, in its own buffer */
  bytes: Buffer
}

export interface ScanOptions {
  /** the network's magic, as on disk */
  magic: Buffer
  /** xor.dat's key; undefined for an unobfuscated file */
  xorKey?: Buffer
  signal?: AbortSignal
  /** read size (default 16 MiB); memory stays within about this, or one block if larger */
  chunkBytes?: number
}

/** MAX_BLOCK_SERIALIZED_SIZE: Core skips records claiming more. */
export const MAX_BLOCK_BYTES = 4_000_000
const MIN_BLOCK_BYTES = 80
const RECORD_HEADER_BYTES = 8
const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024
const XOR_KEY_BYTES = 8

/** The obfuscation key, or undefined when there is none (no xor.dat, or all zeros). */
export async function readXorKey(blocksDir: string): Promise<Buffer | undefined> {
  const file = path.join(blocksDir, 'xor.dat')
  let key: Buffer
  try {
    key = await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw badInput(`cannot read ${file}: ${(error as Error).message}`)
  }
  if (key.length !== XOR_KEY_BYTES) {
    throw badInput(`${file} is ${key.length} bytes; Bitcoin Core writes an ${XOR_KEY_BYTES}-byte key there`)
  }
  return key.every((byte) => byte === 0) ? undefined : key
}

/** blk?????.dat files of a blocks directory, in file-number order, as full paths. */
export async function listBlockFiles(blocksDir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(blocksDir)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') throw badInput(`no blocks directory at ${blocksDir}`)
    throw badInput(`cannot read the blocks directory ${blocksDir}: ${(error as Error).message}`)
  }
  return names
    .map((name) => ({name, match: /^blk(\d{5,})\.dat$/.exec(name)}))
    .filter((entry) => entry.match !== null)
    .sort((a, b) => Number(a.match![1]) - Number(b.match![1]))
    .map((entry) => path.join(blocksDir, entry.name))
}

/**
 * Every block record of one file, in file order. Bytes that are not a record
 * (garbage, a bogus size) are skipped by scanning for the next magic; the scan
 * ends cleanly at the pre-allocated zero tail or at a record whose body runs
 * past the end of the file (a block being written when the node stopped).
 */
export async function* scanBlockFile(file: string, options: ScanOptions): AsyncGenerator<BlockRecord> {
  const {magic, xorKey, signal} = options
  if (magic.length !== 4) throw badInput('network magic must be 4 bytes')
  const window = new FileWindow(await openForReading(file), xorKey, options.chunkBytes ?? DEFAULT_CHUNK_BYTES)
  try {
    await window.init()
    let pos = 0
    for (;;) {
      signal?.throwIfAborted()
      if (!(await window.cover(pos, RECORD_HEADER_BYTES))) return
      if (!window.startsWith(pos, magic)) {
        const next = await findMagic(window, magic, pos + 1)
        if (next < 0) return
        pos = next
        continue
      }
      const size = window.uint32At(pos + 4)
      if (size === 0) {
        pos += RECORD_HEADER_BYTES // a record header written without a block
        continue
      }
      if (size < MIN_BLOCK_BYTES || size > MAX_BLOCK_BYTES) {
        pos += 1 // a magic inside garbage: look for the next one
        continue
      }
      if (!(await window.cover(pos, RECORD_HEADER_BYTES + size))) return
      yield {file, offset: pos + RECORD_HEADER_BYTES, bytes: window.copy(pos + RECORD_HEADER_BYTES, size)}
      pos += RECORD_HEADER_BYTES + size
    }
  } finally {
    await window.close()
  }
}

async function openForReading(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r')
  } catch (error) {
    throw badInput(`cannot open block file ${file}: ${(error as Error).message}`)
  }
}

/** File position of the next magic at or after `from`, or -1. */
async function findMagic(window: FileWindow, magic: Buffer, from: number): Promise<number> {
  let pos = from
  for (;;) {
    const left = window.fileSize - pos
    if (left < magic.length || !(await window.cover(pos, Math.min(window.capacity, left)))) return -1
    const found = window.indexOf(magic, pos)
    if (found >= 0) return found
    if (window.end >= window.fileSize) return -1
    // keep the last bytes: a magic may straddle the window's end
    pos = window.end - (magic.length - 1)
  }
}

/**
 * A bounded, de-obfuscated window onto a file: one reused buffer, refilled by
 * shifting what is still needed to its front and reading after it.
 */
class FileWindow {
  private buf: Buffer
  /** file position of buf[0] */
  private start = 0
  private length = 0
  fileSize = 0

  constructor(
    private readonly handle: FileHandle,
    private readonly key: Buffer | undefined,
    chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(chunkBytes, 64))
  }

  async init(): Promise<void> {
    this.fileSize = (await this.handle.stat()).size
  }

  get capacity(): number {
    return this.buf.length
  }

  /** file position just past the window */
  get end(): number {
    return this.start + this.length
  }

  /** Makes [pos, pos + n) readable; false if the file ends first. */
  async cover(pos: number, n: number): Promise<boolean> {
    if (pos + n > this.fileSize) return false
    if (pos >= this.start && pos + n <= this.end) return true
    const keep = pos >= this.start && pos < this.end ? this.end - pos : 0
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafeSlow(n)
      this.buf.copy(bigger, 0, pos - this.start, pos - this.start + keep)
      this.buf = bigger
    } else if (keep > 0) {
      this.buf.copyWithin(0, pos - this.start, pos - this.start + keep)
    }
    this.start = pos
    this.length = keep
    while (this.length < n) {
      const want = Math.min(this.buf.length - this.length, this.fileSize - this.end)
      const {bytesRead} = await this.handle.read(this.buf, this.length, want, this.end)
      if (bytesRead === 0) return false // the file shrank under us
      if (this.key) unXor(this.buf, this.length, bytesRead, this.end, this.key)
      this.length += bytesRead
    }
    return true
  }

  startsWith(pos: number, bytes: Buffer): boolean {
    const at = pos - this.start
    for (let i = 0; i < bytes.length; i++) if (this.buf[at + i] !== bytes[i]) return false
    return true
  }

  uint32At(pos: number): number {
    return this.buf.readUInt32LE(pos - this.start)
  }

  indexOf(bytes: Buffer, from: number): number {
    const found = this.buf.subarray(0, this.length).indexOf(bytes, from - this.start)
    return found < 0 ? -1 : this.start + found
  }

  /** A copy in its own memory: the window is reused, and a view would pin it. */
  copy(pos: number, n: number): Buffer {
    const out = Buffer.allocUnsafeSlow(n)
    this.buf.copy(out, 0, pos - this.start, pos - this.start + n)
    return out
  }

  close(): Promise<void> {
    return this.handle.close()
  }
}

/**
 * Undoes Core's obfuscation in place: byte i of the file is XORed with
 * key[i % 8]. Works a 32-bit word at a time where aligned: ~4 GB/s once
 * warm, against ~0.6 GB/s byte by byte (measured on 64 MiB).
 */
export function unXor(buf: Buffer, start: number, length: number, filePos: number, key: Buffer): void {
  let i = 0
  const base = buf.byteOffset + start
  while (i < length && ((base + i) & 3) !== 0) {
    buf[start + i] ^= key[(filePos + i) & 7]
    i++
  }
  const words = (length - i) >>> 2
  if (words > 0) {
    const phase = (filePos + i) & 7
    const rotated = new Uint8Array(8)
    for (let k = 0; k < 8; k++) rotated[k] = key[(phase + k) & 7]
    // Int32 rather than Uint32: values above 2^31 would leave V8's small-integer path
    const [k0, k1] = new Int32Array(rotated.buffer)
    const view = new Int32Array(buf.buffer, base + i, words)
    let w = 0
    for (; w + 1 < words; w += 2) {
      view[w] ^= k0
      view[w + 1] ^= k1
    }
    if (w < words) view[w] ^= k0
    i += words * 4
  }
  while (i < length) {
    buf[start + i] ^= key[(filePos + i) & 7]
    i++
  }
}
