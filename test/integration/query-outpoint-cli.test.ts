import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, test} from 'node:test'

import {runBix} from '../support/cli.js'
import {FIXTURE_DIR, readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startTestNode} from '../support/test-node.js'
import {type TxsTruth, coreTxsTruth, outpointTruth} from '../support/tx-oracle.js'

/**
 * `bix query outpoint` held to Bitcoin Core's account of who spends each
 * output (gettxspendingprevout with -txospenderindex, the spender's inputs,
 * gettxout; test/support/tx-oracle.ts) on the recorded Core chain after its
 * reorg, with its mempool. With BITCOIND set the node is Core; without it the
 * simulator, whose answers are first held to the recording (tx-truth.json).
 */

const recorded = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'tx-truth.json'), 'utf8')) as TxsTruth & {bitcoind: string}

let fixture: {node: TestNode; db: string; truth: TxsTruth}
let dir: string

before(async () => {
  const node = await startTestNode({fixtureChain: true, txospenderindex: true})
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-query-outpoint-'))
  const db = path.join(dir, 'index.db')
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--json'])
  assert.equal(r.code, 0, r.stderr)
  fixture = {node, db, truth: await coreTxsTruth(node, readFixtureChain().stale.map((b) => b.hash))}
})

after(async () => {
  await fixture?.node.stop()
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

const outpoint = (...args: string[]) => runBix(['query', 'outpoint', ...fixture.node.cliArgs(), '--db', fixture.db, ...args])

test('the node answers as the recording of Core does (on Core too: the recording must stay true)', () => {
  const {bitcoind: _recordedBy, ...recordedTruth} = recorded
  assert.deepEqual(fixture.truth, recordedTruth)
})

test('every output of the chain and the mempool: spent or not, by which transaction, input and block, as Core says', async () => {
  const all = [...fixture.truth.txs, ...fixture.truth.mempool]
    // the genesis output is in no UTXO set and bix does not index it
    .slice(1)
    .flatMap((tx) => tx.vout.map((_o, vout) => ({tx, vout})))
  assert.ok(all.some(({tx, vout}) => tx.outspends[vout].spent && !tx.outspends[vout].status?.confirmed), 'an output a mempool transaction spends')
  // one process for all of them, from a file, as JSON Lines
  const file = path.join(dir, 'outpoints.txt')
  fs.writeFileSync(file, `# every output\n${all.map(({tx, vout}) => `${tx.txid}:${vout}`).join('\n')}\n`)
  const r = await outpoint('--file', file, '--jsonl')
  assert.equal(r.code, 0, r.stderr)
  const answers = r.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown)
  assert.equal(answers.length, all.length, 'one line per outpoint')
  all.forEach(({tx, vout}, k) => assert.deepEqual(answers[k], outpointTruth(tx, vout), `${tx.txid}:${vout}`))

  // several on the command line: one array, in order
  const some = all.slice(0, 5)
  const several = await outpoint('--json', ...some.map(({tx, vout}) => `${tx.txid}:${vout}`))
  assert.equal(several.code, 0, several.stderr)
  assert.deepEqual(JSON.parse(several.stdout), some.map(({tx, vout}) => outpointTruth(tx, vout)))
})

test('one outpoint gives an array of one, and a line saying who spends it', async () => {
  const tx = fixture.truth.txs.find((t) => t.outspends.some((o) => o.spent && o.status?.confirmed))!
  const vout = tx.outspends.findIndex((o) => o.spent && o.status?.confirmed)
  const json = await outpoint('--json', `${tx.txid}:${vout}`)
  assert.equal(json.code, 0, json.stderr)
  assert.deepEqual(JSON.parse(json.stdout), [outpointTruth(tx, vout)])
  const human = await outpoint(`${tx.txid}:${vout}`)
  assert.equal(human.code, 0, human.stderr)
  const spend = tx.outspends[vout]
  assert.ok(human.stdout.includes(`spent by ${spend.txid}:${spend.vin} at height ${spend.status!.block_height}`), human.stdout)
})

test('an output that does not exist, or of a stale-only transaction, is one line and exit 9; a malformed outpoint is exit 2', async () => {
  const tx = fixture.truth.txs[fixture.truth.txs.length - 1]
  const beyond = await outpoint(`${tx.txid}:${tx.vout.length}`)
  assert.equal(beyond.code, 9, beyond.stderr)
  assert.equal(beyond.stderr.trim().split('\n').length, 1)
  assert.match(beyond.stderr, new RegExp(`output ${tx.txid}:${tx.vout.length} does not exist`))
  // 2^20 + 0 would be the next transaction's output 0 if the vout were not checked
  const huge = await outpoint(`${fixture.truth.txs[1].txid}:${2 ** 20}`)
  assert.equal(huge.code, 9, huge.stderr)
  const mempoolTx = fixture.truth.mempool[0]
  const mempoolBeyond = await outpoint(`${mempoolTx.txid}:${mempoolTx.vout.length}`)
  assert.equal(mempoolBeyond.code, 9, mempoolBeyond.stderr)

  const stale = await outpoint(`${fixture.truth.stale_only[0]}:0`)
  assert.equal(stale.code, 9, stale.stderr)
  assert.match(stale.stderr, /is neither in the index nor in the node's mempool/)

  for (const bad of ['abc:0', `${tx.txid}`, `${tx.txid}:-1`, `${tx.txid}:x`]) {
    const r = await outpoint(bad)
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`)
    assert.match(r.stderr, /is not an outpoint \(TXID:VOUT\)/)
  }
})
