import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {runBix} from '../support/cli.js'
import {readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * `bix status` of nodes that are not the plain regtest node: a pruned one
 * (before and after pruneblockchain), one with warnings, and two connected
 * to each other. What bix prints and its --json are checked against the
 * node's own getblockchaininfo, getnetworkinfo and getpeerinfo. Real Core
 * with BITCOIND set (-prune=1 -fastprune; two nodes joined with addnode),
 * else the simulator.
 */

const fixture = readFixtureChain()

interface StatusNode {
  pruned: boolean
  prune_height: number | null
  size_on_disk: number
  peers: {inbound: number; outbound: number}
  warnings: string[]
}

interface ChainInfo {
  pruned: boolean
  pruneheight?: number
  size_on_disk: number
  warnings: string[] | string
}

interface NetworkInfo {
  connections: number
  connections_in: number
  connections_out: number
  warnings: string[] | string
}

type Context = {after: (fn: () => void | Promise<void>) => void}

function isolated(t: Context): {env: Record<string, string>} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-status-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return {env: {BIX_DATA_DIR: dir}}
}

async function status(t: Context, node: TestNode): Promise<{human: string; json: StatusNode}> {
  const [human, json] = await Promise.all([runBix(['status', ...node.cliArgs()], isolated(t)), runBix(['status', ...node.cliArgs(), '--json'], isolated(t))])
  assert.equal(human.code, 0, human.stderr)
  assert.equal(json.code, 0, json.stderr)
  return {human: human.stdout, json: (JSON.parse(json.stdout) as {node: StatusNode}).node}
}

