/**
 * The simulator's chain behaves like Core's: reorgs change the best block and
 * the chain tips, the most work wins (even with fewer blocks), disconnected
 * transactions return to the mempool, invalidate/reconsider work, and the
 * recorded fixture chain can be served before and after its reorg.
 */
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'
import {Transaction} from 'bitcoinjs-lib'

import {TestRpcClient} from '../support/simnode/client.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {Simulator, type SimulatorOptions} from '../support/simnode/simulator.js'
import type {ChainTip} from '../support/simnode/chain.js'

async function startSim(t: {after: (fn: () => Promise<void>) => void}, opts: SimulatorOptions = {}) {
  const sim = await Simulator.start({blockFiles: false, ...opts})
  t.after(() => sim.stop())
  const rpc = new TestRpcClient(sim.port, {cookiePath: sim.cookiePath})
  return {sim, rpc}
}

describe('reorgs', () => {
  test('a reorg of 3 blocks changes the best block and leaves the old branch as a valid fork', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(10)
    const oldTip = await rpc.call<string>('getbestblockhash')
    const {disconnected, connected} = sim.reorg({depth: 3})

    assert.equal(disconnected.length, 3)
    assert.equal(connected.length, 4)
    assert.equal(await rpc.call('getbestblockhash'), connected[3])
    assert.equal(await rpc.call('getblockcount'), 11)
    assert.deepEqual(await rpc.call<ChainTip[]>('getchaintips'), [
      {height: 11, hash: connected[3], branchlen: 0, status: 'active'},
      {height: 10, hash: oldTip, branchlen: 3, status: 'valid-fork'},
    ])
    const stale = await rpc.call<{confirmations: number}>('getblockheader', [oldTip])
    assert.equal(stale.confirmations, -1)
  })

  test('a shorter branch with more work wins', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(10)
    const {connected} = sim.reorg({depth: 3, blocks: 1})
    assert.equal(await rpc.call('getblockcount'), 8)
    assert.equal(await rpc.call('getbestblockhash'), connected[0])
    const header = await rpc.call<{chainwork: string; bits: string}>('getblockheader', [connected[0]])
    assert.notEqual(header.bits, '207fffff')
    assert.ok(BigInt('0x' + header.chainwork) > 2n * 11n, 'more work than the 10-block branch')
  })

  test('a competing branch delivered with submitblock takes over once it has more work', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(5)
    const fork = sim.chain.at(3)!
    const a = sim.mineOn(fork, [])
    const b = sim.mineOn(sim.chain.get(a)!, [])
    assert.equal(await rpc.call('getbestblockhash'), sim.chain.at(5)!.hash, 'equal work keeps the first-seen tip')
    const c = sim.mineOn(sim.chain.get(b)!, [])
    assert.equal(await rpc.call('getbestblockhash'), c)
    const raw = sim.chain.get(c)!.raw.toString('hex')
    assert.equal(await rpc.call('submitblock', [raw]), 'duplicate')
  })

  test('transactions of disconnected blocks go back to the mempool', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(101)
    const sent = sim.send({to: sim.newAddress(), value: 50_000})
    sim.mine(1)
    assert.deepEqual(await rpc.call('getrawmempool'), [])
    sim.reorg({depth: 1})
    assert.deepEqual(await rpc.call('getrawmempool'), [sent.txid])
  })

  test('keepTxs confirms the disconnected transactions again at a new height', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(101)
    const sent = sim.send({to: sim.newAddress(), value: 50_000})
    const [first] = sim.mine(1)
    sim.mine(2)
    const {connected} = sim.reorg({depth: 3, blocks: 5, keepTxs: true})
    assert.deepEqual(await rpc.call('getrawmempool'), [])
    const tx = await rpc.call<{blockhash: string; confirmations: number}>('getrawtransaction', [sent.txid, 1])
    assert.equal(tx.blockhash, connected[0])
    assert.notEqual(tx.blockhash, first)
    assert.equal(tx.confirmations, 5)
  })

  test('dropTxs lets the disconnected transactions vanish; the tx index still finds them in the stale block', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(101)
    const sent = sim.send({to: sim.newAddress(), value: 50_000})
    const [stale] = sim.mine(1)
    sim.reorg({depth: 1, dropTxs: true})
    assert.deepEqual(await rpc.call('getrawmempool'), [])
    const tx = await rpc.call<{blockhash: string; confirmations: number; time?: number}>('getrawtransaction', [sent.txid, 1])
    assert.equal(tx.blockhash, stale)
    assert.equal(tx.confirmations, 0, 'Core reports 0 confirmations for a block off the active chain')
    assert.equal(tx.time, undefined)
    const inBlock = await rpc.call<{in_active_chain: boolean}>('getrawtransaction', [sent.txid, 1, stale])
    assert.equal(inBlock.in_active_chain, false)
  })

  test('a mempool transaction spending a coinbase that a reorg removed is evicted', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(101)
    const coinbaseTxid = sim.chain.parsed(sim.chain.at(1)!).txids[0]
    const tx = sim.createTransaction({to: sim.newAddress(), value: 10_000, from: [{txid: coinbaseTxid, vout: 0}]})
    // no anti-fee-sniping locktime: that alone would evict it after the reorg (non-final), as in Core
    tx.locktime = 0
    sim.accept(tx)
    const sent = {txid: tx.getId()}
    // at tip 100 the spend could still be mined in block 101 (100 confirmations)
    await rpc.call('invalidateblock', [sim.chain.at(101)!.hash])
    assert.deepEqual(await rpc.call('getrawmempool'), [sent.txid])
    // at tip 99 it could not: the coinbase of block 1 is immature again
    await rpc.call('invalidateblock', [sim.chain.at(100)!.hash])
    assert.deepEqual(await rpc.call('getrawmempool'), [])
  })
})

