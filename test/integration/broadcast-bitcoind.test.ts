import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import type {BroadcastResult} from '../../src/lib/broadcast/result.js'
import {Block, Transaction} from 'bitcoinjs-lib'

import {runBix} from '../support/cli.js'
import {OPEN_ADDRESS, type OpenCoin, coinOf, opReturn, payOpen, spendOpen, toOpen} from '../support/open-coins.js'
import {RpcCallError} from '../support/simnode/client.js'
import {type TestNode, satsToBtcString, startTestNode} from '../support/test-node.js'

/**
 * `bix broadcast` judged by the node's own verdicts. The first part runs on
 * real Bitcoin Core when BITCOIND=/path/to/bitcoind is set and on the
 * simulator otherwise (held to recorded Core answers by
 * test/contract/simnode-contract.test.ts): each transaction is also put to
 * the node directly (testmempoolaccept, or a sendrawtransaction it refuses),
 * and what bix reports must be what the node said; afterwards the mempool and
 * the chain are asked what became of it. The coins pay P2WSH(OP_TRUE), so the
 * same transactions are valid on both without a signing library.
 *
 * The second part needs Core's wallet (real signatures) and runs only with
 * BITCOIND.
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

interface MempoolAcceptResult {
  allowed: boolean
  'reject-reason'?: string
  'reject-details'?: string
  fees?: {base: number}
}

describe("bix broadcast against the node's own verdicts (Core with BITCOIND, else the simulator)", () => {
  let node: TestNode
  let dir: string
  let coins: OpenCoin[] = []

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-broadcast-verdicts-'))
    node = await startTestNode()
    // 12 coinbases to the open script, matured by 100 more blocks
    const hashes = await node.mine(12, OPEN_ADDRESS)
    await node.mine(100)
    for (const hash of hashes) coins.push(coinOf(Block.fromHex(await node.rpc<string>('getblock', [hash, 0])).transactions![0]))
  })
  after(async () => {
    await node?.stop()
    if (dir) fs.rmSync(dir, {recursive: true, force: true})
  })

  const bix = (args: string[]) => runBix(['broadcast', ...node.cliArgs(), '--db', path.join(dir, 'none.db'), ...args], {timeoutMs: 60_000})
  const take = (): OpenCoin => {
    const coin = coins.shift()
    assert.ok(coin, 'out of open coins')
    return coin
  }
  /** the node's testmempoolaccept for one transaction */
  const nodeVerdict = async (tx: Transaction, maxfeerate?: number): Promise<MempoolAcceptResult> =>
    (await node.rpc<MempoolAcceptResult[]>('testmempoolaccept', maxfeerate === undefined ? [[tx.toHex()]] : [[tx.toHex()], maxfeerate]))[0]
  /** the node's own refusal of a sendrawtransaction (it must refuse: nothing changes) */
  async function nodeRefusal(tx: Transaction | string, ...params: unknown[]): Promise<RpcCallError> {
    const hex = typeof tx === 'string' ? tx : tx.toHex()
    const err = await node.rpc('sendrawtransaction', [hex, ...params]).then(
      () => assert.fail('the node accepted it'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof RpcCallError, String(err))
    return err
  }
  const inMempool = (txid: string) =>
    node.rpc('getmempoolentry', [txid]).then(
      () => true,
      (err: unknown) => {
        if (err instanceof RpcCallError && err.code === -5) return false
        throw err
      },
    )

  /** bix's one result for `tx`, which must exit `code` */
  async function bixResult(args: string[], code: number): Promise<BroadcastResult> {
    const r = await bix([...args, '--json'])
    assert.equal(r.code, code, `exit code\n${r.stdout}${r.stderr}`)
    const results = json(r.stdout)
    assert.equal(results.length, 1)
    return results[0]
  }

  /** Core's message "reason, details" is in bix's reason, every part of it. */
  function assertNodeReason(result: BroadcastResult, nodeMessage: string): void {
    assert.ok(result.reason, 'bix gives a reason')
    for (const part of nodeMessage.split(', ')) assert.ok(result.reason.includes(part), `bix's reason ${JSON.stringify(result.reason)} lacks the node's ${JSON.stringify(part)}`)
  }

  test('rejections carry the node\'s own reason and code, exit 8, and leave the mempool as it was', async () => {
    const coin = take()
    const cases: Array<[string, Transaction]> = [
      ['below the min relay fee', payOpen(coin, 0n)],
      ['dust', payOpen(coin, 1_000n, [toOpen(100n)])],
      ['a non-standard output script', payOpen(coin, 1_000n, [{script: Buffer.from([0x51]), value: 10_000n}])],
      ['a witness script that is not the committed one', spendOpen([coin], [toOpen(coin.value - 1_000n)], {witnessScript: Buffer.from([0x52])})],
    ]
    for (const [what, tx] of cases) {
      const verdict = await nodeVerdict(tx)
      assert.equal(verdict.allowed, false, `${what}: the node refuses it`)
      const refusal = await nodeRefusal(tx)
      const result = await bixResult([tx.toHex()], 8)
      assert.equal(result.status, 'rejected', what)
      assert.equal(result.node_code, refusal.code, `${what}: the node's code`)
      assertNodeReason(result, refusal.nodeMessage)
      assert.ok(result.reason!.includes(verdict['reject-reason']!), `${what}: testmempoolaccept's reason`)
      assert.equal(await inMempool(tx.getId()), false, what)
    }
    const coinStill = await node.rpc('gettxout', [coin.txid, coin.vout, true])
    assert.notEqual(coinStill, null, 'the coin is still unspent')
  })

  test('missing inputs: -25 from the node, exit 8; a transaction that does not decode exits 2 and reaches no node', async () => {
    const orphan = payOpen({txid: 'ab'.repeat(32), vout: 0, value: 100_000n}, 1_000n)
    assert.equal((await nodeVerdict(orphan))['reject-reason'], 'missing-inputs')
    const refusal = await nodeRefusal(orphan)
    const result = await bixResult([orphan.toHex()], 8)
    assert.equal(result.node_code, refusal.code)
    assert.match(result.reason!, /^missing or spent inputs/)

    const garbage = 'deadbeef'
    assert.equal((await nodeRefusal(garbage)).code, -22, 'the node cannot decode it either')
    const r = await bix([garbage])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^error: transaction 1 \(argument 1\): .*; nothing was sent$/m)
  })

  test('sent, then sent again (exit 0, already in the mempool), then mined and sent again (exit 0, already confirmed)', async () => {
    const tx = payOpen(take(), 2_000n)
    const sent = await bixResult([tx.toHex()], 0)
    assert.equal(sent.status, 'sent')
    const entry = await node.rpc<{fees: {base: number}; vsize: number}>('getmempoolentry', [tx.getId()])
    assert.equal(sats(entry.fees.base), 2_000n)
    assert.deepEqual([sent.fee, sent.vsize], [2000, entry.vsize])
    assert.equal((await nodeVerdict(tx))['reject-reason'], 'txn-already-in-mempool', 'the node has it')
    assert.equal((await bixResult([tx.toHex()], 0)).status, 'already-in-mempool')

    await node.mine(1)
    const confirmed = await node.rpc<{confirmations: number}>('getrawtransaction', [tx.getId(), 1])
    assert.equal(confirmed.confirmations, 1)
    assert.equal((await nodeRefusal(tx)).code, -27, 'the node says it is in the chain')
    assert.equal((await bixResult([tx.toHex()], 0)).status, 'already-confirmed')
    assert.equal(await inMempool(tx.getId()), false)
  })

  test('a full-RBF replacement paying more is sent and the original leaves the mempool; a double spend paying less is refused with the node\'s reason', async () => {
    const coin = take()
    const original = payOpen(coin, 1_000n)
    const replacement = payOpen(coin, 3_000n)
    const cheaper = payOpen(coin, 2_000n)
    assert.equal((await bixResult([original.toHex()], 0)).status, 'sent')
    assert.equal((await nodeVerdict(replacement)).allowed, true, 'the node would take the replacement')
    assert.equal((await bixResult([replacement.toHex()], 0)).status, 'sent')
    assert.equal(await inMempool(original.getId()), false, 'the original is gone')
    assert.equal(await inMempool(replacement.getId()), true)
    assert.equal(await node.rpc('gettxout', [coin.txid, coin.vout, true]), null, 'the coin is spent in the mempool')

    const verdict = await nodeVerdict(cheaper)
    assert.equal(verdict['reject-reason'], 'insufficient fee')
    const result = await bixResult([cheaper.toHex()], 8)
    assert.equal(result.node_code, (await nodeRefusal(cheaper)).code)
    assertNodeReason(result, verdict['reject-details']!)
    assert.equal(await inMempool(replacement.getId()), true, 'the replacement stays')
  })

  test('a parent below the min relay fee goes through with the child that pays for it (submitpackage)', async () => {
    const parent = payOpen(take(), 0n)
    const child = payOpen(coinOf(parent), 5_000n)
    assert.equal((await nodeVerdict(parent))['reject-reason'], 'min relay fee not met', 'alone, the node refuses the parent')
    const r = await bix([parent.toHex(), child.toHex(), '--json'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.deepEqual(json(r.stdout).map((x) => [x.txid, x.status, x.fee]), [
      [parent.getId(), 'sent', 0],
      [child.getId(), 'sent', 5000],
    ])
    const entry = await node.rpc<{fees: {base: number; chunk: number}; depends: string[]}>('getmempoolentry', [child.getId()])
    assert.deepEqual(entry.depends, [parent.getId()])
    assert.equal(sats(entry.fees.chunk), 5_000n, 'one chunk: the child pays for both')
    assert.equal(await inMempool(parent.getId()), true)
  })

  test('--max-fee-rate: refused above it as the node refuses at that maxfeerate (exit 8), sent with no limit', async () => {
    const tx = payOpen(take(), 100_000n)
    const verdict = await nodeVerdict(tx, 0.00001)
    assert.equal(verdict['reject-reason'], 'max-fee-exceeded', 'the node refuses it at 1 sat/vB')
    const refusal = await nodeRefusal(tx, 0.00001)
    const capped = await bixResult([tx.toHex(), '--max-fee-rate', '1'], 8)
    assert.equal(capped.node_code, refusal.code)
    assert.match(capped.reason!, new RegExp(`^fee rate ${capped.feerate} sat/vB exceeds --max-fee-rate 1 sat/vB$`))
    assert.equal(await inMempool(tx.getId()), false)
    assert.equal((await bixResult([tx.toHex(), '--max-fee-rate', '0'], 0)).status, 'sent')
    assert.equal(await inMempool(tx.getId()), true)
  })

  test('--max-burn: an OP_RETURN carrying sats is refused by default and below the amount, as by the node\'s maxburnamount; sent at the amount', async () => {
    const tx = payOpen(take(), 1_000n, [opReturn('bix burns', 5_000n)])
    for (const [flag, nodeLimit] of [[[], 0], [['--max-burn', '4999'], 0.00004999]] as const) {
      const refusal = await nodeRefusal(tx, 0, nodeLimit)
      assert.match(refusal.nodeMessage, /^Unspendable output exceeds maximum configured by user \(maxburnamount\)$/)
      const result = await bixResult([tx.toHex(), ...flag], 8)
      assert.equal(result.node_code, refusal.code)
      assert.match(result.reason!, /OP_RETURN/)
    }
    assert.equal(await inMempool(tx.getId()), false)
    assert.equal((await bixResult([tx.toHex(), '--max-burn', '5000'], 0)).status, 'sent')
    assert.equal(await inMempool(tx.getId()), true)
  })

  test('--dry-run: accepted exactly when testmempoolaccept allows it, with its fee; nothing is sent either way', async () => {
    const coin = take()
    const good = payOpen(coin, 3_000n)
    const verdict = await nodeVerdict(good)
    assert.equal(verdict.allowed, true)
    const accepted = await bixResult([good.toHex(), '--dry-run'], 0)
    assert.deepEqual([accepted.status, BigInt(accepted.fee!)], ['accepted', sats(verdict.fees!.base)])
    const cheap = payOpen(coin, 0n)
    const refused = await nodeVerdict(cheap)
    const rejected = await bixResult([cheap.toHex(), '--dry-run'], 8)
    assertNodeReason(rejected, refused['reject-details']!)
    assert.equal(await inMempool(good.getId()), false)
    assert.equal(await inMempool(cheap.getId()), false)
  })
})

