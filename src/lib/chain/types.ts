/**
 * Shapes of parsed chain data. Hashes are 32-byte Buffers in internal byte
 * order (as serialized); they become reversed hex only at the edges (RPC,
 * display). Scripts and headers are views into the block's buffer, not copies.
 */
export interface ParsedOutput {
  /** satoshis; below 2^53, so a number is exact */
  value: number
  script: Buffer
}

export interface ParsedInput {
  /** previous transaction id, internal order (all zeros for a coinbase) */
  prevTxid: Buffer
  prevVout: number
}

export interface ParsedTx {
  txid: Buffer
  /** true for the first transaction of a block */
  isCoinbase: boolean
  inputs: ParsedInput[]
  outputs: ParsedOutput[]
}

export interface ParsedBlock {
  hash: Buffer
  header: Buffer
  prevHash: Buffer
  merkleRoot: Buffer
  /** block time from the header, seconds since the epoch */
  time: number
  /** serialized size in bytes */
  size: number
  txs: ParsedTx[]
}