describe('invalidate and reconsider', () => {
  test('invalidateblock moves the tip back, getchaintips shows the branch invalid, reconsiderblock restores it', async (t) => {
    const {sim, rpc} = await startSim(t)
    const hashes = sim.mine(6)
    await rpc.call('invalidateblock', [hashes[3]])
    assert.equal(await rpc.call('getblockcount'), 3)
    // Core lists tips highest first
    assert.deepEqual(await rpc.call<ChainTip[]>('getchaintips'), [
      {height: 6, hash: hashes[5], branchlen: 3, status: 'invalid'},
      {height: 3, hash: hashes[2], branchlen: 0, status: 'active'},
    ])
    await rpc.call('reconsiderblock', [hashes[3]])
    assert.equal(await rpc.call('getbestblockhash'), hashes[5])
  })

  test('unknown blocks are -5 Block not found', async (t) => {
    const {rpc} = await startSim(t)
    await assert.rejects(rpc.call('invalidateblock', ['11'.repeat(32)]), {code: -5, message: /Block not found/})
  })

  test('a block spending coins that do not exist is stored but never becomes the tip', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(101)
    const bogus = sim.createTransaction({to: sim.newAddress(), value: 1000})
    bogus.ins[0].hash = Buffer.alloc(32, 7)
    const [hash] = sim.mine(1, {txs: [bogus], includeMempool: false, allowInvalid: true})
    assert.equal(await rpc.call('getblockcount'), 101)
    const tips = await rpc.call<ChainTip[]>('getchaintips')
    assert.deepEqual(tips.find((tip) => tip.hash === hash), {height: 102, hash, branchlen: 1, status: 'invalid'})
  })
})

describe('the recorded chain', () => {
  test('before its reorg the stale branch is active and the mempool empty; after, the chain matches the recording', async (t) => {
    const {sim, rpc} = await startSim(t, {fixture: 'before-reorg'})
    const fixture = readFixtureChain()
    assert.equal(await rpc.call('getblockcount'), 146)
    assert.equal(await rpc.call('getbestblockhash'), fixture.stale[2].hash)
    assert.deepEqual(await rpc.call('getrawmempool'), [])

    const {applyFixtureReorg} = await import('../support/simnode/fixture-chain.js')
    applyFixtureReorg(sim.chain)
    assert.equal(await rpc.call('getbestblockhash'), fixture.tip)
    for (const block of fixture.blocks) assert.equal(await rpc.call('getblockhash', [block.height]), block.hash)
    assert.deepEqual(new Set(await rpc.call<string[]>('getrawmempool')), new Set(fixture.mempool.map((m) => m.txid)))
    const active = sim.chain.active.reduce((n, e) => n + e.nTx, 0)
    assert.equal(active, 283, 'the README counts 283 transactions in the active chain')
  })

  test('stale blocks stay retrievable with confirmations -1, as Core serves them', async (t) => {
    const {rpc} = await startSim(t, {fixture: 'after-reorg'})
    const stale = readFixtureChain().stale[0]
    assert.equal(await rpc.call('getblock', [stale.hash, 0]), stale.hex)
    const verbose = await rpc.call<{confirmations: number; height: number}>('getblock', [stale.hash, 1])
    assert.equal(verbose.confirmations, -1)
    assert.equal(verbose.height, 144)
  })
})

