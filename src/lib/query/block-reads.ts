import {Transaction} from 'bitcoinjs-lib'

import {parseBlock, verifyBlock} from '../chain/block-parser.js'
import {toDisplayHex} from '../chain/hashes.js'
import type {ParsedBlock} from '../chain/types.js'
import {BixError} from '../errors.js'
import {type BlockSource, type RawBlock, type WantedBlock, blockBytes} from '../sources/block-source.js'

/**
 * What the index does not keep — scripts, input positions, the raw
 * transaction — read from the blocks themselves, each wanted block fetched
 * once, checked against its hash and merkle root, and let go once read.
 */
export class BlockReads {
  constructor(
    private readonly source: BlockSource,
    private readonly signal: AbortSignal,
  ) {}

  /** Calls `read` with each distinct block of `wanted` (in height order), its bytes and its parsed form. */
  async each(wanted: readonly WantedBlock[], read: (block: WantedBlock, raw: Buffer, parsed: ParsedBlock) => void): Promise<void> {
    const distinct = new Map<string, WantedBlock>()
    for (const w of wanted) distinct.set(w.hash.toString('hex'), w)
    const list = [...distinct.values()].sort((a, b) => a.height - b.height)
    if (list.length === 0) return
    for await (const raw of this.source.blocks(list, this.signal)) {
      const bytes = await bytesOrRefetched(raw)
      const parsed = parseBlock(bytes)
      verifyBlock(parsed, toDisplayHex(raw.hash))
      read(raw, bytes, parsed)
    }
  }
}

/** The block's bytes; hex that does not decode (damaged on the way) is fetched again, where the source can. */
async function bytesOrRefetched(raw: RawBlock): Promise<Buffer> {
  try {
    return blockBytes(raw)
  } catch (err) {
    if (!raw.refetch) throw err
    return blockBytes(await raw.refetch())
  }
}

/**
 * The serialized transaction at `position` of a block already parsed and
 * verified, checked to have the txid expected (internal order). The walk
 * only skips over the transactions before it: hashing each of them, as
 * parsing does, costs a hundred times more on a full block.
 */
export function transactionBytesAt(raw: Buffer, position: number, txid: Buffer): Buffer {
  let at = 80
  const varint = (): number => {
    const first = raw[at]
    if (first < 0xfd) {
      at += 1
      return first
    }
    const n = first === 0xfd ? raw.readUInt16LE(at + 1) : first === 0xfe ? raw.readUInt32LE(at + 1) : Number(raw.readBigUInt64LE(at + 1))
    at += first === 0xfd ? 3 : first === 0xfe ? 5 : 9
    return n
  }
  const count = varint()
  if (position >= count) throw new BixError('DatabaseError', `the index places ${toDisplayHex(txid)} at position ${position} of a block of ${count} transactions; run bix index`)
  for (let i = 0; ; i++) {
    const start = at
    at += 4
    const segwit = raw[at] === 0
    if (segwit) at += 2
    const inputs = varint()
    for (let k = 0; k < inputs; k++) {
      at += 36
      const script = varint()
      at += script + 4
    }
    const outputs = varint()
    for (let k = 0; k < outputs; k++) {
      at += 8
      const script = varint()
      at += script
    }
    if (segwit) {
      for (let k = 0; k < inputs; k++) {
        const items = varint()
        for (let w = 0; w < items; w++) {
          const item = varint()
          at += item
        }
      }
    }
    at += 4
    if (i === position) {
      const bytes = raw.subarray(start, at)
      const found = Buffer.from(Transaction.fromBuffer(bytes).getHash())
      if (!found.equals(txid)) {
        throw new BixError('DatabaseError', `the index places ${toDisplayHex(txid)} at position ${position} of its block, which holds ${toDisplayHex(found)} there; run bix index`)
      }
      return bytes
    }
  }
}
