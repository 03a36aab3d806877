import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import type {BroadcastResult} from '../../src/lib/broadcast/result.js'
import {runBix} from '../support/cli.js'
import {type TestNode, satsToBtcString, startTestNode} from '../support/test-node.js'

/**
 * `bix broadcast` against a real Bitcoin Core (BITCOIND=/path/to/bitcoind):
 * transactions made and signed by Core's own wallet, and Core's own verdicts.
 * Skipped without BITCOIND; the simulator covers the same ground in
 * broadcast-cli.test.ts.
 */

const BITCOIND = process.env.BITCOIND

interface Unspent {
  txid: string
  vout: number
  amount: number
  scriptPubKey: string
}

const sats = (btc: number): bigint => BigInt(Math.round(btc * 1e8))
const json = (stdout: string): BroadcastResult[] => JSON.parse(stdout) as BroadcastResult[]

describe('bix broadcast with a real bitcoind', {skip: BITCOIND ? false : 'set BITCOIND=/path/to/bitcoind to run'}, () => {
  let node: TestNode
  let dir: string

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-broadcast-bitcoind-'))
    node = await startTestNode({matureBlocks: 110})
    // fees come from the parents, which the node finds by -txindex: let it catch up with the blocks just mined
    for (let i = 0; ; i++) {
      const info = await node.rpc<{txindex?: {synced: boolean; best_block_height: number}}>('getindexinfo', ['txindex'])
      if (info.txindex?.synced && info.txindex.best_block_height === (await node.tipHeight())) break
      assert.ok(i < 100, 'txindex did not catch up within 10 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })
  after(async () => {
    await node?.stop()
    if (dir) fs.rmSync(dir, {recursive: true, force: true})
  })

  const bix = (args: string[]) => runBix(['broadcast', ...node.cliArgs(), '--db', path.join(dir, 'none.db'), ...args], {timeoutMs: 60_000})

  /** A coin of the wallet nobody else in this file will pick: locked against the wallet's own coin selection. */
  async function takeCoin(): Promise<Unspent> {
    const unspent = await node.rpc<Unspent[]>('listunspent', [1])
    const locked = new Set((await node.rpc<Array<{txid: string; vout: number}>>('listlockunspent')).map((o) => `${o.txid}:${o.vout}`))
    const coin = unspent.find((u) => !locked.has(`${u.txid}:${u.vout}`))
    assert.ok(coin, 'the wallet has a free coin')
    await node.rpc('lockunspent', [false, [{txid: coin.txid, vout: coin.vout}]])
    return coin
  }

  /** Spends one coin to a new address, paying `feeSats`; signed by the wallet, not broadcast. */
  async function spend(coin: Unspent, feeSats: bigint, to?: string): Promise<string> {
    const address = to ?? (await node.newAddress('bech32'))
    const raw = await node.rpc<string>('createrawtransaction', [[{txid: coin.txid, vout: coin.vout}], {[address]: satsToBtcString(sats(coin.amount) - feeSats)}])
    const signed = await node.rpc<{hex: string; complete: boolean}>('signrawtransactionwithwallet', [raw])
    assert.ok(signed.complete)
    return signed.hex
  }

  /** A child spending output 0 of `parentHex` (a payment to the wallet), paying `feeSats`; signed, not broadcast. */
  async function childOf(parentHex: string, feeSats: bigint): Promise<{hex: string; parentTxid: string}> {
    const parent = await node.rpc<{txid: string; vout: Array<{value: number; scriptPubKey: {hex: string}}>}>('decoderawtransaction', [parentHex])
    const out = parent.vout[0]
    const raw = await node.rpc<string>('createrawtransaction', [
      [{txid: parent.txid, vout: 0}],
      {[await node.newAddress('bech32m')]: satsToBtcString(sats(out.value) - feeSats)},
    ])
    const signed = await node.rpc<{hex: string; complete: boolean}>('signrawtransactionwithwallet', [
      raw,
      [{txid: parent.txid, vout: 0, scriptPubKey: out.scriptPubKey.hex, amount: satsToBtcString(sats(out.value))}],
    ])
    assert.ok(signed.complete)
    return {hex: signed.hex, parentTxid: parent.txid}
  }

  test('a wallet-made transaction is sent, with the fee the node reports; sending again exits 0 both before and after mining', async () => {
    const hex = await spend(await takeCoin(), 5_000n)
    const first = await bix([hex, '--json'])
    assert.equal(first.code, 0, first.stderr)
    const [sent] = json(first.stdout)
    assert.equal(sent.status, 'sent')
    const entry = await node.rpc<{fees: {base: number}; vsize: number}>('getmempoolentry', [sent.txid])
    assert.equal(sent.fee, 5000)
    assert.equal(sats(entry.fees.base), 5000n)
    assert.equal(sent.vsize, entry.vsize)

    const again = await bix([hex, '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(json(again.stdout)[0].status, 'already-in-mempool')

    await node.mine(1)
    const confirmed = await bix([hex, '--json'])
    assert.equal(confirmed.code, 0, confirmed.stderr)
    assert.equal(json(confirmed.stdout)[0].status, 'already-confirmed')
  })

  test('a double spend is rejected with the node\'s reason, exit 8', async () => {
    const coin = await takeCoin()
    const first = await spend(coin, 10_000n)
    const second = await spend(coin, 5_000n)
    assert.equal((await bix([first])).code, 0)
    const conflict = await bix([second, '--json'])
    assert.equal(conflict.code, 8, conflict.stderr)
    const [result] = json(conflict.stdout)
    assert.equal(result.node_code, -26)
    // full RBF (Core 28+): a replacement paying less; before it, a plain conflict
    assert.match(result.reason!, /^rejected by the node's policy: (insufficient fee|txn-mempool-conflict)/)

    await node.mine(1)
    const spent = await bix([second, '--json'])
    assert.equal(spent.code, 8)
    assert.equal(json(spent.stdout)[0].node_code, -25)
    assert.match(json(spent.stdout)[0].reason!, /^missing or spent inputs/)
  })

  test('a fee above the limit is refused: the node\'s default, and --max-fee-rate', async () => {
    const coin = await takeCoin()
    const absurd = await spend(coin, sats(coin.amount) - 100_000_000n)
    const refused = await bix([absurd, '--json'])
    assert.equal(refused.code, 8, refused.stderr)
    assert.equal(json(refused.stdout)[0].node_code, -25)
    assert.match(json(refused.stdout)[0].reason!, /^fee rate [\d.]+ sat\/vB exceeds the node's default limit of 10,000 sat\/vB/)

    const modest = await spend(await takeCoin(), 2_000n)
    const capped = await bix([modest, '--max-fee-rate', '1.5', '--json'])
    assert.equal(capped.code, 8)
    const [result] = json(capped.stdout)
    assert.match(result.reason!, new RegExp(`^fee rate ${result.feerate} sat/vB exceeds --max-fee-rate 1\\.5 sat/vB$`))
    const allowed = await bix([modest, '--max-fee-rate', String(Math.ceil(result.feerate!))])
    assert.equal(allowed.code, 0, allowed.stdout)
  })

  test('--dry-run: testmempoolaccept says accepted, and nothing reaches the mempool', async () => {
    const hex = await spend(await takeCoin(), 3_000n)
    const r = await bix([hex, '--dry-run', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const [result] = json(r.stdout)
    assert.deepEqual([result.status, result.fee], ['accepted', 3000])
    const mempool = await node.rpc<string[]>('getrawmempool')
    assert.equal(mempool.includes(result.txid), false)
  })

  test('a parent and its child are accepted together (submitpackage on Core 28+)', async () => {
    const parentHex = await spend(await takeCoin(), 4_000n, await node.newAddress('bech32'))
    const child = await childOf(parentHex, 6_000n)
    const r = await bix([child.hex, parentHex, '--json', '--verbose'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(json(r.stdout).map((x) => x.status), ['sent', 'sent'])
    assert.equal(json(r.stdout)[0].fee, 6000, 'the child\'s fee, from the parent given alongside')
    const {version} = await node.rpc<{version: number}>('getnetworkinfo')
    if (version >= 280000) assert.match(r.stderr, /^submitpackage +1 /m)
    const mempool = await node.rpc<string[]>('getrawmempool')
    assert.ok(mempool.includes(child.parentTxid) && mempool.includes(json(r.stdout)[0].txid))
  })

  test('--dry-run of a parent already in the mempool and its new child: Core stops at the parent, bix tests the child on top of it', async () => {
    const parentHex = await spend(await takeCoin(), 4_000n, await node.newAddress('bech32'))
    assert.equal((await bix([parentHex])).code, 0)
    const child = await childOf(parentHex, 6_000n)
    const r = await bix([parentHex, child.hex, '--dry-run', '--json'])
    assert.equal(r.code, 0, r.stdout)
    assert.deepEqual(json(r.stdout).map((x) => [x.status, x.fee]), [
      ['already-in-mempool', 4000],
      ['accepted', 6000],
    ])
    const mempool = await node.rpc<string[]>('getrawmempool')
    assert.equal(mempool.includes(json(r.stdout)[1].txid), false, 'a dry run sends nothing')
  })
})