/** Core gives warnings as a list (or, with -deprecatedrpc=warnings, one string); the same warning often comes from both calls. */
const warningsOf = (...answers: Array<{warnings: string[] | string}>) => [
  ...new Set(answers.flatMap((a) => (typeof a.warnings === 'string' ? (a.warnings ? [a.warnings] : []) : a.warnings))),
]

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** `disk  100.7 KiB` → bytes, to the display's precision */
function diskBytes(human: string): {bytes: number; precision: number} {
  const m = /^disk +([\d.]+) (B|KiB|MiB|GiB)$/m.exec(human)
  assert.ok(m, human)
  const scale = 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(m[2])
  return {bytes: Number(m[1]) * scale, precision: m[2] === 'B' ? 0 : 0.05 * scale}
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** `addnode <b> onetry` from a (real Core), or the simulator's stand-in for it; waits until both ends have finished the handshake. */
async function connect(a: TestNode, b: TestNode): Promise<void> {
  if (a.sim && b.sim) {
    a.sim.connectPeer(b.sim)
  } else {
    await a.rpc('addnode', [`127.0.0.1:${b.p2pPort}`, 'onetry'])
  }
  const handshaken = async (node: TestNode) => (await node.rpc<Array<{version: number}>>('getpeerinfo')).some((p) => p.version > 0) || undefined
  await waitFor('a connection between the two nodes', async () => ((await handshaken(a)) && (await handshaken(b))) || undefined)
}

describe('bix status of pruned, warning and connected nodes', () => {
  test('a pruned node: "pruned yes, blocks from N on" and --json pruneHeight follow getblockchaininfo, before and after pruneblockchain', async (t) => {
    // a pruned Core cannot keep -txindex; -fastprune's small block files let pruneblockchain delete some on a short chain
    const node = await startTestNode({sim: {prune: true}, bitcoindOptions: {txindex: false, args: ['-prune=1', '-fastprune']}})
    t.after(() => node.stop())

    const fresh = await node.rpc<ChainInfo>('getblockchaininfo')
    assert.equal(fresh.pruned, true)
    const before = await status(t, node)
    assert.match(before.human, new RegExp(`^pruned +yes, blocks from ${fresh.pruneheight} on$`, 'm'))
    assert.equal(before.json.pruned, true)
    assert.equal(before.json.prune_height, fresh.pruneheight)

    // Core never prunes the last 288 blocks; 600 blocks fill a few -fastprune files. Mined to an address outside the wallet: fast
    await node.mine(600, fixture.miner)
    const last = await node.rpc<number>('pruneblockchain', [300])
    const pruned = await node.rpc<ChainInfo>('getblockchaininfo')
    assert.ok(pruned.pruneheight! > 0, `pruneblockchain removed blocks up to ${last}`)
    assert.equal(pruned.pruneheight, last + 1)

    const after = await status(t, node)
    assert.match(after.human, new RegExp(`^pruned +yes, blocks from ${pruned.pruneheight} on$`, 'm'))
    assert.match(after.human, /^blocks +600 of 600 headers, synced$/m)
    assert.equal(after.json.pruned, true)
    assert.equal(after.json.prune_height, pruned.pruneheight)
    const nowOnDisk = (await node.rpc<ChainInfo>('getblockchaininfo')).size_on_disk
    assert.equal(after.json.size_on_disk, nowOnDisk)
    const disk = diskBytes(after.human)
    assert.ok(Math.abs(disk.bytes - nowOnDisk) <= disk.precision, `disk ${disk.bytes} vs the node's ${nowOnDisk}`)
  })

  test('the node\'s warnings, from getblockchaininfo and getnetworkinfo, are each one "warning" line and listed once in --json', async (t) => {
    const node = await startTestNode()
    t.after(() => node.stop())
    const expected = warningsOf(await node.rpc<ChainInfo>('getblockchaininfo'), await node.rpc<NetworkInfo>('getnetworkinfo'))
    const s = await status(t, node)
    assert.deepEqual(s.json.warnings, expected)
    const lines = s.human.split('\n').filter((line) => line.startsWith('warning'))
    assert.deepEqual(lines, expected.map((w) => `warning     ${w}`))
  })

  test('several warnings at once are all shown, in the node\'s order (simulator: Core raises these only from what its peers and the network do)', async (t) => {
    const node = await startTestNode({simulator: true})
    t.after(() => node.stop())
    node.sim!.info.warnings = [
      'This is a pre-release test build - use at your own risk - do not use for mining or merchant applications',
      'Unknown new rules activated (versionbit 28)',
      'Your computer\'s date and time appear to be more than 10 minutes out of sync with the network, this may lead to consensus failure.',
    ]
    const expected = warningsOf(await node.rpc<ChainInfo>('getblockchaininfo'), await node.rpc<NetworkInfo>('getnetworkinfo'))
    assert.equal(expected.length, 3)
    const s = await status(t, node)
    assert.deepEqual(s.json.warnings, expected)
    for (const [i, warning] of expected.entries()) {
      const lines = s.human.split('\n')
      const at = lines.findIndex((line) => new RegExp(`^warning +${escape(warning)}$`).test(line))
      assert.ok(at >= 0, `"${warning}" in:\n${s.human}`)
      if (i > 0) assert.ok(at > lines.findIndex((line) => line.endsWith(expected[i - 1])), 'in the node\'s order')
    }
  })

  test('two connected nodes: the one that dialled shows "0 in, 1 out", the other "1 in, 0 out", as getnetworkinfo and getpeerinfo say', async (t) => {
    const options = {bitcoindOptions: {listen: true}}
    const [a, b] = await Promise.all([startTestNode(options), startTestNode(options)])
    t.after(() => Promise.all([a.stop(), b.stop()]))
    const alone = await status(t, a)
    assert.match(alone.human, /^peers +0 in, 0 out$/m)
    assert.deepEqual(alone.json.peers, {inbound: 0, outbound: 0})

    await connect(a, b)
    for (const [node, inbound, outbound] of [
      [a, 0, 1],
      [b, 1, 0],
    ] as const) {
      const s = await status(t, node)
      const info = await node.rpc<NetworkInfo>('getnetworkinfo')
      const peers = await node.rpc<Array<{inbound: boolean}>>('getpeerinfo')
      assert.deepEqual([info.connections_in, info.connections_out], [inbound, outbound], 'the node itself says so')
      assert.deepEqual([peers.filter((p) => p.inbound).length, peers.filter((p) => !p.inbound).length], [inbound, outbound])
      assert.match(s.human, new RegExp(`^peers +${inbound} in, ${outbound} out$`, 'm'))
      assert.deepEqual(s.json.peers, {inbound, outbound})
    }
  })
})
