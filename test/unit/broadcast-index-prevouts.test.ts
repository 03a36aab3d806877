import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {openIndexPrevouts} from '../../src/lib/broadcast/index-prevouts.js'
import {prepareTransactions} from '../../src/lib/broadcast/prepare.js'
import {feeOf, findPrevouts} from '../../src/lib/broadcast/prevouts.js'
import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {toIndexedBlock} from '../../src/lib/chain/indexed-block.js'
import {openIndex} from '../../src/lib/store/sqlite/database.js'
import {IndexWriter} from '../../src/lib/store/sqlite/writer.js'
import {regtestChain} from '../support/chain-fixtures.js'
import {rpcFixture} from '../support/tiny-node.js'

const chain = regtestChain()
let dir: string
let dbPath: string

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-broadcast-index-'))
  dbPath = path.join(dir, 'regtest', 'index.db')
  // the recorded regtest chain, indexed by the store's own writer
  const db = openIndex(dbPath, {network: 'regtest', mode: 'write'})
  const blocks = chain.blocks.map((b) => toIndexedBlock(parseBlock(Buffer.from(b.hex, 'hex')), b.height))
  new IndexWriter(db).applyBlocks(blocks)
  db.close()
})
after(() => fs.rmSync(dir, {recursive: true, force: true}))

describe("fees from bix's own index, when there is one", () => {
  test('every recorded mempool transaction gets the fee the node reported, from indexed prevouts alone', async () => {
    const index = openIndexPrevouts(dbPath, 'regtest')
    try {
      const txs = prepareTransactions(chain.mempool.map((m, i) => ({hex: m.hex, origin: `argument ${i + 1}`})), 'regtest')
      const search = await findPrevouts(txs.map((t) => t.decoded), {network: 'regtest', index: index.reader})
      const fees = txs.map((t) => feeOf(t.decoded, search))
      assert.ok(fees.every((f) => f.fee !== undefined), 'all prevouts are confirmed in the index')
      assert.ok([...search.found.values()].every((p) => p.from === 'index'))
      // what the node itself said about each (recorded getrawmempool true), to the satoshi
      const recorded = rpcFixture('getrawmempool-verbose').body as {result: Record<string, {fees: {base: number}; vsize: number}>}
      txs.forEach((t, i) => {
        const entry = recorded.result[t.decoded.txid]
        assert.equal(fees[i].fee, Math.round(entry.fees.base * 1e8), t.decoded.txid)
        assert.equal(t.decoded.vsize, entry.vsize)
      })
      assert.deepEqual(index.warnings, [])
    } finally {
      index.close()
    }
  })

  test('an outpoint the index lacks is simply not found (the node is asked next)', () => {
    const index = openIndexPrevouts(dbPath, 'regtest')
    try {
      const found = index.reader!([
        {txid: '11'.repeat(32), vout: 0},
        {txid: '2a1315a0995a27cbf236084046f5bd40017f1100a26f18675823b70454f75b4e', vout: 99},
      ])
      assert.equal(found.size, 0)
    } finally {
      index.close()
    }
  })

  test('no index for the network: no reader, no warning; an index of another network: a warning, never a failure', () => {
    const none = openIndexPrevouts(path.join(dir, 'nothing-here.db'), 'regtest')
    assert.deepEqual([none.reader, none.warnings], [undefined, []])
    const wrong = openIndexPrevouts(dbPath, 'signet')
    assert.equal(wrong.reader, undefined)
    assert.match(wrong.warnings[0], /^index not used for fees: index .* is for regtest, not signet/)
    const garbage = path.join(dir, 'garbage.db')
    fs.writeFileSync(garbage, 'not a database at all, just text that is long enough to be read as a header')
    const bad = openIndexPrevouts(garbage, 'regtest')
    assert.equal(bad.reader, undefined)
    assert.match(bad.warnings[0], /^index not used for fees: /)
  })

  test('an index whose first run has not finished (txid_keys not built yet): a warning, no reader', () => {
    const building = path.join(dir, 'building.db')
    const db = openIndex(building, {network: 'regtest', mode: 'write'})
    const w = new IndexWriter(db)
    w.startBulkLoad()
    w.applyBlocks(chain.blocks.map((b) => toIndexedBlock(parseBlock(Buffer.from(b.hex, 'hex')), b.height)))
    db.close()
    const index = openIndexPrevouts(building, 'regtest')
    assert.equal(index.reader, undefined)
    assert.deepEqual(index.warnings, [`index not used for fees: ${building} is still being built (its first bix index run has not finished)`])
  })
})
