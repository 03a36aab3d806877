import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {groupPackages, type LinkedTx} from '../../src/lib/broadcast/dependencies.js'

const tx = (txid: string, ...parents: string[]): LinkedTx => ({txid, inputs: parents.length ? parents.map((p) => ({txid: p})) : [{txid: 'confirmed'}]})

describe('transactions spending each other are grouped, parents first', () => {
  test('unrelated transactions stay alone and in the order given', () => {
    assert.deepEqual(groupPackages([tx('a'), tx('b'), tx('c')]), [[0], [1], [2]])
  })

  test('a child given before its parent is sent after it', () => {
    assert.deepEqual(groupPackages([tx('child', 'parent'), tx('other'), tx('parent')]), [[2, 0], [1]])
  })

  test('a chain of three is one group in dependency order, whatever order it came in', () => {
    assert.deepEqual(groupPackages([tx('c', 'b'), tx('a'), tx('b', 'a')]), [[1, 2, 0]])
  })

  test('two parents of one child (CPFP of two) form one package with the child last', () => {
    assert.deepEqual(groupPackages([tx('child', 'p1', 'p2', 'confirmed'), tx('p2'), tx('p1')]), [[1, 2, 0]])
  })

  test('a child spending two outputs of the same parent depends on it once', () => {
    assert.deepEqual(groupPackages([tx('child', 'parent', 'parent'), tx('parent')]), [[1, 0]])
  })

  test('siblings that share only a parent are one package, ready ones in the order given', () => {
    assert.deepEqual(groupPackages([tx('s2', 'p'), tx('s1', 'p'), tx('p'), tx('x')]), [[2, 0, 1], [3]])
  })
})
