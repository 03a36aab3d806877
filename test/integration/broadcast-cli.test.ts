import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {Block, type Transaction} from 'bitcoinjs-lib'

import type {BroadcastResult} from '../../src/lib/broadcast/result.js'
import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {toIndexedBlock} from '../../src/lib/chain/indexed-block.js'
import {openIndex} from '../../src/lib/store/sqlite/database.js'
import {IndexWriter} from '../../src/lib/store/sqlite/writer.js'
import {regtestChain} from '../support/chain-fixtures.js'
import {type BixResult, REPO_ROOT, runBix} from '../support/cli.js'
import {OPEN_ADDRESS, type OpenCoin, coinOf, payOpen, spendOpen, toOpen} from '../support/open-coins.js'
import {RpcCallError} from '../support/simnode/client.js'
import {addressToScript} from '../support/simnode/scripts.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * `bix broadcast` as a user runs it: exit codes, what it prints, --json,
 * --file and stdin, on real Bitcoin Core with BITCOIND and on the simulator
 * otherwise; then, always on the simulator, the faults that make a send's
 * outcome unknown and an old Core without submitpackage. (The node's verdicts
 * one by one are in broadcast-bitcoind.test.ts; the outcomes, faster, in
 * test/unit/broadcast-outcomes.test.ts.) Every run is also checked for what
 * must never be printed: a stack trace, or the node's credentials.
 */

