import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {fromDisplayHex, sha256d, toDisplayHex} from '../../src/lib/chain/hashes.js'
import {NETWORKS} from '../../src/lib/chain/networks.js'
import {makeEndpoint} from '../../src/lib/node/config.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import {listBlockFiles, readXorKey} from '../../src/lib/sources/blk-files.js'
import {BlkBlockSource} from '../../src/lib/sources/blk-source.js'
import {type RawBlock, type WantedBlock, fetchInOrder} from '../../src/lib/sources/block-source.js'
import {fetchBlockOverRpc} from '../../src/lib/sources/rpc-source.js'
import {REGTEST_BLOCKS_DIR, regtestChain} from '../support/chain-fixtures.js'
import {scanBlkFiles} from '../support/simnode/blk-reader.js'
import {Simulator} from '../support/simnode/simulator.js'

const chain = regtestChain()
const BLOCKS_DIR = REGTEST_BLOCKS_DIR
const active: WantedBlock[] = chain.blocks.map((b) => ({height: b.height, hash: fromDisplayHex(b.hash)}))
const bytesOf = new Map(chain.blocks.map((b) => [b.hash, Buffer.from(b.hex, 'hex')]))

/** The node's answer for a block, as the blk source's fallback gets it. */
const fromNode = {
  kind: 'rpc' as const,
  calls: [] as number[],
  fetch: async (block: WantedBlock) => {
    fromNode.calls.push(block.height)
    return bytesOf.get(Buffer.from(block.hash).reverse().toString('hex'))!
  },
}

async function collect(iterable: AsyncIterable<RawBlock>): Promise<RawBlock[]> {
  const out: RawBlock[] = []
  for await (const raw of iterable) out.push(raw)
  return out
}

async function blkSource(dir: string, options: {maxBytes?: number; overdueAfter?: number} = {}) {
  fromNode.calls = []
  return new BlkBlockSource({
    blocksDir: dir,
    magic: NETWORKS.regtest.magic,
    xorKey: await readXorKey(dir),
    // never asked: one file, so no file is placed by height
    client: undefined as never,
    fallback: fromNode,
    readAhead: {concurrency: 4, maxBytes: options.maxBytes ?? 64 * 1024 * 1024},
    overdueAfter: options.overdueAfter,
  })
}

const signal = new AbortController().signal

