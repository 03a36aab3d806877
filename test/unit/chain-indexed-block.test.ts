import assert from 'node:assert/strict'
import {test} from 'node:test'

import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {buildIndexedBlock, indexedBlockFromBuffer, rowsOf, scriptKeyOf, toIndexedBlock} from '../../src/lib/chain/indexed-block.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'

/** The columnar block the decoder hands the writer, against the parsed block it comes from. */

const fixture = readFixtureChain()

test('toIndexedBlock holds every txid, output (script key, value) and non-coinbase input of the block, in order', () => {
  for (const b of fixture.blocks) {
    const parsed = parseBlock(Buffer.from(b.hex, 'hex'))
    const rows = rowsOf(toIndexedBlock(parsed, b.height))
    assert.deepEqual(rows.txids, parsed.txs.map((tx) => tx.txid))
    assert.deepEqual(
      rows.outputs,
      parsed.txs.flatMap((tx, txIndex) => tx.outputs.map((out, vout) => ({txIndex, vout, scriptKey: scriptKeyOf(out.script), value: out.value}))),
    )
    assert.deepEqual(
      rows.spends,
      parsed.txs.flatMap((tx, txIndex) => (tx.isCoinbase ? [] : tx.inputs.map((input, vin) => ({txIndex, vin, prevTxid: input.prevTxid, prevVout: input.prevVout})))),
    )
  }
})

test('a block rebuilt from its buffer (as after a transfer) and one built from rows read the same', () => {
  // a block with an odd number of spends, so the section after them starts after padding
  const b = fixture.blocks.find((blk) => rowsOf(toIndexedBlock(parseBlock(Buffer.from(blk.hex, 'hex')), blk.height)).spends.length % 2 === 1)
  assert.ok(b, 'the fixture has a block with an odd number of spends')
  const indexed = toIndexedBlock(parseBlock(Buffer.from(b.hex, 'hex')), b.height)
  const copy = indexedBlockFromBuffer(indexed.buffer.slice(0))
  assert.deepEqual(rowsOf(copy), rowsOf(indexed))
  assert.equal(copy.height, b.height)
  assert.deepEqual(copy.hash, indexed.hash)
  assert.deepEqual(copy.header, indexed.header)
  const rebuilt = buildIndexedBlock({height: indexed.height, hash: indexed.hash, header: indexed.header, ...rowsOf(indexed)})
  assert.deepEqual(Buffer.from(rebuilt.buffer), Buffer.from(indexed.buffer))
})

test('values up to 21 million BTC survive the float column exactly', () => {
  const block = buildIndexedBlock({
    height: 1,
    hash: Buffer.alloc(32, 1),
    header: Buffer.alloc(80, 2),
    txids: [Buffer.alloc(32, 3)],
    outputs: [0, 1, 2_099_999_997_690_000, 2_100_000_000_000_000].map((value, vout) => ({txIndex: 0, vout, scriptKey: Buffer.alloc(8, vout), value})),
    spends: [],
  })
  assert.deepEqual(rowsOf(indexedBlockFromBuffer(block.buffer)).outputs.map((o) => o.value), [0, 1, 2_099_999_997_690_000, 2_100_000_000_000_000])
})
