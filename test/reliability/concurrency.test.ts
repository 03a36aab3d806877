import assert from 'node:assert/strict'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import {Block} from 'bitcoinjs-lib'

import {addressToScript} from '../../src/lib/chain/address.js'
import {type BixResult, runBix, spawnBix} from '../support/cli.js'
import {indexDigest} from '../support/index-digest.js'
import {type FaultTestNode, startFaultSimulator} from '../support/test-node.js'
import {assertCleanFailure, blocksServed, cleanDigest, fixture, indexArgs, indexHeight, seeded, tempDir, waitUntil} from './support.js'

/**
 * Several bix processes on one database: two index runs started together
 * (one writes, the other exits 5 naming it), index and sync-mempool (they
 * share the writer lock), and queries while an index run commits batch
 * after batch, each answer exactly what the chain says at the tip it
 * reports, never a mix of two tips.
 *
 * Simulator: fault injection, whatever BITCOIND says: every test slows the
 * node's answers down so that the processes are sure to overlap; a real node
 * serves the 147 blocks faster than a second process starts.
 */

let node: FaultTestNode
let clean: string

before(async () => {
  node = await startFaultSimulator({fixtureChain: true})
  clean = await cleanDigest({after}, node)
})
after(() => node?.stop())

/** Per script, what the chain up to `height` says: the account queries must match at the tip they report. */
function accountAt(height: number): Map<string, {funded: number; fundedSum: number; spent: number; spentSum: number; txs: Set<string>}> {
  const byScript = new Map<string, {funded: number; fundedSum: number; spent: number; spentSum: number; txs: Set<string>}>()
  const outputs = new Map<string, {script: string; value: number}>()
  const entry = (script: string) => {
    let e = byScript.get(script)
    if (!e) byScript.set(script, (e = {funded: 0, fundedSum: 0, spent: 0, spentSum: 0, txs: new Set()}))
    return e
  }
  for (const b of fixture.blocks.slice(1, height + 1)) {
    for (const tx of Block.fromHex(b.hex).transactions ?? []) {
      const txid = tx.getId()
      if (!tx.isCoinbase()) {
        for (const input of tx.ins) {
          const prev = outputs.get(`${Buffer.from(input.hash).reverse().toString('hex')}:${input.index}`)!
          const e = entry(prev.script)
          e.spent++
          e.spentSum += prev.value
          e.txs.add(txid)
        }
      }
      tx.outs.forEach((out, vout) => {
        const script = Buffer.from(out.script).toString('hex')
        outputs.set(`${txid}:${vout}`, {script, value: Number(out.value)})
        const e = entry(script)
        e.funded++
        e.fundedSum += Number(out.value)
        e.txs.add(txid)
      })
    }
  }
  return byScript
}

interface Report {
  address: string
  chain_stats: {funded_txo_count: number; funded_txo_sum: number; spent_txo_count: number; spent_txo_sum: number; tx_count: number}
  freshness: {index: {height: number; hash: string} | null}
}

