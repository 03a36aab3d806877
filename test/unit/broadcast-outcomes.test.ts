import assert from 'node:assert/strict'
import {after, before, describe, test} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import type {Transaction} from 'bitcoinjs-lib'

import {type BroadcastRequest, broadcast} from '../../src/lib/broadcast/broadcast.js'
import {parseFeeRateLimit} from '../../src/lib/broadcast/fee-limits.js'
import {scriptToAddress} from '../../src/lib/chain/address.js'
import {type PreparedTx, prepareTransactions} from '../../src/lib/broadcast/prepare.js'
import {sendTransactions} from '../../src/lib/broadcast/sender.js'
import {makeEndpoint} from '../../src/lib/node/config.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import type {NodeClient} from '../../src/lib/node/types.js'
import {httpRequest} from '../support/simnode/client.js'
import {Simulator} from '../support/simnode/simulator.js'
import {type TinyNode, replay, rpcFixture, rpcMethod, startTinyNode} from '../support/tiny-node.js'

/**
 * The broadcast library against the regtest simulator (a real HTTP server
 * with Core's acceptance rules and error texts), in-process so each test can
 * look at what the node received. A small proxy in front of it loses answers
 * on purpose: before the node sees the request, or after it has acted on it.
 */

let sim: Simulator
let client: NodeClient
const closers: Array<() => Promise<void>> = []
let coins: Array<{txid: string; vout: number}> = []

before(async () => {
  sim = await Simulator.start()
  sim.mine(150)
  coins = sim.chain.spendableCoins(sim.wallet.scripts()).map(({txid, vout}) => ({txid, vout}))
  client = clientFor(sim.port)
})
after(async () => {
  await client.close()
  for (const close of closers) await close()
  await sim.stop()
})

function clientFor(port: number, requestTimeoutMs = 5000): NodeClient {
  const c = createNodeClient(
    {
      network: 'regtest',
      networkExplicit: true,
      datadir: sim.datadir,
      netDatadir: sim.netDatadir,
      endpoints: [makeEndpoint('127.0.0.1', port)],
      credentials: {kind: 'cookie', path: sim.cookiePath},
    },
    {parallelism: 4, connectTimeoutMs: 1000, requestTimeoutMs},
  )
  closers.push(() => c.close())
  return c
}

/** A wallet payment spending a coin no other test uses. */
function payment(opts: {feeRate?: number; value?: bigint; opReturnValue?: bigint | bigint[]} = {}): Transaction {
  const coin = coins.shift()
  assert.ok(coin, 'the simulator wallet ran out of coins')
  const burns = opts.opReturnValue === undefined ? [] : [opts.opReturnValue].flat()
  const outputs = burns.map((value) => ({to: Buffer.from('6a0462697821', 'hex'), value}))
  return sim.createTransaction({to: sim.newAddress(), value: opts.value ?? 1_000_000n, outputs, feeRate: opts.feeRate, from: [coin]})
}

/** A child spending output `vout` of a parent that need not be in the mempool yet. */
function childOf(parent: Transaction, vout: number, feeRate = 20): Transaction {
  const out = parent.outs[vout]
  return sim.wallet.buildSpend({
    coins: [{txid: parent.getId(), vout, value: out.value, script: Buffer.from(out.script)}],
    payments: [{script: Buffer.from(sim.wallet.newKey('bech32').script), value: out.value / 2n}],
    changeScript: sim.wallet.newKey('bech32').script,
    feeRate,
    locktime: sim.chain.height,
  })
}

const prepared = (...txs: Transaction[]): PreparedTx[] => prepareTransactions(txs.map((tx, i) => ({hex: tx.toHex(), origin: `argument ${i + 1}`})), 'regtest')

function run(txs: PreparedTx[], options: Partial<BroadcastRequest> = {}) {
  return broadcast(txs, {client, network: 'regtest', nodeVersion: sim.info.version, dryRun: false, ...options})
}

/** How many requests for a method the simulator received while `work` ran. */
async function counting<T>(method: string, work: () => Promise<T>): Promise<{value: T; calls: number}> {
  const before = sim.calls(method)
  const value = await work()
  return {value, calls: sim.calls(method) - before}
}

