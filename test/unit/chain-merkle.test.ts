import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {describe, it} from 'node:test'

import {fastMerkleRoot} from 'bitcoinjs-lib/src/merkle'

import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {sha256d} from '../../src/lib/chain/hashes.js'
import {computeMerkleRoot, merkleRoot} from '../../src/lib/chain/merkle.js'
import {MAINNET_413567, regtestChain} from '../support/chain-fixtures.js'


describe('merkle root', () => {
  it('matches the root in the header of every real block', () => {
    for (const raw of [MAINNET_413567.bytes(), ...regtestChain().blocks.map((b) => Buffer.from(b.hex, 'hex'))]) {
      const block = parseBlock(raw)
      const {root, mutated} = merkleRoot(block.txs.map((tx) => tx.txid))
      assert.deepEqual(root, Buffer.from(block.merkleRoot))
      assert.equal(mutated, false)
    }
  })

  it('agrees with bitcoinjs-lib for every tree size up to 40', () => {
    for (let n = 1; n <= 40; n++) {
      const txids = Array.from({length: n}, () => randomBytes(32))
      assert.deepEqual(computeMerkleRoot(txids), Buffer.from(fastMerkleRoot(txids, sha256d)), `${n} txids`)
    }
  })

  it('is the txid itself for one transaction and zeros for none, as in Core', () => {
    const txid = randomBytes(32)
    assert.deepEqual(computeMerkleRoot([txid]), txid)
    assert.notEqual(computeMerkleRoot([txid]).buffer, txid.buffer, 'a copy, not the caller’s buffer')
    assert.deepEqual(computeMerkleRoot([]), Buffer.alloc(32))
  })

  it('flags lists that collide with a shorter one through the repeated last hash (CVE-2012-2459)', () => {
    const [a, b, c, d] = Array.from({length: 4}, () => randomBytes(32))
    const honest = merkleRoot([a, b, c])
    const forged = merkleRoot([a, b, c, c])
    assert.deepEqual(forged.root, honest.root)
    assert.equal(honest.mutated, false)
    assert.equal(forged.mutated, true)
    // the duplication can also sit one level up
    const deep = merkleRoot([a, b, c, d, a, b, c, d])
    assert.equal(deep.mutated, true)
    assert.equal(merkleRoot([a, b, c, d, a, b, d, c]).mutated, false)
  })
})
