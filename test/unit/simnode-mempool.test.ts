/**
 * Broadcasting to the simulator meets Core's rules and Core's answers:
 * sendrawtransaction's error codes and messages (-22, -25, -26, -27), the
 * maxfeerate and maxburnamount guards, replace-by-fee, testmempoolaccept and
 * submitpackage shapes, and a mempool whose entries and sequence read like
 * Core's.
 */
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'
import type {Transaction} from 'bitcoinjs-lib'

import {TestRpcClient} from '../support/simnode/client.js'
import {Simulator, type SimulatorOptions} from '../support/simnode/simulator.js'

async function funded(t: {after: (fn: () => Promise<void>) => void}, opts: SimulatorOptions = {}) {
  const sim = await Simulator.start({blockFiles: false, ...opts})
  t.after(() => sim.stop())
  sim.mine(110)
  return {sim, rpc: new TestRpcClient(sim.port, {cookiePath: sim.cookiePath})}
}

const hexOf = (tx: Transaction) => tx.toHex()

describe('sendrawtransaction', () => {
  test('accepts a valid transaction and returns its txid; resending it returns the txid again', async (t) => {
    const {sim, rpc} = await funded(t)
    const tx = sim.createTransaction({to: sim.newAddress(), value: 100_000})
    assert.equal(await rpc.call('sendrawtransaction', [hexOf(tx)]), tx.getId())
    assert.equal(await rpc.call('sendrawtransaction', [hexOf(tx)]), tx.getId())
    assert.deepEqual(await rpc.call('getrawmempool'), [tx.getId()])
  })

  test('undecodable hex is -22', async (t) => {
    const {rpc} = await funded(t)
    await assert.rejects(rpc.call('sendrawtransaction', ['deadbeef']), {code: -22, message: /TX decode failed. Make sure the tx has at least one input./})
  })

  test('missing or spent inputs are -25 bad-txns-inputs-missingorspent', async (t) => {
    const {sim, rpc} = await funded(t)
    const tx = sim.createTransaction({to: sim.newAddress(), value: 100_000})
    tx.ins[0].hash = Buffer.alloc(32, 9)
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(tx)]), {code: -25, message: /^sendrawtransaction: bad-txns-inputs-missingorspent/})
  })

  test('a confirmed transaction with unspent outputs is -27', async (t) => {
    const {sim, rpc} = await funded(t)
    const sent = sim.send({to: sim.newAddress(), value: 100_000})
    sim.mine(1)
    await assert.rejects(rpc.call('sendrawtransaction', [sent.hex]), {code: -27, message: /Transaction outputs already in utxo set/})
  })

  test('fees above maxfeerate are -25; maxfeerate 0 lifts the limit', async (t) => {
    const {sim, rpc} = await funded(t)
    const pricey = sim.createTransaction({to: sim.newAddress(), value: 100_000, feeRate: 20_000})
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(pricey)]), {
      code: -25,
      message: /Fee exceeds maximum configured by user \(e.g. -maxtxfee, maxfeerate\)/,
    })
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(pricey), 1]), {code: -8, message: /Fee rates larger than or equal to 1BTC\/kvB are not accepted/})
    assert.equal(await rpc.call('sendrawtransaction', [hexOf(pricey), 0]), pricey.getId())
  })

  test('burning more than maxburnamount in OP_RETURN is -25', async (t) => {
    const {sim, rpc} = await funded(t)
    const tx = sim.createTransaction({outputs: [{to: Buffer.from('6a0474657374', 'hex'), value: 1000}]})
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(tx)]), {code: -25, message: /maxburnamount/})
    assert.equal(await rpc.call('sendrawtransaction', [hexOf(tx), null, 0.00001]), tx.getId())
  })

  test('policy rejections are -26 with Core\'s reason and details', async (t) => {
    const {sim, rpc} = await funded(t)
    const free = sim.createTransaction({to: sim.newAddress(), value: 100_000, feeRate: 0})
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(free)]), {code: -26, message: /min relay fee not met, 0 < \d+/})
    const dust = sim.createTransaction({outputs: [{to: sim.newAddress(), value: 100}, {to: sim.newAddress(), value: 100}]})
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(dust)]), {code: -26, message: /: dust \(code -26\)$/})
    const coinbase = sim.chain.parsed(sim.chain.at(105)!).txids[0]
    const immature = sim.createTransaction({to: sim.newAddress(), value: 1000, from: [{txid: coinbase, vout: 0}]})
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(immature)]), {
      code: -26,
      message: /bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 6/,
    })
  })

  test('a conflicting transaction must pay more to replace; then it evicts the original', async (t) => {
    const {sim, rpc} = await funded(t)
    const original = sim.send({to: sim.newAddress(), value: 100_000})
    const coin = {txid: Buffer.from(original.tx.ins[0].hash).reverse().toString('hex'), vout: original.tx.ins[0].index}
    const cheaper = sim.createTransaction({to: sim.newAddress(), value: 100_000, from: [coin], feeRate: 2})
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(cheaper)]), {code: -26, message: /insufficient fee, rejecting replacement/})
    const replacement = sim.createTransaction({to: sim.newAddress(), value: 100_000, from: [coin], feeRate: 40})
    assert.equal(await rpc.call('sendrawtransaction', [hexOf(replacement)]), replacement.getId())
    assert.deepEqual(await rpc.call('getrawmempool'), [replacement.getId()])
  })

  test('without replace-by-fee any conflict is txn-mempool-conflict', async (t) => {
    const {sim, rpc} = await funded(t, {policy: {replaceByFee: false}})
    const original = sim.send({to: sim.newAddress(), value: 100_000})
    const coin = {txid: Buffer.from(original.tx.ins[0].hash).reverse().toString('hex'), vout: original.tx.ins[0].index}
    const rival = sim.createTransaction({to: sim.newAddress(), value: 100_000, from: [coin], feeRate: 80})
    await assert.rejects(rpc.call('sendrawtransaction', [hexOf(rival)]), {code: -26, message: /txn-mempool-conflict/})
  })
})

