import assert from 'node:assert/strict'
import {after, before, describe, test} from 'node:test'

import {fromDisplayHex, toDisplayHex} from '../../src/lib/chain/hashes.js'
import {NETWORKS} from '../../src/lib/chain/networks.js'
import {RestNodeChain, RpcNodeChain} from '../../src/lib/index/node-chain.js'
import {makeEndpoint} from '../../src/lib/node/config.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import type {NodeClient} from '../../src/lib/node/types.js'
import {Simulator} from '../support/simnode/simulator.js'

/**
 * Which blocks the index wants, as the node's active chain says over RPC
 * (getblockhash batches) and REST (/rest/headers walks, 2000 a request),
 * against the simulator on a chain longer than one REST answer.
 */

const signal = new AbortController().signal
let sim: Simulator
let client: NodeClient
let rpc: RpcNodeChain
let rest: RestNodeChain

before(async () => {
  sim = await Simulator.start({blockFiles: false})
  sim.mine(2100)
  client = createNodeClient(
    {
      network: 'regtest',
      networkExplicit: true,
      datadir: sim.datadir,
      netDatadir: sim.netDatadir,
      endpoints: [makeEndpoint('127.0.0.1', sim.port)],
      credentials: {kind: 'cookie', path: sim.cookiePath},
    },
    {parallelism: 4, connectTimeoutMs: 2000, requestTimeoutMs: 10_000},
  )
  rpc = new RpcNodeChain(client)
  rest = new RestNodeChain(client, fromDisplayHex(NETWORKS.regtest.genesisHash))
})

after(async () => {
  await client.close()
  await sim.stop()
})

const heightsAndHashes = (blocks: Array<{height: number; hash: Buffer}>) => blocks.map((b) => `${b.height}:${toDisplayHex(b.hash)}`)

describe('the node\'s active chain, window by window', () => {
  test('from genesis over REST, across several /rest/headers answers, equals getblockhash for every height', async () => {
    const viaRest = await rest.after(null, 2100, 5000, signal)
    assert.equal(viaRest.length, 2101)
    assert.deepEqual(viaRest.map((b) => b.height), Array.from({length: 2101}, (_, h) => h))
    assert.deepEqual(heightsAndHashes(viaRest), heightsAndHashes(await rpc.after(null, 2100, 5000, signal)))
    assert.equal(toDisplayHex(viaRest[2100].hash), sim.chain.tip.hash)
    assert.ok(sim.calls('rest/headers') >= 2)
  })

  test('after a block, up to a count and a height', async () => {
    const from = {height: 1000, hash: fromDisplayHex(sim.chain.at(1000)!.hash)}
    for (const chain of [rpc, rest]) {
      assert.deepEqual(
        (await chain.after(from, 2100, 10, signal)).map((b) => b.height),
        Array.from({length: 10}, (_, i) => 1001 + i),
      )
      assert.deepEqual(
        (await chain.after(from, 1003, 10, signal)).map((b) => b.height),
        [1001, 1002, 1003],
      )
      assert.deepEqual(await chain.after({height: 2100, hash: fromDisplayHex(sim.chain.tip.hash)}, 2100, 10, signal), [])
    }
  })

  test('after a block the node has abandoned, REST answers nothing: the sign of a reorg', async () => {
    const stale = {height: 2099, hash: fromDisplayHex(sim.chain.at(2099)!.hash)}
    const {disconnected} = sim.reorg({depth: 2})
    assert.equal(disconnected[0], toDisplayHex(stale.hash))
    assert.deepEqual(await rest.after(stale, 2101, 10, signal), [])
    // over RPC the heights exist on the new branch: the blocks simply will not link (the indexer checks)
    const viaRpc = await rpc.after(stale, 2101, 10, signal)
    assert.deepEqual(viaRpc.map((b) => b.height), [2100, 2101])
  })

  test('heights above the tip: an empty window, not an error', async () => {
    const tip = await rpc.tip(signal)
    const last = {height: tip.height, hash: tip.hash}
    assert.deepEqual(await rpc.after(last, tip.height + 50, 10, signal), [])
    await assert.rejects(rpc.hashesAt([tip.height + 1], signal), {code: -8})
  })
})