describe('blk source on the recorded node\'s own block file', () => {
  test('yields exactly the active chain in height order, skipping the stale branch, all from the file', async () => {
    const source = await blkSource(BLOCKS_DIR)
    const blocks = await collect(source.blocks(active, signal))
    assert.deepEqual(
      blocks.map((b) => b.height),
      active.map((b) => b.height),
    )
    for (const raw of blocks) {
      assert.equal(raw.from, 'blk')
      assert.ok(sha256d(raw.bytes.subarray(0, 80)).equals(raw.hash), `block ${raw.height} hashes to what was asked`)
      assert.ok(raw.bytes.equals(bytesOf.get(Buffer.from(raw.hash).reverse().toString('hex'))!), `block ${raw.height} bytes are the node's`)
    }
    const stale = new Set(chain.stale.map((b) => b.hash))
    assert.ok(blocks.every((b) => !stale.has(Buffer.from(b.hash).reverse().toString('hex'))))
    assert.deepEqual(fromNode.calls, [])
  })

  test('reassembles the asked order from blocks found out of order, within a buffer of a few hundred bytes', async () => {
    // asking newest first: everything arrives "early" and most of it only fits as a file position
    const wanted = [...active].reverse()
    const source = await blkSource(BLOCKS_DIR, {maxBytes: 600})
    const blocks = await collect(source.blocks(wanted, signal))
    assert.deepEqual(
      blocks.map((b) => b.height),
      wanted.map((b) => b.height),
    )
    for (const raw of blocks) assert.ok(sha256d(raw.bytes.subarray(0, 80)).equals(raw.hash))
    assert.deepEqual(fromNode.calls, [], 'every block came from the file')
  })

  test('asks the node for a block that is long overdue instead of holding everything up', async () => {
    const wanted = [...active].reverse()
    const source = await blkSource(BLOCKS_DIR, {overdueAfter: 10})
    const blocks = await collect(source.blocks(wanted, signal))
    assert.deepEqual(
      blocks.map((b) => b.height),
      wanted.map((b) => b.height),
    )
    assert.ok(fromNode.calls.length > 0 && fromNode.calls.length < wanted.length, `${fromNode.calls.length} from the node`)
    assert.equal(fromNode.calls[0], 147, 'the first block asked for is the overdue one')
  })

  test('fetches from the node what the files lack (a file cut short, as when the node has not flushed it)', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-blk-'))
    t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
    const whole = fs.readFileSync(path.join(BLOCKS_DIR, 'blk00000.dat'))
    // a cut in the middle of the file, mid-record
    fs.writeFileSync(path.join(dir, 'blk00000.dat'), whole.subarray(0, 20_011))
    fs.copyFileSync(path.join(BLOCKS_DIR, 'xor.dat'), path.join(dir, 'xor.dat'))
    const source = await blkSource(dir)
    const blocks = await collect(source.blocks(active, signal))
    assert.deepEqual(
      blocks.map((b) => b.height),
      active.map((b) => b.height),
    )
    const fromFile = blocks.filter((b) => b.from === 'blk').length
    assert.ok(fromFile > 0 && fromFile < active.length, `${fromFile} blocks from the file`)
    assert.equal(fromNode.calls.length, active.length - fromFile)
    for (const raw of blocks) assert.ok(sha256d(raw.bytes.subarray(0, 80)).equals(raw.hash))
  })

  test('a block read from the file can be fetched again from the node', async () => {
    const source = await blkSource(BLOCKS_DIR)
    const [first] = await collect(source.blocks(active.slice(5, 6), signal))
    assert.ok(first.refetch)
    const again = await first.refetch()
    assert.equal(again.from, 'rpc')
    assert.ok(again.bytes.equals(first.bytes))
  })
})

describe('fetchInOrder', () => {
  const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  test('returns items in their order whatever order the fetches finish in, never more than `concurrency` at once', async () => {
    let inFlight = 0
    let most = 0
    const items = Array.from({length: 40}, (_, i) => i)
    const got: number[] = []
    const fetched = fetchInOrder(
      items,
      async (i) => {
        inFlight++
        most = Math.max(most, inFlight)
        await delay((i * 7) % 5)
        inFlight--
        return Buffer.alloc(10, i)
      },
      {concurrency: 3, maxBytes: 1e9},
      signal,
    )
    for await (const {item, bytes} of fetched) {
      assert.equal(bytes[0], item)
      got.push(item)
    }
    assert.deepEqual(got, items)
    assert.equal(most, 3)
  })

  test('stops starting fetches while the bytes not yet taken reach the budget', async () => {
    let started = 0
    const fetched = fetchInOrder(
      Array.from({length: 100}, (_, i) => i),
      async () => {
        started++
        return Buffer.alloc(1000)
      },
      {concurrency: 2, maxBytes: 5000},
      signal,
    )
    const first = await fetched.next()
    assert.equal(first.done, false)
    await delay(20)
    // 5 KB of 1 KB items, plus the one handed over
    assert.ok(started >= 5 && started <= 6, `${started} fetches started with a 5 KB budget`)
    await fetched.return(undefined)
  })

  test('stopping early cancels the fetches in flight', async () => {
    const aborted: number[] = []
    const fetched = fetchInOrder(
      [0, 1, 2, 3],
      (i, s) =>
        new Promise<Buffer>((resolve, reject) => {
          if (i === 0) return resolve(Buffer.alloc(1))
          s.addEventListener('abort', () => {
            aborted.push(i)
            reject(s.reason)
          })
        }),
      {concurrency: 4, maxBytes: 1e9},
      signal,
    )
    for await (const _ of fetched) break
    assert.deepEqual(aborted.sort(), [1, 2, 3])
  })

  test('a failed fetch fails the iteration at its turn', async () => {
    const fetched = fetchInOrder(
      [0, 1, 2],
      async (i) => {
        if (i === 1) throw new Error('no block 1')
        return Buffer.alloc(1)
      },
      {concurrency: 2, maxBytes: 1e9},
      signal,
    )
    const got: number[] = []
    await assert.rejects(async () => {
      for await (const {item} of fetched) got.push(item)
    }, /no block 1/)
    assert.deepEqual(got, [0])
  })
})

