import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import Database from 'better-sqlite3'
import {Transaction} from 'bitcoinjs-lib'

import {fromDisplayHex, toDisplayHex} from '../../src/lib/chain/hashes.js'
import {runBix} from '../support/cli.js'
import {merkleRoot} from '../support/simnode/block-builder.js'
import {REGTEST_BITS, meetsTarget, txHashes, writeVarInt} from '../support/simnode/block-codec.js'
import {TestRpcClient} from '../support/simnode/client.js'
import {Simulator} from '../support/simnode/simulator.js'

/**
 * A chain where a coinbase repeats an earlier coinbase's txid, as mainnet's
 * blocks 91812/91842 and 91722/91880 do (BIP30). Core's UTXO set is keyed by
 * outpoint: the second coinbase's outputs overwrite the first's, so the set
 * holds one coin, at the later height, and a later spend of txid:0 takes
 * that coin.
 *
 * Simulator even with BITCOIND set: Core enforces BIP34 on regtest (the
 * height in the coinbase) from block 1, so it refuses a repeated coinbase; the
 * simulator does not check BIP34 and its UTXO set overwrites by outpoint, as
 * Core's does for the two exempt mainnet pairs. The expected answers come from
 * the simulator's scantxoutset and getblock, never from bix.
 */

/** OP_TRUE: anyone can spend it, so the test can spend the duplicated coin without keys */
const PAID = Buffer.from('51', 'hex')
/** OP_2, where that spend goes */
const SPEND_TO = Buffer.from('52', 'hex')
const SUBSIDY = 50n * 100_000_000n
const FEE = 1000n
const EARLIER_VALUE = 100_000_000n

/** A coinbase without the BIP34 height, as before block 227,931 of mainnet: the same bytes at any height, hence the same txid. */
function repeatableCoinbase(): Transaction {
  const tx = new Transaction()
  tx.version = 1
  tx.addInput(Buffer.alloc(32), 0xffffffff, 0xffffffff, Buffer.from('bip30 duplicate'))
  tx.addOutput(PAID, SUBSIDY)
  return tx
}

/** A coinbase unique to its height (its scriptSig carries the height), paying `value` to `script` (by default nothing, to OP_RETURN). */
function plainCoinbase(height: number, script = Buffer.from('6a', 'hex'), value = 0n): Transaction {
  const tx = new Transaction()
  tx.version = 1
  tx.addInput(Buffer.alloc(32), 0xffffffff, 0xffffffff, Buffer.from(`height ${height}`))
  tx.addOutput(script, value)
  return tx
}

/** A block of legacy transactions (no witness commitment needed) on `prevHash`, mined at regtest difficulty. */
function blockOf(prevHash: string, time: number, txs: Transaction[]): string {
  const hashed = txs.map(txHashes)
  const header = Buffer.alloc(80)
  header.writeInt32LE(0x20000000, 0)
  fromDisplayHex(prevHash).copy(header, 4)
  merkleRoot(hashed.map((h) => h.txid)).copy(header, 36)
  header.writeUInt32LE(time, 68)
  header.writeUInt32LE(REGTEST_BITS, 72)
  for (let nonce = 0; !meetsTarget(header, REGTEST_BITS); nonce++) header.writeUInt32LE(nonce, 76)
  return Buffer.concat([header, writeVarInt(txs.length), ...hashed.map((h) => h.raw)]).toString('hex')
}

interface Scan {
  unspents: Array<{txid: string; vout: number; amount: number; height: number}>
  total_amount: number
}
interface Report {
  chain_stats: {funded_txo_count: number; funded_txo_sum: number; spent_txo_count: number; spent_txo_sum: number; tx_count: number}
  balance: {confirmed: number}
  utxos: Array<{txid: string; vout: number; value: number; height: number}>
  history: Array<{txid: string; height: number; value_change: number}>
}

const sats = (btc: number) => Math.round(btc * 1e8)

