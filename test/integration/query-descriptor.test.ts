import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {runBix} from '../support/cli.js'
import {type DescriptorScenario, buildDescriptorScenario, readDescriptorFixture} from '../support/descriptor-scenario.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * `bix query descriptor` held to Bitcoin Core: the addresses it finds are
 * Core's `deriveaddresses` at the indices the wallet paid, its UTXOs and
 * balance are Core's `scantxoutset` over the descriptor's range, and Core's
 * own descriptor wallet read back by bix has Core's `getbalances` and, per
 * transaction, Core's `listtransactions` net amount. With BITCOIND set the
 * chain is built on Core and Core answers live; without it the simulator
 * replays the chain recorded from Core (test/fixtures/regtest-core/
 * descriptors.json, record-descriptors.ts) and bix is held to the recorded
 * answers.
 */

interface Derived {
  descriptor: number
  branch: number | null
  index: number | null
  address: string | null
}
interface WalletAnswer {
  descriptors: string[]
  gap: number
  scripts_checked: number
  balance: {confirmed: number; unconfirmed: number; total: number}
  tx_count: number
  addresses: Array<Derived & {script: string; tx_count: number}>
  utxos?: Array<Derived & {txid: string; vout: number; value: number; height: number | null}>
  history?: Array<{txid: string; height: number | null; value_change: number}>
  freshness: {index: {height: number; hash: string} | null}
}

interface Chain {
  node: TestNode
  db: string
  dir: string
  core: DescriptorScenario
}

/** The descriptor chain on the test node, indexed: built live on Core, or the recording of Core's replayed on the simulator. */
async function descriptorChain(t: {after: (fn: () => unknown) => void}): Promise<Chain> {
  const node = await startTestNode()
  t.after(() => node.stop())
  let core: DescriptorScenario
  if (node.kind === 'bitcoind') core = await buildDescriptorScenario(node)
  else {
    core = readDescriptorFixture()
    for (const block of core.blocks) assert.equal(await node.rpc('submitblock', [block.hex]), null, `block ${block.height}`)
    assert.equal(await node.tipHash(), core.blocks.at(-1)!.hash)
    for (const hex of core.mempool) await node.rpc('sendrawtransaction', [hex])
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-descriptor-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  const db = path.join(dir, 'index.db')
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--json'])
  assert.equal(r.code, 0, r.stderr)
  return {node, db, dir, core}
}

const queryDescriptor = (db: string, ...args: string[]) => runBix(['query', 'descriptor', '--network', 'regtest', '--db', db, '--offline', ...args], {timeoutMs: 300_000})

/** Every case in one process, one wallet a line, one answer per line. */
async function answersFromFile(chain: Chain, gap: number): Promise<WalletAnswer[]> {
  const file = path.join(chain.dir, `cases-${gap}.txt`)
  fs.writeFileSync(file, ['# one descriptor kind a line', ...chain.core.cases.map((c) => c.input)].join('\n') + '\n')
  const r = await queryDescriptor(chain.db, '--file', file, '--jsonl', '--gap', String(gap), '--utxos', '--limit', '0')
  assert.equal(r.code, 0, r.stderr)
  const answers = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as WalletAnswer)
  assert.equal(answers.length, chain.core.cases.length)
  return answers
}

const byOutpoint = (a: {txid: string; vout: number}, b: {txid: string; vout: number}) => (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : a.vout - b.vout)
const pairs = (list: Array<[number, number]>) => list.map(([b, i]) => `${b}/${i}`).sort()

