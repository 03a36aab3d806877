/**
 * Reads back what BlkWriter (or Bitcoin Core) wrote: de-XORs each blk file
 * with the key from xor.dat and walks the records until the magic stops
 * matching (the pre-allocated tail) or a record runs past the end (a write
 * not yet flushed). Used to check the writer and to load generated chains.
 */
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

import {NETWORKS} from '../../../src/lib/chain/networks.js'
import {xorAt} from './blk-writer.js'
import {txSpans} from './block-codec.js'

export interface BlkRecord {
  file: number
  /** offset of the block bytes in the file */
  offset: number
  /** the block, a view into the de-XORed file buffer */
  raw: Buffer
}

export interface BlkScan {
  records: BlkRecord[]
  /** records cut short at the end of a file (partial flush) */
  truncated: number
}

export function readXorKey(dir: string): Buffer {
  const path = join(dir, 'xor.dat')
  return existsSync(path) ? readFileSync(path) : Buffer.alloc(8)
}

export function blkFileNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /^blk\d{5}\.dat$/.test(name))
    .sort()
}

export function scanBlkFiles(dir: string, magic: Buffer = NETWORKS.regtest.magic): BlkScan {
  const key = readXorKey(dir)
  const records: BlkRecord[] = []
  let truncated = 0
  for (const name of blkFileNames(dir)) {
    const file = Number(name.slice(3, 8))
    const data = readFileSync(join(dir, name))
    xorAt(data, key, 0)
    let pos = 0
    while (pos + 8 <= data.length && data.subarray(pos, pos + 4).equals(magic)) {
      const size = data.readUInt32LE(pos + 4)
      if (size === 0 || pos + 8 + size > data.length) {
        truncated++
        break
      }
      const raw = data.subarray(pos + 8, pos + 8 + size)
      // a record whose block was not fully flushed does not parse as a block
      try {
        txSpans(raw)
      } catch {
        truncated++
        break
      }
      records.push({file, offset: pos + 8, raw})
      pos += 8 + size
    }
  }
  return {records, truncated}
}