describe('testmempoolaccept and submitpackage', () => {
  test('testmempoolaccept reports allowed with vsize and fees, or the reject reason, without adding anything', async (t) => {
    const {sim, rpc} = await funded(t)
    const parent = sim.createTransaction({to: sim.newAddress(), value: 500_000})
    const [ok] = await rpc.call<Record<string, unknown>[]>('testmempoolaccept', [[hexOf(parent)]])
    // Core 31's fields (test/fixtures/regtest-core/rpc/broadcast/01-testmempoolaccept-allowed.json)
    assert.deepEqual(Object.keys(ok), ['txid', 'wtxid', 'allowed', 'vsize', 'vsize_bip141', 'vsize_adjusted', 'fees'])
    assert.equal(ok.allowed, true)
    assert.deepEqual(Object.keys(ok.fees as object), ['base', 'effective-feerate', 'effective-includes'])
    assert.deepEqual(await rpc.call('getrawmempool'), [])

    const orphan = sim.createTransaction({to: sim.newAddress(), value: 1000})
    orphan.ins[0].hash = Buffer.alloc(32, 3)
    const [missing] = await rpc.call<Record<string, unknown>[]>('testmempoolaccept', [[hexOf(orphan)]])
    assert.deepEqual(missing, {txid: orphan.getId(), wtxid: missing.wtxid, allowed: false, 'reject-reason': 'missing-inputs'})

    const pricey = sim.createTransaction({to: sim.newAddress(), value: 1000, feeRate: 20_000})
    const [tooMuch] = await rpc.call<Record<string, unknown>[]>('testmempoolaccept', [[hexOf(pricey)]])
    assert.equal(tooMuch['reject-reason'], 'max-fee-exceeded')
    await assert.rejects(rpc.call('testmempoolaccept', [[]]), {code: -8, message: /between 1 and 25 transactions/})
  })

  test('a child may spend its parent within one testmempoolaccept or submitpackage call', async (t) => {
    const {sim, rpc} = await funded(t)
    const parent = sim.send({to: sim.newAddress(), value: 300_000})
    const child = sim.createTransaction({to: sim.newAddress(), value: 100_000, from: [{txid: parent.txid, vout: 0}]})
    sim.dropFromMempool(parent.txid)
    const results = await rpc.call<{allowed: boolean}[]>('testmempoolaccept', [[parent.hex, hexOf(child)]])
    assert.deepEqual(results.map((r) => r.allowed), [true, true])

    const submitted = await rpc.call<{package_msg: string; 'tx-results': Record<string, {txid: string; vsize: number; fees: {base: number}}>; 'replaced-transactions': string[]}>(
      'submitpackage',
      [[parent.hex, hexOf(child)]],
    )
    assert.equal(submitted.package_msg, 'success')
    assert.deepEqual(Object.values(submitted['tx-results']).map((r) => r.txid), [parent.txid, child.getId()])
    assert.deepEqual(submitted['replaced-transactions'], [])
    assert.deepEqual(await rpc.call('getrawmempool'), [parent.txid, child.getId()])
  })
})

