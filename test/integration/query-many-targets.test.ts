import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {addressToScript, scriptToAddress} from '../../src/lib/chain/address.js'
import {runBix, spawnBix} from '../support/cli.js'
import {type BixReport, type CoreTruth, assertSameTruth, coreChainStatsByHeight, coreTruth} from '../support/core-oracle.js'
import {FIXTURE_DIR, readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * `bix query address --file`: many targets in one process, one a line, each
 * answer Core's (the recorded chain's truth: getblock 3 and scantxoutset,
 * test/fixtures/regtest-core/chain-truth.json, and the node's live account
 * held to it), all at one index tip, streamed with --jsonl.
 */

const recorded = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'chain-truth.json'), 'utf8')) as {truth: CoreTruth}

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-many-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

async function indexedFixture(t: {after: (fn: () => unknown) => void}): Promise<{node: TestNode; db: string; dir: string; truth: CoreTruth}> {
  const node = await startTestNode({fixtureChain: true})
  t.after(() => node.stop())
  const dir = tempDir(t)
  const db = path.join(dir, 'index.db')
  const r = await runBix(['index', ...node.cliArgs(), '--db', db, '--json'])
  assert.equal(r.code, 0, r.stderr)
  const truth = await coreTruth(node)
  assertSameTruth(truth, recorded.truth)
  return {node, db, dir, truth}
}

const query = (db: string, ...args: string[]) => runBix(['query', 'address', '--network', 'regtest', '--db', db, '--offline', ...args], {timeoutMs: 120_000})

/** Each answer against Core's account of its script: chain_stats, balance (the sum of scantxoutset's UTXOs), history, UTXOs. */
function assertCoreAnswers(reports: BixReport[], scripts: CoreTruth['scripts'], truth: CoreTruth): void {
  assert.equal(reports.length, scripts.length, 'one answer per target line, in file order')
  reports.forEach((report, i) => {
    const want = scripts[i]
    const what = `line target ${i} (script ${want.script})`
    assert.deepEqual(report.freshness.index, truth.tip, `every answer at Core's tip: ${what}`)
    assert.deepEqual(report.chain_stats, want.chain_stats, `chain_stats of ${what}`)
    assert.equal(report.balance.confirmed, want.utxos.reduce((sum, u) => sum + u.value, 0), `balance of ${what}`)
    assert.deepEqual((report.history ?? []).map(({txid, height, value_change}) => ({txid, height, value_change})), want.history, `history of ${what}`)
    const byOutpoint = (a: {txid: string; vout: number}, b: {txid: string; vout: number}) => (a.txid < b.txid ? -1 : a.txid > b.txid ? 1 : a.vout - b.vout)
    assert.deepEqual([...(report.utxos ?? [])].sort(byOutpoint), want.utxos, `UTXOs of ${what}`)
  })
}

