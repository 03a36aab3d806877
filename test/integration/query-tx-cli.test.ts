import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, test} from 'node:test'

import {runBix} from '../support/cli.js'
import {FIXTURE_DIR, readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startTestNode} from '../support/test-node.js'
import {type TxTruth, type TxsTruth, coreTxsTruth} from '../support/tx-oracle.js'

/**
 * `bix query tx` held to Bitcoin Core's own account of every transaction
 * (test/support/tx-oracle.ts: getrawtransaction 2 <blockhash>, getblock,
 * getmempoolentry, gettxout, gettxspendingprevout with -txospenderindex) on
 * the recorded Core chain after its reorg, with its mempool. The node runs
 * with -txindex (the oracle needs it), bix never asks it for a confirmed
 * transaction: it reads blocks. With BITCOIND set the node is Core; without
 * it the simulator, whose answers are first held to the recording of Core's
 * (tx-truth.json).
 */

const recorded = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'tx-truth.json'), 'utf8')) as TxsTruth & {bitcoind: string}
const staleBlocks = readFixtureChain().stale.map((b) => b.hash)

let fixture: {node: TestNode; db: string; truth: TxsTruth}
let dir: string

before(async () => {
  const node = await startTestNode({fixtureChain: true, txospenderindex: true})
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-query-tx-'))
  const db = path.join(dir, 'index.db')
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--json'])
  assert.equal(r.code, 0, r.stderr)
  const truth = await coreTxsTruth(node, staleBlocks)
  fixture = {node, db, truth}
})

after(async () => {
  await fixture?.node.stop()
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

test('the node answers as the recording of Core does (on Core too: the recording must stay true)', () => {
  const {bitcoind: _recordedBy, ...recordedTruth} = recorded
  assert.deepEqual(fixture.truth, recordedTruth)
})

async function queryTx(node: TestNode, db: string, txids: string[], ...flags: string[]): Promise<TxTruth[]> {
  const r = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, '--json', ...flags, ...txids])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as TxTruth[]
}

test('every transaction of a chain with a reorg, and of the mempool, is what Core says it is: place, fee, sizes, prevouts, outputs, spenders, bytes', async () => {
  const {node, db, truth} = fixture
  const all = [...truth.txs, ...truth.mempool]
  // sanity of the chain itself: the checks below see confirmed and mempool spenders, coinbases, segwit and legacy inputs
  assert.ok(truth.mempool.length > 0 && truth.stale_only.length > 0)
  assert.ok(truth.txs.some((tx) => tx.outspends.some((o) => o.spent && o.status?.confirmed)))
  assert.ok(truth.txs.some((tx) => tx.outspends.some((o) => o.spent && !o.status?.confirmed)))

  for (let i = 0; i < all.length; i += 100) {
    const chunk = all.slice(i, i + 100)
    const answers = await queryTx(node, db, chunk.map((tx) => tx.txid), '--hex')
    assert.equal(answers.length, chunk.length)
    chunk.forEach((expected, k) => assert.deepEqual(answers[k], expected, `transaction ${expected.txid}`))
  }
})

test('without --hex there is no raw transaction; one txid gives an array of one; the human summary names place, fee and spenders', async () => {
  const {node, db, truth} = fixture
  const spent = truth.txs.find((tx) => tx.fee > 0 && tx.outspends.some((o) => o.spent && o.status?.confirmed))!
  const r = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, '--json', spent.txid])
  assert.equal(r.code, 0, r.stderr)
  const {hex: _hex, ...withoutHex} = spent
  assert.deepEqual(JSON.parse(r.stdout), [withoutHex])

  const human = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, spent.txid])
  assert.equal(human.code, 0, human.stderr)
  assert.match(human.stdout, new RegExp(`height ${spent.status.block_height}, position ${spent.block_position}, ${spent.status.block_hash}`))
  assert.match(human.stdout, new RegExp(`fee +${(spent.fee / 1e8).toFixed(8)} BTC`))
  const spend = spent.outspends.find((o) => o.spent && o.status?.confirmed)!
  assert.ok(human.stdout.includes(`spent by ${spend.txid}:${spend.vin} at height ${spend.status!.block_height}`), human.stdout)
  assert.ok(!human.stdout.includes(spent.hex))
})

