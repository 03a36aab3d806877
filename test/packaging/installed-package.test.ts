import assert from 'node:assert/strict'
import {execFile, execFileSync, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {REPO_ROOT} from '../support/cli.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * bix as a user installs it: `npm pack`, then `npm install -g` of the tarball
 * into a prefix of its own with production dependencies only, run from
 * outside the clone. What this catches: a file missing from package.json
 * "files", a runtime import of a devDependency, a bin that does not start,
 * a dependency that only the clone's node_modules happened to provide.
 *
 * Two shortcuts keep it to seconds, neither of which changes what gets
 * installed: npm may answer from its cache (--prefer-offline; `npm install`
 * in the clone filled it), and better-sqlite3's own installer
 * (prebuild-install) is handed the addon the clone already compiled, for this
 * very Node and better-sqlite3 version, as a local prebuild, instead of
 * compiling SQLite again (about two minutes on this machine, more when loaded).
 */

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string
  version: string
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

describe('bix installed from its npm tarball', () => {
  let work: string
  let bix: string
  let env: NodeJS.ProcessEnv
  let node: TestNode
  let installSeconds: number

  before(async () => {
    assert.ok(fs.existsSync(path.join(REPO_ROOT, 'dist', 'cli.js')), 'dist/ is built (npm test builds it first)')
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-installed-'))
    // npm and the scripts it runs use the Node running this test
    env = {...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`, NO_COLOR: '1'}
    delete env.npm_config_prefix

    // dist/ is already built: --ignore-scripts skips `prepare` rebuilding it
    const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], {cwd: REPO_ROOT, env, encoding: 'utf8'}).trim()

    const sqlite = path.join(REPO_ROOT, 'node_modules', 'better-sqlite3')
    const sqliteVersion = (JSON.parse(fs.readFileSync(path.join(sqlite, 'package.json'), 'utf8')) as {version: string}).version
    const prebuilds = path.join(work, 'prebuilds')
    fs.mkdirSync(prebuilds)
    // the name prebuild-install looks for: {name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz
    const prebuild = `better-sqlite3-v${sqliteVersion}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
    execFileSync('tar', ['-C', sqlite, '-czf', path.join(prebuilds, prebuild), 'build/Release/better_sqlite3.node'])

    const started = Date.now()
    const install = spawnSync(
      'npm',
      ['install', '--global', '--prefix', path.join(work, 'prefix'), '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, tarball)],
      {cwd: work, env: {...env, npm_config_better_sqlite3_local_prebuilds: prebuilds}, encoding: 'utf8', timeout: 10 * 60_000},
    )
    installSeconds = (Date.now() - started) / 1000
    assert.equal(install.status, 0, `npm install -g failed:\n${install.stdout}${install.stderr}`)
    bix = path.join(work, 'prefix', 'bin', 'bix')
    node = await startTestNode({matureBlocks: 101})
  })
  after(async () => {
    await node?.stop()
    if (work) fs.rmSync(work, {recursive: true, force: true})
  })

  /**
   * The installed bin, from a directory outside the clone, with a bix data dir
   * of its own; asynchronous, as the simulator answers from this very process.
   */
  function run(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(bix, args, {cwd: work, env: {...env, BIX_DATA_DIR: path.join(work, 'data')}, encoding: 'utf8', timeout: 120_000}, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0
        resolve({code, stdout, stderr})
      })
    })
  }

  test('holds the production dependencies and none of the development ones', (t) => {
    t.diagnostic(`npm install -g took ${installSeconds.toFixed(1)} s`)
    const installed = path.join(work, 'prefix', 'lib', 'node_modules', pkg.name)
    assert.ok(fs.existsSync(path.join(installed, 'oclif.manifest.json')), 'the manifest is packed')
    assert.equal(fs.existsSync(path.join(installed, 'src')), false, 'the TypeScript sources are not')
    assert.equal(fs.existsSync(path.join(installed, 'test')), false, 'nor the tests')
    const nodeModules = path.join(installed, 'node_modules')
    for (const dep of Object.keys(pkg.dependencies)) assert.ok(fs.existsSync(path.join(nodeModules, dep, 'package.json')), `${dep} is installed`)
    for (const dep of Object.keys(pkg.devDependencies)) assert.equal(fs.existsSync(path.join(nodeModules, dep)), false, `${dep} (dev) is not`)
  })

  test('`bix --version` names this version', async () => {
    const r = await run(['--version'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^${pkg.name}/${pkg.version.replaceAll('.', '\\.')} `))
  })

  test('`bix status` reports the node as the node reports itself', async () => {
    const r = await run(['status', ...node.cliArgs(), '--json'])
    assert.equal(r.code, 0, r.stderr)
    const status = JSON.parse(r.stdout) as {node: {blocks: number; best_block_hash: string}}
    const chain = await node.rpc<{blocks: number; bestblockhash: string}>('getblockchaininfo')
    assert.equal(status.node.blocks, chain.blocks)
    assert.equal(status.node.best_block_hash, chain.bestblockhash)
  })

  test('`bix index` then `bix query address` give the balance the node\'s scantxoutset gives', async () => {
    const address = await node.newAddress('bech32')
    // one payment: a second could spend the first, the address being the wallet's own
    await node.send(address, 123_456)
    await node.mine(1)
    const db = path.join(work, 'index.db')
    const indexed = await run(['index', ...node.cliArgs(), '--db', db, '--quiet'])
    assert.equal(indexed.code, 0, indexed.stderr)
    const r = await run(['query', 'address', address, '--network', 'regtest', '--db', db, '--offline', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const [report] = JSON.parse(r.stdout) as Array<{balance: {confirmed: number}}>
    const balance = report.balance.confirmed
    const scan = await node.rpc<{total_amount: number}>('scantxoutset', ['start', [`addr(${address})`]])
    assert.equal(balance, Math.round(scan.total_amount * 1e8))
    assert.equal(balance, 123_456, 'the payment, confirmed')
  })
})
