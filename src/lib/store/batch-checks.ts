import {toDisplayHex} from '../chain/hashes.js'
import type {IndexedBlock} from '../chain/indexed-block.js'
import {NETWORKS, type NetworkName} from '../chain/networks.js'
import {BixError} from '../errors.js'
import {TipMismatch} from './index-store.js'

/**
 * What both backends' writers check of the blocks they are given, with the
 * same errors: that each block continues the one before it (the index's
 * tip for the first; block 0 must be the network's genesis), and that every
 * spend takes an output the index holds and nothing spent it before.
 */

export function checkContinues(block: IndexedBlock, prevHeight: number, prevHash: Buffer | undefined, network: NetworkName): void {
  if (block.height !== prevHeight + 1) {
    throw new TipMismatch(`block ${block.height} does not continue the index, whose tip is at height ${prevHeight}`)
  }
  if (prevHash === undefined) {
    const genesis = NETWORKS[network].genesisHash
    if (toDisplayHex(block.hash) !== genesis) {
      throw new BixError('WrongNetwork', `block 0 is ${toDisplayHex(block.hash)}, not the ${network} genesis block ${genesis}`)
    }
  } else if (!block.header.subarray(4, 36).equals(prevHash)) {
    throw new TipMismatch(`block ${block.height} (${toDisplayHex(block.hash)}) does not build on the index's block ${prevHeight} (${toDisplayHex(prevHash)})`)
  }
}

export function unknownOutput(block: IndexedBlock, s: number): never {
  unknownOutputAt(block.height, block.spends.prevTxids.subarray(s * 32, s * 32 + 32), block.spends.prevVout[s])
}

export function doubleSpend(block: IndexedBlock, s: number): never {
  doubleSpendAt(block.height, block.spends.prevTxids.subarray(s * 32, s * 32 + 32), block.spends.prevVout[s])
}

/** unknownOutput for a spend found after its block was written (the end of a SQLite first run); txid in internal order */
export function unknownOutputAt(height: number, txid: Uint8Array, vout: number): never {
  throw new BixError('DatabaseError', `block ${height} spends unknown output ${toDisplayHex(txid)}:${vout}; the index is incomplete or damaged`)
}

/** doubleSpend for a spend found after its block was written; txid in internal order */
export function doubleSpendAt(height: number, txid: Uint8Array, vout: number): never {
  throw new BixError('DatabaseError', `block ${height} spends output ${toDisplayHex(txid)}:${vout}, which the index holds as spent already; the index is damaged`)
}
