import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {fromDisplayHex, toDisplayHex} from '../../src/lib/chain/hashes.js'
import type {IndexedBlock} from '../../src/lib/chain/indexed-block.js'
import {BixError, RpcCode, RpcError} from '../../src/lib/errors.js'
import {type BlockDecoder, InlineDecoder, WorkerDecoder} from '../../src/lib/index/decoder.js'
import {type IndexRunOptions, type IndexStore, runIndex} from '../../src/lib/index/indexer.js'
import type {NodeChain} from '../../src/lib/index/node-chain.js'
import type {BlockSource, RawBlock, WantedBlock} from '../../src/lib/sources/block-source.js'
import {regtestChain} from '../support/chain-fixtures.js'

/**
 * The indexer's logic (fork finding, batches, reorgs before and during a
 * run, bad blocks, interruption) over the recorded regtest chain, with the
 * node's chain and block source served in-process from the fixture.
 */

const fixture = regtestChain()
const bytesByHash = new Map<string, Buffer>()
for (const b of [...fixture.blocks, ...fixture.stale]) bytesByHash.set(b.hash, Buffer.from(b.hex, 'hex'))
const toWanted = (b: {height: number; hash: string}): WantedBlock => ({height: b.height, hash: fromDisplayHex(b.hash)})
/** the chain as the recording node had it before the reorg: heights 0..146 with the stale 144..146 */
const BEFORE_REORG = [...fixture.blocks.slice(0, 144), ...fixture.stale].map(toWanted)
const AFTER_REORG = fixture.blocks.map(toWanted)

/** The node: an active chain that a test can switch, and block bytes by hash (stale ones included). */
class FixtureNode implements NodeChain, BlockSource {
  readonly kind = 'rpc' as const
  active: WantedBlock[]
  /** called before each window is listed: a test can reorg the node mid-run */
  beforeWindow?: (from: WantedBlock | null) => void
  /** bytes to send instead of a block's own */
  corrupt = new Map<number, (bytes: Buffer) => Buffer>()

  constructor(active: WantedBlock[]) {
    this.active = active
  }

  async tip() {
    const last = this.active[this.active.length - 1]
    return {height: last.height, hash: last.hash}
  }

  async hashesAt(heights: number[]) {
    return heights.map((h) => {
      if (h >= this.active.length) throw new RpcError('getblockhash', RpcCode.invalidParameter, 'Block height out of range')
      return this.active[h].hash
    })
  }

  async after(from: WantedBlock | null, toHeight: number, count: number) {
    this.beforeWindow?.(from)
    if (from && !this.active[from.height]?.hash.equals(from.hash)) return []
    const first = from ? from.height + 1 : 0
    return this.active.slice(first, Math.min(toHeight, first + count - 1) + 1)
  }

  async *blocks(wanted: readonly WantedBlock[]): AsyncGenerator<RawBlock> {
    for (const w of wanted) {
      // a copy in memory of its own, as a node's answer of a real-sized block is: a worker decoder takes such bytes by transfer
      const bytes = Buffer.from(new Uint8Array(bytesByHash.get(toDisplayHex(w.hash))!).buffer)
      const change = this.corrupt.get(w.height)
      yield {...w, bytes: change ? change(bytes) : bytes, from: 'rpc'}
    }
  }
}

/** The writer's contract, in memory: the tip moves with each batch, a batch must continue the tip. */
class MemoryStore implements IndexStore {
  readonly blocks: IndexedBlock[] = []
  batches = 0

  tip() {
    const last = this.blocks[this.blocks.length - 1]
    return last ? {height: last.height, hash: last.hash} : undefined
  }

  blockHashes(from: number, to: number) {
    return this.blocks.slice(from, to + 1).map((b) => b.hash)
  }

  applyBlocks(blocks: IndexedBlock[]) {
    const tip = this.tip()
    if (blocks[0].height !== (tip?.height ?? -1) + 1 || (tip && !blocks[0].header.subarray(4, 36).equals(tip.hash))) {
      throw new Error(`block ${blocks[0].height} does not continue the tip`)
    }
    this.blocks.push(...blocks)
    this.batches++
  }

  undoAbove(height: number) {
    this.blocks.length = height + 1
  }

  /** what the index says, in a comparable form */
  digest(): string {
    return this.blocks.map((b) => `${b.height}:${toDisplayHex(b.hash)}:${b.txCount}:${b.outputs.count}:${b.spends.count}`).join('\n')
  }
}