describe('the mempool', () => {
  test('entries know their parents and children, and children are listed after parents', async (t) => {
    const {sim, rpc} = await funded(t)
    const parent = sim.send({to: sim.newAddress(), value: 300_000, feeRate: 2})
    const child = sim.send({to: sim.newAddress(), value: 100_000, from: [{txid: parent.txid, vout: 0}], feeRate: 100})
    const entry = await rpc.call<{depends: string[]; ancestorcount: number; fees: {ancestor: number}}>('getmempoolentry', [child.txid])
    assert.deepEqual(entry.depends, [parent.txid])
    assert.equal(entry.ancestorcount, 2)
    assert.equal(Math.round(entry.fees.ancestor * 1e8), Number(parent.fee + child.fee))
    const parentEntry = await rpc.call<{spentby: string[]}>('getmempoolentry', [parent.txid])
    assert.deepEqual(parentEntry.spentby, [child.txid])
    assert.deepEqual(await rpc.call('getrawmempool'), [parent.txid, child.txid], 'the high-fee child still follows its parent')
    await assert.rejects(rpc.call('getmempoolentry', ['00'.repeat(32)]), {code: -5, message: /Transaction not in mempool/})
  })

  test('the mempool sequence counts every addition and removal', async (t) => {
    const {sim, rpc} = await funded(t)
    const seq = async () => (await rpc.call<{mempool_sequence: number}>('getrawmempool', [false, true])).mempool_sequence
    const start = await seq()
    sim.send({to: sim.newAddress(), value: 10_000})
    sim.send({to: sim.newAddress(), value: 10_000})
    assert.equal(await seq(), start + 2)
    sim.mine(1)
    assert.equal(await seq(), start + 4)
    await assert.rejects(rpc.call('getrawmempool', [true, true]), {code: -8, message: /Verbose results cannot contain mempool sequence values./})
  })

  test('dropFromMempool takes descendants along; replaceInMempool bumps the fee', async (t) => {
    const {sim, rpc} = await funded(t)
    const parent = sim.send({to: sim.newAddress(), value: 300_000})
    const child = sim.send({to: sim.newAddress(), value: 100_000, from: [{txid: parent.txid, vout: 0}]})
    assert.deepEqual(sim.dropFromMempool(parent.txid), [parent.txid, child.txid])
    const lone = sim.send({to: sim.newAddress(), value: 200_000})
    const bumped = sim.replaceInMempool(lone.txid)
    assert.deepEqual(await rpc.call('getrawmempool'), [bumped])
    assert.ok(sim.chain.mempool.get(bumped)!.fee > lone.fee)
  })

  test('getmempoolinfo reports loaded, size, bytes and total fee with 8-decimal amounts', async (t) => {
    const {sim, rpc} = await funded(t)
    const a = sim.send({to: sim.newAddress(), value: 10_000})
    const info = await rpc.call<{loaded: boolean; size: number; bytes: number; total_fee: number}>('getmempoolinfo')
    assert.deepEqual([info.loaded, info.size, info.bytes], [true, 1, a.tx.virtualSize()])
    assert.equal(Math.round(info.total_fee * 1e8), Number(a.fee))
    sim.chain.mempool.loaded = false
    assert.equal((await rpc.call<{loaded: boolean}>('getmempoolinfo')).loaded, false)
  })
})
