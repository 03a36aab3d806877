import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, test} from 'node:test'
import {Block} from 'bitcoinjs-lib'

import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {sha256d, toDisplayHex} from '../../src/lib/chain/hashes.js'
import {type IndexedBlock, type IndexedOutput, type IndexedSpend, buildIndexedBlock, scriptKeyOf, toIndexedBlock} from '../../src/lib/chain/indexed-block.js'
import {AddressReader} from '../../src/lib/store/sqlite/address-reader.js'
import {type IndexDb, openIndex} from '../../src/lib/store/sqlite/database.js'
import {IndexWriter} from '../../src/lib/store/sqlite/writer.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'

/**
 * The index finds a script's outputs through 5 bytes of its 8-byte key
 * (outputs_by_script) and a transaction through 6 bytes of its txid
 * (txid_keys); the full key in the row must settle every shared prefix.
 * Real collisions cannot be mined (2^40 and 2^48 tries), so the rows are
 * made up: blocks built from rows (buildIndexedBlock, which no user input
 * reaches) on top of the recorded Core chain, written through the writer.
 * The expected answers for the recorded chain's scripts and transactions
 * come from its blocks parsed with bitcoinjs-lib, not from bix.
 */

const fixture = readFixtureChain()
const recorded = fixture.blocks.map((b) => toIndexedBlock(parseBlock(Buffer.from(b.hex, 'hex')), b.height))

/** The recorded chain's outputs by script, and its txids, as bitcoinjs-lib reads the blocks. */
function accountOfRecording() {
  const outputs = new Map<string, {script: string; value: number; spentBy: string | null; height: number}>()
  const txids: string[] = []
  for (const b of fixture.blocks) {
    const block = Block.fromHex(b.hex)
    for (const tx of block.transactions ?? []) {
      const txid = tx.getId()
      txids.push(txid)
      if (!tx.isCoinbase()) for (const input of tx.ins) outputs.get(`${Buffer.from(input.hash).reverse().toString('hex')}:${input.index}`)!.spentBy = txid
      // the genesis coinbase's output never enters the UTXO set
      if (b.height > 0) tx.outs.forEach((out, vout) => outputs.set(`${txid}:${vout}`, {script: Buffer.from(out.script).toString('hex'), value: Number(out.value), spentBy: null, height: b.height}))
    }
  }
  return {outputs, txids}
}
const truth = accountOfRecording()

/** The recorded script with the most outputs (the miner's): its answers are long enough to notice an extra row. */
const busyScript = (() => {
  const counts = new Map<string, number>()
  for (const o of truth.outputs.values()) counts.set(o.script, (counts.get(o.script) ?? 0) + 1)
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0]
})()

/** What AddressReader must answer for a recorded script, from the recording. */
function expectedFor(scriptHex: string) {
  const mine = [...truth.outputs.entries()].filter(([, o]) => o.script === scriptHex)
  const spent = mine.filter(([, o]) => o.spentBy !== null)
  const txs = new Set([...mine.map(([key]) => key.split(':')[0]), ...spent.map(([, o]) => o.spentBy!)])
  return {
    stats: {funded: mine.length, fundedSum: mine.reduce((s, [, o]) => s + o.value, 0), spent: spent.length, spentSum: spent.reduce((s, [, o]) => s + o.value, 0), txs: txs.size},
    unspent: mine.filter(([, o]) => o.spentBy === null).map(([key]) => key).sort(),
    history: [...txs].sort(),
  }
}

/** What AddressReader answers for a script key, in the same shape, txids in display hex. */
function answersFor(reader: AddressReader, key: Buffer) {
  const activity = reader.chainActivity(key)
  return {
    stats: {funded: activity.funded_txo_count, fundedSum: activity.funded_txo_sum, spent: activity.spent_txo_count, spentSum: activity.spent_txo_sum, txs: activity.tx_count},
    unspent: reader.unspent(key, undefined, 0).map((u) => `${toDisplayHex(reader.txidOf(u.txNum))}:${u.vout}`).sort(),
    history: reader.history(key, undefined, 0).map((h) => toDisplayHex(reader.txidOf(h.txNum))).sort(),
  }
}

/** `key` with its bytes from `from` on replaced by `fill`: shares the prefix, differs after it. */
const sharingPrefix = (key: Buffer, from: number, fill: number): Buffer => Buffer.concat([key.subarray(0, from), Buffer.alloc(key.length - from, fill)])

/** A made-up block on top of `prev`: one transaction per entry of `txids`; the writer checks only that the header names the tip. */
function madeUpBlock(prev: IndexedBlock, txids: Buffer[], outputs: IndexedOutput[], spends: IndexedSpend[]): IndexedBlock {
  const header = Buffer.alloc(80)
  prev.hash.copy(header, 4)
  header.writeUInt32LE(prev.height + 1, 68)
  return buildIndexedBlock({height: prev.height + 1, hash: sha256d(header), header, txids, outputs, spends})
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-collisions-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))

