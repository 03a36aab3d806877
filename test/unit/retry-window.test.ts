import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {BixError} from '../../src/lib/errors.js'
import {describeRetryWindow, parseRetryWindow} from '../../src/lib/node/retry-window.js'
import type {RetryEvent} from '../../src/lib/node/types.js'
import {OutageNotice} from '../../src/lib/ui/outage-notice.js'

describe('--retry-for values', () => {
  test('durations as operators write them, and plain seconds', () => {
    const cases: Array<[string, number]> = [
      ['90s', 90_000],
      ['10m', 600_000],
      ['1h', 3_600_000],
      ['1h30m', 5_400_000],
      ['2m15s', 135_000],
      ['45', 45_000],
      ['0', 0],
      ['1.5m', 90_000],
      [' 30S ', 30_000],
      ['24h', 86_400_000],
    ]
    for (const [text, ms] of cases) assert.equal(parseRetryWindow(text), ms, text)
  })

  test('anything else is bad input (exit 2), and so is more than a day', () => {
    for (const text of ['', '5x', '-1', '1d', 'm', '10 m', '1h-5m', '25h', '86401']) {
      assert.throws(() => parseRetryWindow(text), (err: unknown) => err instanceof BixError && err.kind === 'BadInput', text)
    }
  })

  test('written back the way the flag takes it', () => {
    assert.equal(describeRetryWindow(0), '0s')
    assert.equal(describeRetryWindow(30_000), '30s')
    assert.equal(describeRetryWindow(90_000), '1m30s')
    assert.equal(describeRetryWindow(3_600_000), '1h')
    for (const text of ['45s', '1m30s', '2h5m', '1h0m1s']) assert.equal(parseRetryWindow(describeRetryWindow(parseRetryWindow(text))), parseRetryWindow(text))
  })
})

describe('the lines a wait for the node writes', () => {
  const event = (reason = 'connection refused'): RetryEvent => ({method: 'getblock', endpoint: '127.0.0.1:18443', attempt: 1, delayMs: 1000, reason})

  function notice(windowMs = 600_000) {
    let now = 0
    const lines: string[] = []
    const n = new OutageNotice(windowMs, (line) => lines.push(line), () => now)
    return {n, lines, at: (ms: number) => (now = ms)}
  }

  test('nothing for a blip under a second; one line once the wait lasts, then one per 15 s however many retries', () => {
    const {n, lines, at} = notice()
    at(0)
    n.retrying(event())
    at(600)
    n.retrying(event())
    assert.deepEqual(lines, [])
    at(1200)
    n.retrying(event())
    assert.deepEqual(lines, ['node not answering (connection refused); waiting up to 10m for it (--retry-for)'])
    // a retry every half second for a minute: 4 more lines, not 120
    for (let t = 1700; t <= 61_200; t += 500) {
      at(t)
      n.retrying(event('Loading block index…'))
    }
    assert.equal(lines.length, 5)
    assert.match(lines[1], /^still waiting for the node after 16\.2 s \(Loading block index…\)$/)
    at(62_000)
    n.recovered({method: 'getblock', endpoint: '127.0.0.1:18443', waitedMs: 62_000})
    assert.equal(lines.at(-1), 'the node answers again after 62.0 s')
  })

  test('a blip that ended unseen (its call failed otherwise) is forgotten: the next one gets its grace second again', () => {
    const {n, lines, at} = notice(30_000)
    at(0)
    n.retrying(event())
    at(60_000)
    n.retrying(event())
    assert.deepEqual(lines, [], 'not "waiting" for a minute-old blip')
    at(61_500)
    n.retrying(event())
    assert.deepEqual(lines, ['node not answering (connection refused); waiting up to 30s for it (--retry-for)'])
  })

  test('an answer after a wait that was never announced says nothing', () => {
    const {n, lines, at} = notice()
    at(0)
    n.retrying(event())
    at(300)
    n.recovered({method: 'getblock', endpoint: '127.0.0.1:18443', waitedMs: 300})
    assert.deepEqual(lines, [])
  })
})