// Core's wallet signs for real; the simulator's signatures are dummies it never checks
describe("bix broadcast with a real bitcoind: its wallet's signed transactions", {skip: BITCOIND ? false : 'set BITCOIND=/path/to/bitcoind to run'}, () => {
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

  test('a bad signature: the node\'s script error, -26, exit 8, and the coin stays unspent', async () => {
    const coin = await takeCoin()
    const signed = Transaction.fromHex(await spend(coin, 2_000n))
    // flip one bit of r in the DER signature (witness item 0 of a P2WPKH spend): still well-formed, no longer valid
    const sig = Buffer.from(signed.ins[0].witness[0])
    sig[10] ^= 0x01
    signed.ins[0].witness[0] = sig
    const forged = signed.toHex()
    const verdict = (await node.rpc<Array<{allowed: boolean; 'reject-reason': string; 'reject-details': string}>>('testmempoolaccept', [[forged]]))[0]
    assert.equal(verdict.allowed, false)
    assert.match(verdict['reject-reason'], /script-verify-flag-failed/)
    const r = await bix([forged, '--json'])
    assert.equal(r.code, 8, r.stderr)
    const [result] = json(r.stdout)
    assert.equal(result.node_code, -26)
    for (const part of verdict['reject-details'].split(', ')) assert.ok(result.reason!.includes(part), `bix's reason lacks ${part}`)
    assert.notEqual(await node.rpc('gettxout', [coin.txid, coin.vout, true]), null)
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
