#!/usr/bin/env node
// Writes dist/cli.js.v8cache, the V8 code cache bin/run.js compiles the bundle with: one run of
// `bix query address` (the quick command a script calls in a loop) on a database that does not
// exist, so it goes through oclif's start, the flags and the command up to opening the index.
// V8 keeps in the cache every function compiled by then. The run's error (exit 7) is expected.
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const cacheFile = path.join(root, 'dist', 'cli.js.v8cache')
const missingDb = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bix-code-cache-')), 'none.db')
fs.rmSync(cacheFile, {force: true})
const run = spawnSync(
  process.execPath,
  [path.join(root, 'bin', 'run.js'), 'query', 'address', 'bcrt1q9tfmgvl97yyjr8t27v6dmy68mmvvnrymser7xl', '--network', 'regtest', '--db', missingDb, '--json'],
  {env: {...process.env, BIX_WRITE_CODE_CACHE: '1'}, encoding: 'utf8'},
)
fs.rmSync(path.dirname(missingDb), {recursive: true, force: true})
if (run.status !== 7 || !fs.existsSync(cacheFile)) {
  console.error(`write-code-cache: expected exit 7 and ${cacheFile}; got ${run.status}\n${run.stderr}`)
  process.exit(1)
}
console.log(`dist/cli.js.v8cache: ${(fs.statSync(cacheFile).size / 1024).toFixed(0)} KiB`)
