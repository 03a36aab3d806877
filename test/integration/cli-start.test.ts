import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {REPO_ROOT, runBix} from '../support/cli.js'

/**
 * How the built CLI starts (npm run build): one bundle, dist/cli.js, compiled
 * by bin/run.js with V8's code cache, with oclif plugins still loaded from
 * node_modules. No node is needed here.
 */

describe('starting bix', () => {
  test('bix help <command> runs the help plugin, an ES module loaded from node_modules at run time; nothing but the help on either stream', async () => {
    const r = await runBix(['help', 'query', 'address'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Balance, history and UTXOs of addresses/)
    assert.match(r.stdout, /^USAGE\n {2}\$ bix query address \[ADDRESS\.\.\.\]/m)
    assert.match(r.stdout, /--scripthash=<value>\.\.\./)
    assert.equal(r.stderr, '', 'no warning (such as an experimental feature of node:vm) reaches the user')
  })

  test('the build leaves the bundle, its code cache, each worker beside it, and a manifest of every command in src/commands', () => {
    for (const file of ['dist/cli.js', 'dist/cli.js.v8cache', 'dist/decode-worker.js', 'dist/checkpoint-worker.js', 'oclif.manifest.json']) {
      assert.ok(fs.statSync(path.join(REPO_ROOT, file)).size > 0, file)
    }
    // oclif finds the commands in src/cli.ts's list: a command file missing from it would not exist
    const commandsDir = path.join(REPO_ROOT, 'src', 'commands')
    const ids = (fs.readdirSync(commandsDir, {recursive: true}) as string[])
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.replace(/\.ts$/, '').replace(/(^|\/)index$/, '').split(path.sep).join(':'))
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, unknown>}
    assert.deepEqual(Object.keys(manifest.commands).sort(), ids.sort())
  })

  test('--version and an unknown flag answer from the bundle: exit 0 with the version, exit 2 with one line', async () => {
    const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version as string
    const v = await runBix(['--version'])
    assert.equal(v.code, 0, v.stderr)
    assert.match(v.stdout, new RegExp(`^bix/${version.replaceAll('.', '\\.')} `))
    const bad = await runBix(['query', 'address', '--no-such-flag'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /Nonexistent flag: --no-such-flag/)
  })
})
