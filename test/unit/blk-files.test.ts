import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {parseBlock, verifyBlock} from '../../src/lib/chain/block-parser.js'
import {toDisplayHex} from '../../src/lib/chain/hashes.js'
import {NETWORKS} from '../../src/lib/chain/networks.js'
import {BixError} from '../../src/lib/errors.js'
import {type BlockRecord, listBlockFiles, readXorKey, scanBlockFile, unXor} from '../../src/lib/sources/blk-files.js'
import {mutate, prng, REGTEST_BLOCKS_DIR, regtestChain} from '../support/chain-fixtures.js'

const magic = NETWORKS.regtest.magic
const fixtureFile = path.join(REGTEST_BLOCKS_DIR, 'blk00000.dat')
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-blk-'))
after(() => fs.rmSync(scratch, {recursive: true, force: true}))

async function collect(iterable: AsyncIterable<BlockRecord>): Promise<BlockRecord[]> {
  const records: BlockRecord[] = []
  for await (const record of iterable) records.push(record)
  return records
}

const hashOf = (record: BlockRecord) => toDisplayHex(parseBlock(record.bytes).hash)
const fixtureBlocks = () => regtestChain().blocks.map((b) => Buffer.from(b.hex, 'hex'))

/** magic, little-endian size, block */
function record(block: Buffer, size = block.length): Buffer {
  const header = Buffer.alloc(8)
  magic.copy(header)
  header.writeUInt32LE(size, 4)
  return Buffer.concat([header, block])
}

function writeFile(name: string, ...parts: Buffer[]): string {
  const file = path.join(scratch, name)
  fs.mkdirSync(path.dirname(file), {recursive: true})
  fs.writeFileSync(file, Buffer.concat(parts))
  return file
}

describe('blk files: the recorded regtest node', () => {
  it('finds every block Core wrote, active and stale, and nothing in the 16 MiB zero tail', async () => {
    const key = await readXorKey(REGTEST_BLOCKS_DIR)
    assert.equal(key?.length, 8)
    assert.deepEqual(await listBlockFiles(REGTEST_BLOCKS_DIR), [fixtureFile])

    const records = await collect(scanBlockFile(fixtureFile, {magic, xorKey: key}))
    const chain = regtestChain()
    const found = records.map(hashOf)
    assert.equal(records.length, chain.blocks.length + chain.stale.length)
    assert.deepEqual(new Set(found), new Set([...chain.blocks, ...chain.stale].map((b) => b.hash)))
    for (const r of records) verifyBlock(parseBlock(r.bytes))

    // The file is 16 MiB; the records end long before, and the rest is the zero tail.
    const last = records.at(-1)!
    const end = last.offset + last.bytes.length
    assert.equal(fs.statSync(fixtureFile).size, 16 * 1024 * 1024)
    assert.ok(fs.readFileSync(fixtureFile).subarray(end).every((byte) => byte === 0))
  })

  it('offsets point at the block bytes in the file, as in Core’s block index', async () => {
    const key = (await readXorKey(REGTEST_BLOCKS_DIR))!
    const raw = fs.readFileSync(fixtureFile)
    for (const r of (await collect(scanBlockFile(fixtureFile, {magic, xorKey: key}))).slice(0, 20)) {
      const onDisk = Buffer.from(raw.subarray(r.offset, r.offset + r.bytes.length))
      unXor(onDisk, 0, onDisk.length, r.offset, key)
      assert.deepEqual(onDisk, r.bytes)
    }
  })

  it('gives the same records whatever the read size, records straddling reads included', async () => {
    const key = await readXorKey(REGTEST_BLOCKS_DIR)
    // the data part plus some tail, so small reads stay quick
    const head = writeFile('head/blk00000.dat', fs.readFileSync(fixtureFile).subarray(0, 200_000))
    const expected = (await collect(scanBlockFile(head, {magic, xorKey: key}))).map(hashOf)
    assert.equal(expected.length, 151)
    for (const chunkBytes of [64, 1_001, 4_099, 65_537]) {
      const records = await collect(scanBlockFile(head, {magic, xorKey: key, chunkBytes}))
      assert.deepEqual(records.map(hashOf), expected, `chunkBytes ${chunkBytes}`)
    }
  })

  it('each record is in its own memory, so holding one pins no read buffer', async () => {
    const key = await readXorKey(REGTEST_BLOCKS_DIR)
    const [first, second] = await collect(scanBlockFile(fixtureFile, {magic, xorKey: key}))
    assert.notEqual(first.bytes.buffer, second.bytes.buffer)
    assert.equal(first.bytes.buffer.byteLength, first.bytes.length)
  })
})

