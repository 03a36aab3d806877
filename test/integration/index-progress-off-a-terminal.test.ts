import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {spawnBix} from '../support/cli.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * `bix index` with stderr on a pipe (cron, a log file): a plain progress line
 * every few seconds, with no colour, no cursor moves and no carriage
 * returns, whose figures are true; with --quiet, no line at all.
 *
 * Simulator even with BITCOIND set: the run must last well over the
 * 5-second interval between lines, so the node's answers are slowed
 * (faults.slow), which Core cannot do on demand.
 */

const PROGRESS = /^indexing: (\d+)\/(\d+) blocks \((\d+\.\d)%\) after (\d+)s ([\d,]+) blk\/s ([\d,]+) tx\/s, ETA \S.*$/
const OTHER_LINES = [/^source: rpc \(chosen with --source rpc\)$/, /^finishing the first run: the txid index, the old spends and the script index, each by a sort \(once\)…$/]

function tempDb(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-progress-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'index.db')
}

const number = (s: string) => Number(s.replaceAll(',', ''))

/** What Core says the chain holds: its tip and the transactions of every block (getblockheader nTx). */
async function chainCounts(node: TestNode): Promise<{height: number; transactions: number}> {
  const height = await node.tipHeight()
  let transactions = 0
  for (let h = 0; h <= height; h++) {
    const header = await node.rpc<{nTx: number}>('getblockheader', [await node.rpc<string>('getblockhash', [h])])
    transactions += header.nTx
  }
  return {height, transactions}
}

describe('bix index off a terminal', () => {
  test('prints a plain line every few seconds: no ANSI, no carriage return, true heights; the summary counts the chain\'s transactions (simulator: slowed node)', async (t) => {
    const node = await startTestNode({fixtureChain: true, simulator: true})
    t.after(() => node.stop())
    const sim = node.sim!
    const chain = await chainCounts(node)
    // about 100 ms a block over one connection: 148 blocks take 15 s or more, three intervals
    sim.faults.slow(100)
    const run = spawnBix(['index', ...node.cliArgs(), '--db', tempDb(t), '--source', 'rpc', '--rpc-parallelism', '1'], {timeoutMs: 180_000})
    t.after(() => run.kill('SIGKILL'))
    // how many blocks the node had been asked for when each progress line arrived
    const servedAtLine: number[] = []
    run.child.stderr!.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.startsWith('indexing: ')) servedAtLine.push(sim.calls('getblock'))
    })
    const r = await run.done
    assert.equal(r.code, 0, r.stderr)

    assert.doesNotMatch(r.stderr, /\x1b/, 'no escape sequence')
    assert.ok(!r.stderr.includes('\r'), 'no carriage return')
    const lines = r.stderr.split('\n')
    assert.equal(lines.pop(), '', 'every line ends with a newline')
    const progress = lines.filter((line) => line.startsWith('indexing: '))
    for (const line of lines) assert.ok(PROGRESS.test(line) || OTHER_LINES.some((re) => re.test(line)), `unexpected line on stderr: ${JSON.stringify(line)}`)
    assert.ok(progress.length >= 2, `${progress.length} progress lines in a run of over 15 s:\n${r.stderr}`)
    assert.equal(servedAtLine.length, progress.length)

    let previous: {height: number; elapsed: number} | undefined
    for (const [i, line] of progress.entries()) {
      const [, height, target, pct, elapsed, blkPerS, txPerS] = PROGRESS.exec(line)!
      assert.equal(Number(target), chain.height, `the node's tip is the target: ${line}`)
      assert.ok(Number(height) < chain.height, `the run was not over yet: ${line}`)
      assert.equal(pct, ((100 * Number(height)) / chain.height).toFixed(1), line)
      assert.ok(Number(height) + 1 <= servedAtLine[i], `height ${height} shown when the node had sent ${servedAtLine[i]} blocks`)
      // every block has at least its coinbase
      assert.ok(number(txPerS) >= number(blkPerS) && number(blkPerS) > 0, line)
      if (previous) {
        assert.ok(Number(height) > previous.height, `the height moves on: ${line}`)
        assert.ok(Number(elapsed) - previous.elapsed >= 4, `lines every few seconds, not more often: ${progress.join('\n')}`)
      }
      previous = {height: Number(height), elapsed: Number(elapsed)}
    }
    assert.match(r.stdout, new RegExp(`^indexed ${chain.height + 1} blocks \\(${chain.transactions} transactions\\) in .* from rpc, .*: height ${chain.height} \\(${await node.tipHash()}\\)$`, 'm'))
  })

  test('--quiet prints nothing on stderr, however long the run (simulator: slowed node)', async (t) => {
    const node = await startTestNode({fixtureChain: true, simulator: true})
    t.after(() => node.stop())
    // over 8 s: a plain line would have come
    node.sim!.faults.slow(60)
    const started = Date.now()
    const r = await spawnBix(['index', ...node.cliArgs(), '--db', tempDb(t), '--source', 'rpc', '--rpc-parallelism', '1', '--quiet'], {timeoutMs: 180_000}).done
    assert.equal(r.code, 0, r.stderr)
    assert.ok(Date.now() - started > 6000, `the run took ${Date.now() - started} ms`)
    assert.equal(r.stderr, '')
    assert.match(r.stdout, /^indexed 148 blocks/m)
  })
})