function indexOfRecording(name: string): IndexDb {
  const db = openIndex(path.join(dir, `${name}.db`), {network: 'regtest', mode: 'write'})
  new IndexWriter(db).applyBlocks(recorded)
  return db
}

describe('script keys that share the 5 bytes the script index holds', () => {
  const busyKey = scriptKeyOf(Buffer.from(busyScript, 'hex'))
  /** same first 5 bytes as the busy script's key, different last 3 */
  const neighbour = sharingPrefix(busyKey, 5, busyKey[5] ^ 0xff)
  const db = indexOfRecording('script-prefix')
  after(() => db.close())
  const tip = recorded.at(-1)!
  const coinbase = Buffer.alloc(32, 0x5c)
  const spender = Buffer.alloc(32, 0x5d)
  // the neighbour is paid twice and one of those outputs is spent, so it has every kind of row the busy script has
  const paying = madeUpBlock(tip, [coinbase], [
    {txIndex: 0, vout: 0, scriptKey: neighbour, value: 1234},
    {txIndex: 0, vout: 1, scriptKey: neighbour, value: 5678},
  ], [])
  const spending = madeUpBlock(paying, [Buffer.alloc(32, 0x5e), spender], [{txIndex: 1, vout: 0, scriptKey: Buffer.alloc(8, 0x77), value: 1000}], [
    {txIndex: 1, vin: 0, prevTxid: coinbase, prevVout: 0},
  ])
  new IndexWriter(db).applyBlocks([paying, spending])
  const reader = new AddressReader(db)

  test('the premise: the two keys share the 5 indexed bytes and differ in the row', () => {
    assert.ok(busyKey.subarray(0, 5).equals(neighbour.subarray(0, 5)))
    assert.ok(!busyKey.equals(neighbour))
    assert.ok(expectedFor(busyScript).stats.funded > 10, 'the busy script has many outputs')
  })

  test('the recorded script\'s stats, UTXOs and history are those of the recorded chain, without the neighbour\'s rows', () => {
    assert.deepEqual(answersFor(reader, busyKey), expectedFor(busyScript))
  })

  test('the neighbour\'s answers hold its own rows only', () => {
    assert.deepEqual(answersFor(reader, neighbour), {
      stats: {funded: 2, fundedSum: 1234 + 5678, spent: 1, spentSum: 1234, txs: 2},
      unspent: [`${toDisplayHex(coinbase)}:1`],
      history: [toDisplayHex(coinbase), toDisplayHex(spender)].sort(),
    })
  })

  test('a key that shares the prefix but was never paid has no activity', () => {
    const stranger = sharingPrefix(busyKey, 5, busyKey[5] ^ 0x0f)
    assert.deepEqual(answersFor(reader, stranger), {stats: {funded: 0, fundedSum: 0, spent: 0, spentSum: 0, txs: 0}, unspent: [], history: []})
  })
})

