import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'
import Database from 'better-sqlite3'

import {scriptKeyOf} from '../../src/lib/chain/indexed-block.js'
import {BixError} from '../../src/lib/errors.js'
import {indexNode} from '../../src/lib/index/index-node.js'
import {type SyncMempoolOptions, syncMempool} from '../../src/lib/mempool/mempool-sync.js'
import {makeEndpoint} from '../../src/lib/node/config.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import type {NodeClient} from '../../src/lib/node/types.js'
import {TX_SHIFT} from '../../src/lib/store/output-ids.js'
import {inputTxid} from '../support/simnode/ledger.js'
import {Simulator} from '../support/simnode/simulator.js'

/**
 * The mempool sync as a library call against the simulator and a real
 * SQLite index: how a big sync is written in several transactions and what
 * an interruption leaves, children listed before their parents, and an
 * index that cannot account for what a mempool transaction spends.
 */

type TestContext = {after: (fn: () => unknown) => void}

interface Setup {
  sim: Simulator
  client: NodeClient
  dbPath: string
}

async function setUp(t: TestContext): Promise<Setup> {
  const sim = await Simulator.start({blockFiles: false})
  t.after(() => sim.stop())
  // ten mature coinbases: ten sends that do not depend on each other
  sim.mine(110)
  const client = createNodeClient(
    {
      network: 'regtest',
      networkExplicit: true,
      datadir: sim.datadir,
      netDatadir: sim.netDatadir,
      endpoints: [makeEndpoint('127.0.0.1', sim.port)],
      credentials: {kind: 'cookie', path: sim.cookiePath},
    },
    {parallelism: 2, connectTimeoutMs: 2000, requestTimeoutMs: 10_000},
  )
  t.after(() => client.close())
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-mempool-sync-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  const dbPath = path.join(dir, 'index.db')
  await indexNode({
    client,
    network: 'regtest',
    dbPath,
    blocksDir: sim.blocksDir,
    source: 'rpc',
    maxMemoryBytes: 64 * 1024 * 1024,
    parallelism: 2,
    waitLock: false,
    decodeOnWorker: false,
    signal: new AbortController().signal,
  })
  return {sim, client, dbPath}
}

function sync(s: Setup, more: Partial<SyncMempoolOptions> = {}) {
  return syncMempool({client: s.client, network: 'regtest', dbPath: s.dbPath, parallelism: 1, waitLock: false, signal: new AbortController().signal, ...more})
}

const interruption = () => new BixError('Interrupted', 'interrupted by SIGINT', {exitCode: 130})
const hex = (b: Buffer) => b.toString('hex')

/** Rows per transaction (txid display hex → its rows as text), from the database or from the simulator's mempool. */
type Rows = Map<string, string[]>

function storedRows(dbPath: string): {rows: Rows; meta: Array<[string, string]>} {
  const sqlite = new Database(dbPath, {readonly: true})
  try {
    const rows: Rows = new Map()
    const push = (txid: Buffer, row: string) => {
      const key = Buffer.from(txid).reverse().toString('hex')
      rows.set(key, [...(rows.get(key) ?? []), row])
    }
    for (const r of sqlite.prepare<[], {txid: Buffer; first_seen: number; vsize: number; fee: number}>('SELECT * FROM mempool_txs').all()) {
      push(r.txid, `tx ${r.first_seen} ${r.vsize} ${r.fee}`)
    }
    for (const r of sqlite.prepare<[], {txid: Buffer; vout: number; script_key: Buffer; value: number}>('SELECT * FROM mempool_outputs').all()) {
      push(r.txid, `out ${r.vout} ${hex(r.script_key)} ${r.value}`)
    }
    for (const r of sqlite.prepare<[], {txid: Buffer; vin: number; prev_txid: Buffer; prev_vout: number; script_key: Buffer; value: number}>('SELECT * FROM mempool_spends').all()) {
      push(r.txid, `in ${r.vin} ${Buffer.from(r.prev_txid).reverse().toString('hex')}:${r.prev_vout} ${hex(r.script_key)} ${r.value}`)
    }
    for (const list of rows.values()) list.sort()
    const meta = sqlite.prepare<[], [string, string]>("SELECT key, value FROM meta WHERE key LIKE 'mempool%' ORDER BY key").raw().all()
    return {rows, meta}
  } finally {
    sqlite.close()
  }
}

function simRows(sim: Simulator): Rows {
  const rows: Rows = new Map()
  for (const e of sim.chain.mempool.entries.values()) {
    const list = [`tx ${e.time} ${e.vsize} ${e.fee}`]
    e.tx.outs.forEach((out, vout) => list.push(`out ${vout} ${hex(scriptKeyOf(out.script))} ${out.value}`))
    e.tx.ins.forEach((input, vin) => {
      const prev = inputTxid(input.hash)
      const coin = sim.chain.coinAt(prev, input.index)!
      list.push(`in ${vin} ${prev}:${input.index} ${hex(scriptKeyOf(coin.script))} ${coin.value}`)
    })
    rows.set(e.txid, list.sort())
  }
  return rows
}

const sorted = (rows: Rows) => [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : 1))

