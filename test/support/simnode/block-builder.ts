/**
 * Builds blocks the way Bitcoin Core's miner does on regtest: a version-2
 * coinbase with the BIP34 height, nLockTime height-1 and the witness
 * commitment, a merkle root over real txids, and a nonce ground until the
 * header hash meets the target (about two tries at regtest difficulty).
 */
import {Transaction} from 'bitcoinjs-lib'

import {sha256d, fromDisplayHex} from '../../../src/lib/chain/hashes.js'
import {meetsTarget, REGTEST_BITS, txHashes, writeVarInt} from './block-codec.js'

/** Bitcoin Core's regtest genesis block, byte for byte. */
export const REGTEST_GENESIS_HEX =
  '0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f20020000000101000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000'

/** regtest halves the subsidy every 150 blocks */
export const REGTEST_HALVING_INTERVAL = 150
export const COIN = 100_000_000n

export function blockSubsidy(height: number): bigint {
  const halvings = Math.floor(height / REGTEST_HALVING_INTERVAL)
  return halvings >= 64 ? 0n : (50n * COIN) >> BigInt(halvings)
}

/** BIP34 height push, plus OP_0 for heights 1–16 so the scriptSig is at least 2 bytes (as Core does). */
export function coinbaseHeightScript(height: number): Buffer {
  if (height === 0) return Buffer.from([0x00, 0x00])
  if (height <= 16) return Buffer.from([0x50 + height, 0x00])
  const bytes: number[] = []
  let n = height
  while (n > 0) {
    bytes.push(n & 0xff)
    n >>= 8
  }
  if (bytes[bytes.length - 1] & 0x80) bytes.push(0)
  return Buffer.from([bytes.length, ...bytes])
}

const WITNESS_RESERVED = Buffer.alloc(32)
const COMMITMENT_HEADER = Buffer.from('6a24aa21a9ed', 'hex')

export function merkleRoot(hashes: Buffer[]): Buffer {
  if (hashes.length === 0) return Buffer.alloc(32)
  let level = hashes
  while (level.length > 1) {
    const next: Buffer[] = []
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1] ?? level[i]
      next.push(sha256d(Buffer.concat([level[i], right])))
    }
    level = next
  }
  return level[0]
}

/** The OP_RETURN output committing to every wtxid (coinbase's counted as zero). */
export function witnessCommitmentScript(txs: Transaction[], wtxidsOfTxs: Buffer[] = txs.map((tx) => txHashes(tx).wtxid)): Buffer {
  const wtxids = [Buffer.alloc(32), ...wtxidsOfTxs]
  const commitment = sha256d(Buffer.concat([merkleRoot(wtxids), WITNESS_RESERVED]))
  return Buffer.concat([COMMITMENT_HEADER, commitment])
}

export interface CoinbaseOptions {
  height: number
  payoutScript: Uint8Array
  /** subsidy + fees */
  value: bigint
  /** the other transactions of the block, for the witness commitment */
  txs: Transaction[]
  /** their wtxids (internal order), when already computed */
  wtxids?: Buffer[]
}

export function buildCoinbase(opts: CoinbaseOptions): Transaction {
  const tx = new Transaction()
  tx.version = 2
  tx.locktime = Math.max(0, opts.height - 1)
  tx.addInput(Buffer.alloc(32), 0xffffffff, 0xfffffffe, coinbaseHeightScript(opts.height))
  tx.addOutput(opts.payoutScript, opts.value)
  tx.addOutput(witnessCommitmentScript(opts.txs, opts.wtxids), 0n)
  tx.setWitness(0, [WITNESS_RESERVED])
  return tx
}

export interface BlockTemplate {
  /** display hex of the parent */
  prevHash: string
  height: number
  time: number
  bits?: number
  version?: number
  payoutScript: Uint8Array
  /** the non-coinbase transactions, parents before children */
  txs: Transaction[]
  /** sum of their fees */
  fees: bigint
}

/** Assembles and mines a block; returns its raw bytes. */
export function buildBlock(t: BlockTemplate): Buffer {
  const hashed = t.txs.map(txHashes)
  const coinbase = txHashes(
    buildCoinbase({height: t.height, payoutScript: t.payoutScript, value: blockSubsidy(t.height) + t.fees, txs: t.txs, wtxids: hashed.map((h) => h.wtxid)}),
  )
  const all = [coinbase, ...hashed]
  const header = Buffer.alloc(80)
  header.writeInt32LE(t.version ?? 0x20000000, 0)
  fromDisplayHex(t.prevHash).copy(header, 4)
  merkleRoot(all.map((h) => h.txid)).copy(header, 36)
  header.writeUInt32LE(t.time, 68)
  const bits = t.bits ?? REGTEST_BITS
  header.writeUInt32LE(bits, 72)
  grind(header, bits)
  return Buffer.concat([header, writeVarInt(all.length), ...all.map((h) => h.raw)])
}

/** Tries nonces from 0 upwards, as Core's generate RPCs do. */
function grind(header: Buffer, bits: number): void {
  for (let nonce = 0; nonce <= 0xffffffff; nonce++) {
    header.writeUInt32LE(nonce, 76)
    if (meetsTarget(header, bits)) return
  }
  throw new Error('no nonce meets the target; bump the time and try again')
}
