import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, test} from 'node:test'

import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {type IndexedBlock, toIndexedBlock} from '../../src/lib/chain/indexed-block.js'
import {openIndex} from '../../src/lib/store/sqlite/database.js'
import {PagePrefetcher} from '../../src/lib/store/sqlite/page-prefetcher.js'
import {IndexWriter} from '../../src/lib/store/sqlite/writer.js'
import {indexDigest} from '../support/index-digest.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'

/**
 * The threads that read a catch-up's pages ahead of the writer (PagePrefetcher)
 * change nothing it writes, and a writer whose threads fail goes on without them.
 */

const fixture = readFixtureChain()
const blocks = fixture.blocks.map((b): IndexedBlock => toIndexedBlock(parseBlock(Buffer.from(b.hex, 'hex')), b.height))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-prefetch-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))

describe('reading pages ahead of a catch-up', () => {
  const cleanFile = path.join(dir, 'clean.db')
  const clean = openIndex(cleanFile, {network: 'regtest', mode: 'write'})
  new IndexWriter(clean).applyBlocks(blocks)
  clean.close()

  test('a catch-up whose blocks are announced and read ahead by threads, in batches of one to three, ends identical', async () => {
    const file = path.join(dir, 'ahead.db')
    const db = openIndex(file, {network: 'regtest', mode: 'write'})
    new IndexWriter(db).applyBlocks(blocks.slice(0, 40))
    process.env.BIX_TEST_PREFETCH_THREADS = '3'
    let writer: IndexWriter
    try {
      writer = new IndexWriter(db, {prefetch: true})
    } finally {
      delete process.env.BIX_TEST_PREFETCH_THREADS
    }
    assert.ok(writer.readsAhead, 'the premise: the writer reads ahead')
    const rest = blocks.slice(40)
    // announced some blocks ahead, as the indexer does once they are decoded
    for (const b of rest.slice(0, 5)) writer.readAhead(b)
    for (let at = 0, size = 1; at < rest.length; at += size, size = (size % 3) + 1) {
      for (const b of rest.slice(at + 5, at + 5 + size)) writer.readAhead(b)
      writer.applyBlocks(rest.slice(at, at + size))
    }
    assert.ok(writer.readsAhead, 'and its threads did not fail')
    await writer.close()
    db.close()
    assert.equal(indexDigest(file), indexDigest(cleanFile))
  })

  test('threads that cannot read the index stop reading ahead and return the writer its batch', async () => {
    const prefetcher = new PagePrefetcher(path.join(dir, 'no-such-index.db'), 10_000, 2)
    assert.equal(prefetcher.working, true)
    prefetcher.warm(blocks.slice(1, 3))
    assert.equal(prefetcher.working, false)
    // and asks nothing of them again
    prefetcher.readAhead(blocks[3])
    prefetcher.warm(blocks.slice(3, 4))
    await prefetcher.close()
  })
})