let node: TestNode
let dir: string
const coins: OpenCoin[] = []

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-broadcast-cli-'))
  node = await startTestNode()
  // coinbases paying P2WSH(OP_TRUE), which anyone may spend without a signature, matured by 100 more blocks
  const hashes = await node.mine(30, OPEN_ADDRESS)
  await node.mine(100)
  for (const hash of hashes) coins.push(coinOf(Block.fromHex(await node.rpc<string>('getblock', [hash, 0])).transactions![0]))
})
after(async () => {
  await node?.stop()
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

/** Whatever the outcome: one-line messages, never a stack trace, never a secret. */
function assertClean(r: BixResult, secrets: string[]): BixResult {
  for (const [name, text] of [['stdout', r.stdout], ['stderr', r.stderr]]) {
    assert.doesNotMatch(text, /^\s+at .+[:(]\d+:\d+\)?$/m, `a stack trace on ${name}:\n${text}`)
    for (const secret of secrets) assert.equal(text.includes(secret), false, `a credential on ${name}:\n${text}`)
  }
  return r
}

/** The secret half of a node's cookie, which bix sends and must never show. */
const cookieSecret = (of: TestNode) => fs.readFileSync(of.cookiePath, 'utf8').trim().split(':')[1]

/** The bix flags for a node, with the index looked for in an empty place (fees then come from the node). */
const bixOn = async (on: TestNode, args: string[], input?: string) =>
  assertClean(await runBix(['broadcast', ...on.cliArgs(), '--db', path.join(dir, 'no-index.db'), ...args], {input, timeoutMs: 30_000}), [cookieSecret(on)])
const bix = (args: string[], input?: string) => bixOn(node, args, input)

/** 0.025 BTC to a new taproot address of the node's wallet, change back to the open script, at `feeRate` sat/vB exactly. */
async function payment(opts: {feeRate?: number; from?: OpenCoin} = {}): Promise<Transaction> {
  const coin = opts.from ?? coins.shift()
  assert.ok(coin, 'out of open coins')
  const pay = {script: addressToScript(await node.newAddress('bech32m')), value: 2_500_000n}
  const build = (fee: bigint) => spendOpen([coin], [pay, toOpen(coin.value - pay.value - fee)])
  return build(BigInt((opts.feeRate ?? 20) * build(0n).virtualSize()))
}

/** A child spending the parent's change (output 1), paying 5,000 sats. */
const childOf = (parent: Transaction): Transaction => payOpen(coinOf(parent, 1), 5_000n)

const json = (stdout: string): BroadcastResult[] => JSON.parse(stdout) as BroadcastResult[]

interface MempoolEntry {
  vsize: number
  weight: number
  fees: {base: number}
}
const mempoolEntry = (txid: string): Promise<MempoolEntry | undefined> =>
  node.rpc<MempoolEntry>('getmempoolentry', [txid]).catch((err: unknown) => {
    if (err instanceof RpcCallError && err.code === -5) return undefined
    throw err
  })
const sats = (btc: number) => Math.round(btc * 1e8)

/** --verbose's per-method table on stderr: how many calls of `method` bix made */
const callsIn = (stderr: string, method: string): number => Number(new RegExp(`^${method} +(\\d+) `, 'm').exec(stderr)?.[1] ?? 0)

describe('bix broadcast: what the user sees', () => {
  test('sends a transaction and shows it: txid, sizes, fee, status, inputs and outputs with addresses (exit 0)', async () => {
    const tx = await payment()
    const r = await bix([tx.toHex()])
    assert.equal(r.code, 0, r.stderr)
    const entry = await mempoolEntry(tx.getId())
    assert.ok(entry, 'the transaction is in the mempool')
    assert.match(r.stdout, new RegExp(`^tx  ${tx.getId()}$`, 'm'))
    assert.match(r.stdout, new RegExp(`^  wtxid    ${Buffer.from(tx.getHash(true)).reverse().toString('hex')}$`, 'm'))
    assert.match(r.stdout, new RegExp(`^  size     \\d+ B, ${entry.vsize} vB \\(weight ${entry.weight}\\)$`, 'm'))
    assert.match(r.stdout, new RegExp(`^  fee      ${sats(entry.fees.base).toLocaleString('en-US')} sat, 20 sat/vB$`, 'm'))
    assert.match(r.stdout, /^ {2}status {3}sent$/m)
    assert.match(r.stdout, new RegExp(`^ {2}inputs {3}1\\n {4}[0-9a-f]{64}:0 +50\\.00000000 BTC {2}${OPEN_ADDRESS}$`, 'm'))
    assert.match(r.stdout, /^ {4}#0 +0\.02500000 BTC {2}bcrt1p[a-z0-9]+$/m)
  })

  test('sending it again exits 0 "already in the mempool"; after mining, 0 "already confirmed": cron may retry freely', async () => {
    const tx = await payment()
    assert.equal((await bix([tx.toHex()])).code, 0)
    const again = await bix([tx.toHex(), '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(json(again.stdout)[0].status, 'already-in-mempool')
    await node.mine(1)
    const confirmed = await bix([tx.toHex(), '--quiet'])
    assert.equal(confirmed.code, 0, confirmed.stderr)
    assert.match(confirmed.stdout, /^ {2}status {3}already confirmed$/m)
    assert.doesNotMatch(confirmed.stdout, /inputs/, '--quiet leaves out inputs and outputs')
  })

  test('--json: one object per transaction with the documented fields', async () => {
    const tx = await payment()
    const r = await bix([tx.toHex(), '--json'])
    assert.equal(r.code, 0, r.stderr)
    const [result] = json(r.stdout)
    const entry = (await mempoolEntry(tx.getId()))!
    assert.deepEqual(result, {
      txid: tx.getId(),
      wtxid: Buffer.from(tx.getHash(true)).reverse().toString('hex'),
      size: tx.byteLength(),
      vsize: entry.vsize,
      fee: sats(entry.fees.base),
      feerate: 20,
      status: 'sent',
      exit_code: 0,
    })
  })

  test('a transaction that does not decode exits 2 naming it and what is wrong, and nothing reaches the node', async () => {
    const good = await payment()
    const before = node.sim?.faults.log.length
    const r = await bix([good.toHex(), good.toHex().slice(0, 150)])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^error: transaction 2 \(argument 2\): .*byte.*; nothing was sent$/m)
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line')
    assert.equal(r.stdout, '')
    const notHex = await bix(['--json', 'nonsense'])
    assert.equal(notHex.code, 2)
    assert.deepEqual(JSON.parse(notHex.stdout).error, {
      kind: 'BadInput',
      message: 'transaction 1 (argument 1): transaction hex has a non-hex character at position 1; nothing was sent',
      exit_code: 2,
    })
    const fromStdin = await bix(['-'], `${good.toHex()}\n${good.toHex()}ff\n`)
    assert.equal(fromStdin.code, 2)
    assert.match(fromStdin.stderr, /^error: transaction 2 \(line 2 of stdin\): transaction: 1 unexpected bytes after the transaction, which ends at byte \d+; nothing was sent$/m)
    if (node.sim) assert.equal(node.sim.faults.log.length, before, 'the node received no request at all')
    assert.equal(await mempoolEntry(good.getId()), undefined, 'the good one was not sent')
  })

  test('below the relay fee: rejected with the node\'s reason and code, exit 8', async () => {
    const r = await bix([(await payment({feeRate: 0})).toHex()])
    assert.equal(r.code, 8)
    assert.match(r.stdout, /^ {2}status {3}rejected by the node's policy: min relay fee not met \(0 < \d+\) \[node code -26\]$/m)
  })

  test('a double spend: missing or spent inputs (-25), exit 8', async () => {
    const coin = coins.shift()!
    const first = await payment({from: coin})
    const second = payOpen(coin, 1_000n)
    assert.equal((await bix([first.toHex()])).code, 0)
    await node.mine(1)
    const r = await bix([second.toHex(), '--json'])
    assert.equal(r.code, 8)
    const [result] = json(r.stdout)
    assert.equal(result.node_code, -25)
    assert.match(result.reason!, /^missing or spent inputs/)
  })

  test('a fee rate above --max-fee-rate is refused (exit 8) and the transaction stays out of the mempool', async () => {
    const tx = await payment({feeRate: 40})
    const r = await bix([tx.toHex(), '--max-fee-rate', '12.5'])
    assert.equal(r.code, 8)
    assert.match(r.stdout, /rejected: fee rate 40 sat\/vB exceeds --max-fee-rate 12\.5 sat\/vB \[node code -25\]/)
    assert.equal(await mempoolEntry(tx.getId()), undefined)
    const bad = await bix([tx.toHex(), '--max-fee-rate', '1.23456'])
    assert.equal(bad.code, 2)
  })

  test('several at once: each reported, exit code of the worst (8 beats 0)', async () => {
    const r = await bix([(await payment()).toHex(), (await payment({feeRate: 0})).toHex(), (await payment()).toHex(), '--json'])
    assert.equal(r.code, 8)
    assert.deepEqual(json(r.stdout).map((x) => [x.status, x.exit_code]), [
      ['sent', 0],
      ['rejected', 8],
      ['sent', 0],
    ])
  })

  test('--file reads one per line (comments and blank lines skipped); - reads standard input', async () => {
    const [a, b, c] = [await payment(), await payment(), await payment()]
    const file = path.join(dir, 'txs.txt')
    fs.writeFileSync(file, `# two payments\n${a.toHex()}\n\n${b.toHex()}\n`)
    const fromFile = await bix(['--file', file])
    assert.equal(fromFile.code, 0, fromFile.stderr)
    assert.match(fromFile.stdout, new RegExp(`^tx 1 \\(line 2 of ${file.replaceAll('/', '\\/')}\\)  ${a.getId()}$`, 'm'))
    assert.match(fromFile.stdout, new RegExp(`^tx 2 \\(line 4 of .*\\)  ${b.getId()}$`, 'm'))
    const fromStdin = await bix(['-', '--json'], `${c.toHex()}\n`)
    assert.equal(fromStdin.code, 0, fromStdin.stderr)
    assert.deepEqual(json(fromStdin.stdout).map((x) => [x.txid, x.status]), [[c.getId(), 'sent']])
    const d = await payment()
    const fileDash = await bix([a.toHex(), '--file', '-', '--json'], `# from a pipe\n${d.toHex()}\n`)
    assert.equal(fileDash.code, 0, fileDash.stderr)
    assert.deepEqual(json(fileDash.stdout).map((x) => [x.txid, x.status]), [
      [a.getId(), 'already-in-mempool'],
      [d.getId(), 'sent'],
    ])
    for (const tx of [a, b, c, d]) assert.ok(await mempoolEntry(tx.getId()), `${tx.getId()} is in the mempool`)
  })

  test('--dry-run asks testmempoolaccept only: accepted with its fee, nothing sent; a bad one exits 8', async () => {
    const tx = await payment()
    const r = await bix([tx.toHex(), '--dry-run', '--json', '--verbose'])
    assert.equal(r.code, 0, r.stderr)
    const [result] = json(r.stdout)
    assert.equal(result.status, 'accepted')
    assert.equal(result.feerate, 20)
    assert.equal(callsIn(r.stderr, 'testmempoolaccept'), 1)
    assert.equal(callsIn(r.stderr, 'sendrawtransaction') + callsIn(r.stderr, 'submitpackage'), 0)
    assert.equal(await mempoolEntry(tx.getId()), undefined)
    const cheap = await bix([(await payment({feeRate: 0})).toHex(), '--dry-run'])
    assert.equal(cheap.code, 8)
    assert.match(cheap.stdout, /^ {2}status {3}rejected by the node's policy: min relay fee not met/m)
  })

  test('parent and child go together through submitpackage', async () => {
    const parent = await payment()
    const child = childOf(parent)
    const r = await bix([child.toHex(), parent.toHex(), '--json', '--verbose'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(json(r.stdout).map((x) => x.status), ['sent', 'sent'])
    assert.equal(callsIn(r.stderr, 'submitpackage'), 1)
    assert.equal(callsIn(r.stderr, 'sendrawtransaction'), 0)
    assert.ok((await mempoolEntry(parent.getId())) && (await mempoolEntry(child.getId())))
  })
})

describe('bix broadcast when the answer is lost (simulator: fault injection)', () => {
  let faulty: TestNode
  before(async () => {
    faulty = await startTestNode({simulator: true})
    faulty.sim!.mine(110)
  })
  after(() => faulty?.stop())

  const walletPayment = (feeRate?: number) => faulty.sim!.createTransaction({to: faulty.sim!.newAddress('bech32m'), value: 2_500_000n, feeRate})
  /** sendrawtransaction's answers leave late, after the node has acted; the lookups answer at once. */
  function slowSends(ms: number): () => void {
    faulty.sim!.faults.slowAnswers('sendrawtransaction', ms)
    return () => faulty.sim!.faults.slowAnswers('sendrawtransaction', 0)
  }

  test('timeout, but the node took it: exit 0, "sent (confirmed by lookup after timeout)"', async () => {
    const tx = walletPayment()
    const restore = slowSends(1500)
    try {
      const r = await bixOn(faulty, [tx.toHex(), '--rpc-timeout', '1'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^ {2}status {3}sent \(confirmed by lookup after timeout\)$/m)
    } finally {
      restore()
    }
  })

  test('timeout, and the transaction is not in the mempool after the lookups: exit 4, outcome unknown', async () => {
    const restore = slowSends(1500)
    try {
      // the node will refuse it (fee 0) once it gets to it, so it never shows up
      const r = await bixOn(faulty, [walletPayment(0).toHex(), '--rpc-timeout', '1', '--json'])
      assert.equal(r.code, 4, r.stderr)
      const [result] = json(r.stdout)
      assert.equal(result.status, 'error')
      assert.match(result.reason!, /whether it was accepted is unknown: run the same broadcast again/)
    } finally {
      restore()
    }
  })
})

describe('bix broadcast: exit codes and secrets', () => {
  test('--help documents every exit code and that the worst outcome wins', async () => {
    const r = await runBix(['broadcast', '--help'])
    assert.equal(r.code, 0)
    const help = r.stdout.replace(/\s+/g, ' ')
    assert.match(help, /Exit codes \(the worst outcome wins, in this order\): 4 .*unknown.* 3 node unreachable, 1 .* 8 the node rejected a transaction, 0 every transaction is sent, accepted or already there\. 2: bad input, nothing was sent/)
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')
    for (const code of [0, 1, 2, 3, 4, 8]) assert.match(readme, new RegExp(`^\\| ${code} \\|`, 'm'), `README's exit-code table has ${code}`)
    assert.match(readme, /^\| 8 \| .*broadcast.*worst/m, "README says broadcast exits with the worst outcome")
  })

  test('with rpcuser/rpcpassword in --rpc-url, neither a rejection, a lost answer nor a wrong password shows the password (simulator: fault injection)', async () => {
    const password = 'hunter2-do-not-print-me'
    const locked = await startTestNode({auth: {user: 'alice', password}, simulator: true})
    try {
      assert.ok(locked.sim)
      locked.sim.mine(102)
      const [coinA, coinB] = locked.sim.chain.spendableCoins(locked.sim.wallet.scripts())
      const cheap = locked.sim.createTransaction({to: locked.sim.newAddress(), value: 1_000_000n, feeRate: 0, from: [coinA]})
      const slow = locked.sim.createTransaction({to: locked.sim.newAddress(), value: 1_000_000n, feeRate: 0, from: [coinB]})
      const url = (pw: string) => `http://alice:${pw}@127.0.0.1:${locked.rpcPort}`
      const run = async (pw: string, args: string[]) =>
        assertClean(await runBix(['broadcast', '--network', 'regtest', '--rpc-url', url(pw), '--db', path.join(dir, 'none.db'), ...args]), [password, 'wrong-pw'])
      // --verbose adds the per-method table and the retry lines, which name endpoints
      const rejected = await run(password, [cheap.toHex(), '--verbose'])
      assert.equal(rejected.code, 8, rejected.stderr)
      assert.match(rejected.stdout, /^ {2}status {3}rejected by the node's policy: min relay fee not met \(0 < \d+\) \[node code -26\]$/m)
      locked.sim.faults.slowAnswers('sendrawtransaction', 1500)
      const lost = await run(password, [slow.toHex(), '--rpc-timeout', '1', '--verbose'])
      assert.equal(lost.code, 4, lost.stderr)
      const refused = await run('wrong-pw', [slow.toHex()])
      assert.equal(refused.code, 3)
      assert.match(refused.stderr, /^error: authorization failed: .*rejected by 127\.0\.0\.1:\d+/m)
      assert.equal(refused.stderr.trim().split('\n').length, 1, 'one line')
    } finally {
      await locked.stop()
    }
  })
})

describe('bix broadcast before Core 28 (simulator: an old version)', () => {
  let old: TestNode
  before(async () => {
    old = await startTestNode({sim: {version: 270000}, simulator: true})
  })
  after(() => old?.stop())

  test('parent and child go one by one, parents first, without submitpackage', async () => {
    assert.ok(old.sim)
    old.sim.mine(101)
    const coin = old.sim.chain.spendableCoins(old.sim.wallet.scripts())[0]
    const parent = old.sim.createTransaction({to: old.sim.newAddress(), value: 1_000_000n, from: [{txid: coin.txid, vout: coin.vout}]})
    const out = parent.outs[0]
    const child = old.sim.wallet.buildSpend({
      coins: [{txid: parent.getId(), vout: 0, value: out.value, script: Buffer.from(out.script)}],
      payments: [{script: Buffer.from(old.sim.wallet.newKey('bech32').script), value: 500_000n}],
      changeScript: old.sim.wallet.newKey('bech32').script,
      locktime: old.sim.chain.height,
    })
    const r = await runBix(['broadcast', ...old.cliArgs(), '--db', path.join(dir, 'none.db'), child.toHex(), parent.toHex(), '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(json(r.stdout).map((x) => x.status), ['sent', 'sent'])
    assert.equal(old.sim.calls('submitpackage'), 0)
    const sends = old.sim.faults.log.filter((m) => m === 'sendrawtransaction')
    assert.equal(sends.length, 2)
  })
})

describe("bix broadcast with bix's index for the network", () => {
  let recorded: TestNode
  let dbPath: string
  before(async () => {
    recorded = await startTestNode({fixtureChain: true})
    // the recorded chain, indexed by the store's own writer
    dbPath = path.join(dir, 'regtest-index.db')
    const db = openIndex(dbPath, {network: 'regtest', mode: 'write'})
    const chain = regtestChain()
    new IndexWriter(db).applyBlocks(chain.blocks.map((b) => toIndexedBlock(parseBlock(Buffer.from(b.hex, 'hex')), b.height)))
    db.close()
  })
  after(() => recorded?.stop())

  test('the fee comes from the index: a recorded mempool transaction, resent, is "already in the mempool" with the node\'s own fee', async () => {
    const tx = regtestChain().mempool.find((m) => m.txid.startsWith('52a0073d'))!
    const lookupsBefore = recorded.sim?.calls('getrawtransaction')
    const r = await runBix(['broadcast', ...recorded.cliArgs(), '--db', dbPath, tx.hex, '--json'])
    assert.equal(r.code, 0, r.stderr)
    // recorded getmempoolentry: 0.00002691 BTC over 132 vB
    assert.deepEqual(json(r.stdout), [
      {txid: tx.txid, wtxid: 'bfcd691fa7bf921addcea6ec5e7da2ee33859b270c3582b10f451476e805e08f', size: 183, vsize: 132, fee: 2691, feerate: 20.386, status: 'already-in-mempool', exit_code: 0},
    ])
    if (recorded.sim) assert.equal(recorded.sim.calls('getrawtransaction'), lookupsBefore, 'no parent was fetched from the node')
  })
})
