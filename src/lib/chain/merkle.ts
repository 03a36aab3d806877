import {hash as oneShotHash} from 'node:crypto'

/**
 * The merkle root a block header commits to, computed as Bitcoin Core does
 * (src/consensus/merkle.cpp): an odd level repeats its last hash. That rule
 * lets two different transaction lists share a root (CVE-2012-2459), so like
 * Core we also report whether any level had two equal neighbours — such a
 * block is invalid however well its root matches.
 */
export function merkleRoot(txids: readonly Uint8Array[]): {root: Buffer; mutated: boolean} {
  let n = txids.length
  if (n === 0) return {root: Buffer.alloc(32), mutated: false}
  // One buffer per level with room for the repeated last hash, so each pair is
  // hashed from a 64-byte view without copying it out.
  let level = Buffer.allocUnsafe((n + 1) * 32)
  for (let i = 0; i < n; i++) level.set(txids[i], i * 32)
  let mutated = false
  while (n > 1) {
    for (let pos = 0; pos + 1 < n && !mutated; pos += 2) {
      if (level.compare(level, pos * 32, pos * 32 + 32, (pos + 1) * 32, (pos + 2) * 32) === 0) mutated = true
    }
    if (n & 1) {
      level.copyWithin(n * 32, (n - 1) * 32, n * 32)
      n++
    }
    const half = n / 2
    const next = Buffer.allocUnsafe((half + 1) * 32)
    for (let i = 0; i < half; i++) {
      const pair = level.subarray(i * 64, i * 64 + 64)
      next.set(oneShotHash('sha256', oneShotHash('sha256', pair, 'buffer'), 'buffer'), i * 32)
    }
    level = next
    n = half
  }
  return {root: Buffer.from(level.subarray(0, 32)), mutated}
}

/** The merkle root of txids given in block order, internal byte order. */
export function computeMerkleRoot(txids: readonly Uint8Array[]): Buffer {
  return merkleRoot(txids).root
}