describe('concurrent bix processes on one database', () => {
  test('two index runs started together, three times: one writes, the other exits 5 naming its PID; the index is right', async (t) => {
    for (let round = 0; round < 3; round++) {
      const db = path.join(tempDir(t), 'index.db')
      node.sim.faults.slow(8)
      const runs = [0, 1].map(() => spawnBix(indexArgs(node, db, '--batch-blocks', '5', '--source', 'rpc', '--rpc-parallelism', '2')))
      const results: BixResult[] = await Promise.all(runs.map((r) => r.done))
      node.sim.faults.clear()
      const winners = results.filter((r) => r.code === 0)
      assert.equal(winners.length, 1, `round ${round}: exactly one run writes: ${results.map((r) => `${r.code} ${r.stderr}`).join(' | ')}`)
      const loser = results.findIndex((r) => r.code !== 0)
      const winnerPid = runs[1 - loser].child.pid
      assertCleanFailure(results[loser], 5, new RegExp(`^error: another bix index \\(pid ${winnerPid} on \\S+, since [^)]+\\) is writing .*index\\.db; wait for it, or use --wait-lock$`), `round ${round}`)
      assert.equal(indexDigest(db), clean, `round ${round}`)
    }
  })

  test('sync-mempool while an index run writes: exit 5 naming it, and neither is harmed', async (t) => {
    const db = path.join(tempDir(t), 'index.db')
    node.sim.faults.slow(8)
    const base = blocksServed(node)
    const run = spawnBix(indexArgs(node, db, '--batch-blocks', '5', '--source', 'rpc', '--rpc-parallelism', '1'))
    await waitUntil(() => blocksServed(node) - base >= 10)
    const sync = await runBix(['sync-mempool', ...node.cliArgs(), '--db', db])
    assertCleanFailure(sync, 5, new RegExp(`pid ${run.child.pid}\\b`))
    node.sim.faults.clear()
    const r = await run.done
    assert.equal(r.code, 0, r.stderr)
    assert.equal(indexDigest(db), clean)
    const after = await runBix(['sync-mempool', ...node.cliArgs(), '--db', db, '--json'])
    assert.equal(after.code, 0, after.stderr)
    assert.equal(JSON.parse(after.stdout).total, fixture.mempool.length)
  })

  test('queries while an index run commits block after block: every answer is the chain at the tip it reports', async (t) => {
    const {int} = seeded(t, 'queries during an index run')
    const db = path.join(tempDir(t), 'index.db')
    const start = int(40, 100)
    assert.equal((await runBix(indexArgs(node, db, '--quiet', '--to-height', String(start)))).code, 0)
    const addresses = fixture.addresses
    // slow enough that several queries (each a new process) fit in the run, even on a loaded machine
    node.sim.faults.slow(60)
    const run = spawnBix(indexArgs(node, db, '--batch-blocks', '1', '--source', 'rpc', '--rpc-parallelism', '1'), {timeoutMs: 120_000})
    const seen = new Set<number>()
    const accounts = new Map<number, ReturnType<typeof accountAt>>()
    let queries = 0
    // status too, once the run writes: it must name the writer
    await waitUntil(() => indexHeight(db) > start)
    const status = await runBix(['status', ...node.cliArgs(), '--db', db])
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, new RegExp(`writer +bix index running \\(pid ${run.child.pid}\\)`))
    while (run.child.exitCode === null) {
      const q = await runBix(['query', 'address', ...node.cliArgs(), '--db', db, '--offline', '--json', ...addresses])
      assert.equal(q.code, 0, `a query during the run: ${q.stderr}`)
      queries++
      const reports = JSON.parse(q.stdout) as Report[]
      const height = reports[0].freshness.index!.height
      assert.ok(reports.every((r) => r.freshness.index!.height === height), 'one tip for the whole answer')
      assert.equal(reports[0].freshness.index!.hash, fixture.blocks[height].hash)
      seen.add(height)
      if (!accounts.has(height)) accounts.set(height, accountAt(height))
      const account = accounts.get(height)!
      for (const report of reports) {
        const e = account.get(addressToScript(report.address, 'regtest').toString('hex'))
        assert.deepEqual(
          report.chain_stats,
          {
            funded_txo_count: e?.funded ?? 0,
            funded_txo_sum: e?.fundedSum ?? 0,
            spent_txo_count: e?.spent ?? 0,
            spent_txo_sum: e?.spentSum ?? 0,
            tx_count: e?.txs.size ?? 0,
          },
          `${report.address} at height ${height}`,
        )
      }
    }
    node.sim.faults.clear()
    const r = await run.done
    assert.equal(r.code, 0, r.stderr)
    assert.equal(indexDigest(db), clean)
    t.diagnostic(`${queries} queries answered at heights ${[...seen].sort((a, b) => a - b).join(', ')} (index from ${start})`)
    assert.ok(seen.size >= 2, `queries saw the index move (${[...seen].join(', ')})`)
    assert.ok(indexHeight(db) === fixture.height)
  })
})