function options(node: FixtureNode, store: IndexStore, more: Partial<IndexRunOptions> = {}): IndexRunOptions {
  return {
    network: 'regtest',
    chain: node,
    store,
    source: node,
    batch: {blocks: 25, rows: 100_000},
    decoder: new InlineDecoder(),
    windowBlocks: 40,
    signal: new AbortController().signal,
    ...more,
  }
}

async function cleanRun(active: WantedBlock[]): Promise<MemoryStore> {
  const store = new MemoryStore()
  await runIndex(options(new FixtureNode(active), store))
  return store
}

describe('the indexer on the recorded regtest chain', () => {
  test('indexes an empty index up to the node\'s tip: every block, all 283 transactions', async () => {
    const store = new MemoryStore()
    const result = await runIndex(options(new FixtureNode(AFTER_REORG), store))
    assert.equal(result.startHeight, -1)
    assert.equal(result.height, 147)
    assert.equal(result.hash, fixture.tip)
    assert.equal(result.blocks, 148)
    assert.equal(result.transactions, 283)
    assert.deepEqual(result.reorgs, [])
    assert.equal(store.batches, Math.ceil(148 / 25))
  })

  test('a second run has nothing to do', async () => {
    const node = new FixtureNode(AFTER_REORG)
    const store = new MemoryStore()
    await runIndex(options(node, store))
    const again = await runIndex(options(node, store))
    assert.equal(again.blocks, 0)
    assert.equal(again.height, 147)
  })

  test('--to-height stops there, and a later run goes on from it', async () => {
    const node = new FixtureNode(AFTER_REORG)
    const store = new MemoryStore()
    const first = await runIndex(options(node, store, {toHeight: 60}))
    assert.equal(first.height, 60)
    assert.equal(first.hash, fixture.blocks[60].hash)
    const rest = await runIndex(options(node, store))
    assert.equal(rest.startHeight, 60)
    assert.equal(rest.blocks, 87)
    assert.equal(store.digest(), (await cleanRun(AFTER_REORG)).digest())
  })

  test('a reorg between runs undoes the stale blocks and ends equal to a clean run of the new chain', async () => {
    const node = new FixtureNode(BEFORE_REORG)
    const store = new MemoryStore()
    await runIndex(options(node, store))
    assert.equal(store.tip()?.height, 146)
    node.active = AFTER_REORG
    const result = await runIndex(options(node, store))
    assert.deepEqual(result.reorgs, [{forkHeight: 143, undone: 3}])
    assert.equal(result.blocks, 4)
    assert.equal(store.digest(), (await cleanRun(AFTER_REORG)).digest())
  })

  test('a reorg deeper than a write batch (one block a batch) is undone whole', async () => {
    const node = new FixtureNode(BEFORE_REORG)
    const store = new MemoryStore()
    await runIndex(options(node, store, {batch: {blocks: 1, rows: 100_000}}))
    node.active = AFTER_REORG
    const result = await runIndex(options(node, store, {batch: {blocks: 1, rows: 100_000}}))
    assert.deepEqual(result.reorgs, [{forkHeight: 143, undone: 3}])
    assert.equal(store.digest(), (await cleanRun(AFTER_REORG)).digest())
  })

  test('a node whose new chain is shorter than the index\'s is followed by its hashes, not its height', async () => {
    const node = new FixtureNode(BEFORE_REORG)
    const store = new MemoryStore()
    await runIndex(options(node, store))
    // the replacement block alone: height 144 < the index's 146
    node.active = AFTER_REORG.slice(0, 145)
    const result = await runIndex(options(node, store))
    assert.deepEqual(result.reorgs, [{forkHeight: 143, undone: 3}])
    assert.equal(result.height, 144)
    assert.equal(result.hash, fixture.blocks[144].hash)
  })

  test('a reorg while the run goes on is noticed, what was checked is kept, and the run ends on the new chain', async () => {
    const node = new FixtureNode(BEFORE_REORG)
    node.beforeWindow = (from) => {
      // the node reorganises once the index has passed the fork point
      if (from && from.height >= 144) node.active = AFTER_REORG
    }
    const store = new MemoryStore()
    const result = await runIndex(options(node, store, {windowBlocks: 1}))
    assert.equal(result.height, 147)
    assert.equal(result.hash, fixture.tip)
    assert.deepEqual(result.reorgs, [{forkHeight: 143, undone: 1}])
    assert.equal(store.digest(), (await cleanRun(AFTER_REORG)).digest())
  })

  test('a block that is not the one asked for stops the run with BadBlock naming it, and nothing of its batch is written', async () => {
    const node = new FixtureNode(AFTER_REORG)
    // block 60's place taken by block 61
    node.corrupt.set(60, () => bytesByHash.get(fixture.blocks[61].hash)!)
    const store = new MemoryStore()
    await assert.rejects(runIndex(options(node, store)), (err: BixError) => {
      assert.equal(err.kind, 'BadBlock')
      assert.match(err.message, /height 60/)
      assert.match(err.message, new RegExp(fixture.blocks[60].hash))
      return true
    })
    // batches of 25: 0-24 and 25-49 written, 50-59 not
    assert.equal(store.tip()?.height, 49)
  })

  test('a block whose transactions do not match its merkle root is refused', async () => {
    const node = new FixtureNode(AFTER_REORG)
    node.corrupt.set(120, (bytes) => {
      // the last byte of the last transaction (its locktime): same header, other transactions
      bytes[bytes.length - 1] ^= 1
      return bytes
    })
    const store = new MemoryStore()
    await assert.rejects(runIndex(options(node, store)), (err: BixError) => err.kind === 'BadBlock' && /height 120/.test(err.message) && /merkle/.test(err.message))
    assert.equal(store.tip()?.height, 99)
  })

  test('interrupted, it writes the blocks it has checked and says where the index stands', async () => {
    const node = new FixtureNode(AFTER_REORG)
    const store = new MemoryStore()
    const interrupt = new AbortController()
    const reason = new BixError('Interrupted', 'interrupted by SIGINT', {exitCode: 130})
    let seen = 0
    const run = runIndex(
      options(node, store, {
        signal: interrupt.signal,
        events: {
          onProgress: () => {
            if (++seen === 37) interrupt.abort(reason)
          },
        },
      }),
    )
    await assert.rejects(run, (err: BixError) => {
      assert.equal(err.kind, 'Interrupted')
      assert.equal(err.exitCode, 130)
      assert.match(err.message, /interrupted by SIGINT: the index is at height 36/)
      return true
    })
    assert.equal(store.tip()?.height, 36)
    await runIndex(options(node, store))
    assert.equal(store.digest(), (await cleanRun(AFTER_REORG)).digest())
  })
})

