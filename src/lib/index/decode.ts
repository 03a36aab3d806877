import {parseBlock, verifyBlock} from '../chain/block-parser.js'
import {toDisplayHex} from '../chain/hashes.js'
import {type IndexedBlock, toIndexedBlock} from '../chain/indexed-block.js'
import {BixError} from '../errors.js'
import {type RawBlock, blockBytes} from '../sources/block-source.js'

/**
 * Raw bytes → the rows the store writes, after checking that the bytes are
 * the block asked for (hash) and hold the transactions its header commits to
 * (merkle root). Nothing unchecked reaches the store.
 */
export function decodeBlock(raw: Pick<RawBlock, 'height' | 'hash' | 'bytes' | 'from' | 'encoding'>): IndexedBlock {
  try {
    const parsed = parseBlock(blockBytes(raw))
    verifyBlock(parsed, toDisplayHex(raw.hash))
    return toIndexedBlock(parsed, raw.height)
  } catch (err) {
    if (err instanceof BixError && err.kind === 'BadBlock') {
      throw new BixError('BadBlock', `bad block at height ${raw.height} (${toDisplayHex(raw.hash)}, from ${raw.from}): ${err.message}`, {cause: err})
    }
    throw err
  }
}

/** Told when a block's bytes failed to decode and the block is asked for again: its height, and why. */
export type OnRefetch = (height: number, reason: string) => void

/**
 * decodeBlock, and for bytes that may be damaged (RawBlock.refetch: read from
 * the node's files, or hex) one more try with the block as the node serves it.
 */
export async function decodeOrRefetch(raw: RawBlock, onRefetch?: OnRefetch): Promise<IndexedBlock> {
  if (!raw.refetch) return decodeBlock(raw)
  try {
    return decodeBlock(raw)
  } catch (err) {
    if (!(err instanceof BixError && err.kind === 'BadBlock')) throw err
    onRefetch?.(raw.height, err.message)
    return decodeBlock(await raw.refetch())
  }
}

/** Previous-block hash from an 80-byte header (internal order). */
export const prevHashOf = (block: IndexedBlock): Buffer => block.header.subarray(4, 36)
