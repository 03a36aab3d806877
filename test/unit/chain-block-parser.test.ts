import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {Block, Transaction} from 'bitcoinjs-lib'

import {blockHash, MAX_MONEY, parseBlock, parseTransaction, verifyBlock} from '../../src/lib/chain/block-parser.js'
import {toDisplayHex} from '../../src/lib/chain/hashes.js'
import {classifyScript} from '../../src/lib/chain/script.js'
import {BixError} from '../../src/lib/errors.js'
import {MAINNET_413567, mutate, prng, regtestChain} from '../support/chain-fixtures.js'

const isBadBlock = (pattern: RegExp) => (error: unknown) =>
  error instanceof BixError && error.kind === 'BadBlock' && pattern.test(error.message)

/** Serialized lengths of a block's transactions, to rebuild blocks from their parts. */
function txSlices(raw: Buffer): Buffer[] {
  const block = Block.fromBuffer(raw)
  let offset = raw.length - block.transactions!.reduce((sum, tx) => sum + tx.byteLength(), 0)
  return block.transactions!.map((tx) => {
    const slice = raw.subarray(offset, offset + tx.byteLength())
    offset += tx.byteLength()
    return slice
  })
}

const compactSize = (n: number) => (n < 0xfd ? Buffer.from([n]) : Buffer.from([0xfd, n & 0xff, n >> 8]))

describe('block parser', () => {
  it('reads mainnet block 413567: its hash, 1,557 transactions, and a merkle root that matches', () => {
    const raw = MAINNET_413567.bytes()
    const block = parseBlock(raw)
    const reference = Block.fromBuffer(raw)
    assert.equal(toDisplayHex(block.hash), MAINNET_413567.hash)
    assert.equal(block.txs.length, 1557)
    assert.equal(block.size, 999_887)
    assert.equal(block.txs.reduce((n, tx) => n + tx.inputs.length, 0), 4887)
    assert.equal(block.txs.reduce((n, tx) => n + tx.outputs.length, 0), 3581)
    assert.equal(toDisplayHex(block.prevHash), toDisplayHex(reference.prevHash!))
    assert.equal(block.time, reference.timestamp)
    assert.ok(block.txs[0].isCoinbase && !block.txs.slice(1).some((tx) => tx.isCoinbase))
    verifyBlock(block, MAINNET_413567.hash)

    const referenceTxs = reference.transactions!
    block.txs.forEach((tx, i) => {
      assert.equal(toDisplayHex(tx.txid), referenceTxs[i].getId(), `txid of tx ${i}`)
      assert.deepEqual(tx.outputs.map((o) => o.value), referenceTxs[i].outs.map((o) => Number(o.value)))
    })
  })

  it('scripts, header and prevouts are views into the block buffer, not copies', () => {
    const raw = MAINNET_413567.bytes()
    const block = parseBlock(raw)
    assert.equal(block.header.buffer, raw.buffer)
    assert.equal(block.txs[5].outputs[0].script.buffer, raw.buffer)
    assert.equal(block.txs[5].inputs[0].prevTxid.buffer, raw.buffer)
  })

  it('agrees with bitcoinjs-lib on every regtest block, active and stale, segwit and taproot included', () => {
    const chain = regtestChain()
    let segwitTxs = 0
    let taprootOutputs = 0
    for (const fixture of [...chain.blocks, ...chain.stale]) {
      const raw = Buffer.from(fixture.hex, 'hex')
      const block = parseBlock(raw)
      verifyBlock(block, fixture.hash)
      const reference = Block.fromBuffer(raw).transactions!
      assert.equal(block.txs.length, reference.length)
      block.txs.forEach((tx, i) => {
        const ref = reference[i]
        const where = `block ${fixture.height} tx ${i}`
        if (ref.hasWitnesses()) segwitTxs++
        assert.equal(toDisplayHex(tx.txid), ref.getId(), where)
        assert.equal(tx.isCoinbase, i === 0, where)
        assert.deepEqual(
          tx.inputs.map((input) => [toDisplayHex(input.prevTxid), input.prevVout]),
          ref.ins.map((input) => [toDisplayHex(input.hash), input.index]),
          where,
        )
        assert.deepEqual(
          tx.outputs.map((out) => [out.value, out.script.toString('hex')]),
          ref.outs.map((out) => [Number(out.value), Buffer.from(out.script).toString('hex')]),
          where,
        )
        taprootOutputs += tx.outputs.filter((out) => classifyScript(out.script) === 'v1_p2tr').length
      })
    }
    assert.ok(segwitTxs > 100, `only ${segwitTxs} segwit txs: the fixture no longer exercises the witness path`)
    assert.ok(taprootOutputs > 10, `only ${taprootOutputs} taproot outputs`)
  })

  it('parses a lone transaction and tells a coinbase by its null prevout', () => {
    for (const {txid, hex} of regtestChain().mempool) {
      const raw = Buffer.from(hex, 'hex')
      const {tx, end} = parseTransaction(raw)
      assert.equal(end, raw.length)
      assert.equal(toDisplayHex(tx.txid), txid)
      assert.equal(tx.isCoinbase, false)
    }
    const coinbase = Buffer.from(regtestChain().blocks[120].hex, 'hex').subarray(81)
    const {tx} = parseTransaction(coinbase)
    assert.equal(tx.isCoinbase, true)
    assert.equal(toDisplayHex(tx.txid), Transaction.fromBuffer(coinbase, true).getId())
  })

  it('blockHash is sha256d of the 80-byte header', () => {
    const raw = MAINNET_413567.bytes()
    assert.equal(toDisplayHex(blockHash(raw.subarray(0, 80))), MAINNET_413567.hash)
  })
})