test('a transaction only a stale block holds is unknown: one line naming it, exit 9; a malformed txid is exit 2', async () => {
  const {node, db, truth} = fixture
  for (const txid of truth.stale_only) {
    const r = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, txid])
    assert.equal(r.code, 9, r.stderr)
    assert.equal(r.stdout, '')
    assert.equal(r.stderr.trim().split('\n').length, 1)
    assert.match(r.stderr, new RegExp(`transaction ${txid} is neither in the index nor in the node's mempool`))
  }
  const bad = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, 'abc'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /"abc" is not a txid \(64 hex digits\)/)
})

test('a wallet\'s chain of unconfirmed payments: prevouts from the mempool, spenders in the mempool; once mined and indexed, the same transactions confirmed; a replaced one is unknown', async (t) => {
  const node = await startTestNode({matureBlocks: 101, txospenderindex: true})
  t.after(() => node.stop())
  const walletDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-query-tx-wallet-'))
  t.after(() => fs.rmSync(walletDir, {recursive: true, force: true}))
  const db = path.join(walletDir, 'index.db')
  const index = async () => {
    const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--json'])
    assert.equal(r.code, 0, r.stderr)
  }
  await index()
  // one mature coinbase: the wallet pays the later ones from the earlier ones' unconfirmed change
  const sent = [await node.send(await node.newAddress(), 100_000), await node.send(await node.newAddress('bech32m'), 250_000), await node.send(await node.newAddress('legacy'), 70_000)]
  const before = await coreTxsTruth(node, [])
  const inMempool = before.mempool
  assert.deepEqual(inMempool.map((tx) => tx.txid).sort(), [...sent].sort())
  assert.ok(inMempool.some((tx) => tx.vin.some((input) => sent.includes(input.txid))), 'a payment spends another one\'s change')
  assert.ok(inMempool.some((tx) => tx.outspends.some((o) => o.spent && !o.status?.confirmed)), 'a mempool transaction spends another one\'s output')
  assert.deepEqual(await queryTx(node, db, sent, '--hex'), sent.map((txid) => inMempool.find((tx) => tx.txid === txid)))
  // the coinbase they spend: confirmed, its output spent by a mempool transaction
  const funding = before.txs.find((tx) => tx.outspends.some((o) => o.spent && !o.status?.confirmed))!
  assert.deepEqual(await queryTx(node, db, [funding.txid], '--hex'), [funding])

  const [mined] = await node.mine(1)
  // not indexed yet: the payments are in a block the index does not have
  const behind = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, sent[0]])
  assert.equal(behind.code, 9, behind.stderr)
  assert.match(behind.stderr, /warning: the index is 1 blocks behind the node/)
  await index()
  const after = await coreTxsTruth(node, [])
  const confirmed = sent.map((txid) => after.txs.find((tx) => tx.txid === txid)!)
  assert.ok(confirmed.every((tx) => tx.status.block_hash === mined))
  assert.deepEqual(await queryTx(node, db, sent, '--hex'), confirmed)

  // a replacement: the replaced transaction is in neither the chain nor the mempool
  const payment = await node.send(await node.newAddress(), 40_000)
  const replacement = await node.bumpFee(payment)
  const replaced = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, payment])
  assert.equal(replaced.code, 9, replaced.stderr)
  const withReplacement = await coreTxsTruth(node, [])
  assert.deepEqual(await queryTx(node, db, [replacement]), withReplacement.mempool.filter((tx) => tx.txid === replacement).map(({hex: _hex, ...tx}) => tx))
})

