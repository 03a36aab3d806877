import assert from 'node:assert/strict'
import {createHash, hash} from 'node:crypto'
import {test} from 'node:test'

import {sha256Batch} from '../../src/lib/chain/sha256-batch.js'

/** The WebAssembly SHA-256 against node:crypto, at every length around the padding boundaries and beyond. */

const sha256 = (data: Uint8Array) => hash('sha256', data, 'buffer')
/** deterministic bytes, so a failure replays */
function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length)
  let x = seed * 2654435761 + 1
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

test('hashEach equals sha256 for every length 0..300 and for messages of a megabyte', () => {
  const messages = Array.from({length: 301}, (_, n) => bytes(n, n))
  messages.push(bytes(1_000_003, 7))
  const out = sha256Batch().hashEach(messages)
  assert.equal(out.length, messages.length * 32)
  messages.forEach((m, i) => assert.deepEqual(out.subarray(i * 32, i * 32 + 32), sha256(m), `length ${m.length}`))
})

test('hashRanges hashes the concatenation of the ranges, once or twice', () => {
  const data = bytes(10_000, 1)
  const ranges = new Uint32Array([0, 4, 100, 250, 9996, 4, 5, 0, 64, 55, 0, 0, 1, 9999, 0, 0, 0, 0])
  for (const twice of [false, true]) {
    const out = sha256Batch().hashRanges(data, ranges, 3, 3, twice)
    for (let i = 0; i < 3; i++) {
      const h = createHash('sha256')
      for (let k = 0; k < 3; k++) h.update(data.subarray(ranges[6 * i + 2 * k], ranges[6 * i + 2 * k] + ranges[6 * i + 2 * k + 1]))
      const once = h.digest()
      assert.deepEqual(out.subarray(i * 32, i * 32 + 32), twice ? sha256(once) : once, `message ${i}, twice ${twice}`)
    }
  }
})

test('merkleRoot equals a tree built with node:crypto, and flags equal neighbours', () => {
  const pairHash = (a: Buffer, b: Buffer) => sha256(sha256(Buffer.concat([a, b])))
  const reference = (leaves: Buffer[]): Buffer => {
    let level = leaves
    while (level.length > 1) {
      if (level.length % 2) level = [...level, level[level.length - 1]]
      level = Array.from({length: level.length / 2}, (_, i) => pairHash(level[2 * i], level[2 * i + 1]))
    }
    return level[0]
  }
  for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 100, 2047]) {
    const leaves = Array.from({length: n}, (_, i) => bytes(32, 1000 * n + i))
    const got = sha256Batch().merkleRoot(leaves)
    assert.deepEqual(got.root, reference(leaves), `${n} leaves`)
    assert.equal(got.mutated, false)
  }
  const leaves = [bytes(32, 1), bytes(32, 2), bytes(32, 3), bytes(32, 3)]
  assert.equal(sha256Batch().merkleRoot(leaves).mutated, true)
})

test('results are fresh buffers: a later call does not change them', () => {
  const first = sha256Batch().hashEach([bytes(40, 1)])
  const copy = Buffer.from(first)
  sha256Batch().hashEach([bytes(5_000_000, 2)]) // grows the module's memory too
  assert.deepEqual(first, copy)
})
