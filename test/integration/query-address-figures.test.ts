import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {runBix} from '../support/cli.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * The figures `bix query address` prints, checked against what the node says
 * of its own chain (`getblock <hash> 3`: block times, output values and the
 * prevouts every input spends): first and last activity, each history
 * entry's block time, and the human answer line by line — balance in BTC
 * with 8 decimals, counts, heights and times. Runs against the recorded Core
 * chain on the simulator, or on bitcoind with BITCOIND set.
 */

const fixture = readFixtureChain()

interface CoreBlock {
  height: number
  time: number
  tx: Array<{
    txid: string
    vin: Array<{coinbase?: string; prevout?: {value: number; scriptPubKey: {hex: string; address?: string}}}>
    vout: Array<{value: number; scriptPubKey: {hex: string; address?: string}}>
  }>
}

interface CoreTx {
  txid: string
  height: number
  time: number
  /** the transaction's place in the chain: later is greater */
  order: number
  valueChange: number
}

interface CoreAccount {
  funded: number
  fundedSum: number
  spent: number
  spentSum: number
  /** in chain order, oldest first */
  txs: CoreTx[]
}

interface Activity {
  txid: string
  height: number | null
  time: number
}

interface Report {
  address: string | null
  scripthash: string
  chain_stats: {funded_txo_count: number; funded_txo_sum: number; spent_txo_count: number; spent_txo_sum: number; tx_count: number}
  balance: {confirmed: number; unconfirmed: number; total: number}
  first_activity: Activity | null
  last_activity: Activity | null
  history: Array<{txid: string; height: number | null; time: number; value_change: number}>
}

const sats = (btc: number) => Math.round(btc * 1e8)

/** Every address's account of the active chain, from the node's getblock verbosity 3 (outputs, and the prevout of each input, with the address the node gives each script). */
async function accountsFromNode(node: TestNode): Promise<Map<string, CoreAccount>> {
  const accounts = new Map<string, CoreAccount>()
  const tip = await node.tipHeight()
  let order = 0
  for (let height = 0; height <= tip; height++) {
    const block = await node.rpc<CoreBlock>('getblock', [await node.rpc<string>('getblockhash', [height]), 3])
    for (const tx of block.tx) {
      order++
      const touched = new Map<string, number>()
      const account = (address: string) => {
        let a = accounts.get(address)
        if (!a) accounts.set(address, (a = {funded: 0, fundedSum: 0, spent: 0, spentSum: 0, txs: []}))
        return a
      }
      for (const input of tx.vin) {
        if (input.coinbase !== undefined || !input.prevout) continue
        const address = input.prevout.scriptPubKey.address
        if (!address) continue
        const a = account(address)
        a.spent++
        a.spentSum += sats(input.prevout.value)
        touched.set(address, (touched.get(address) ?? 0) - sats(input.prevout.value))
      }
      // the genesis coinbase never enters the UTXO set
      if (height > 0) {
        for (const out of tx.vout) {
          const address = out.scriptPubKey.address
          if (!address) continue
          const a = account(address)
          a.funded++
          a.fundedSum += sats(out.value)
          touched.set(address, (touched.get(address) ?? 0) + sats(out.value))
        }
      }
      for (const [address, valueChange] of touched) account(address).txs.push({txid: tx.txid, height: block.height, time: block.time, order, valueChange})
    }
  }
  return accounts
}

/** "1,234.50000000": whole bitcoins grouped by thousands, always 8 decimals. */
function btc(amount: number): string {
  const negative = amount < 0
  const abs = Math.abs(amount)
  const whole = Math.floor(abs / 1e8).toLocaleString('en-US')
  return `${negative ? '-' : ''}${whole}.${String(abs % 1e8).padStart(8, '0')}`
}

/** "2026-11-22 19:01:00 UTC" */
const utc = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC')

function tempDb(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-figures-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'index.db')
}