describe('syncing the mempool into the index', () => {
  test('a big sync is written as it arrives; interrupted, it leaves whole transactions, parents with children, no claim of a sync — and the next run finishes it', async (t) => {
    const s = await setUp(t)
    const sent = Array.from({length: 10}, (_, i) => s.sim.send({to: s.sim.newAddress(), value: 100_000 + i}))
    // two children, which must never be in the database without their parents
    for (const parent of sent.slice(0, 2)) s.sim.send({to: s.sim.newAddress(), value: 50_000, from: [{txid: parent.txid, vout: 0}]})
    const controller = new AbortController()
    await assert.rejects(
      sync(s, {
        fetchBatch: 3,
        commitTxs: 3,
        signal: controller.signal,
        events: {onFetchProgress: (done) => void (done === 6 && controller.abort(interruption()))},
      }),
      {name: 'Interrupted', message: 'interrupted by SIGINT: the mempool snapshot is incomplete; run bix sync-mempool again to finish it'},
    )
    const partial = storedRows(s.dbPath)
    const node = simRows(s.sim)
    assert.equal(partial.rows.size, 6)
    assert.deepEqual(partial.meta, [], 'no MEMPOOL_SYNCED_AT or MEMPOOL_TIP while incomplete')
    for (const [txid, rows] of partial.rows) {
      assert.deepEqual(rows, node.get(txid), `${txid} is whole`)
      for (const row of rows.filter((r) => r.startsWith('in '))) {
        const prev = row.split(' ')[2].slice(0, 64)
        if (node.has(prev)) assert.ok(partial.rows.has(prev), `${txid}'s parent ${prev} is there too`)
      }
    }

    const fetchedBefore = s.sim.calls('getrawtransaction')
    const r = await sync(s)
    assert.deepEqual([r.added, r.removed, r.total], [6, 0, 12])
    assert.equal(s.sim.calls('getrawtransaction') - fetchedBefore, 6, 'only what the interrupted run had not written')
    const done = storedRows(s.dbPath)
    assert.deepEqual(sorted(done.rows), sorted(node))
    assert.deepEqual(done.meta, [
      ['mempool_synced_at', String(r.syncedAt)],
      ['mempool_tip', s.sim.chain.tip.hash],
    ])
  })

  test('a small sync interrupted leaves the previous snapshot and its meta exactly as they were', async (t) => {
    const s = await setUp(t)
    for (let i = 0; i < 2; i++) s.sim.send({to: s.sim.newAddress(), value: 70_000 + i})
    await sync(s)
    const before = storedRows(s.dbPath)
    for (let i = 0; i < 5; i++) s.sim.send({to: s.sim.newAddress(), value: 80_000 + i})
    s.sim.dropFromMempool([...s.sim.chain.mempool.entries.keys()][0])
    const controller = new AbortController()
    await assert.rejects(
      sync(s, {fetchBatch: 2, signal: controller.signal, events: {onFetchProgress: () => controller.abort(interruption())}}),
      {name: 'Interrupted', message: 'interrupted by SIGINT: the mempool snapshot was left as it was'},
    )
    assert.deepEqual(storedRows(s.dbPath), before)
  })

  test('children listed before their parents are held back until the parent is written, and the snapshot ends the same', async (t) => {
    const s = await setUp(t)
    let parent = s.sim.send({to: s.sim.newAddress(), value: 900_000})
    for (let i = 0; i < 4; i++) parent = s.sim.send({to: s.sim.newAddress(), value: 800_000 - i * 100_000, from: [{txid: parent.txid, vout: 0}]})
    // a node that lists the mempool children first
    const reversing: NodeClient = Object.create(s.client, {
      call: {
        value: async (method: string, params?: unknown[], options?: object) => {
          const answer = await s.client.call(method, params, options)
          return method === 'getrawmempool' ? [...(answer as string[])].reverse() : answer
        },
      },
    })
    const r = await sync({...s, client: reversing}, {fetchBatch: 1, commitTxs: 2})
    assert.deepEqual([r.added, r.total, r.vanished], [5, 5, 0])
    assert.deepEqual(sorted(storedRows(s.dbPath).rows), sorted(simRows(s.sim)))
  })

  test('an index that lacks an output a mempool transaction spends: DatabaseError naming both, nothing written', async (t) => {
    const s = await setUp(t)
    const sent = s.sim.send({to: s.sim.newAddress(), value: 120_000})
    const input = sent.tx.ins[0]
    const sqlite = new Database(s.dbPath)
    const txNum = sqlite.prepare<[Buffer], number>('SELECT tx_num FROM txs WHERE txid = ?').pluck().get(Buffer.from(input.hash))!
    // where a first run or a later one put it
    for (const table of ['outputs', 'recent_outputs']) sqlite.prepare(`DELETE FROM ${table} WHERE id = ?`).run(txNum * TX_SHIFT + input.index)
    sqlite.close()
    await assert.rejects(sync(s), {
      name: 'DatabaseError',
      message: `mempool transaction ${sent.txid} spends ${inputTxid(input.hash)}:${input.index}, which is neither in the index nor in the mempool; the index at height 110 is incomplete or damaged`,
    })
    assert.deepEqual(storedRows(s.dbPath), {rows: new Map(), meta: []})
  })

  test('an index whose output value disagrees with the node\'s fee: DatabaseError, nothing written', async (t) => {
    const s = await setUp(t)
    const sent = s.sim.send({to: s.sim.newAddress(), value: 130_000})
    const input = sent.tx.ins[0]
    const sqlite = new Database(s.dbPath)
    const txNum = sqlite.prepare<[Buffer], number>('SELECT tx_num FROM txs WHERE txid = ?').pluck().get(Buffer.from(input.hash))!
    for (const table of ['outputs', 'recent_outputs']) sqlite.prepare(`UPDATE ${table} SET value = value + 1 WHERE id = ?`).run(txNum * TX_SHIFT + input.index)
    sqlite.close()
    await assert.rejects(sync(s), {name: 'DatabaseError', message: new RegExp(`^mempool transaction ${sent.txid} spends .* but the node says ${sent.fee} sat; the index is damaged`)})
    assert.deepEqual(storedRows(s.dbPath).rows, new Map())
  })
})