describe('sending: every outcome, and what counts as success', () => {
  test('a new transaction is sent, with its fee from the prevouts the node holds', async () => {
    const tx = payment()
    const {reports, exitCode} = await run(prepared(tx))
    assert.equal(exitCode, 0)
    assert.equal(reports[0].result.status, 'sent')
    assert.equal(reports[0].result.fee, Number(sim.chain.mempool.get(tx.getId())!.fee))
    assert.equal(reports[0].result.feerate, 20)
    assert.ok(sim.chain.mempool.has(tx.getId()))
  })

  test('without -txindex the fee still comes from the node: the coins spent, from its UTXO set', async () => {
    const proxy = await proxyTo({getrawtransaction: 'no-txindex'})
    const tx = payment()
    const {reports} = await run(prepared(tx), {client: clientFor(proxy.port)})
    assert.equal(reports[0].result.status, 'sent')
    assert.deepEqual([reports[0].result.fee, reports[0].result.feerate], [Number(sim.chain.mempool.get(tx.getId())!.fee), 20])
    const {txid, vout} = reports[0].inputs[0]
    const coinbase = sim.chain.findTx(txid)!.tx
    assert.deepEqual(reports[0].inputs[0].prevout, {value: 50 * 1e8, address: scriptToAddress(coinbase.outs[vout].script, 'regtest'), from: 'node'})
    assert.ok(proxy.methods.includes('gettxout'))
  })

  test('sending it again is "already in the mempool", exit 0; once mined, "already confirmed", exit 0', async () => {
    const tx = payment()
    await run(prepared(tx))
    const again = await run(prepared(tx))
    assert.deepEqual([again.reports[0].result.status, again.exitCode], ['already-in-mempool', 0])
    assert.equal(again.reports[0].result.fee, Number(sim.chain.mempool.get(tx.getId())!.fee))
    sim.mine(1)
    const mined = await run(prepared(tx))
    assert.deepEqual([mined.reports[0].result.status, mined.exitCode], ['already-confirmed', 0])
  })

  test('a confirmed transaction whose outputs are all spent (the node says "missing inputs") is still "already confirmed"', async () => {
    const parent = payment()
    await run(prepared(parent))
    sim.mine(1)
    const sweep = sim.createTransaction({to: sim.newAddress(), value: 100_000n, from: parent.outs.map((_, vout) => ({txid: parent.getId(), vout}))})
    sim.accept(sweep)
    sim.mine(1)
    const {reports, exitCode} = await run(prepared(parent))
    assert.deepEqual([reports[0].result.status, exitCode], ['already-confirmed', 0])
  })

  test('below the minimum relay fee: rejected with the policy reason (-26), exit 8', async () => {
    const {reports, exitCode} = await run(prepared(payment({feeRate: 0})))
    assert.equal(exitCode, 8)
    assert.equal(reports[0].result.status, 'rejected')
    assert.equal(reports[0].result.node_code, -26)
    assert.match(reports[0].result.reason!, /^rejected by the node's policy: min relay fee not met \(0 < \d+\)$/)
  })

  test('a double spend of a confirmed coin: missing or spent inputs (-25), exit 8', async () => {
    const first = payment()
    const coin = {txid: Buffer.from(first.ins[0].hash).reverse().toString('hex'), vout: first.ins[0].index}
    const second = sim.createTransaction({to: sim.newAddress(), value: 2_000_000n, from: [coin]})
    await run(prepared(first))
    sim.mine(1)
    const {reports, exitCode} = await run(prepared(second))
    assert.equal(exitCode, 8)
    assert.deepEqual([reports[0].result.status, reports[0].result.node_code], ['rejected', -25])
    assert.match(reports[0].result.reason!, /^missing or spent inputs/)
  })

  test('a fee rate above --max-fee-rate is refused, naming both rates; nothing enters the mempool', async () => {
    const tx = payment({feeRate: 30})
    const {reports, exitCode} = await run(prepared(tx), {maxFeeRate: parseFeeRateLimit('25')})
    assert.equal(exitCode, 8)
    assert.equal(reports[0].result.reason, 'fee rate 30 sat/vB exceeds --max-fee-rate 25 sat/vB')
    assert.equal(reports[0].result.node_code, -25)
    assert.equal(sim.chain.mempool.has(tx.getId()), false)
    // the limit is sent exactly: 25 sat/vB = 0.00025 BTC/kvB, and 30 sat/vB passes 30
    const ok = await run(prepared(tx), {maxFeeRate: parseFeeRateLimit('30')})
    assert.equal(ok.reports[0].result.status, 'sent')
  })

  test('value in an OP_RETURN output is refused unless --max-burn allows it', async () => {
    const tx = payment({opReturnValue: 1000n})
    const refused = await run(prepared(tx))
    assert.equal(refused.exitCode, 8)
    assert.match(refused.reports[0].result.reason!, /more than --max-burn 0 sat \(the default\)/)
    const allowed = await run(prepared(tx), {maxBurn: 1000n})
    assert.equal(allowed.reports[0].result.status, 'sent')
  })

  test('--max-burn limits each unspendable output, as Core does: two of 600 sat pass --max-burn 600', async () => {
    const tx = payment({opReturnValue: [600n, 600n]})
    const tested = await run(prepared(tx), {dryRun: true, maxBurn: 600n})
    assert.deepEqual([tested.reports[0].result.status, tested.exitCode], ['accepted', 0])
    const tight = await run(prepared(tx), {dryRun: true, maxBurn: 599n})
    assert.equal(tight.reports[0].result.reason, 'an unspendable (OP_RETURN) output carries 600 sat, more than --max-burn 599 sat; pass --max-burn to destroy it on purpose')
    const sent = await run(prepared(tx), {maxBurn: 600n})
    assert.deepEqual([sent.reports[0].result.status, sent.exitCode], ['sent', 0])
  })

  test('a confirmed transaction that a reorg replaced by a double spend is not "already confirmed": rejected, exit 8', async () => {
    const tx = payment()
    const coin = {txid: Buffer.from(tx.ins[0].hash).reverse().toString('hex'), vout: tx.ins[0].index}
    const doubleSpend = sim.createTransaction({to: sim.newAddress(), value: 1_500_000n, from: [coin]})
    await run(prepared(tx))
    sim.mine(1)
    sim.reorg({depth: 1, dropTxs: true, txs: [doubleSpend]})
    // -txindex still finds it, in the block that left the chain
    assert.equal((await client.call<{confirmations: number}>('getrawtransaction', [tx.getId(), 1])).confirmations, 0)
    const {reports, exitCode} = await run(prepared(tx))
    assert.deepEqual([reports[0].result.status, reports[0].result.node_code, exitCode], ['rejected', -25, 8])
    assert.match(reports[0].result.reason!, /^missing or spent inputs/)
  })

  test('several transactions: each reported, the exit code is the worst outcome', async () => {
    const good = payment()
    const cheap = payment({feeRate: 0})
    const {reports, exitCode} = await run(prepared(good, cheap, good))
    assert.deepEqual(
      reports.map((r) => r.result.status),
      ['sent', 'rejected', 'sent'],
    )
    assert.equal(exitCode, 8)
  })
})

describe('parent and child in one call', () => {
  test('go together through submitpackage on Core 28+, child given first', async () => {
    const parent = payment()
    const child = childOf(parent, 0)
    const {value, calls} = await counting('submitpackage', () => run(prepared(child, parent)))
    assert.equal(calls, 1)
    assert.deepEqual(value.reports.map((r) => r.result.status), ['sent', 'sent'])
    // the child's fee is known from the parent given alongside
    assert.equal(value.reports[0].result.fee, Number(sim.chain.mempool.get(child.getId())!.fee))
    assert.equal(value.exitCode, 0)
  })

  test('before Core 28 they go one by one, parents first', async () => {
    const parent = payment()
    const child = childOf(parent, 0)
    const order: string[] = []
    const {value, calls} = await counting('submitpackage', () => run(prepared(child, parent), {nodeVersion: 270000, onOutcome: (tx) => order.push(tx.decoded.txid)}))
    assert.equal(calls, 0)
    assert.deepEqual(order, [parent.getId(), child.getId()])
    assert.deepEqual(value.reports.map((r) => r.result.status), ['sent', 'sent'])
  })

  test('a node without submitpackage (-32601) gets them one by one, parents first', async () => {
    const proxy = await proxyTo({submitpackage: 'method-not-found'})
    const parent = payment()
    const child = childOf(parent, 1)
    const {reports, exitCode} = await run(prepared(child, parent), {client: clientFor(proxy.port)})
    assert.deepEqual(reports.map((r) => r.result.status), ['sent', 'sent'])
    assert.equal(exitCode, 0)
    assert.deepEqual(proxy.methods.filter((m) => m === 'sendrawtransaction' || m === 'submitpackage'), ['submitpackage', 'sendrawtransaction', 'sendrawtransaction'])
  })

  test('a chain of three, which Core refuses as a package (-25 topology), goes one by one, parents first', async () => {
    const proxy = await proxyTo({})
    const grandparent = payment()
    const parent = childOf(grandparent, 0)
    const child = childOf(parent, 0)
    const {reports, exitCode} = await run(prepared(child, grandparent, parent), {client: clientFor(proxy.port)})
    assert.deepEqual(reports.map((r) => r.result.status), ['sent', 'sent', 'sent'])
    assert.equal(exitCode, 0)
    assert.deepEqual(proxy.methods.filter((m) => m === 'sendrawtransaction' || m === 'submitpackage'), ['submitpackage', 'sendrawtransaction', 'sendrawtransaction', 'sendrawtransaction'])
  })

  test('a child that also spends a mempool transaction not given: Core evaluates no package, so one by one', async () => {
    const other = payment()
    await run(prepared(other))
    const parent = payment()
    const spends = [parent, other].map((tx) => ({txid: tx.getId(), vout: 0, value: tx.outs[0].value, script: Buffer.from(tx.outs[0].script)}))
    const child = sim.wallet.buildSpend({
      coins: spends,
      payments: [{script: Buffer.from(sim.wallet.newKey('bech32').script), value: 1_000_000n}],
      changeScript: sim.wallet.newKey('bech32').script,
      locktime: sim.chain.height,
    })
    const proxy = await proxyTo({})
    const {reports, exitCode} = await run(prepared(parent, child), {client: clientFor(proxy.port)})
    assert.deepEqual(reports.map((r) => r.result.status), ['sent', 'sent'])
    assert.equal(exitCode, 0)
    assert.deepEqual(proxy.methods.filter((m) => m === 'sendrawtransaction' || m === 'submitpackage'), ['submitpackage', 'sendrawtransaction', 'sendrawtransaction'])
  })

  test('one by one, a child whose parent\'s fate stayed unknown is held back with the same exit code (4)', async () => {
    const proxy = await proxyTo({sendrawtransaction: 'drop-before'})
    const parent = payment()
    const child = childOf(parent, 0)
    const outcomes = await sendTransactions(clientFor(proxy.port), outgoing(prepared(parent, child)), {packages: false, lookupIntervalMs: 20})
    assert.deepEqual(outcomes.map((o) => [o.status, o.exitCode]), [
      ['error', 4],
      ['error', 4],
    ])
    assert.equal(outcomes[1].reason, `not sent: it spends an output of ${parent.getId()}, whose sending failed`)
    assert.equal(proxy.methods.filter((m) => m === 'sendrawtransaction').length, 1, 'the child was not sent')
  })

  test('one by one, a child whose parent was rejected is not sent at all', async () => {
    const parent = payment({feeRate: 0})
    const child = childOf(parent, 0)
    const {value, calls} = await counting('sendrawtransaction', () => run(prepared(parent, child), {nodeVersion: 270000}))
    assert.equal(calls, 1)
    assert.equal(value.reports[1].result.status, 'rejected')
    assert.equal(value.reports[1].result.reason, `not sent: it spends an output of ${parent.getId()}, which the node refused`)
  })
})

describe('an answer lost on the way back is looked up, never guessed', () => {
  test('timeout, but the node took it: sent (confirmed by lookup after timeout)', async () => {
    const proxy = await proxyTo({sendrawtransaction: 'slow-answer'})
    const tx = payment()
    const txs = prepared(tx)
    const [outcome] = await sendTransactions(clientFor(proxy.port, 500), outgoing(txs), {packages: true, lookupIntervalMs: 50})
    assert.deepEqual(outcome, {status: 'sent', fee: Number(sim.chain.mempool.get(tx.getId())!.fee), note: 'confirmed by lookup after timeout'})
  })

  test('the connection dropped after the node took it: sent, confirmed by lookup', async () => {
    const proxy = await proxyTo({sendrawtransaction: 'drop-after'})
    const [outcome] = await sendTransactions(clientFor(proxy.port), outgoing(prepared(payment())), {packages: true, lookupIntervalMs: 50})
    assert.equal(outcome.status, 'sent')
    assert.equal(outcome.note, 'confirmed by lookup after the connection dropped')
  })

  test('the connection dropped before the node saw it: not in the mempool after 3 looks, so exit 4 (unknown)', async () => {
    const proxy = await proxyTo({sendrawtransaction: 'drop-before'})
    const tx = payment()
    const [outcome] = await sendTransactions(clientFor(proxy.port), outgoing(prepared(tx)), {packages: true, lookupIntervalMs: 50})
    assert.equal(outcome.status, 'error')
    assert.equal(outcome.exitCode, 4)
    assert.match(outcome.reason!, /whether it was accepted is unknown: run the same broadcast again/)
    assert.equal(proxy.methods.filter((m) => m === 'sendrawtransaction').length, 1, 'never resent blind')
    assert.equal(proxy.methods.filter((m) => m === 'getmempoolentry').length, 1 + 3, 'one look before, three after')
    assert.equal(sim.chain.mempool.has(tx.getId()), false)
  })

  test('a package whose answer timed out is looked up member by member', async () => {
    const proxy = await proxyTo({submitpackage: 'slow-answer'})
    const parent = payment()
    const child = childOf(parent, 0)
    const outcomes = await sendTransactions(clientFor(proxy.port, 500), outgoing(prepared(parent, child)), {packages: true, lookupIntervalMs: 50})
    assert.deepEqual(outcomes.map((o) => [o.status, o.note]), [
      ['sent', 'confirmed by lookup after timeout'],
      ['sent', 'confirmed by lookup after timeout'],
    ])
  })
})

describe('dry run: testmempoolaccept only, nothing sent', () => {
  test('a good transaction is accepted with its fee; the mempool does not get it', async () => {
    const tx = payment()
    const {value, calls} = await counting('sendrawtransaction', () => run(prepared(tx), {dryRun: true}))
    assert.equal(calls, 0)
    assert.deepEqual([value.reports[0].result.status, value.exitCode], ['accepted', 0])
    const verdict = sim.chain.testAccept(tx)
    assert.ok(verdict.ok)
    assert.equal(value.reports[0].result.fee, Number(verdict.fee))
    assert.equal(sim.chain.mempool.has(tx.getId()), false)
  })

  test('parent and child are tested together, so the child is judged with its parent', async () => {
    const parent = payment()
    const child = childOf(parent, 0)
    const {reports, exitCode} = await run(prepared(child, parent), {dryRun: true})
    assert.deepEqual(reports.map((r) => r.result.status), ['accepted', 'accepted'])
    assert.equal(exitCode, 0)
  })

  test('rejections carry the reason: fee too high, relay fee not met, value burnt above --max-burn', async () => {
    const {reports, exitCode} = await run(prepared(payment({feeRate: 30}), payment({feeRate: 0}), payment({opReturnValue: 500n})), {
      dryRun: true,
      maxFeeRate: parseFeeRateLimit('25'),
    })
    assert.equal(exitCode, 8)
    assert.deepEqual(
      reports.map((r) => r.result.reason),
      [
        'fee rate 30 sat/vB exceeds --max-fee-rate 25 sat/vB',
        reports[1].result.reason!.match(/^rejected by the node's policy: min relay fee not met \(0 < \d+\)$/)?.[0],
        'an unspendable (OP_RETURN) output carries 500 sat, more than --max-burn 0 sat (the default); pass --max-burn to destroy it on purpose',
      ],
    )
  })

  test('a package member already in the mempool: Core stops there, so the rest are tested again on top of it', async () => {
    const inMempool = payment()
    await run(prepared(inMempool))
    const fresh = payment()
    const child = sim.wallet.buildSpend({
      coins: [fresh, inMempool].map((tx) => ({txid: tx.getId(), vout: 0, value: tx.outs[0].value, script: Buffer.from(tx.outs[0].script)})),
      payments: [{script: Buffer.from(sim.wallet.newKey('bech32').script), value: 1_000_000n}],
      changeScript: sim.wallet.newKey('bech32').script,
      locktime: sim.chain.height,
    })
    const {value, calls} = await counting('testmempoolaccept', () => run(prepared(fresh, inMempool, child), {dryRun: true}))
    assert.deepEqual(value.reports.map((r) => r.result.status), ['accepted', 'already-in-mempool', 'accepted'])
    assert.equal(value.exitCode, 0)
    assert.equal(calls, 2, 'once with all three, once without the one in the mempool')
    assert.equal(sim.chain.mempool.has(child.getId()), false)
  })

  test('a parent already confirmed: its child is judged on top of it', async () => {
    const parent = payment()
    await run(prepared(parent))
    sim.mine(1)
    const {reports, exitCode} = await run(prepared(parent, childOf(parent, 0)), {dryRun: true})
    assert.deepEqual(reports.map((r) => r.result.status), ['already-confirmed', 'accepted'])
    assert.equal(exitCode, 0)
  })

  test('a child of a refused parent is not judged, and says which transaction stopped the test', async () => {
    const parent = payment({feeRate: 0})
    const {reports} = await run(prepared(parent, childOf(parent, 0)), {dryRun: true})
    assert.deepEqual(reports.map((r) => r.result.status), ['rejected', 'rejected'])
    assert.equal(reports[1].result.reason, `not judged: the node stopped testing the package at ${parent.getId()}, which it refused`)
  })

  test('without -txindex, a confirmed transaction the node calls "missing-inputs" is found in the UTXO set: already confirmed', async () => {
    // Core answers missing-inputs when the outputs are not in its coins cache, and getrawtransaction -5 without -txindex
    const proxy = await proxyTo({getrawtransaction: 'no-txindex', testmempoolaccept: 'uncached-coins'})
    const tx = payment()
    await run(prepared(tx))
    sim.mine(1)
    const {reports, exitCode} = await run(prepared(tx), {dryRun: true, client: clientFor(proxy.port)})
    assert.deepEqual([reports[0].result.status, exitCode], ['already-confirmed', 0])
    assert.ok(proxy.methods.includes('gettxout'))
  })

  test('a transaction already mined is "already confirmed", exit 0', async () => {
    const tx = payment()
    await run(prepared(tx))
    sim.mine(1)
    const {reports, exitCode} = await run(prepared(tx), {dryRun: true})
    assert.deepEqual([reports[0].result.status, exitCode], ['already-confirmed', 0])
  })
})

describe("the recorded answers of a real Core node", () => {
  test('-27 "Transaction outputs already in utxo set" is already confirmed, exit 0', async () => {
    const recorded = rpcFixture('err-sendraw-already-in-chain')
    const node = await recordedNode({sendrawtransaction: recorded})
    const hex = (recorded.request as {params: string[]}).params[0]
    const {reports, exitCode} = await run(prepareTransactions([{hex, origin: 'argument 1'}], 'regtest'), {client: clientFor(node.port)})
    assert.deepEqual([reports[0].result.status, exitCode], ['already-confirmed', 0])
  })

  test('a transaction already in the mempool: Core answers with its txid, and bix says so', async () => {
    const recorded = rpcFixture('err-sendraw-already-in-mempool')
    const node = await recordedNode({sendrawtransaction: recorded, getmempoolentry: rpcFixture('getmempoolentry')})
    const hex = (recorded.request as {params: string[]}).params[0]
    const {reports, exitCode} = await run(prepareTransactions([{hex, origin: 'argument 1'}], 'regtest'), {client: clientFor(node.port)})
    assert.deepEqual([reports[0].result.status, exitCode], ['already-in-mempool', 0])
    // the fee comes from the node's mempool entry: 0.00002691 BTC over 132 vB
    assert.deepEqual([reports[0].result.fee, reports[0].result.feerate], [2691, 20.386])
  })

  test('-22 (recorded "TX decode failed") for a transaction bix could decode: rejected, exit 8, saying the node could not decode it', async () => {
    const node = await recordedNode({sendrawtransaction: rpcFixture('err-sendraw-decode')})
    const {reports, exitCode} = await run(prepared(payment()), {client: clientFor(node.port)})
    assert.equal(exitCode, 8)
    assert.deepEqual([reports[0].result.status, reports[0].result.node_code], ['rejected', -22])
    assert.equal(reports[0].result.reason, 'the node could not decode it: TX decode failed. Make sure the tx has at least one input.')
  })

  test('dry run: testmempoolaccept "txn-already-in-mempool" is already in the mempool, exit 0', async () => {
    const recorded = rpcFixture('testmempoolaccept-ok-already')
    const node = await recordedNode({testmempoolaccept: recorded})
    const hex = (recorded.request as {params: string[][]}).params[0][0]
    const {reports, exitCode} = await run(prepareTransactions([{hex, origin: 'argument 1'}], 'regtest'), {client: clientFor(node.port), dryRun: true})
    assert.deepEqual([reports[0].result.status, exitCode], ['already-in-mempool', 0])
  })
})

function outgoing(txs: PreparedTx[]) {
  return txs.map((tx) => ({
    txid: tx.decoded.txid,
    wtxid: tx.decoded.wtxid,
    hex: tx.hex,
    inputs: tx.decoded.inputs,
    spendableVouts: tx.decoded.outputs.filter((o) => o.type !== 'op_return').map((o) => o.vout),
  }))
}

type Rule = 'drop-before' | 'drop-after' | 'slow-answer' | 'method-not-found' | 'no-txindex' | 'uncached-coins'

const NO_TXINDEX = 'No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions.'

/**
 * The simulator behind a proxy that misbehaves for chosen methods: drops the
 * connection before forwarding (the node never saw it) or after (the node
 * acted, the answer is lost), answers late, or says the method does not exist.
 */
async function proxyTo(rules: Partial<Record<string, Rule>>): Promise<TinyNode & {methods: string[]}> {
  const methods: string[] = []
  const node = await startTinyNode(async (req, res) => {
    const method = rpcMethod(req) ?? 'batch'
    methods.push(method)
    const rule = rules[method]
    if (rule === 'drop-before') return void res.socket?.destroy()
    if (rule === 'method-not-found') return replay(res, rpcFixture('err-method-not-found'), req)
    const call = req.json as {id: unknown; params: unknown[]}
    if (rule === 'no-txindex' && !sim.chain.mempool.has(String(call.params[0]))) {
      res.writeHead(500, {'content-type': 'application/json'})
      return void res.end(JSON.stringify({result: null, error: {code: -5, message: NO_TXINDEX}, id: call.id}))
    }
    const answer = await httpRequest({
      port: sim.port,
      method: 'POST',
      headers: {authorization: String(req.headers.authorization), 'content-type': 'application/json'},
      body: JSON.stringify(req.json),
    })
    if (rule === 'drop-after') return void res.socket?.destroy()
    if (rule === 'slow-answer') await sleep(800)
    if (res.destroyed) return
    let body = answer.body
    if (rule === 'uncached-coins') {
      const reply = JSON.parse(body.toString('utf8')) as {result: Array<Record<string, unknown>>}
      reply.result = reply.result.map((r) => (r['reject-reason'] === 'txn-already-known' ? {txid: r.txid, wtxid: r.wtxid, allowed: false, 'reject-reason': 'missing-inputs'} : r))
      body = Buffer.from(JSON.stringify(reply))
    }
    res.writeHead(answer.status, {'content-type': String(answer.headers['content-type'] ?? 'application/json')})
    res.end(body)
  })
  closers.push(() => node.close())
  return Object.assign(node, {methods})
}

/** Answers chosen methods with recorded exchanges; getmempoolentry defaults to "not in mempool" (-5). */
async function recordedNode(answers: Record<string, ReturnType<typeof rpcFixture>>): Promise<TinyNode> {
  const notInMempool = {status: 500, body: {result: null, error: {code: -5, message: 'Transaction not in mempool'}, id: null}}
  const node = await startTinyNode((req, res) => {
    const method = rpcMethod(req) ?? ''
    replay(res, answers[method] ?? (method === 'getmempoolentry' || method === 'getrawtransaction' ? notInMempool : rpcFixture('err-method-not-found')), req)
  })
  closers.push(() => node.close())
  return node
}
