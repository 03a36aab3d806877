import assert from 'node:assert/strict'
import {describe, test} from 'node:test'
import {Transaction} from 'bitcoinjs-lib'

import {toDisplayHex} from '../../src/lib/chain/hashes.js'
import {scriptKeyOf} from '../../src/lib/chain/indexed-block.js'
import type {FetchedEntry, FetchedTx} from '../../src/lib/mempool/mempool-rpc.js'
import {Staging} from '../../src/lib/mempool/staging.js'
import type {MempoolTxRow, OutputValue} from '../../src/lib/store/index-store.js'

/**
 * Staging new mempool transactions: parents before children whatever order
 * they arrive in, each input's prevout resolved (staged parent, database,
 * index), and transactions whose ancestors vanished left out as the node
 * left them out.
 */

const script = (n: number) => Buffer.concat([Buffer.from([0x00, 0x14]), Buffer.alloc(20, n)])

/** A confirmed coin the lookup knows: display txid, vout 0, 1,000,000 sat to script(1). */
const CONFIRMED = 'aa'.repeat(32)
const COIN = {scriptKey: scriptKeyOf(script(1)), value: 1_000_000}

function build(inputs: Array<[string, number]>, outputs: number[]): Transaction {
  const tx = new Transaction()
  tx.version = 2
  for (const [txid, vout] of inputs) tx.addInput(Buffer.from(txid, 'hex').reverse(), vout)
  outputs.forEach((value, i) => tx.addOutput(script(10 + i), BigInt(value)))
  return tx
}

function fetched(tx: Transaction, fee: number, time = 1_700_000_000): FetchedTx {
  return {txid: tx.getId(), raw: Buffer.from(tx.toBuffer()), time, vsize: tx.virtualSize(), fee}
}

function lookupOf(known: Map<string, OutputValue>) {
  return (txid: Buffer, vout: number) => known.get(`${toDisplayHex(txid)}:${vout}`)
}

const confirmedOnly = () => lookupOf(new Map([[`${CONFIRMED}:0`, COIN]]))
const ids = (rows: MempoolTxRow[]) => rows.map((r) => toDisplayHex(r.txid))

describe('staging new mempool transactions', () => {
  // parent spends the confirmed coin; child and grandchild spend their parent's output 0
  const parent = build([[CONFIRMED, 0]], [600_000, 399_000])
  const child = build([[parent.getId(), 0]], [599_000])
  const grandchild = build([[child.getId(), 0]], [598_500])
  const entries = {parent: fetched(parent, 1000), child: fetched(child, 1000), grandchild: fetched(grandchild, 500)}
  const all = [entries.parent, entries.child, entries.grandchild].map((e) => e.txid)

  test('a child that arrives before its parent waits for it, then follows it, its input resolved from the parent', () => {
    const staging = new Staging(all, confirmedOnly())
    staging.add(entries.grandchild)
    staging.add(entries.child)
    assert.equal(staging.readyCount, 0)
    assert.equal(staging.waitingCount, 2)
    staging.add(entries.parent)
    assert.equal(staging.waitingCount, 0)
    const rows = staging.take()
    assert.deepEqual(ids(rows), all)
    const [p, c, g] = rows
    assert.deepEqual(p.spends, [{prevTxid: Buffer.from(CONFIRMED, 'hex'), prevVout: 0, ...COIN}])
    assert.deepEqual(c.spends, [{prevTxid: Buffer.from(parent.getHash()), prevVout: 0, scriptKey: scriptKeyOf(script(10)), value: 600_000}])
    assert.deepEqual(g.spends[0].value, 599_000)
    assert.deepEqual(p.outputs, [
      {scriptKey: scriptKeyOf(script(10)), value: 600_000},
      {scriptKey: scriptKeyOf(script(11)), value: 399_000},
    ])
    assert.deepEqual([p.fee, p.vsize, p.firstSeen], [1000, parent.virtualSize(), 1_700_000_000])
    assert.equal(staging.staged, 3)
    assert.equal(staging.vanished, 0)
  })

  test('once handed over, staged outputs are looked up in the database, not kept', () => {
    const written = new Map([[`${CONFIRMED}:0`, COIN]])
    const staging = new Staging(all, lookupOf(written))
    staging.add(entries.parent)
    for (const row of staging.take()) row.outputs.forEach((out, vout) => written.set(`${toDisplayHex(row.txid)}:${vout}`, out))
    staging.add(entries.child)
    assert.deepEqual(ids(staging.take()), [entries.child.txid])
    written.clear()
    staging.add(entries.grandchild)
    assert.equal(staging.readyCount, 0, 'the child was handed over, so only the database could know its output')
    assert.equal(staging.unresolved, 1)
    assert.deepEqual(staging.firstUnresolved, {txid: entries.grandchild.txid, prevout: `${entries.child.txid}:0`})
  })

  test('a parent gone from the node takes its waiting and its later descendants with it', () => {
    const staging = new Staging(all, confirmedOnly())
    staging.add(entries.child)
    const gone: FetchedEntry = {txid: entries.parent.txid, gone: true}
    staging.add(gone)
    staging.add(entries.grandchild)
    assert.deepEqual(staging.take(), [])
    assert.equal(staging.vanished, 3)
    assert.equal(staging.waitingCount, 0)
  })

  test('an input nowhere to be found leaves the transaction and what spends it out, and says which', () => {
    const staging = new Staging(all, lookupOf(new Map()))
    staging.add(entries.parent)
    staging.add(entries.child)
    assert.deepEqual(staging.take(), [])
    assert.equal(staging.unresolved, 1)
    assert.deepEqual(staging.firstUnresolved, {txid: entries.parent.txid, prevout: `${CONFIRMED}:0`})
  })

  test('a fee that the resolved inputs do not add up to means a damaged index: DatabaseError naming both amounts', () => {
    const staging = new Staging(all, confirmedOnly())
    assert.throws(() => staging.add({...entries.parent, fee: 999}), {
      name: 'DatabaseError',
      message: new RegExp(`^mempool transaction ${entries.parent.txid} spends 1000000 sat by the index and pays out 999000 sat, a fee of 1000 sat, but the node says 999 sat`),
    })
  })

  test('bytes that are not the transaction asked for are the node\'s error', () => {
    const staging = new Staging(all, confirmedOnly())
    assert.throws(() => staging.add({...entries.child, txid: entries.parent.txid}), {
      name: 'NodeError',
      message: new RegExp(`getrawtransaction ${entries.parent.txid}: the node sent \\d+ bytes that are not that transaction`),
    })
    assert.throws(() => staging.add({...entries.parent, raw: entries.parent.raw.subarray(0, 20)}), {name: 'NodeError', message: /not a transaction/})
  })
})
