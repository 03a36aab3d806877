/**
 * Blocks the simulator builds are real blocks: bitcoinjs-lib parses them,
 * their merkle roots, witness commitments and proof of work check out, and
 * built from the same parts they are byte-identical to what Bitcoin Core mined.
 */
import assert from 'node:assert/strict'
import {test} from 'node:test'
import {Block, Transaction} from 'bitcoinjs-lib'

import {COIN, blockSubsidy, buildBlock, coinbaseHeightScript} from '../support/simnode/block-builder.js'
import {REGTEST_BITS, bitsForWorkAbove, bitsToTarget, blockWork, difficulty, meetsTarget, readHeader, targetToBits} from '../support/simnode/block-codec.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {Simulator} from '../support/simnode/simulator.js'

test('a block built from Core block 1\'s parts is byte-identical to the one Core mined', () => {
  const recorded = Block.fromHex(readFixtureChain().blocks[1].hex)
  const coinbase = recorded.transactions![0]
  const raw = buildBlock({
    prevHash: Buffer.from(recorded.prevHash!).reverse().toString('hex'),
    height: 1,
    time: recorded.timestamp,
    bits: recorded.bits,
    version: recorded.version,
    payoutScript: coinbase.outs[0].script,
    txs: [],
    fees: 0n,
  })
  assert.equal(raw.toString('hex'), readFixtureChain().blocks[1].hex)
})

test('a block with segwit spends has a valid merkle root, witness commitment and proof of work', async (t) => {
  const sim = await Simulator.start({blockFiles: false})
  t.after(() => sim.stop())
  sim.mine(101)
  for (const type of ['legacy', 'p2sh-segwit', 'bech32', 'bech32m', 'p2wsh'] as const) sim.send({to: sim.newAddress(type), value: 100_000})
  sim.send({to: sim.newAddress(), value: 5_000, opReturn: 'bix'})
  const [hash] = sim.mine(1)
  const raw = sim.chain.get(hash)!.raw
  const block = Block.fromBuffer(raw)

  assert.equal(block.getId(), hash)
  assert.equal(block.transactions!.length, 7)
  assert.ok(block.checkTxRoots(), 'merkle root and witness commitment')
  assert.ok(block.checkProofOfWork(), 'hash below target')
  assert.ok(block.hasWitnessCommit())
  assert.equal(block.bits, REGTEST_BITS)
  assert.equal(Buffer.from(block.toBuffer()).equals(raw), true, 're-serializes to the same bytes')
})

test('coinbases carry the BIP34 height, nLockTime height-1 and the subsidy plus fees', async (t) => {
  const sim = await Simulator.start({blockFiles: false})
  t.after(() => sim.stop())
  sim.mine(101)
  const sent = sim.send({to: sim.newAddress(), value: 1_000_000})
  const [hash] = sim.mine(1)
  const coinbase = Block.fromBuffer(sim.chain.get(hash)!.raw).transactions![0]

  assert.deepEqual(Buffer.from(coinbase.ins[0].script), coinbaseHeightScript(102))
  assert.equal(coinbase.locktime, 101)
  assert.equal(coinbase.ins[0].sequence, 0xfffffffe)
  assert.equal(coinbase.outs[0].value, blockSubsidy(102) + sent.fee)
  assert.ok(sent.fee > 0n)
})

test('BIP34 heights are encoded as Core does: OP_n OP_0 up to 16, minimal pushes after', () => {
  assert.equal(coinbaseHeightScript(1).toString('hex'), '5100')
  assert.equal(coinbaseHeightScript(16).toString('hex'), '6000')
  assert.equal(coinbaseHeightScript(17).toString('hex'), '0111')
  assert.equal(coinbaseHeightScript(147).toString('hex'), '029300')
  assert.equal(coinbaseHeightScript(100_000).toString('hex'), '03a08601')
})

test('regtest halves the subsidy every 150 blocks', () => {
  assert.equal(blockSubsidy(149), 50n * COIN)
  assert.equal(blockSubsidy(150), 25n * COIN)
  assert.equal(blockSubsidy(300), 1_250_000_000n)
})

test('block timestamps strictly increase and stay above the median time past', async (t) => {
  const frozen = Date.UTC(2026, 0, 1)
  const sim = await Simulator.start({blockFiles: false, clock: () => frozen})
  t.after(() => sim.stop())
  sim.mine(30)
  for (let h = 1; h <= 30; h++) {
    const entry = sim.chain.at(h)!
    assert.ok(entry.time > entry.prev!.time, `height ${h}`)
    assert.ok(entry.time > sim.chain.medianTimePast(entry.prev!), `height ${h} above MTP`)
  }
})

test('compact bits, targets and work follow Core (regtest work is 2 per block)', () => {
  assert.equal(blockWork(REGTEST_BITS), 2n)
  assert.equal(targetToBits(bitsToTarget(REGTEST_BITS)), REGTEST_BITS)
  // Core prints 16 significant digits of the same double
  assert.equal(Number(difficulty(REGTEST_BITS).toPrecision(16)), 4.656542373906925e-10)
  const harder = bitsForWorkAbove(6n)
  assert.ok(blockWork(harder) > 6n)
  assert.ok(bitsToTarget(harder) < bitsToTarget(REGTEST_BITS))
})

test('every recorded Core block meets its target and parses to its recorded hash', () => {
  for (const block of [...readFixtureChain().blocks, ...readFixtureChain().stale]) {
    const raw = Buffer.from(block.hex, 'hex')
    assert.equal(readHeader(raw).hash, block.hash)
    assert.ok(meetsTarget(raw.subarray(0, 80), readHeader(raw).bits), block.hash)
  }
})

test('transactions in simulator blocks are standard serializations bitcoinjs round-trips', async (t) => {
  const sim = await Simulator.start({blockFiles: false})
  t.after(() => sim.stop())
  sim.mine(101)
  const sent = sim.send({outputs: [{to: sim.newAddress('legacy'), value: 10_000}, {to: sim.newAddress('bech32m'), value: 20_000}]})
  const again = Transaction.fromHex(sent.hex)
  assert.equal(again.getId(), sent.txid)
  assert.equal(again.toHex(), sent.hex)
  assert.equal(again.ins[0].witness.length, 2, 'a P2WPKH spend carries signature and pubkey')
})
