import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, test} from 'node:test'

import {acquireWriterLock} from '../../src/lib/store/sqlite/lock.js'

/**
 * The SQLite index's writer lock (<db>.lock): a writer creates the file, then
 * writes its PID into it. Another writer that reads it in between must not
 * take it for a dead writer's: both would then write the index.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-lock-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))

/** What a live writer's lock file holds: this process's, as bix writes it. */
async function liveHolderText(): Promise<string> {
  const db = path.join(dir, 'holder.db')
  const lock = await acquireWriterLock(db, {command: 'index', wait: false})
  const text = fs.readFileSync(`${db}.lock`, 'utf8')
  lock.release()
  return text
}

test('a lock file created and not yet written is a writer starting: the second writer waits for its PID and is refused, naming it', async () => {
  const holder = await liveHolderText()
  const db = path.join(dir, 'starting.db')
  fs.writeFileSync(`${db}.lock`, '')
  const written = setTimeout(() => fs.writeFileSync(`${db}.lock`, holder), 150)
  try {
    await assert.rejects(acquireWriterLock(db, {command: 'index', wait: false}), {message: new RegExp(`^another bix index \\(pid ${process.pid} on `)})
    assert.equal(fs.readFileSync(`${db}.lock`, 'utf8'), holder, 'the starting writer keeps its lock')
  } finally {
    clearTimeout(written)
  }
})

test('a lock file left empty for longer than a start takes is a dead writer\'s: taken over', async () => {
  const db = path.join(dir, 'dead.db')
  fs.writeFileSync(`${db}.lock`, '')
  const long = new Date(Date.now() - 60_000)
  fs.utimesSync(`${db}.lock`, long, long)
  const lock = await acquireWriterLock(db, {command: 'index', wait: false})
  assert.equal(JSON.parse(fs.readFileSync(`${db}.lock`, 'utf8')).pid, process.pid)
  lock.release()
  assert.equal(fs.existsSync(`${db}.lock`), false)
})
