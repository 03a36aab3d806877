/**
 * The test-node harness drives the simulator and a real bitcoind
 * (BITCOIND=/path/to/bitcoind) the same way: these tests run unchanged
 * against either, which is what lets integration tests do the same.
 */
import assert from 'node:assert/strict'
import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, test} from 'node:test'

import {REPO_ROOT, runBix, spawnBix} from '../support/cli.js'
import {RpcCallError} from '../support/simnode/client.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {startFaultSimulator, startTestNode} from '../support/test-node.js'

describe('test node', () => {
  test('a wallet flow: mine to maturity, receive on every address type, bump a fee, confirm', async (t) => {
    const node = await startTestNode({matureBlocks: 101})
    t.after(() => node.stop())
    assert.equal(await node.tipHeight(), 101)
    const addresses = await Promise.all((['legacy', 'p2sh-segwit', 'bech32', 'bech32m'] as const).map((type) => node.newAddress(type)))
    assert.match(addresses[0], /^[mn]/)
    assert.match(addresses[1], /^2/)
    assert.match(addresses[2], /^bcrt1q/)
    assert.match(addresses[3], /^bcrt1p/)

    const txids: string[] = []
    for (const address of addresses) txids.push(await node.send(address, 25_000))
    const last = txids[txids.length - 1]
    const bumped = await node.bumpFee(last)
    assert.notEqual(bumped, last)
    const mempool = await node.rpc<string[]>('getrawmempool')
    assert.deepEqual(new Set(mempool), new Set([...txids.slice(0, -1), bumped]))

    const [hash] = await node.mine(1)
    assert.equal(await node.tipHash(), hash)
    assert.deepEqual(await node.rpc('getrawmempool'), [])
    const block = await node.rpc<{tx: string[]}>('getblock', [hash, 1])
    assert.equal(block.tx.length, 5)
  })

  test('invalidate and reconsider move the tip', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    const hashes = await node.mine(3)
    await node.invalidate(hashes[1])
    assert.equal(await node.tipHeight(), 1)
    await node.reconsider(hashes[1])
    assert.equal(await node.tipHash(), hashes[2])
  })

  test('the recorded chain loads before its reorg and then takes the reorg', async (t) => {
    const node = await startTestNode({fixtureChain: 'before-reorg'})
    t.after(() => node.stop())
    const fixture = readFixtureChain()
    assert.equal(await node.tipHash(), fixture.stale[2].hash)
    await node.applyFixtureReorg()
    assert.equal(await node.tipHash(), fixture.tip)
    assert.deepEqual(new Set(await node.rpc<string[]>('getrawmempool')), new Set(fixture.mempool.map((m) => m.txid)))
    const tips = await node.rpc<{status: string}[]>('getchaintips')
    assert.deepEqual(tips.map((tip) => tip.status), ['active', 'valid-fork'])
  })

  test('cliArgs name the datadir, the network and the port; errors carry Core\'s code', async (t) => {
    const node = await startTestNode({rest: false})
    t.after(() => node.stop())
    assert.deepEqual(node.cliArgs(), ['--datadir', node.datadir, '--network', 'regtest', '--rpcport', String(node.rpcPort)])
    assert.equal(node.cookiePath, `${node.datadir}/regtest/.cookie`)
    assert.equal(node.rpcUrl, `http://127.0.0.1:${node.rpcPort}`)
    await assert.rejects(node.rpc('getblockhash', [99]), (err: unknown) => err instanceof RpcCallError && err.code === -8)
    const rest = await fetch(`${node.rpcUrl}/rest/chaininfo.json`)
    assert.equal(rest.status, 404, 'REST is off unless asked for')
  })

  test('restart keeps the port and hands out a new cookie', async (t) => {
    // (on a real bitcoind too: it takes a few seconds)
    const node = await startTestNode()
    t.after(() => node.stop())
    const port = node.rpcPort
    await node.mine(2)
    const cookie = readFileSync(node.cookiePath, 'utf8')
    await node.restart()
    assert.equal(node.rpcPort, port)
    assert.notEqual(readFileSync(node.cookiePath, 'utf8'), cookie, 'a new cookie')
    assert.equal(await node.tipHeight(), 2)
  })

  test('fault switches are there on the simulator, asked for whatever BITCOIND says', async (t) => {
    const node = await startFaultSimulator()
    t.after(() => node.stop())
    node.sim.faults.warmup({requests: 1})
    await assert.rejects(node.rpc('getblockcount'), (err: unknown) => err instanceof RpcCallError && err.code === -28)
    assert.equal(await node.rpc('getblockcount'), 0)
  })
})

describe('the real-node path, driven through a stand-in bitcoind binary', () => {
  test('start, wallet, fixture chain with its reorg (and the restart it takes), stop and clean up', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fake-bitcoind-'))
    t.after(() => rmSync(dir, {recursive: true, force: true}))
    const binary = join(dir, 'bitcoind')
    const script = join(REPO_ROOT, 'test', 'support', 'simnode', 'fake-bitcoind.ts')
    writeFileSync(binary, `#!/bin/sh\ncd '${REPO_ROOT}' && exec '${process.execPath}' --import tsx '${script}' "$@"\n`)
    chmodSync(binary, 0o755)

    const node = await startTestNode({bitcoind: binary, fixtureChain: 'before-reorg'})
    t.after(() => node.stop())
    assert.equal(node.kind, 'bitcoind')
    assert.equal(node.supportsFaults, false)
    assert.equal(node.sim, undefined)
    const fixture = readFixtureChain()
    assert.equal(await node.tipHash(), fixture.stale[2].hash)
    await node.applyFixtureReorg()
    assert.equal(await node.tipHash(), fixture.tip)
    assert.deepEqual(new Set(await node.rpc<string[]>('getrawmempool')), new Set(fixture.mempool.map((m) => m.txid)))
    const tips = await node.rpc<{status: string}[]>('getchaintips')
    assert.deepEqual(tips.map((tip) => tip.status), ['active', 'valid-fork'], 'the restart kept the stale branch')
    const [hash] = await node.mine(1)
    assert.equal(await node.tipHash(), hash)
    assert.deepEqual(await node.rpc('getrawmempool'), [])
    await node.stop()
    assert.equal(existsSync(node.datadir), false, 'the datadir is deleted')
  })
})

describe('running the CLI', () => {
  test('runBix reports the exit code and output of the built CLI, without colour', async () => {
    const result = await runBix(['--version'], {timeoutMs: 30_000})
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^bix\/\d+\.\d+\.\d+/)
    assert.equal(result.timedOut, false)
    assert.doesNotMatch(result.stdout, /\u001b\[/, 'NO_COLOR=1 is set')
  })

  test('spawnBix exposes output as it arrives and can be killed', async () => {
    const running = spawnBix(['--version'], {timeoutMs: 30_000})
    assert.match(await running.waitFor(/bix\//, 'stdout'), /bix\//)
    const result = await running.done
    assert.equal(result.code, 0)
  })
})