describe('an index of a chain with a duplicate coinbase txid (BIP30; simulator: Core enforces BIP34 on regtest)', () => {
  let sim: Simulator
  let rpc: TestRpcClient
  let cli: string[]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-bip30-'))
  /** indexed after every step, so that the duplicate and the spend find the earlier txid in SQLite (a new run forgets its recent txids) */
  const stepwise = path.join(dir, 'stepwise.db')
  /** indexed in one run at the end, so that they find it among the run's recent txids */
  const oneRun = path.join(dir, 'one-run.db')
  const duplicate = repeatableCoinbase()
  const duplicateTxid = toDisplayHex(txHashes(duplicate).txid)
  let earlierHeight = 0
  let firstHeight = 0
  let secondHeight = 0
  let spendTxid = ''
  /** Core's (the simulator's) view of the paid script after each step: what `bix query` must answer at that point */
  const balances: Array<{height: number; paid: Scan}> = []

  const submit = async (txs: Transaction[]) => {
    const tip = await rpc.call<string>('getbestblockhash')
    const header = await rpc.call<{time: number; height: number}>('getblockheader', [tip])
    const result = await rpc.call('submitblock', [blockOf(tip, header.time + 1, txs)])
    assert.equal(result, null, 'the simulator takes the block')
    return header.height + 1
  }
  const scan = (script: Buffer) => rpc.call<Scan>('scantxoutset', ['start', [`raw(${script.toString('hex')})`]])
  const index = async (db: string) => {
    const r = await runBix(['index', ...cli, '--db', db, '--quiet'])
    assert.equal(r.code, 0, r.stderr)
  }
  const query = async (db: string, script: Buffer): Promise<Report> => {
    const r = await runBix(['query', 'address', '--db', db, '--offline', '--json', '--utxos', '--history', '--limit', '0', '--script', script.toString('hex')])
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as Report
  }
  /** the node's UTXO total for the paid script after block `height` */
  const totalAt = (height: number) => sats(balances.filter((b) => b.height <= height).at(-1)!.paid.total_amount)
  const earlierTxid = () => toDisplayHex(txHashes(plainCoinbase(earlierHeight, PAID, EARLIER_VALUE)).txid)
  const step = async (txs: Transaction[]) => {
    const height = await submit(txs)
    balances.push({height, paid: await scan(PAID)})
    await index(stepwise)
    return height
  }

  before(async () => {
    sim = await Simulator.start({fixture: 'after-reorg'})
    rpc = new TestRpcClient(sim.port, {cookiePath: sim.cookiePath})
    cli = ['--datadir', sim.datadir, '--network', 'regtest', '--rpcport', String(sim.port)]
    await index(stepwise)
    balances.push({height: await rpc.call<number>('getblockcount'), paid: await scan(PAID)})
    // the script had been paid before, so its history goes on past the two duplicates
    earlierHeight = await step([plainCoinbase(balances[0].height + 1, PAID, EARLIER_VALUE)])
    firstHeight = await step([duplicate])
    for (let i = 0; i < 3; i++) await step([plainCoinbase(firstHeight + 1 + i)])
    // mainnet's 91842 repeated 91812's coinbase while its output was unspent: the new coin replaces the old
    secondHeight = await step([duplicate])
    const spend = new Transaction()
    spend.version = 2
    spend.addInput(txHashes(duplicate).txid, 0)
    spend.addOutput(SPEND_TO, SUBSIDY - FEE)
    spendTxid = toDisplayHex(txHashes(spend).txid)
    await step([plainCoinbase(secondHeight + 1), spend])
    await index(oneRun)
  })
  after(async () => {
    await sim?.stop()
    fs.rmSync(dir, {recursive: true, force: true})
  })

  test('the node holds one coin of the duplicated txid, at the later height, until it is spent', () => {
    // the premise, from the node: if this fails the chain is not the BIP30 case the other statements are about
    const atSecond = balances.find((b) => b.height === secondHeight)!.paid
    const ofDuplicate = (scan: Scan) => scan.unspents.filter((u) => u.txid === duplicateTxid).map((u) => `${u.txid}:${u.vout}@${u.height}`)
    assert.deepEqual(ofDuplicate(atSecond), [`${duplicateTxid}:0@${secondHeight}`])
    assert.deepEqual(ofDuplicate(balances.at(-1)!.paid), [])
  })

  for (const [how, db] of [['indexed block by block', () => stepwise], ['indexed in one run', () => oneRun]] as const) {
    test(`${how}: the txs table lists each block's transactions as the node's getblock does, the duplicate txid at both heights`, async () => {
      const sqlite = new Database(db(), {readonly: true})
      try {
        const tip = await rpc.call<number>('getblockcount')
        const rows = sqlite.prepare<[], {height: number; txid: Buffer}>('SELECT b.height, t.txid FROM blocks b JOIN txs t ON t.tx_num >= b.first_tx AND t.tx_num < b.first_tx + b.tx_count ORDER BY t.tx_num').all()
        const indexed = new Map<number, string[]>()
        for (const r of rows) indexed.set(r.height, [...(indexed.get(r.height) ?? []), toDisplayHex(r.txid)])
        for (let height = firstHeight - 1; height <= tip; height++) {
          const block = await rpc.call<{tx: string[]}>('getblock', [await rpc.call<string>('getblockhash', [height]), 1])
          assert.deepEqual(indexed.get(height), block.tx, `transactions of block ${height}`)
        }
        const byTxid = sqlite.prepare<[Buffer], number>('SELECT COUNT(*) FROM txs WHERE txid = ?').pluck().get(fromDisplayHex(duplicateTxid))
        assert.equal(byTxid, 2)
      } finally {
        sqlite.close()
      }
    })

    test(`${how}: the paid script's balance, UTXOs and history follow the node's UTXO set, and the spend took the later coin`, async () => {
      const report = await query(db(), PAID)
      const final = balances.at(-1)!.paid
      assert.equal(report.balance.confirmed, sats(final.total_amount))
      assert.deepEqual(
        report.utxos.map((u) => `${u.txid}:${u.vout}:${u.value}@${u.height}`).sort(),
        final.unspents.map((u) => `${u.txid}:${u.vout}:${sats(u.amount)}@${u.height}`).sort(),
      )
      // one entry per transaction of the script, as getblock lists them: the coinbase at both heights, then the spend
      assert.deepEqual(report.history.map((h) => `${h.txid}@${h.height}`), [
        `${spendTxid}@${secondHeight + 1}`,
        `${duplicateTxid}@${secondHeight}`,
        `${duplicateTxid}@${firstHeight}`,
        `${earlierTxid()}@${earlierHeight}`,
      ])
      // each entry's value_change is the step of the node's UTXO total for the script at that height
      for (const h of report.history) assert.equal(h.value_change, totalAt(h.height) - totalAt(h.height - 1), `value_change at ${h.height}`)
      // three outputs were paid; the first duplicate was replaced, the second spent: the earlier payment is left, as in the node
      assert.deepEqual(report.chain_stats, {
        funded_txo_count: 3,
        funded_txo_sum: Number(2n * SUBSIDY + EARLIER_VALUE),
        spent_txo_count: 2,
        spent_txo_sum: Number(2n * SUBSIDY),
        tx_count: 4,
      })

      const spentTo = await query(db(), SPEND_TO)
      const scanned = await scan(SPEND_TO)
      assert.deepEqual(
        spentTo.utxos.map((u) => `${u.txid}:${u.vout}:${u.value}@${u.height}`),
        scanned.unspents.map((u) => `${u.txid}:${u.vout}:${sats(u.amount)}@${u.height}`),
      )
    })
  }

  test('before the spend, the index answered the node\'s one coin at the later height', async () => {
    // a copy of the stepwise index cannot go back in time; index the chain again up to the duplicate
    const db = path.join(dir, 'to-second.db')
    const r = await runBix(['index', ...cli, '--db', db, '--quiet', '--to-height', String(secondHeight)])
    assert.equal(r.code, 0, r.stderr)
    const report = await query(db, PAID)
    const atSecond = balances.find((b) => b.height === secondHeight)!.paid
    assert.equal(report.balance.confirmed, sats(atSecond.total_amount))
    assert.deepEqual(
      report.utxos.map((u) => `${u.txid}:${u.vout}:${u.value}@${u.height}`).sort(),
      atSecond.unspents.map((u) => `${u.txid}:${u.vout}:${sats(u.amount)}@${u.height}`).sort(),
    )
    assert.deepEqual(report.history.map((h) => `${h.txid}@${h.height}:${h.value_change}`), [
      `${duplicateTxid}@${secondHeight}:${totalAt(secondHeight) - totalAt(secondHeight - 1)}`,
      `${duplicateTxid}@${firstHeight}:${totalAt(firstHeight) - totalAt(firstHeight - 1)}`,
      `${earlierTxid()}@${earlierHeight}:${totalAt(earlierHeight) - totalAt(earlierHeight - 1)}`,
    ])
  })

  test('paging the history a page at a time with --after gives every entry once, the duplicate txid at both heights', async () => {
    const whole = (await query(oneRun, PAID)).history.map((h) => `${h.txid}@${h.height}`)
    const paged: string[] = []
    let after: string | undefined
    // a cursor that named the later duplicate again would go round for ever: bounded by the number of entries
    for (let page = 0; page <= whole.length; page++) {
      const r = await runBix(['query', 'address', '--db', oneRun, '--offline', '--json', '--history', '--limit', '1', '--script', PAID.toString('hex'), ...(after ? ['--after', after] : [])])
      assert.equal(r.code, 0, r.stderr)
      const report = JSON.parse(r.stdout) as Report & {next_after?: {history?: string}}
      paged.push(...report.history.map((h) => `${h.txid}@${h.height}`))
      after = report.next_after?.history
      if (!after) break
    }
    assert.equal(after, undefined, `paging ended: ${paged.join(', ')}`)
    assert.deepEqual(paged, whole)
  })
})