describe('txids that share the 6 bytes txid_keys holds', () => {
  // a recorded transaction with an unspent first output: what a colliding txid could wrongly take over or be mistaken for
  const [victimOutpoint, victim] = [...truth.outputs.entries()].find(([key, o]) => key.endsWith(':0') && o.spentBy === null && o.height > 1 && truth.txids.indexOf(key.split(':')[0]) > 0)!
  const victimTxid = Buffer.from(victimOutpoint.split(':')[0], 'hex').reverse()
  const victimTxNum = truth.txids.indexOf(victimOutpoint.split(':')[0])
  /** internal byte order: the same first 6 bytes (the key), then different */
  const twin = sharingPrefix(victimTxid, 6, 0x3c)
  const absent = sharingPrefix(victimTxid, 6, 0xc3)
  const tip = recorded.at(-1)!
  const someKey = Buffer.alloc(8, 0x42)
  // the twin is a coinbase: were it taken for the victim, BIP30 handling would replace the victim's outputs
  const twinBlock = madeUpBlock(tip, [twin], [{txIndex: 0, vout: 0, scriptKey: someKey, value: 4321}], [])
  const twinTxNum = truth.txids.length

  test('the premise: the twin shares the victim\'s 6-byte key and is another txid', () => {
    assert.ok(twin.subarray(0, 6).equals(victimTxid.subarray(0, 6)) && !twin.equals(victimTxid))
  })

  test('a coinbase with a colliding key is a new transaction, not a BIP30 duplicate: the victim\'s outputs stay unspent', () => {
    const db = indexOfRecording('txid-twin')
    try {
      // a writer of its own, as a new run has: it looks the victim up in SQLite, not among its recent txids
      new IndexWriter(db).applyBlocks([twinBlock])
      const reader = new AddressReader(db)
      assert.deepEqual(reader.output(victimTxNum, 0), {value: victim.value, spentBy: null, scriptKey: scriptKeyOf(Buffer.from(victim.script, 'hex'))})
      assert.equal(db.meta('duplicate_txids'), undefined)
      assert.equal(reader.txNumOf(victimTxid), victimTxNum)
      assert.equal(reader.txNumOf(twin), twinTxNum)
      assert.equal(reader.txNumOf(absent), undefined)
    } finally {
      db.close()
    }
  })

  test('a later spend of the victim\'s output, by a new run, marks the victim\'s output and not the twin\'s', () => {
    const db = indexOfRecording('txid-spend')
    try {
      new IndexWriter(db).applyBlocks([twinBlock])
      const spender = Buffer.alloc(32, 0x99)
      const spend = madeUpBlock(twinBlock, [Buffer.alloc(32, 0x98), spender], [{txIndex: 1, vout: 0, scriptKey: someKey, value: 1}], [
        {txIndex: 1, vin: 0, prevTxid: victimTxid, prevVout: 0},
      ])
      new IndexWriter(db).applyBlocks([spend])
      const reader = new AddressReader(db)
      assert.equal(reader.output(victimTxNum, 0)?.spentBy, reader.txNumOf(spender))
      assert.equal(reader.output(twinTxNum, 0)?.spentBy, null)
    } finally {
      db.close()
    }
  })

  /** The recording, the twin and `more` as one first run (a bulk load) that leaves every spend older than 2 transactions to its end. */
  function bulkLoaded(name: string, more: IndexedBlock[]): IndexDb {
    const db = openIndex(path.join(dir, `${name}.db`), {network: 'regtest', mode: 'write'})
    const w = new IndexWriter(db, {nearSpendTxs: 2})
    w.startBulkLoad()
    w.applyBlocks([...recorded, twinBlock, ...more])
    return db
  }
  const victimSpender = Buffer.alloc(32, 0x99)
  const spendOfVictim = madeUpBlock(twinBlock, [Buffer.alloc(32, 0x98), victimSpender], [{txIndex: 1, vout: 0, scriptKey: someKey, value: 1}], [
    {txIndex: 1, vin: 0, prevTxid: victimTxid, prevVout: 0},
  ])

  test('a first run, which resolves old spends at its end, marks the victim\'s output and not the twin\'s, and takes the twin for no BIP30 duplicate', () => {
    const db = bulkLoaded('txid-bulk-spend', [spendOfVictim])
    try {
      assert.ok(db.sqlite.prepare('SELECT COUNT(*) FROM bulk_spends').pluck().get() as number > 0, 'the premise: spends wait for the end')
      new IndexWriter(db).finishBulkLoad()
      const reader = new AddressReader(db)
      assert.equal(reader.output(victimTxNum, 0)?.spentBy, reader.txNumOf(victimSpender))
      assert.equal(reader.output(twinTxNum, 0)?.spentBy, null)
      assert.equal(db.meta('duplicate_txids'), undefined)
    } finally {
      db.close()
    }
  })

  test('in a first run, a spend of an absent txid that shares the victim\'s key fails its end as an unknown output, and the run stays unfinished', () => {
    const spend = madeUpBlock(twinBlock, [Buffer.alloc(32, 0x97), Buffer.alloc(32, 0x96)], [], [{txIndex: 1, vin: 0, prevTxid: absent, prevVout: 0}])
    const db = bulkLoaded('txid-bulk-absent', [spend])
    try {
      assert.throws(() => new IndexWriter(db).finishBulkLoad(), {name: 'DatabaseError', message: new RegExp(`^block ${spend.height} spends unknown output ${toDisplayHex(absent)}:0;`)})
      assert.equal(db.building(), true)
      assert.equal(new AddressReader(db).output(victimTxNum, 0)?.spentBy, null)
    } finally {
      db.close()
    }
  })

  // With one holder of the key, a spend's lookup trusts the key (lookUpSpent: the txid of a spend Core accepted is in the
  // chain, so in the index); with two, it compares full txids, as here
  test('a spend of an absent txid that shares the key of the victim and its twin is refused as an unknown output, and nothing is written', () => {
    const db = indexOfRecording('txid-absent')
    try {
      new IndexWriter(db).applyBlocks([twinBlock])
      const spend = madeUpBlock(twinBlock, [Buffer.alloc(32, 0x97), Buffer.alloc(32, 0x96)], [], [{txIndex: 1, vin: 0, prevTxid: absent, prevVout: 0}])
      assert.throws(() => new IndexWriter(db).applyBlocks([spend]), {name: 'DatabaseError', message: new RegExp(`spends unknown output ${toDisplayHex(absent)}:0`)})
      assert.equal(new AddressReader(db).output(victimTxNum, 0)?.spentBy, null)
      assert.equal(new AddressReader(db).output(twinTxNum, 0)?.spentBy, null)
      assert.equal(db.tip()?.height, twinBlock.height)
    } finally {
      db.close()
    }
  })
})
