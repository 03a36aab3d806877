import assert from 'node:assert/strict'
import {test} from 'node:test'

import {RecentTxids} from '../../src/lib/store/recent-txids.js'

/** txids whose first 4 bytes (the Map's key) are all the same: only the rest tells them apart */
const colliding = (n: number): Buffer => {
  const txid = Buffer.alloc(32, 0xab)
  txid.writeUInt32LE(n, 28)
  return txid
}

test('finds every transaction of the ring, however many share the 32-bit key', () => {
  const recent = new RecentTxids(100)
  for (let n = 0; n < 100; n++) recent.add(n, colliding(n))
  for (let n = 0; n < 100; n++) assert.equal(recent.get(colliding(n)), n)
})

test('forgets what left the ring, and finds what is still in it after slots are reused', () => {
  const recent = new RecentTxids(64)
  for (let n = 0; n < 1000; n++) recent.add(n, colliding(n % 7 === 0 ? n : n + 1_000_000))
  for (let n = 0; n < 1000; n++) {
    const txid = colliding(n % 7 === 0 ? n : n + 1_000_000)
    assert.equal(recent.get(txid), n >= 1000 - 64 ? n : -1, `tx_num ${n}`)
  }
})

test('a txid written twice (BIP30) is found at its latest tx_num', () => {
  const recent = new RecentTxids(16)
  recent.add(0, colliding(1))
  recent.add(1, colliding(2))
  recent.add(2, colliding(1))
  assert.equal(recent.get(colliding(1)), 2)
  assert.equal(recent.get(colliding(2)), 1)
})

test('reset forgets everything: tx_nums after an undo belong to other transactions', () => {
  const recent = new RecentTxids(16)
  for (let n = 0; n < 10; n++) recent.add(n, colliding(n))
  recent.reset(5)
  for (let n = 0; n < 10; n++) assert.equal(recent.get(colliding(n)), -1)
  recent.add(5, colliding(99))
  assert.equal(recent.get(colliding(99)), 5)
  assert.equal(recent.get(colliding(4)), -1)
})

test('matches a brute-force model through evictions, duplicates, shared keys and resets (seeded)', () => {
  let x = 12345
  const rand = (n: number) => {
    x = (x * 1103515245 + 12345) >>> 0
    return x % n
  }
  /** few distinct first words and few distinct txids: runs, duplicates and evictions all the time */
  const txidOf = (n: number) => {
    const txid = Buffer.alloc(32)
    txid.writeUInt32LE(n % 13, 0)
    txid.writeUInt32LE(n, 28)
    return txid
  }
  const capacity = 48
  const recent = new RecentTxids(capacity)
  let added: Array<{txNum: number; id: number}> = []
  let next = 0
  for (let step = 0; step < 20_000; step++) {
    if (rand(500) === 0) {
      next = Math.max(0, next - rand(30))
      recent.reset(next)
      added = []
      continue
    }
    const id = rand(200)
    recent.add(next, txidOf(id))
    added.push({txNum: next, id})
    next++
    const probe = rand(200)
    const inRing = added.filter((e) => e.txNum >= next - capacity && e.id === probe)
    const expected = inRing.length > 0 ? inRing[inRing.length - 1].txNum : -1
    assert.equal(recent.get(txidOf(probe)), expected, `step ${step}: txid ${probe}`)
  }
})