describe('block parser on damaged input', () => {
  const raw = Buffer.from(regtestChain().blocks[130].hex, 'hex')
  const name = regtestChain().blocks[130].hash

  it('names the block and the offset when the data is truncated', () => {
    assert.throws(() => parseBlock(raw.subarray(0, 81)), isBadBlock(new RegExp(`^block ${name}: transaction count \\d+ cannot fit in the 0 bytes left at offset 80`)))
    for (const cut of [Math.floor(raw.length * 0.6), raw.length - 30, raw.length - 1]) {
      assert.throws(() => parseBlock(raw.subarray(0, cut)), isBadBlock(new RegExp(`^block ${name}: tx \\d+: (truncated|.*cannot fit|.*runs past).* at offset \\d+$`)))
    }
    assert.throws(() => parseBlock(raw.subarray(0, 50)), isBadBlock(/too short for a header/))
  })

  it('refuses trailing bytes after the last transaction', () => {
    assert.throws(() => parseBlock(Buffer.concat([raw, Buffer.from([0])])), isBadBlock(/1 unexpected bytes after the last transaction/))
  })

  it('refuses a count the remaining bytes cannot hold, without allocating for it', () => {
    const bogus = Buffer.concat([raw.subarray(0, 80), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x7f]), raw.subarray(81)])
    assert.throws(() => parseBlock(bogus), isBadBlock(/transaction count 2147483647 cannot fit/))
    const huge = Buffer.concat([raw.subarray(0, 80), Buffer.from([0xff, 0, 0, 0, 0, 1, 0, 0, 0]), raw.subarray(81)])
    assert.throws(() => parseBlock(huge), isBadBlock(/transaction count is impossibly large at offset 80/))
  })

  it('refuses a non-canonical CompactSize as Core does', () => {
    const count = raw[80]
    const padded = Buffer.concat([raw.subarray(0, 80), Buffer.from([0xfd, count, 0]), raw.subarray(81)])
    assert.throws(() => parseBlock(padded), isBadBlock(/transaction count is not canonically encoded at offset 80/))
  })

  it('refuses a block without transactions', () => {
    assert.throws(() => parseBlock(Buffer.concat([raw.subarray(0, 80), Buffer.from([0])])), isBadBlock(/no transactions/))
  })

  it('refuses an output worth more than 21 million BTC', () => {
    const tx = Buffer.from(regtestChain().mempool[0].hex, 'hex')
    const {tx: parsed} = parseTransaction(tx)
    const script = parsed.outputs[0].script
    const valueAt = script.byteOffset - tx.byteOffset - 1 - 8
    const rich = Buffer.from(tx)
    rich.writeUInt32LE((MAX_MONEY + 1) % 2 ** 32, valueAt)
    rich.writeUInt32LE(Math.floor((MAX_MONEY + 1) / 2 ** 32), valueAt + 4)
    assert.throws(() => parseTransaction(rich), isBadBlock(/output 0 value 2100000000000001 exceeds 21,000,000 BTC/))
  })

  it('refuses an unknown segwit flag and a segwit marker without witnesses', () => {
    const tx = Buffer.from(regtestChain().mempool[0].hex, 'hex')
    assert.equal(tx[4], 0)
    const flagged = Buffer.from(tx)
    flagged[5] = 2
    assert.throws(() => parseTransaction(flagged), isBadBlock(/^transaction: unknown segwit flag 2 .* at offset 5/))
    // the same transaction with every witness stack emptied
    const stripped = Transaction.fromBuffer(tx)
    for (const input of stripped.ins) input.witness = []
    const body = Buffer.from(stripped.toBuffer()).subarray(4, -4)
    const empty = Buffer.concat([tx.subarray(0, 6), body, Buffer.alloc(stripped.ins.length), tx.subarray(-4)])
    assert.throws(() => parseTransaction(empty), isBadBlock(/segwit marker but no witness data/))
  })

  it('verifyBlock names the block when the hash or merkle root is wrong', () => {
    const block = parseBlock(raw)
    const other = regtestChain().blocks[131].hash
    assert.throws(() => verifyBlock(block, other), isBadBlock(new RegExp(`^block ${other}: the data received hashes to ${name}`)))
    const tampered = Buffer.from(raw)
    tampered[40] ^= 1
    const bad = parseBlock(tampered)
    assert.throws(() => verifyBlock(bad), isBadBlock(new RegExp(`^block ${toDisplayHex(bad.hash)}: merkle root of the transactions is`)))
  })

  it('verifyBlock refuses a duplicated last transaction even though the merkle root matches (CVE-2012-2459)', () => {
    const fixture = regtestChain().blocks.find((b) => Block.fromBuffer(Buffer.from(b.hex, 'hex')).transactions!.length === 3)
    assert.ok(fixture, 'the fixture has a block of 3 transactions')
    const original = Buffer.from(fixture.hex, 'hex')
    const txs = txSlices(original)
    const forged = Buffer.concat([original.subarray(0, 80), compactSize(4), ...txs, txs[2]])
    const block = parseBlock(forged)
    assert.equal(toDisplayHex(block.hash), fixture.hash, 'same header, so same hash')
    assert.throws(() => verifyBlock(block, fixture.hash), isBadBlock(/duplicated transactions .*\(CVE-2012-2459\)/))
  })

  it('verifyBlock refuses a block whose first transaction is not a coinbase', () => {
    const fixture = regtestChain().blocks.find((b) => Block.fromBuffer(Buffer.from(b.hex, 'hex')).transactions!.length === 2)!
    const original = Buffer.from(fixture.hex, 'hex')
    const [coinbase, spend] = txSlices(original)
    const swapped = Buffer.concat([original.subarray(0, 80), compactSize(2), spend, coinbase])
    // fix the header's merkle root so only the coinbase rule is broken
    const block = parseBlock(swapped)
    const header = Buffer.from(swapped.subarray(0, 80))
    const root = Block.calculateMerkleRoot(block.txs.map((tx) => Transaction.fromBuffer(tx === block.txs[0] ? spend : coinbase)))
    Buffer.from(root).copy(header, 36)
    const fixed = parseBlock(Buffer.concat([header, swapped.subarray(80)]))
    assert.throws(() => verifyBlock(fixed), isBadBlock(/the first transaction is not a coinbase/))
  })

  it('random damage to real blocks gives a valid parse or a BadBlock error, never anything else', () => {
    const seed = Date.now() >>> 0
    const random = prng(seed)
    const samples = [MAINNET_413567.bytes(), ...regtestChain().blocks.slice(100).map((b) => Buffer.from(b.hex, 'hex'))]
    const deadline = performance.now() + 2000
    let runs = 0
    let parsed = 0
    while (performance.now() < deadline) {
      // the 1 MB mainnet block is slow to mutate and parse: one run in twenty
      const sample = runs % 20 === 0 ? samples[0] : samples[1 + Math.floor(random() * (samples.length - 1))]
      const damaged = mutate(sample, random)
      try {
        parseBlock(damaged)
        parsed++
      } catch (error) {
        assert.ok(
          error instanceof BixError && error.kind === 'BadBlock',
          `seed ${seed} run ${runs}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
        )
      }
      runs++
    }
    assert.ok(runs > 100, `only ${runs} runs in 2 s`)
    assert.ok(parsed < runs, 'some damage must be detected')
  })
})
