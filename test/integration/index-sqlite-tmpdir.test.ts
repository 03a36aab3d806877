import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {ensureChain} from '../../bench/generate-chain.js'
import {NETWORKS} from '../../src/lib/chain/networks.js'
import {listBlockFiles, readXorKey, scanBlockFile} from '../../src/lib/sources/blk-files.js'
import {spawnBix} from '../support/cli.js'
import {Simulator} from '../support/simnode/simulator.js'

/**
 * The first run of `bix index` builds its script index with one sort at the
 * end, in SQLite temporary files: in $SQLITE_TMPDIR when the operator sets
 * it, else beside the database (where the index's own disk space is). SQLite
 * unlinks a temporary file as soon as it opens it, so the directory never
 * shows it; the running process's open files (/proc/<pid>/fd) do, as
 * "<dir>/etilqs_… (deleted)".
 *
 * Simulator even with BITCOIND set: the sort spills to files only past ~4 MiB
 * of keys (about 100,000 outputs), a chain Core cannot be handed (the
 * benchmark's generated chain, whose signatures are not real).
 */

/** 80,000 transactions, ~173,000 outputs: past the writer's 4 MiB sort runs (SORT_RUN_KIB), so the sort writes several files, in a few seconds */
const CHAIN_TXS = 80_000
const SQLITE_TEMP_FILE = /^(.*)\/etilqs_[^/]*( \(deleted\))?$/

/** Runs a first `bix index` and notes every SQLite temporary file it opens, and which of them it opened while finishing the first run (its sorts). */
async function firstRun(sim: Simulator, db: string, env: Record<string, string | undefined>) {
  const run = spawnBix(['index', '--datadir', sim.datadir, '--network', 'regtest', '--rpcport', String(sim.port), '--db', db], {env, timeoutMs: 300_000})
  const all = new Set<string>()
  const sorting = new Set<string>()
  const fdDir = `/proc/${run.child.pid}/fd`
  const look = () => {
    const building = /finishing the first run/.test(run.stderr())
    let fds: string[]
    try {
      fds = fs.readdirSync(fdDir)
    } catch {
      return
    }
    for (const fd of fds) {
      let target: string
      try {
        target = fs.readlinkSync(path.join(fdDir, fd))
      } catch {
        continue
      }
      const dir = SQLITE_TEMP_FILE.exec(target)?.[1]
      if (!dir) continue
      all.add(dir)
      if (building) sorting.add(dir)
    }
  }
  const poll = setInterval(look, 2)
  const result = await run.done
  clearInterval(poll)
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stderr, /finishing the first run/, 'this was a first run, which sorts the script index')
  return {all: [...all], sorting: [...sorting]}
}

describe('where the first run sorts its script index (simulator: a generated chain too big for the sort\'s memory)', {skip: !fs.existsSync('/proc/self/fd') && 'needs /proc to see the process\'s open files'}, () => {
  let sim: Simulator
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-tmpdir-'))
  const dbDir = path.join(dir, 'index')
  const tmpDir = path.join(dir, 'sort')

  before(async () => {
    // cached under .tmp/ between runs, as the benchmark's chains are
    const chain = ensureChain({txs: CHAIN_TXS})
    const xorKey = await readXorKey(chain.blocksDir)
    const raws: Buffer[] = []
    for (const file of await listBlockFiles(chain.blocksDir)) {
      for await (const record of scanBlockFile(file, {magic: NETWORKS.regtest.magic, xorKey})) raws.push(record.bytes)
    }
    sim = await Simulator.start({datadir: chain.datadir, blockFiles: false, ledger: 'lazy'})
    sim.loadBlocks(raws, {trusted: true})
    fs.mkdirSync(dbDir)
    fs.mkdirSync(tmpDir)
  })
  after(async () => {
    await sim?.stop({keepDatadir: true})
    fs.rmSync(dir, {recursive: true, force: true})
  })

  test('with $SQLITE_TMPDIR set, every temporary file is there, none beside the database', async () => {
    const seen = await firstRun(sim, path.join(dbDir, 'with-tmpdir.db'), {SQLITE_TMPDIR: tmpDir})
    assert.deepEqual(seen.sorting, [tmpDir], 'the sort opened its files in $SQLITE_TMPDIR')
    assert.deepEqual(seen.all, [tmpDir])
  })

  test('without it, every temporary file is beside the database, none in $TMPDIR', async () => {
    const seen = await firstRun(sim, path.join(dbDir, 'beside.db'), {SQLITE_TMPDIR: undefined, TMPDIR: tmpDir})
    assert.deepEqual(seen.sorting, [dbDir], 'the sort opened its files beside the database')
    assert.deepEqual(seen.all, [dbDir])
  })
})
