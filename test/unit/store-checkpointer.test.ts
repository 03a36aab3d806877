import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, test} from 'node:test'

import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {toIndexedBlock} from '../../src/lib/chain/indexed-block.js'
import {WalCheckpointer} from '../../src/lib/store/sqlite/checkpointer.js'
import {openIndex} from '../../src/lib/store/sqlite/database.js'
import {IndexWriter} from '../../src/lib/store/sqlite/writer.js'
import {indexDigest} from '../support/index-digest.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'

/** The write-ahead log copied into the database file by the checkpointing thread, while the writer commits. */

const blocks = readFixtureChain().blocks.map((b) => toIndexedBlock(parseBlock(Buffer.from(b.hex, 'hex')), b.height))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-checkpointer-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))
const size = (file: string) => fs.statSync(file, {throwIfNoEntry: false})?.size ?? 0

test('the thread copies the commits into the file, the writer checkpoints for itself again after close, and the index is the same', async () => {
  const plain = path.join(dir, 'plain.db')
  const threaded = path.join(dir, 'threaded.db')
  const plainDb = openIndex(plain, {network: 'regtest', mode: 'write'})
  new IndexWriter(plainDb).applyBlocks(blocks)
  plainDb.close()
  const db = openIndex(threaded, {network: 'regtest', mode: 'write'})
  const writer = new IndexWriter(db)
  const checkpointer = new WalCheckpointer(db)
  assert.equal(db.sqlite.pragma('wal_autocheckpoint', {simple: true}), 0, 'the writer leaves checkpoints to the thread')
  const fileBefore = size(threaded)
  for (let i = 0; i < blocks.length; i += 10) {
    writer.applyBlocks(blocks.slice(i, i + 10))
    checkpointer.request()
  }
  await checkpointer.close()
  assert.ok(size(threaded) > fileBefore, `the database file grew while the writer's connection did not checkpoint (${fileBefore} -> ${size(threaded)} bytes)`)
  assert.equal(db.sqlite.pragma('wal_autocheckpoint', {simple: true}), 1000)
  db.close()
  assert.equal(indexDigest(threaded), indexDigest(plain))
})