describe('bix query descriptor', () => {
  test('for every descriptor kind Core writes and the tpub/upub/vpub shorthands, the used addresses are Core\'s deriveaddresses at the paid indices, and with a gap reaching every payment the UTXOs and balance are Core\'s scantxoutset', async (t) => {
    const chain = await descriptorChain(t)
    const {cases} = chain.core
    assert.ok(cases.length >= 11)
    const gap20 = await answersFromFile(chain, 20)
    const gap25 = await answersFromFile(chain, 25)
    cases.forEach((c, n) => {
      const ranged = c.derived[0].length > 1
      for (const [gap, answer] of [[20, gap20[n]], [25, gap25[n]]] as const) {
        const what = `${c.name} with --gap ${gap}`
        assert.deepEqual(answer.freshness.index?.hash, chain.core.blocks.at(-1)!.hash, `${what}: the tip`)
        for (const a of answer.addresses) {
          assert.equal(a.address, c.derived[a.branch ?? 0][a.index ?? 0], `${what}: branch ${a.branch} index ${a.index} is Core's address`)
          assert.equal(a.index === null, !ranged, `${what}: an index exactly when ranged`)
          assert.equal(a.branch === null, c.derived.length === 1, `${what}: a branch exactly when multipath`)
        }
        // the payment at index 46 follows 21 unused indices (25…45): beyond a gap of 20, within one of 25
        const found = c.funded.filter(([, index]) => gap === 25 || index <= 24)
        assert.deepEqual(pairs(answer.addresses.map((a) => [a.branch ?? 0, a.index ?? 0])), pairs(found), `${what}: the used addresses`)
      }
      const answer = gap25[n]
      assert.deepEqual([...answer.utxos!].map(({txid, vout, value, height}) => ({txid, vout, value, height})).sort(byOutpoint), c.scan.unspents, `${c.name}: Core's scantxoutset`)
      assert.deepEqual(answer.balance, {confirmed: c.scan.total, unconfirmed: 0, total: c.scan.total}, `${c.name}: Core's total`)
      // with a gap of 20 the output at index 46 is missing, and only it
      const beyond = new Set(c.funded.filter(([, i]) => i > 24).map(([b, i]) => c.derived[b][i]))
      const within = gap20[n].utxos!.map(({txid, vout}) => `${txid}:${vout}`).sort()
      const coreWithin = c.scan.unspents.filter((u) => !gap25[n].utxos!.some((b) => b.txid === u.txid && b.vout === u.vout && beyond.has(b.address!))).map(({txid, vout}) => `${txid}:${vout}`).sort()
      assert.deepEqual(within, coreWithin, `${c.name}: gap 20 leaves out only what lies beyond it`)
      if (ranged) assert.ok(beyond.size > 0 && within.length < c.scan.unspents.length, `${c.name}: something lay beyond the gap`)
    })
    t.diagnostic(`${cases.length} descriptors held to ${chain.node.kind === 'bitcoind' ? 'Core live' : 'recorded Core answers (simulator chain)'}`)
  })

  test('Core\'s own wallet, read back from its listdescriptors: Core\'s balance, unconfirmed payments included, and one history entry per transaction with Core\'s net amount; a payment between its own addresses nets to minus the fee', async (t) => {
    const chain = await descriptorChain(t)
    const {wallet} = chain.core
    const synced = await runBix(['sync-mempool', ...chain.node.cliArgs(), '--db', chain.db, '--json'])
    assert.equal(synced.code, 0, synced.stderr)
    assert.equal(wallet.descriptors.length, 8, 'pkh, sh(wpkh), wpkh and tr, receive and change')
    const r = await queryDescriptor(chain.db, ...wallet.descriptors, '--json', '--history', '--utxos', '--limit', '0')
    assert.equal(r.code, 0, r.stderr)
    const answer = JSON.parse(r.stdout) as WalletAnswer
    // Core's trusted balance leaves immature coinbases out; bix counts every confirmed output
    const coreTotal = wallet.balances.trusted + wallet.balances.untrusted_pending + wallet.balances.immature
    assert.equal(answer.balance.total, coreTotal, 'getbalances: trusted + untrusted_pending + immature')
    assert.ok(answer.balance.unconfirmed < 0, 'the unconfirmed payments (one to someone else) lower the balance')
    const history = new Map(answer.history!.map((h) => [h.txid, h.value_change]))
    assert.equal(history.size, answer.history!.length, 'one entry per transaction')
    assert.deepEqual(Object.fromEntries([...history].sort()), Object.fromEntries(Object.entries(wallet.net).sort()), 'listtransactions summed per txid, fee included')
    assert.equal(answer.tx_count, Object.keys(wallet.net).length)
    assert.equal(wallet.unlisted.length, 1, 'the payment to its own change address, which listtransactions leaves out')
    const selfPayments = Object.entries(wallet.selfPayments)
    assert.ok(selfPayments.length >= 6)
    for (const [txid, fee] of selfPayments) {
      assert.ok(fee > 0, `${txid} paid a fee`)
      assert.equal(history.get(txid), -fee, `the payment to itself ${txid} nets to minus its fee`)
    }
    // newest first: the unconfirmed ones, then by height
    const unconfirmed = answer.history!.filter((h) => h.height === null).map((h) => h.txid)
    assert.equal(unconfirmed.length, chain.core.mempool.length)
    assert.deepEqual(answer.history!.slice(0, unconfirmed.length).map((h) => h.height), unconfirmed.map(() => null))
    const heights = answer.history!.slice(unconfirmed.length).map((h) => h.height!)
    assert.deepEqual(heights, [...heights].sort((a, b) => b - a))
    // the same descriptors given twice: every script still counts once
    const twice = await queryDescriptor(chain.db, ...wallet.descriptors, ...wallet.descriptors.slice(4), '--json')
    assert.equal(twice.code, 0, twice.stderr)
    const again = JSON.parse(twice.stdout) as WalletAnswer
    assert.equal(again.balance.total, coreTotal, 'getbalances, with descriptors repeated')
    assert.equal(again.tx_count, Object.keys(wallet.net).length)
    assert.equal(again.addresses.length, answer.addresses.length)
    t.diagnostic(`${history.size} transactions held to ${chain.node.kind === 'bitcoind' ? 'Core live' : 'recorded Core answers (simulator chain)'}`)
  })

  test('a wrong checksum, a key of another network and a malformed descriptor exit 2 with one line; no checksum is accepted', async (t) => {
    const chain = await descriptorChain(t)
    const c = chain.core.cases.find((k) => k.name.startsWith('wpkh multipath'))!
    const body = c.core.slice(0, c.core.indexOf('#'))
    const bad = `${body}#${c.core.at(-1) === 'q' ? 'qqqqqqqq' : 'qqqqqqqq'}`
    const wrong = await queryDescriptor(chain.db, bad)
    assert.equal(wrong.code, 2)
    assert.match(wrong.stderr, /^error: descriptor .*: checksum "qqqqqqqq" is wrong \(Core's checksum of it is [a-z0-9]{8}\)\n$/)
    assert.ok(wrong.stderr.includes(`is ${c.core.slice(c.core.indexOf('#') + 1)})`), 'the checksum it names is Core\'s')

    const mainnetKey = await queryDescriptor(chain.db, 'xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8')
    assert.equal(mainnetKey.code, 2)
    assert.match(mainnetKey.stderr, /^error: .*a mainnet key, and the index is regtest's\n$/)

    for (const garbage of ['wpkh(nonsense)', 'wsh(multi(2,))', 'tr(', 'combo(02e3)']) {
      const r = await queryDescriptor(chain.db, garbage)
      assert.equal(r.code, 2, `${garbage}: ${r.stderr}`)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /^error: /)
    }

    const withSum = await queryDescriptor(chain.db, c.core, '--json')
    const without = await queryDescriptor(chain.db, body, '--json')
    assert.equal(withSum.code, 0, withSum.stderr)
    assert.equal(without.code, 0, without.stderr)
    const addresses = (out: string) => (JSON.parse(out) as WalletAnswer).addresses.map((a) => a.address)
    assert.deepEqual(addresses(without.stdout), addresses(withSum.stdout))
    assert.ok(addresses(without.stdout).length > 0)
  })
})
