import {sha256Batch} from './sha256-batch.js'

/**
 * The merkle root a block header commits to, computed as Bitcoin Core does
 * (src/consensus/merkle.cpp): an odd level repeats its last hash. That rule
 * lets two different transaction lists share a root (CVE-2012-2459), so like
 * Core we also report whether any level had two equal neighbours — such a
 * block is invalid however well its root matches.
 */
export function merkleRoot(txids: readonly Uint8Array[]): {root: Buffer; mutated: boolean} {
  if (txids.length === 0) return {root: Buffer.alloc(32), mutated: false}
  return sha256Batch().merkleRoot(txids)
}

/** The merkle root of txids given in block order, internal byte order. */
export function computeMerkleRoot(txids: readonly Uint8Array[]): Buffer {
  return merkleRoot(txids).root
}
