import {parseBlock, parseTransaction, verifyBlock} from '../chain/block-parser.js'
import {toDisplayHex} from '../chain/hashes.js'
import type {ParsedBlock} from '../chain/types.js'
import {BixError} from '../errors.js'
import type {BlockSource, WantedBlock} from '../sources/block-source.js'

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
      const parsed = parseBlock(raw.bytes)
      verifyBlock(parsed, toDisplayHex(raw.hash))
      read(raw, raw.bytes, parsed)
    }
  }
}

/** The serialized transaction at `position` of a block, checked to have the txid expected (internal order). */
export function transactionBytesAt(raw: Buffer, position: number, txid: Buffer): Buffer {
  let offset = 80 + compactSizeLength(raw[80])
  for (let i = 0; ; i++) {
    const {tx, end} = parseTransaction(raw, offset, {label: 'block transaction'})
    if (i === position) {
      if (!tx.txid.equals(txid)) {
        throw new BixError('DatabaseError', `the index places ${toDisplayHex(txid)} at position ${position} of its block, which holds ${toDisplayHex(tx.txid)} there; run bix index`)
      }
      return raw.subarray(offset, end)
    }
    offset = end
  }
}

const compactSizeLength = (first: number) => (first < 0xfd ? 1 : first === 0xfd ? 3 : first === 0xfe ? 5 : 9)
