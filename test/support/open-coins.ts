/**
 * Coins anyone can spend, so tests and the Core recorder can make transactions
 * real Bitcoin Core accepts without a signing library: outputs paying
 * P2WSH(OP_TRUE) are spent by a witness holding only that script, which is
 * standard. The simulator and Core see the very same bytes.
 */
import {Transaction, networks, payments} from 'bitcoinjs-lib'

/** the witness script: OP_TRUE */
export const OPEN_WITNESS_SCRIPT = Buffer.from([0x51])
const open = payments.p2wsh({redeem: {output: OPEN_WITNESS_SCRIPT}, network: networks.regtest})
/** the output script P2WSH(OP_TRUE): 0020 + sha256(51) */
export const OPEN_SCRIPT = Buffer.from(open.output!)
/** its regtest address, for generatetoaddress */
export const OPEN_ADDRESS = open.address!

export interface OpenCoin {
  txid: string
  vout: number
  value: bigint
}

export interface Output {
  script: Uint8Array
  value: bigint
}

/** an OP_RETURN output carrying `text` */
export const opReturn = (text: string, value = 0n): Output => {
  const data = Buffer.from(text, 'utf8')
  return {script: Buffer.concat([Buffer.from([0x6a, data.length]), data]), value}
}

/** `value` sats back to the open script */
export const toOpen = (value: bigint): Output => ({script: OPEN_SCRIPT, value})

/**
 * Spends open coins to `outputs`. `witnessScript` replaces OP_TRUE in every
 * input's witness (a script that does not hash to the program makes Core's
 * script check fail).
 */
export function spendOpen(coins: OpenCoin[], outputs: Output[], opts: {witnessScript?: Buffer} = {}): Transaction {
  const tx = new Transaction()
  tx.version = 2
  for (const coin of coins) tx.addInput(Buffer.from(coin.txid, 'hex').reverse(), coin.vout, 0xfffffffd)
  for (const out of outputs) tx.addOutput(Buffer.from(out.script), out.value)
  coins.forEach((_, i) => tx.setWitness(i, [opts.witnessScript ?? OPEN_WITNESS_SCRIPT]))
  return tx
}

/** Output `vout` of `tx` as a coin to spend. */
export const coinOf = (tx: Transaction, vout = 0): OpenCoin => ({txid: tx.getId(), vout, value: tx.outs[vout].value})

/** A payment of everything but `fee` from one open coin back to the open script. */
export const payOpen = (coin: OpenCoin, fee: bigint, extra: Output[] = []): Transaction =>
  spendOpen([coin], [toOpen(coin.value - fee - extra.reduce((sum, o) => sum + o.value, 0n)), ...extra])