test('--file: every transaction from one file (comments and blank lines among them), Core\'s answer for each in order, one object per line with --jsonl, one array with --json; stdin with -', async () => {
  const {node, db, truth} = fixture
  const all = [...truth.txs, ...truth.mempool]
  const file = path.join(dir, 'txids.txt')
  fs.writeFileSync(file, ['# every transaction of the recorded chain, then its mempool', '', ...all.map((tx, i) => (i % 50 === 0 ? `  ${tx.txid}  \n` : tx.txid))].join('\n'))
  const lines = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, '--hex', '--file', file, '--jsonl'], {timeoutMs: 120_000})
  assert.equal(lines.code, 0, lines.stderr)
  const answers = lines.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as TxTruth)
  assert.equal(answers.length, all.length, 'one line per txid')
  all.forEach((expected, i) => assert.deepEqual(answers[i], expected, `line answer ${i}: ${expected.txid}`))

  const some = all.slice(0, 3).map((tx) => tx.txid)
  const array = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, '--json', '--file', '-'], {input: `${some.join('\n')}\n`})
  assert.equal(array.code, 0, array.stderr)
  assert.deepEqual(JSON.parse(array.stdout), all.slice(0, 3).map(({hex: _hex, ...tx}) => tx))
})

test('--file: an unknown txid stops the run with exit 9 and names its line; the answers before it are written', async () => {
  const {node, db, truth} = fixture
  const file = path.join(dir, 'with-stale.txt')
  fs.writeFileSync(file, `${truth.txs[1].txid}\n# a stale-only transaction next\n${truth.stale_only[0]}\n${truth.txs[2].txid}\n`)
  const r = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, '--file', file, '--jsonl'])
  assert.equal(r.code, 9, r.stderr)
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 3: transaction ${truth.stale_only[0]} is neither in the index nor in the node's mempool`))
  const written = r.stdout.trimEnd().split('\n').map((line) => (JSON.parse(line) as TxTruth).txid)
  assert.deepEqual(written, [truth.txs[1].txid])
  const missing = await runBix(['query', 'tx', ...node.cliArgs(), '--db', db, '--file', path.join(dir, 'no-such-file')])
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /no such file/)
})

test('a node without REST serves the blocks over getblock: the same answers', async (t) => {
  const node = await startTestNode({fixtureChain: true, rest: false})
  t.after(() => node.stop())
  const restless = path.join(dir, 'restless.db')
  const indexed = await runBix(['index', ...node.cliArgs(), '--db', restless, '--json'])
  assert.equal(indexed.code, 0, indexed.stderr)
  // spent and unspent outputs, a coinbase, several inputs; confirmed spenders need no -txospenderindex on the node
  const chosen = [recorded.txs[1], ...recorded.txs.filter((tx) => tx.vin.length > 1 && tx.outspends.every((o) => !o.spent || o.status?.confirmed)).slice(0, 3)]
  assert.equal(chosen.length, 4)
  assert.deepEqual(await queryTx(node, restless, chosen.map((tx) => tx.txid), '--hex'), chosen)
  // --verbose counts the node's RPC methods: the blocks came over getblock
  const verbose = await runBix(['query', 'tx', ...node.cliArgs(), '--db', restless, '--verbose', chosen[0].txid])
  assert.equal(verbose.code, 0, verbose.stderr)
  assert.match(verbose.stderr, /^getblock +[1-9]/m)
})

test('an unreachable node is one line and exit 3', async () => {
  const {node, db, truth} = fixture
  const args = node.cliArgs()
  args[args.indexOf('--rpcport') + 1] = '1'
  // --quiet: no line about waiting for the node, only the error
  const r = await runBix(['query', 'tx', ...args, '--db', db, '--connect-timeout', '1', '--quiet', truth.txs[1].txid])
  assert.equal(r.code, 3, r.stderr)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, /^error: cannot reach bitcoind at 127\.0\.0\.1:1/)
  assert.equal(r.stdout, '')
})
