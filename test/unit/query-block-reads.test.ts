import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {test} from 'node:test'

import {parseBlock, verifyBlock} from '../../src/lib/chain/block-parser.js'
import {sha256d} from '../../src/lib/chain/hashes.js'
import {BixError} from '../../src/lib/errors.js'
import {transactionBytesAt} from '../../src/lib/query/block-reads.js'

const raw = fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'mainnet', 'block413567.raw'))

test('every transaction of mainnet block 413567 is cut out at its own bytes: they hash to the txids its merkle root commits to, and together make the block', () => {
  const block = parseBlock(raw)
  // the txids are the ones the header commits to
  verifyBlock(block, '0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069')
  let bytes = 0
  block.txs.forEach((tx, position) => {
    const cut = transactionBytesAt(raw, position, tx.txid)
    assert.ok(sha256d(cut).equals(tx.txid), `transaction ${position}`)
    bytes += cut.length
  })
  // header, the 3-byte transaction count (1557), then the transactions back to back
  assert.equal(80 + 3 + bytes, raw.length)
})

test('a txid the block does not hold at that position is the index out of step with the chain: DatabaseError', () => {
  const block = parseBlock(raw)
  assert.throws(() => transactionBytesAt(raw, 5, block.txs[6].txid), (err: unknown) => err instanceof BixError && err.kind === 'DatabaseError' && /position 5/.test(err.message))
  assert.throws(() => transactionBytesAt(raw, block.txs.length, block.txs[0].txid), (err: unknown) => err instanceof BixError && err.kind === 'DatabaseError')
})
