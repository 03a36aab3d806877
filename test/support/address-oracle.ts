/**
 * An independent account of who owns what: the node's active chain fetched
 * block by block (getblock verbosity 0) and parsed with bitcoinjs-lib, not
 * with bix's own parser, giving every output script's funding outputs,
 * spends and transactions. Tests compare bix's answers with it, and with
 * the node's own scantxoutset.
 */
import {Block} from 'bitcoinjs-lib'

import type {TestNode} from './test-node.js'

export interface OracleOutput {
  txid: string
  vout: number
  value: number
  height: number
  spentBy: string | null
}

export interface OracleScript {
  outputs: OracleOutput[]
  /** every transaction that paid or spent the script: txid → {height, value change} */
  txs: Map<string, {height: number; valueChange: number}>
}

export interface AddressOracle {
  tipHeight: number
  /** every txid of the active chain */
  txids: Set<string>
  byScript(scriptHex: string): OracleScript
}

export async function buildAddressOracle(node: TestNode): Promise<AddressOracle> {
  const tipHeight = await node.tipHeight()
  const scripts = new Map<string, OracleScript>()
  const outputs = new Map<string, {script: string; output: OracleOutput}>()
  const txids = new Set<string>()
  const entry = (script: string) => {
    let s = scripts.get(script)
    if (!s) scripts.set(script, (s = {outputs: [], txs: new Map()}))
    return s
  }
  const touch = (s: OracleScript, txid: string, height: number, delta: number) => {
    const t = s.txs.get(txid)
    if (t) t.valueChange += delta
    else s.txs.set(txid, {height, valueChange: delta})
  }
  for (let height = 0; height <= tipHeight; height++) {
    const hash = await node.rpc<string>('getblockhash', [height])
    const block = Block.fromHex(await node.rpc<string>('getblock', [hash, 0]))
    for (const tx of block.transactions ?? []) {
      const txid = tx.getId()
      txids.add(txid)
      if (!tx.isCoinbase()) {
        for (const input of tx.ins) {
          const prev = `${Buffer.from(input.hash).reverse().toString('hex')}:${input.index}`
          const spent = outputs.get(prev)
          if (!spent) throw new Error(`oracle: ${txid} spends unknown ${prev}`)
          spent.output.spentBy = txid
          touch(entry(spent.script), txid, height, -spent.output.value)
        }
      }
      // the genesis coinbase's output never enters the UTXO set
      if (height === 0) continue
      tx.outs.forEach((out, vout) => {
        const script = Buffer.from(out.script).toString('hex')
        const output: OracleOutput = {txid, vout, value: Number(out.value), height, spentBy: null}
        outputs.set(`${txid}:${vout}`, {script, output})
        entry(script).outputs.push(output)
        touch(entry(script), txid, height, output.value)
      })
    }
  }
  return {tipHeight, txids, byScript: (script) => scripts.get(script) ?? {outputs: [], txs: new Map()}}
}