describe('bix query address figures', () => {
  test('first and last activity, history times and the human answer line by line equal the node\'s blocks', async (t) => {
    const node = await startTestNode({fixtureChain: true})
    t.after(() => node.stop())
    const db = tempDb(t)
    const indexed = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet'])
    assert.equal(indexed.code, 0, indexed.stderr)

    const addresses = [...fixture.addresses, fixture.miner]
    const accounts = await accountsFromNode(node)
    const tipHash = await node.tipHash()
    const tipHeight = await node.tipHeight()

    // --json, every address at once: activity and every history entry's time
    const r = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, '--json', '--history', '--limit', '0', '--offline', ...addresses])
    assert.equal(r.code, 0, r.stderr)
    const reports = JSON.parse(r.stdout) as Report[]
    let withSeveral = 0
    for (const [i, address] of addresses.entries()) {
      const report = reports[i]
      const account = accounts.get(address)
      const txs = account?.txs ?? []
      assert.equal(report.address, address)
      if (txs.length === 0) {
        assert.equal(report.first_activity, null, address)
        assert.equal(report.last_activity, null, address)
        continue
      }
      if (new Set(txs.map((tx) => tx.height)).size > 1) withSeveral++
      const [first, last] = [txs[0], txs.at(-1)!]
      assert.deepEqual(report.first_activity, {txid: first.txid, height: first.height, time: first.time}, `first activity of ${address}`)
      assert.deepEqual(report.last_activity, {txid: last.txid, height: last.height, time: last.time}, `last activity of ${address}`)
      const newestFirst = [...txs].sort((a, b) => b.order - a.order)
      assert.deepEqual(
        report.history,
        newestFirst.map((tx) => ({txid: tx.txid, height: tx.height, time: tx.time, value_change: tx.valueChange})),
        `history of ${address}`,
      )
    }
    assert.ok(withSeveral >= 5, `${withSeveral} addresses active in more than one block`)

    // the human answer of a few of them, line by line: the busiest, ones that spent, and one that only received
    const active = addresses.filter((a) => accounts.has(a))
    const spenders = active.filter((a) => accounts.get(a)!.spent > 0 && a !== fixture.miner)
    const receivers = active.filter((a) => accounts.get(a)!.spent === 0)
    const chosen = [fixture.miner, ...spenders.slice(0, 2), ...receivers.slice(0, 1)]
    assert.equal(new Set(chosen).size, 4, 'the fixture has spenders and receivers')
    for (const address of chosen) {
      const account = accounts.get(address)!
      const report = reports[addresses.indexOf(address)]
      const human = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, '--history', '--limit', '0', '--offline', address])
      assert.equal(human.code, 0, human.stderr)
      assert.equal(human.stderr, '')
      const plural = (n: number) => `${n} output${n === 1 ? '' : 's'}`
      const first = account.txs[0]
      const last = account.txs.at(-1)!
      const expected = [
        `address      ${address}`,
        `scripthash   ${report.scripthash}`,
        `balance      ${btc(account.fundedSum - account.spentSum)} BTC`,
        `transactions ${account.txs.length.toLocaleString('en-US')}`,
        `funded       ${plural(account.funded)}, ${btc(account.fundedSum)} BTC`,
        `spent        ${plural(account.spent)}, ${btc(account.spentSum)} BTC`,
        `first seen   height ${first.height}, ${utc(first.time)}, ${first.txid}`,
        `last seen    height ${last.height}, ${utc(last.time)}, ${last.txid}`,
        `index        height ${tipHeight} (${tipHash}), regtest`,
        'mempool      never synced (bix sync-mempool)',
        '',
        `history (${account.txs.length} shown, newest first)`,
        ...[...account.txs]
          .sort((a, b) => b.order - a.order)
          .map((tx) => `  ${tx.txid}  height ${String(tx.height).padEnd(7)}  ${utc(tx.time)}  ${(tx.valueChange > 0 ? `+${btc(tx.valueChange)}` : btc(tx.valueChange)).padStart(20)}`),
      ]
      assert.deepEqual(human.stdout.split('\n'), [...expected, ''], `the answer for ${address}`)
    }
  })
})