describe('blk files: other shapes of file', () => {
  it('reads a file without obfuscation when there is no xor.dat', async () => {
    const blocks = fixtureBlocks().slice(0, 20)
    const file = writeFile('plain/blk00000.dat', ...blocks.map((b) => record(b)), Buffer.alloc(100_000))
    assert.equal(await readXorKey(path.dirname(file)), undefined)
    const records = await collect(scanBlockFile(file, {magic}))
    assert.deepEqual(records.map((r) => r.bytes), blocks)
  })

  it('stops before a last record whose body runs past the end of the file (a block being written)', async () => {
    const blocks = fixtureBlocks().slice(100, 110)
    const whole = Buffer.concat(blocks.map((b) => record(b)))
    const file = writeFile('cut/blk00000.dat', whole.subarray(0, whole.length - Math.floor(blocks[9].length / 2)))
    const records = await collect(scanBlockFile(file, {magic}))
    assert.deepEqual(records.map((r) => r.bytes), blocks.slice(0, 9))
    // and a file cut inside the 8-byte record header
    const headerCut = writeFile('cut/blk00001.dat', Buffer.concat(blocks.slice(0, 3).map((b) => record(b))), magic, Buffer.from([1, 2]))
    assert.equal((await collect(scanBlockFile(headerCut, {magic}))).length, 3)
  })

  it('resynchronises past garbage, bogus sizes and empty records between blocks', async () => {
    const blocks = fixtureBlocks().slice(110, 116)
    const random = prng(7)
    const noise = (n: number) => Buffer.from(Array.from({length: n}, () => Math.floor(random() * 256)))
    const file = writeFile(
      'garbage/blk00000.dat',
      noise(13), // garbage before the first record
      record(blocks[0]),
      record(Buffer.alloc(0)), // magic + size and nothing else
      record(blocks[1]),
      noise(1000),
      record(Buffer.alloc(0), 5), // a size too small for a block
      record(blocks[2]),
      record(Buffer.alloc(0), 0xffff_ffff), // a size larger than any block
      noise(3),
      record(blocks[3]),
      magic.subarray(0, 3), // a partial magic
      record(blocks[4]),
      record(blocks[5]),
      Buffer.alloc(4096), // the zero tail
    )
    const records = await collect(scanBlockFile(file, {magic}))
    assert.deepEqual(records.map((r) => r.bytes), blocks)
  })

  it('yields nothing from an empty, all-zero or tiny file', async () => {
    for (const [name, bytes] of [['empty', Buffer.alloc(0)], ['zeros', Buffer.alloc(1 << 20)], ['tiny', magic]] as const) {
      const file = writeFile(`${name}/blk00000.dat`, bytes)
      assert.deepEqual(await collect(scanBlockFile(file, {magic, xorKey: Buffer.from('0102030405060708', 'hex')})), [], name)
    }
  })

  it('random damage to a real block file never makes the scan throw or hang', async () => {
    const key = await readXorKey(REGTEST_BLOCKS_DIR)
    const original = fs.readFileSync(fixtureFile).subarray(0, 90_000)
    const seed = Date.now() >>> 0
    const random = prng(seed)
    const deadline = performance.now() + 700
    for (let run = 0; performance.now() < deadline; run++) {
      const file = writeFile(`fuzz/blk${String(run).padStart(5, '0')}.dat`, mutate(original, random))
      try {
        for await (const r of scanBlockFile(file, {magic, xorKey: key, chunkBytes: 4_099})) {
          assert.ok(r.bytes.length >= 80 && r.bytes.length <= 4_000_000)
        }
      } catch (error) {
        assert.fail(`seed ${seed} run ${run}: ${error instanceof Error ? error.message : String(error)}`)
      }
      fs.rmSync(file)
    }
  })

  it('finds no block of another network', async () => {
    const key = await readXorKey(REGTEST_BLOCKS_DIR)
    assert.deepEqual(await collect(scanBlockFile(fixtureFile, {magic: NETWORKS.main.magic, xorKey: key})), [])
  })

  it('stops with the signal’s reason when interrupted', async () => {
    const controller = new AbortController()
    const reason = new BixError('Interrupted', 'interrupted')
    let seen = 0
    await assert.rejects(async () => {
      for await (const _ of scanBlockFile(fixtureFile, {magic, xorKey: await readXorKey(REGTEST_BLOCKS_DIR), signal: controller.signal})) {
        if (++seen === 5) controller.abort(reason)
      }
    }, reason)
    assert.equal(seen, 5)
  })
})

describe('blk files: directory and key', () => {
  it('lists blk?????.dat in file-number order and nothing else', async () => {
    const dir = path.join(scratch, 'listing')
    fs.mkdirSync(dir)
    for (const name of ['blk00010.dat', 'blk00002.dat', 'rev00000.dat', 'blk00000.dat', 'blk00001.dat.tmp', 'xor.dat', 'blk100000.dat']) {
      fs.writeFileSync(path.join(dir, name), '')
    }
    assert.deepEqual(
      (await listBlockFiles(dir)).map((f) => path.basename(f)),
      ['blk00000.dat', 'blk00002.dat', 'blk00010.dat', 'blk100000.dat'],
    )
  })

  it('says when the blocks directory is missing', async () => {
    await assert.rejects(listBlockFiles(path.join(scratch, 'nowhere')), (e: unknown) => e instanceof BixError && e.kind === 'BadInput' && /no blocks directory at/.test(e.message))
  })

  it('refuses an xor.dat of the wrong length, and treats an all-zero key as none', async () => {
    const dir = path.join(scratch, 'keys')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'xor.dat'), Buffer.alloc(5, 1))
    await assert.rejects(readXorKey(dir), (e: unknown) => e instanceof BixError && /xor\.dat is 5 bytes; Bitcoin Core writes an 8-byte key/.test(e.message))
    fs.writeFileSync(path.join(dir, 'xor.dat'), Buffer.alloc(8))
    assert.equal(await readXorKey(dir), undefined)
  })

  it('unXor equals byte-by-byte XOR at every alignment and file position', () => {
    const key = Buffer.from('7b5258c542f3e179', 'hex')
    const random = prng(11)
    const backing = Buffer.from(Array.from({length: 300}, () => Math.floor(random() * 256)))
    for (let start = 0; start < 9; start++) {
      for (const length of [0, 1, 3, 4, 7, 8, 9, 31, 100]) {
        for (const filePos of [0, 1, 5, 8, 2 ** 32 + 3]) {
          const fast = Buffer.from(backing)
          unXor(fast, start, length, filePos, key)
          const slow = Buffer.from(backing)
          for (let i = 0; i < length; i++) slow[start + i] ^= key[(filePos + i) % 8]
          assert.deepEqual(fast, slow, `start ${start} length ${length} filePos ${filePos}`)
        }
      }
    }
  })
})
