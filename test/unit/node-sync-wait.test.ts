import assert from 'node:assert/strict'
import {after, describe, test} from 'node:test'

import {BixError} from '../../src/lib/errors.js'
import {makeEndpoint} from '../../src/lib/node/config.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import {type SyncState, describeSyncState, waitForSync} from '../../src/lib/node/sync-wait.js'
import type {NodeClient, NodeConfig} from '../../src/lib/node/types.js'
import {type TinyNode, closedPort, replay, rpcFixture, rpcMethod, startTinyNode} from '../support/tiny-node.js'

const servers: TinyNode[] = []
const clients: NodeClient[] = []
after(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all(servers.map((s) => s.close()))
})

function clientFor(port: number, config: Partial<NodeConfig> = {}, signal?: AbortSignal): NodeClient {
  const client = createNodeClient(
    {
      network: 'regtest',
      networkExplicit: true,
      datadir: '/nonexistent',
      netDatadir: '/nonexistent/regtest',
      endpoints: [makeEndpoint('127.0.0.1', port)],
      credentials: {kind: 'password', user: 'u', password: 'p', source: 'flags'},
      ...config,
    },
    {parallelism: 2, connectTimeoutMs: 500, requestTimeoutMs: 2000, signal},
  )
  clients.push(client)
  return client
}

/** getblockchaininfo as the recorded node answered it, with sync fields changed. */
function chainInfo(fields: {blocks: number; headers: number; initialblockdownload: boolean; verificationprogress: number}) {
  const fixture = rpcFixture('getblockchaininfo')
  const body = fixture.body as {result: object}
  return {...fixture, body: {...body, result: {...body.result, ...fields}}}
}

const syncing = chainInfo({blocks: 10, headers: 20, initialblockdownload: true, verificationprogress: 0.5})
const synced = chainInfo({blocks: 20, headers: 20, initialblockdownload: false, verificationprogress: 1})

describe('waiting for the node to sync', () => {
  test('through a refused connection, warm-up and initial block download until synced', async () => {
    const port = await closedPort()
    const client = clientFor(port)
    const states: SyncState[] = []
    let chainCalls = 0
    const waiting = waitForSync(client, {intervalMs: 40, callTimeoutMs: 1000, onState: (s) => states.push(s)})
    // bitcoind comes up a little later, warms up, syncs
    await new Promise((r) => setTimeout(r, 150))
    servers.push(
      await startTinyNode((req, res) => {
        const method = rpcMethod(req)
        if (method === 'getblockchaininfo') chainCalls++
        if (chainCalls <= 2) return replay(res, rpcFixture('err-warmup'), req)
        if (method === 'getnetworkinfo') return replay(res, rpcFixture('getnetworkinfo'), req)
        replay(res, chainCalls <= 4 ? syncing : synced, req)
      }, port),
    )
    const {info, waitedMs} = await waiting
    assert.deepEqual([info.blocks, info.headers, info.initialBlockDownload], [20, 20, false])
    assert.ok(waitedMs >= 150)
    const phases = states.map((s) => (s.phase === 'waiting' ? s.reason.kind : s.phase))
    const firstOf = (p: string) => (phases as string[]).indexOf(p)
    assert.ok(firstOf('refused') === 0, phases.join(' '))
    assert.ok(firstOf('refused') < firstOf('warmup') && firstOf('warmup') < firstOf('syncing') && firstOf('syncing') < firstOf('synced'), phases.join(' '))
    assert.equal(phases.at(-1), 'synced')
    assert.deepEqual(
      states.map((s) => describeSyncState(s)).filter((text, i, all) => all.indexOf(text) === i),
      ['node unreachable: connection refused', 'warming up: Loading P2P addresses…', 'syncing 10/20 blocks (50.0%)', 'synced at height 20'],
    )
  })

  test('--timeout ends the wait with exit code 4 and says what it was waiting for', async () => {
    const node = await startTinyNode((req, res) => replay(res, rpcMethod(req) === 'getnetworkinfo' ? rpcFixture('getnetworkinfo') : syncing, req))
    servers.push(node)
    const started = Date.now()
    const err = await waitForSync(clientFor(node.port), {intervalMs: 50, timeoutMs: 300, callTimeoutMs: 1000}).catch((e: unknown) => e)
    assert.ok(err instanceof BixError && err.kind === 'TimedOut', String(err))
    assert.equal(err.exitCode, 4)
    assert.match(err.message, new RegExp(`^timed out after .* waiting for bitcoind at http://127\\.0\\.0\\.1:${node.port} to sync; last: syncing 10/20 blocks \\(50\\.0%\\)$`))
    // a ratio, not a clock reading: the wait ends within five times its 300 ms timeout
    assert.ok(Date.now() - started < 5 * 300, `${Date.now() - started} ms`)
  })

  test('a node that never comes up: the timeout message says it is unreachable', async () => {
    const err = await waitForSync(clientFor(await closedPort()), {intervalMs: 50, timeoutMs: 200, callTimeoutMs: 1000}).catch((e: unknown) => e)
    assert.ok(err instanceof BixError && err.kind === 'TimedOut')
    assert.match(err.message, /last: node unreachable: connection refused$/)
  })

  test('a node on another network ends the wait at once instead of waiting for ever', async () => {
    const node = await startTinyNode((req, res) => replay(res, rpcFixture(rpcMethod(req) === 'getnetworkinfo' ? 'getnetworkinfo' : 'getblockchaininfo'), req))
    servers.push(node)
    const err = await waitForSync(clientFor(node.port, {network: 'signet'}), {intervalMs: 50, callTimeoutMs: 1000}).catch((e: unknown) => e)
    assert.ok(err instanceof BixError && err.kind === 'WrongNetwork')
  })

  test('Ctrl-C ends the wait promptly', async () => {
    const interrupt = new AbortController()
    const reason = new BixError('Interrupted', 'interrupted by SIGINT', {exitCode: 130})
    const client = clientFor(await closedPort(), {}, interrupt.signal)
    setTimeout(() => interrupt.abort(reason), 100)
    const started = Date.now()
    const err = await waitForSync(client, {intervalMs: 10_000, callTimeoutMs: 1000, signal: interrupt.signal}).catch((e: unknown) => e)
    assert.equal(err, reason)
    // a limit the user sees: Ctrl-C (at 100 ms) answered within half a second, not at the end of the 10 s interval
    assert.ok(Date.now() - started < 600)
  })

  test('an already synced node returns on the first poll', async () => {
    const node = await startTinyNode((req, res) =>
      rpcMethod(req) === 'getnetworkinfo' ? replay(res, rpcFixture('getnetworkinfo'), req) : replay(res, rpcFixture('getblockchaininfo'), req),
    )
    servers.push(node)
    const {info} = await waitForSync(clientFor(node.port), {intervalMs: 5000, callTimeoutMs: 1000})
    assert.equal(info.blocks, 147)
    assert.equal(node.requests.length, 2, 'getblockchaininfo and getnetworkinfo, once')
  })
})
