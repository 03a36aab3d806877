import {createHash, hash as oneShotHash} from 'node:crypto'

/** Double SHA-256, the hash of blocks and transactions. */
export function sha256d(data: Uint8Array): Buffer {
  return oneShotHash('sha256', oneShotHash('sha256', data, 'buffer'), 'buffer')
}

export function sha256(data: Uint8Array): Buffer {
  return oneShotHash('sha256', data, 'buffer')
}

/** sha256 over several parts without concatenating them first. */
export function sha256dParts(parts: readonly Uint8Array[]): Buffer {
  const first = createHash('sha256')
  for (const part of parts) first.update(part)
  return sha256(first.digest())
}

/** Internal byte order → the reversed hex that RPC and explorers show. */
export function toDisplayHex(hash: Uint8Array): string {
  return Buffer.from(hash).reverse().toString('hex')
}

/** Reversed hex (RPC, display) → internal byte order. */
export function fromDisplayHex(hex: string): Buffer {
  return Buffer.from(hex, 'hex').reverse()
}