describe('coins and transactions', () => {
  test('getblock verbosity 2 and 3 give fees, and 3 the prevouts, from undo data', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(101)
    const sent = sim.send({to: sim.newAddress('legacy'), value: 70_000})
    const [hash] = sim.mine(1)
    type V = {tx: {txid: string; fee?: number; vin: {prevout?: {value: number; generated: boolean}}[]}[]}
    const two = await rpc.call<V>('getblock', [hash, 2])
    const three = await rpc.call<V>('getblock', [hash, 3])
    assert.equal(two.tx[1].txid, sent.txid)
    assert.equal(Math.round(two.tx[1].fee! * 1e8), Number(sent.fee))
    assert.equal(two.tx[1].vin[0].prevout, undefined)
    assert.equal(three.tx[1].vin[0].prevout!.value, 50)
    assert.equal(three.tx[1].vin[0].prevout!.generated, true)
    assert.equal(three.tx[0].fee, undefined, 'coinbases have no fee')
  })

  test('gettxout follows the mempool and the chain', async (t) => {
    const {sim, rpc} = await startSim(t)
    sim.mine(101)
    const sent = sim.send({to: sim.newAddress(), value: 70_000})
    const unconfirmed = await rpc.call<{confirmations: number; value: number}>('gettxout', [sent.txid, 0])
    assert.equal(unconfirmed.confirmations, 0)
    assert.equal(unconfirmed.value, 0.0007)
    const spentInput = sent.tx.ins[0]
    assert.equal(await rpc.call('gettxout', [Buffer.from(spentInput.hash).reverse().toString('hex'), spentInput.index]), null)
    sim.mine(1)
    assert.equal((await rpc.call<{confirmations: number}>('gettxout', [sent.txid, 0])).confirmations, 1)
  })

  test('waitforblockheight answers when the block arrives, or with the current tip on timeout', async (t) => {
    const {sim, rpc} = await startSim(t)
    const waiting = rpc.call<{height: number; hash: string}>('waitforblockheight', [3, 5000])
    setTimeout(() => sim.mine(3), 50)
    const reached = await waiting
    assert.equal(reached.height, 3)
    const started = Date.now()
    const timedOut = await rpc.call<{height: number}>('waitforblockheight', [100, 100])
    assert.equal(timedOut.height, 3)
    assert.ok(Date.now() - started >= 90)
    const next = rpc.call<{height: number}>('waitfornewblock', [5000])
    setTimeout(() => sim.mine(1), 50)
    assert.equal((await next).height, 4)
  })

  test('loadBlocks accepts blocks in any order', async (t) => {
    const {sim: source} = await startSim(t)
    source.mine(20)
    const raws = source.chain.active.slice(1).map((e) => e.raw).reverse()
    const {sim, rpc} = await startSim(t)
    sim.loadBlocks(raws, {trusted: true})
    assert.equal(await rpc.call('getbestblockhash'), source.chain.tip.hash)
  })

  test('a lazy chain builds its coins on first use', async (t) => {
    const {sim: source} = await startSim(t)
    source.mine(101)
    const sent = source.send({to: source.newAddress(), value: 12_345})
    source.mine(1)
    const {sim, rpc} = await startSim(t, {ledger: 'lazy'})
    sim.loadBlocks(source.chain.active.slice(1).map((e) => e.raw), {trusted: true})
    const hex = await rpc.call<string>('getrawtransaction', [sent.txid])
    assert.equal(Transaction.fromHex(hex).getId(), sent.txid)
  })
})