describe('bix query address --file', () => {
  test('every script of the recorded Core chain from one file, as addresses, scripthash: and script: lines among comments and blank lines: Core\'s answer for each, in order, one object per line', async (t) => {
    const {db, dir, truth} = await indexedFixture(t)
    const scripts = truth.scripts.filter((s) => s.script.length > 0)
    const lines: string[] = ['# every output script of the chain', '']
    scripts.forEach((s, i) => {
      const address = scriptToAddress(Buffer.from(s.script, 'hex'), 'regtest')
      // the three forms in turn, so that each is exercised on many scripts
      const hash = createHash('sha256').update(Buffer.from(s.script, 'hex')).digest().reverse().toString('hex')
      // (an OP_RETURN script only by script: — its script hash does not say it can never be spent)
      const unspendable = s.script.startsWith('6a')
      lines.push(i % 3 === 0 && address ? `  ${address}  ` : i % 3 === 1 && !unspendable ? `scripthash:${hash}` : `script:${s.script}`)
      if (i % 10 === 0) lines.push('', '   # a comment among targets')
    })
    const file = path.join(dir, 'targets.txt')
    fs.writeFileSync(file, lines.join('\r\n') + '\n')

    const r = await query(db, '--file', file, '--jsonl', '--utxos', '--history', '--limit', '0')
    assert.equal(r.code, 0, r.stderr)
    const out = r.stdout.split('\n')
    assert.equal(out.pop(), '', 'the stream ends with a newline')
    const reports = out.map((line) => JSON.parse(line) as BixReport)
    assertCoreAnswers(reports, scripts, truth)
    assert.ok(scripts.length >= 50, `${scripts.length} scripts asked about`)

    // the same file through stdin, as one JSON array under --json
    const viaStdin = await runBix(['query', 'address', '--network', 'regtest', '--db', db, '--offline', '--file', '-', '--json', '--utxos', '--history', '--limit', '0'], {
      input: fs.readFileSync(file, 'utf8'),
      timeoutMs: 120_000,
    })
    assert.equal(viaStdin.code, 0, viaStdin.stderr)
    assertCoreAnswers(JSON.parse(viaStdin.stdout) as BixReport[], scripts, truth)
  })

  test('command-line targets come first, then the file\'s; a file with one target still gives an array; an empty one gives []', async (t) => {
    const {db, dir, truth} = await indexedFixture(t)
    const [first, second] = truth.scripts.filter((s) => s.script.length > 0 && s.chain_stats.tx_count > 1)
    const file = path.join(dir, 'one.txt')
    fs.writeFileSync(file, `script:${second.script}\n`)
    const r = await query(db, '--script', first.script, '--file', file, '--json', '--history', '--utxos', '--limit', '0')
    assert.equal(r.code, 0, r.stderr)
    assertCoreAnswers(JSON.parse(r.stdout) as BixReport[], [first, second], truth)

    const alone = await query(db, '--file', file, '--json')
    assert.equal(alone.code, 0, alone.stderr)
    const parsed = JSON.parse(alone.stdout) as BixReport[]
    assert.ok(Array.isArray(parsed) && parsed.length === 1, 'an array of one')

    const empty = path.join(dir, 'empty.txt')
    fs.writeFileSync(empty, '# nothing yet\n\n')
    const none = await query(db, '--file', empty, '--json')
    assert.equal(none.code, 0, none.stderr)
    assert.deepEqual(JSON.parse(none.stdout), [])
  })

  test('a bad line stops the run with exit 2 and names its line; a missing file is one line too', async (t) => {
    const {db, dir, truth} = await indexedFixture(t)
    const good = truth.scripts.find((s) => s.script.length > 0)!
    const file = path.join(dir, 'bad.txt')
    fs.writeFileSync(file, `# header\nscript:${good.script}\n\nbcrt1qnotanaddress\nscript:${good.script}\n`)
    const r = await query(db, '--file', file, '--jsonl')
    assert.equal(r.code, 2)
    assert.match(r.stderr, new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 4: .*bcrt1qnotanaddress`))
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.equal(r.stdout.trim().split('\n').length, 1, 'the answer before the bad line was written, none after')

    const hashLine = path.join(dir, 'hash.txt')
    fs.writeFileSync(hashLine, 'scripthash:1234\n')
    const short = await query(db, '--file', hashLine)
    assert.equal(short.code, 2)
    assert.match(short.stderr, /line 1: --scripthash "1234"/)

    const missing = await query(db, '--file', path.join(dir, 'nope.txt'))
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /^error: --file .*nope\.txt: no such file\n$/)
    const directory = await query(db, '--file', dir)
    assert.equal(directory.code, 2)
    assert.equal(directory.stderr.trim().split('\n').length, 1, directory.stderr)
  })

  test('simulator: fault injection — while bix index commits batch after batch, every answer of one --file run names the tip the run started at and has Core\'s figures at that tip', async (t) => {
    // the simulator even with BITCOIND set: only it can be slowed down to keep an index run going
    const node = await startTestNode({fixtureChain: true, bitcoind: ''})
    t.after(() => node.stop())
    assert.ok(node.sim)
    const dir = tempDir(t)
    const db = path.join(dir, 'index.db')
    const truth = await coreTruth(node)
    assertSameTruth(truth, recorded.truth)
    const miner = readFixtureChain().miner
    const expected = await coreChainStatsByHeight(node, addressToScript(miner, 'regtest').toString('hex'), truth.tip.height)
    const first = await runBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--to-height', '20'])
    assert.equal(first.code, 0, first.stderr)
    node.sim.faults.slow(15)
    const indexing = spawnBix(['index', ...node.cliArgs(), '--db', db, '--quiet', '--source', 'rpc', '--rpc-parallelism', '1', '--batch-blocks', '5'])
    t.after(() => indexing.kill('SIGKILL'))

    // the targets arrive one at a time on stdin, each after the index has moved on
    const query = spawnBix(['query', 'address', '--network', 'regtest', '--db', db, '--offline', '--file', '-', '--jsonl'], {openStdin: true, timeoutMs: 300_000})
    t.after(() => query.kill('SIGKILL'))
    const tipNow = async () => {
      const r = await runBix(['query', 'address', '--network', 'regtest', '--db', db, '--offline', '--json', miner])
      assert.equal(r.code, 0, r.stderr)
      return (JSON.parse(r.stdout) as BixReport).freshness.index!.height
    }
    const seen: number[] = []
    for (let i = 1; i <= 3; i++) {
      query.child.stdin!.write(`${miner}\n`)
      await query.waitFor(new RegExp(`(?:[^\\n]*\\n){${i}}`), 'stdout', 60_000).catch((err: Error) => {
        throw new Error(`${err.message} ${query.stderr()}`)
      })
      const before = await tipNow()
      seen.push(before)
      const deadline = Date.now() + 60_000
      while ((await tipNow()) === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    query.child.stdin!.end()
    const done = await query.done
    assert.equal(done.code, 0, done.stderr)
    const answers = done.stdout.trim().split('\n').map((line) => JSON.parse(line) as BixReport)
    assert.equal(answers.length, 3)
    const start = answers[0].freshness.index!.height
    for (const a of answers) {
      assert.equal(a.freshness.index!.height, start, 'one tip for the whole run')
      assert.deepEqual(a.chain_stats, expected[start], `Core's figures at height ${start}`)
    }
    assert.ok(seen.at(-1)! > start, `the index moved on meanwhile (${start} → ${seen.at(-1)})`)
    assert.ok(expected[seen.at(-1)!].tx_count !== expected[start].tx_count, 'and the figures with it')
  })
})