describe('decoding on a worker thread', () => {
  test('gives the same index as decoding inline, with blocks decoded ahead', async (t) => {
    const decoder = new WorkerDecoder()
    t.after(() => decoder.close())
    const node = new FixtureNode(BEFORE_REORG)
    const store = new MemoryStore()
    await runIndex(options(node, store, {decoder, decodeAheadBytes: 64 * 1024}))
    node.active = AFTER_REORG
    const result = await runIndex(options(node, store, {decoder, decodeAheadBytes: 64 * 1024}))
    assert.deepEqual(result.reorgs, [{forkHeight: 143, undone: 3}])
    assert.equal(store.digest(), (await cleanRun(AFTER_REORG)).digest())
  })

  test('keeps no more block bytes on the worker than the decode-ahead budget, though it takes them by transfer', async (t) => {
    const worker = new WorkerDecoder()
    t.after(() => worker.close())
    const budget = 2000
    let outstanding = 0
    let most = 0
    let largest = 0
    const decoder: BlockDecoder = {
      decode(raw) {
        const bytes = raw.bytes.length
        largest = Math.max(largest, bytes)
        outstanding += bytes
        most = Math.max(most, outstanding)
        return worker.decode(raw).finally(() => (outstanding -= bytes))
      },
      close: async () => {},
    }
    const node = new FixtureNode(AFTER_REORG)
    await runIndex(options(node, new MemoryStore(), {decoder, decodeAheadBytes: budget}))
    assert.ok(most <= budget + largest, `${most} bytes were on the worker at once; the budget is ${budget} (+ one block of ${largest})`)
  })

  test('a bad block found on the worker stops the run with BadBlock naming its height', async (t) => {
    const decoder = new WorkerDecoder()
    t.after(() => decoder.close())
    const node = new FixtureNode(AFTER_REORG)
    node.corrupt.set(70, (bytes) => {
      bytes[bytes.length - 1] ^= 1
      return bytes
    })
    const store = new MemoryStore()
    await assert.rejects(runIndex(options(node, store, {decoder, decodeAheadBytes: 64 * 1024})), (err: BixError) => err.kind === 'BadBlock' && /height 70/.test(err.message))
    assert.equal(store.tip()?.height, 49)
  })
})
