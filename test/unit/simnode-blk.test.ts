/**
 * The simulator's block files are Core's block files: the recorded chain
 * comes out byte-identical to the node's own blk00000.dat, and whatever it
 * writes de-XORs and scans back to the right blocks — stale ones, several
 * files, out-of-order writes and a half-flushed last record included.
 */
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {BlkWriter} from '../support/simnode/blk-writer.js'
import {blkFileNames, readXorKey, scanBlkFiles} from '../support/simnode/blk-reader.js'
import {readHeader} from '../support/simnode/block-codec.js'
import {FIXTURE_DIR} from '../support/simnode/fixture-chain.js'
import {Simulator} from '../support/simnode/simulator.js'

const hashesOf = (dir: string) => scanBlkFiles(dir).records.map((r) => readHeader(r.raw).hash)

test('the recorded chain written by the simulator is byte-identical to Core\'s blk00000.dat and xor.dat', async (t) => {
  const sim = await Simulator.start({fixture: 'after-reorg'})
  t.after(() => sim.stop())
  const ours = readFileSync(join(sim.blocksDir, 'blk00000.dat'))
  const core = readFileSync(join(FIXTURE_DIR, 'blocks', 'blk00000.dat'))
  assert.equal(ours.length, core.length)
  assert.ok(ours.equals(core))
  assert.ok(readFileSync(join(sim.blocksDir, 'xor.dat')).equals(readFileSync(join(FIXTURE_DIR, 'blocks', 'xor.dat'))))
})

test('Core\'s own block file scans to genesis, 1–143, the stale 144–146, then 144–147', () => {
  const {records, truncated} = scanBlkFiles(join(FIXTURE_DIR, 'blocks'))
  assert.equal(records.length, 151)
  assert.equal(truncated, 0)
  const hashes = records.map((r) => readHeader(r.raw).hash)
  assert.equal(hashes[0], '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206')
  assert.equal(hashes[150], '1c7076a1b1c714398722185f4cf74d1d6aa604e5a2efc9d8876e0ac040fc49f9')
})

test('blocks are written in arrival order, stale branches included, XORed with the key', async (t) => {
  const sim = await Simulator.start()
  t.after(() => sim.stop())
  sim.mine(5)
  const {disconnected, connected} = sim.reorg({depth: 2})
  const expected = [...sim.chain.active.slice(0, 4).map((e) => e.hash), ...disconnected, ...connected]
  assert.deepEqual(hashesOf(sim.blocksDir), expected)

  const key = readXorKey(sim.blocksDir)
  assert.ok(key.some((b) => b !== 0), 'a fresh blocks dir gets a non-zero key')
  const raw = readFileSync(join(sim.blocksDir, 'blk00000.dat'))
  assert.ok(!raw.subarray(0, 4).equals(Buffer.from('fabfb5da', 'hex')), 'the magic is obfuscated on disk')
})

test('a new file starts before the size limit would be passed; each file is pre-allocated with zeros', async (t) => {
  const maxFileSize = 16 * 1024
  const sim = await Simulator.start({blockFiles: {maxFileSize}})
  t.after(() => sim.stop())
  sim.mine(101)
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 10; i++) sim.send({to: sim.newAddress(i % 2 ? 'legacy' : 'bech32m'), value: 20_000})
    sim.mine(1)
  }
  const files = blkFileNames(sim.blocksDir)
  assert.ok(files.length > 1, `several files (${files.length})`)
  for (const name of files) assert.equal(statSync(join(sim.blocksDir, name)).size, maxFileSize, `${name} is pre-allocated`)
  assert.deepEqual(hashesOf(sim.blocksDir), sim.chain.active.map((e) => e.hash))

  // the tail after the last record is zeros on disk
  const last = files[files.length - 1]
  const location = [...sim.blk!.locations.values()].filter((l) => l.file === files.length - 1).at(-1)!
  const tail = readFileSync(join(sim.blocksDir, last)).subarray(location.offset + location.size)
  assert.ok(tail.length > 0 && tail.every((b) => b === 0))
})

test('an all-zero key means plain records, and a pre-28 blocks dir has no xor.dat', async (t) => {
  const sim = await Simulator.start({blockFiles: {xorKey: Buffer.alloc(8), writeXorFile: false}})
  t.after(() => sim.stop())
  sim.mine(3)
  assert.equal(existsSync(join(sim.blocksDir, 'xor.dat')), false)
  const raw = readFileSync(join(sim.blocksDir, 'blk00000.dat'))
  assert.ok(raw.subarray(0, 4).equals(Buffer.from('fabfb5da', 'hex')))
  assert.deepEqual(hashesOf(sim.blocksDir), sim.chain.active.map((e) => e.hash))
})

test('out-of-order writing puts children before parents, and loadBlocks reassembles the chain', async (t) => {
  const sim = await Simulator.start({blockFiles: {outOfOrderWindow: 4}})
  t.after(() => sim.stop())
  sim.mine(11)
  sim.blk!.flush()
  const written = hashesOf(sim.blocksDir)
  const heights = written.map((h) => sim.chain.get(h)!.height)
  assert.deepEqual(heights.slice(0, 4), [3, 2, 1, 0])
  assert.deepEqual(new Set(written), new Set(sim.chain.active.map((e) => e.hash)))

  const copy = await Simulator.start({blockFiles: false})
  t.after(() => copy.stop())
  copy.loadBlocks(scanBlkFiles(sim.blocksDir).records.map((r) => r.raw))
  assert.equal(copy.chain.tip.hash, sim.chain.tip.hash)
})

test('a last record only partly flushed is reported, not returned as a block', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'simnode-blk-'))
  t.after(() => rmSync(root, {recursive: true, force: true}))
  const dir = join(root, 'blocks')
  const sim = await Simulator.start({blockFiles: false})
  t.after(() => sim.stop())
  sim.mine(3)
  const writer = new BlkWriter({dir, xorKey: Buffer.from('0123456789abcdef', 'hex')})
  for (const entry of sim.chain.active) writer.append(entry.hash, entry.raw)
  writer.truncateLastRecord(8 + 40)
  writer.close()
  const {records, truncated} = scanBlkFiles(dir)
  assert.equal(records.length, 3)
  assert.equal(truncated, 1)
})
