/**
 * What the node knows about coins: the UTXO set of the active chain, the undo
 * data of every block it ever connected (what each input spent, for
 * getblock verbosity 2/3 fees and prevouts and /rest/spenttxouts), and a
 * transaction index with txindex semantics: an entry is written when a block
 * is connected and is not removed when the block is disconnected, so a
 * transaction that only exists in a stale block can still be found there.
 */
import {isUnspendable} from './scripts.js'
import type {ParsedBlock} from './block-codec.js'

export interface Coin {
  value: bigint
  script: Buffer
  height: number
  coinbase: boolean
}

export interface TxLocation {
  /** display hex of the block */
  blockHash: string
  /** position in the block */
  index: number
}

export class MissingInputsError extends Error {}

export const outpointKey = (txid: string, vout: number): string => `${txid}:${vout}`

/** An input's prevout hash (internal order) as a display txid. */
export const inputTxid = (hash: Uint8Array): string => Buffer.from(hash).reverse().toString('hex')

export class Ledger {
  readonly utxos = new Map<string, Coin>()
  /** blockHash → per non-coinbase transaction, the coins its inputs spent */
  readonly undo = new Map<string, Coin[][]>()
  readonly txIndex = new Map<string, TxLocation>()
  /** height of the last block connected, -1 before genesis */
  height = -1

  /** Applies a block on top of the current set; throws MissingInputsError and leaves the set unchanged if an input is missing. */
  connect(blockHash: string, height: number, block: ParsedBlock): void {
    const spent: Coin[][] = []
    const created = new Map<string, Coin>()
    const removed = new Map<string, Coin>()
    block.txs.forEach((tx, i) => {
      const txid = block.txids[i]
      if (i > 0) {
        const coins: Coin[] = []
        for (const input of tx.ins) {
          const key = outpointKey(inputTxid(input.hash), input.index)
          const coin = created.get(key) ?? (removed.has(key) ? undefined : this.utxos.get(key))
          if (!coin) throw new MissingInputsError(`block ${blockHash} spends missing or spent ${key}`)
          if (created.has(key)) created.delete(key)
          else removed.set(key, coin)
          coins.push(coin)
        }
        spent.push(coins)
      }
      tx.outs.forEach((out, vout) => {
        if (isUnspendable(out.script)) return
        created.set(outpointKey(txid, vout), {value: out.value, script: Buffer.from(out.script), height, coinbase: i === 0})
      })
    })
    for (const key of removed.keys()) this.utxos.delete(key)
    for (const [key, coin] of created) this.utxos.set(key, coin)
    this.undo.set(blockHash, spent)
    block.txids.forEach((txid, index) => this.txIndex.set(txid, {blockHash, index}))
    this.height = height
  }

  /** Reverts the tip block using its undo data. */
  disconnect(blockHash: string, height: number, block: ParsedBlock): void {
    const spent = this.undo.get(blockHash)
    if (!spent) throw new Error(`no undo data for ${blockHash}`)
    for (let i = block.txs.length - 1; i >= 0; i--) {
      const tx = block.txs[i]
      tx.outs.forEach((_, vout) => this.utxos.delete(outpointKey(block.txids[i], vout)))
      if (i > 0) {
        tx.ins.forEach((input, j) => {
          this.utxos.set(outpointKey(inputTxid(input.hash), input.index), spent[i - 1][j])
        })
      }
    }
    this.height = height - 1
  }

  /** Unspent coins paying to a script, in no particular order. */
  *coinsFor(scripts: ReadonlySet<string>): Generator<[string, Coin]> {
    for (const entry of this.utxos) if (scripts.has(entry[1].script.toString('hex'))) yield entry
  }
}
