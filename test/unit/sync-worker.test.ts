import assert from 'node:assert/strict'
import {test} from 'node:test'

import {SyncWorker} from '../../src/lib/sync-worker.js'

/** A worker thread called synchronously: its answers and errors come back, and its death is an error, never a hang. */

const revive = (wire: unknown) => new Error(`revived: ${(wire as {message: string}).message}`)
const worker = () => new SyncWorker<string, string>(new URL('../support/crashing-worker.ts', import.meta.url).href, 'crashing-worker')

test('answers and errors come back to the caller, in order', () => {
  const w = worker()
  assert.equal(w.call('echo', revive), 'echo')
  assert.throws(() => w.call('reject', revive), /^Error: revived: rejected as asked$/)
  assert.equal(w.call('echo', revive), 'echo')
  w.stop()
  assert.throws(() => w.call('echo', revive), /the worker thread has stopped: it was closed/)
})

test('a notify that comes late, while the caller waits on its next call, does not end that wait before the answer', () => {
  const w = worker()
  assert.equal(w.call('late-notify', revive), 'late-notify')
  assert.equal(w.call('slow', revive), 'slow', 'the stray notify at 200 ms is not taken for the answer at 800 ms')
  w.stop()
})

test('an uncaught exception in the worker is an error for the blocked caller, then for every call', () => {
  const w = worker()
  const started = Date.now()
  assert.throws(() => w.call('throw-later', revive), /the worker thread has stopped: it failed: boom in a callback/)
  assert.ok(Date.now() - started < 10_000, 'told at once, not after the heartbeat gives up')
  assert.throws(() => w.call('echo', revive), /the worker thread has stopped: it failed: boom in a callback/)
})

test('a worker that exits while the caller waits is an error, not a hang', () => {
  const w = worker()
  assert.throws(() => w.call('exit', revive), /the worker thread has stopped: it exited/)
})

test('posted requests run one after another while the caller goes on; settle waits for them and gives the first failure', () => {
  const w = worker()
  const started = Date.now()
  w.post('slow')
  w.post('reject')
  w.post('slow')
  assert.ok(Date.now() - started < 400, 'post does not wait')
  assert.equal(w.unsettled, 3)
  assert.throws(() => w.call('echo', revive), /posted requests are not settled/)
  const failure = w.settle(revive)
  assert.ok(Date.now() - started >= 1600, `the two slow requests ran one after the other (${Date.now() - started} ms)`)
  assert.match(String(failure), /^Error: revived: rejected as asked$/)
  assert.equal(w.unsettled, 0)
  assert.equal(w.settle(revive), undefined)
  assert.equal(w.call('echo', revive), 'echo')
  w.stop()
})