describe('blk source on many small files written out of order, as headers-first download leaves them', () => {
  test('finds the file to start from by the height of each file\'s first block, and still yields every block in order', async (t) => {
    const sim = await Simulator.start({fixture: 'after-reorg', blockFiles: {maxFileSize: 4000, outOfOrderWindow: 12}})
    const client = createNodeClient(
      {
        network: 'regtest',
        networkExplicit: true,
        datadir: sim.datadir,
        netDatadir: sim.netDatadir,
        endpoints: [makeEndpoint('127.0.0.1', sim.port)],
        credentials: {kind: 'cookie', path: sim.cookiePath},
      },
      {parallelism: 2, connectTimeoutMs: 2000, requestTimeoutMs: 10_000},
    )
    t.after(async () => {
      await client.close()
      await sim.stop()
    })
    const files = await listBlockFiles(sim.blocksDir)
    assert.ok(files.length >= 10, `${files.length} files`)
    const xorKey = await readXorKey(sim.blocksDir)
    const source = () =>
      new BlkBlockSource({
        blocksDir: sim.blocksDir,
        magic: NETWORKS.regtest.magic,
        xorKey,
        client,
        fallback: {kind: 'rpc', fetch: (block, s) => fetchBlockOverRpc(client, block, s)},
        readAhead: {concurrency: 2, maxBytes: 4000},
        startMargin: 20,
      })
    const whole = source()
    const all = await collect(whole.blocks(active, signal))
    assert.deepEqual(all.map((b) => b.height), active.map((b) => b.height))
    // the writer still holds the newest blocks in memory, as bitcoind may: those come from the node
    const onDisk = new Set(scanBlkFiles(sim.blocksDir).records.map((r) => toDisplayHex(sha256d(r.raw.subarray(0, 80)))))
    const notOnDisk = active.filter((b) => !onDisk.has(toDisplayHex(b.hash))).map((b) => b.height)
    assert.ok(notOnDisk.length > 0 && notOnDisk.length < 12, `${notOnDisk.length} blocks not yet written`)
    assert.deepEqual(all.filter((b) => b.from === 'rpc').map((b) => b.height), notOnDisk)
    assert.equal(whole.stats.fromNode, notOnDisk.length)
    assert.equal(sim.calls('getblockheader'), 0, 'from genesis there is nothing to search')
    for (const raw of all) assert.ok(sha256d(raw.bytes.subarray(0, 80)).equals(raw.hash))

    // the last blocks: a few files' first blocks are looked up, the early files are not read
    const late = source()
    const tail = await collect(late.blocks(active.slice(130), signal))
    assert.deepEqual(tail.map((b) => b.height), active.slice(130).map((b) => b.height))
    assert.equal(late.stats.fromNode, notOnDisk.length, 'every block on disk found in the files')
    // scanning skips files, starting at one whose first block is at least 20 below height 130
    // (out-of-order files make the first heights only roughly increasing: any such file is safe)
    const firstHeights = new Map<number, number>()
    for (const r of scanBlkFiles(sim.blocksDir).records) {
      if (!firstHeights.has(r.file)) firstHeights.set(r.file, sim.chain.get(toDisplayHex(sha256d(r.raw.subarray(0, 80))))!.height)
    }
    const start = files.length - late.stats.filesScanned
    assert.ok(start > 0, 'files were skipped')
    assert.ok(firstHeights.get(start)! <= 110, `file ${start} starts at ${firstHeights.get(start)}`)
    const lookups = sim.calls('getblockheader')
    assert.ok(lookups > 0 && lookups <= Math.ceil(Math.log2(files.length)) + 1, `${lookups} lookups`)
  })
})
