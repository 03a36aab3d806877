import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {findForkHeight} from '../../src/lib/index/fork.js'

/** A chain of `length` distinct hashes; `branch` changes every hash from that height up. */
function chain(length: number, branch = Number.POSITIVE_INFINITY, tag = 'b'): Buffer[] {
  return Array.from({length}, (_, h) => Buffer.from(`${h >= branch ? tag : 'a'}${h}`.padEnd(32, '.')))
}

function inputs(stored: Buffer[], node: Buffer[]) {
  const asked: number[][] = []
  return {
    asked,
    inputs: {
      storedHeight: stored.length - 1,
      nodeHeight: node.length - 1,
      storedHashes: (from: number, to: number) => stored.slice(from, to + 1),
      nodeHashes: async (heights: number[]) => {
        asked.push(heights)
        return heights.map((h) => node[h])
      },
    },
  }
}

describe('finding where the index leaves the node\'s chain', () => {
  test('an index on the node\'s chain forks at its own tip, after one question', async () => {
    const {inputs: i, asked} = inputs(chain(100), chain(150))
    assert.equal(await findForkHeight(i), 99)
    assert.equal(asked.length, 1)
  })

  test('a one-block reorg is found one block down', async () => {
    const {inputs: i} = inputs(chain(100), chain(101, 99))
    assert.equal(await findForkHeight(i), 98)
  })

  test('a reorg deeper than any window is found exactly', async () => {
    const {inputs: i, asked} = inputs(chain(10_000), chain(10_002, 4321))
    assert.equal(await findForkHeight(i), 4320)
    // 1, 16, 256, 2000, 2000, 2000, … heights per question
    assert.ok(asked.length <= 8, `${asked.length} questions`)
    assert.ok(asked.every((heights) => heights.length <= 2000))
  })

  test('a node whose chain is now shorter (more work, fewer blocks) forks below the index\'s tip', async () => {
    const {inputs: i} = inputs(chain(50), chain(45, 40))
    assert.equal(await findForkHeight(i), 39)
  })

  test('a node that simply lost its last blocks shares everything up to its tip', async () => {
    const {inputs: i} = inputs(chain(50), chain(45))
    assert.equal(await findForkHeight(i), 44)
  })

  test('an empty index forks below genesis', async () => {
    const {inputs: i, asked} = inputs([], chain(10))
    assert.equal(await findForkHeight(i), -1)
    assert.equal(asked.length, 0)
  })

  test('an index of another chain is refused', async () => {
    const {inputs: i} = inputs(chain(20), chain(20, 0, 'z'))
    await assert.rejects(findForkHeight(i), {name: 'WrongNetwork'})
  })
})
