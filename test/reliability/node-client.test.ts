import assert from 'node:assert/strict'
import {after, describe, test} from 'node:test'

import {BixError} from '../../src/lib/errors.js'
import {isLoopbackHost, makeEndpoint} from '../../src/lib/node/config.js'
import {TransientFailure} from '../../src/lib/node/failures.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import type {ClientOptions, NodeClient, NodeCredentials} from '../../src/lib/node/types.js'
import {type Handler, type TinyNode, closedPort, result, startTinyNode} from '../support/tiny-node.js'

/**
 * The RPC core under the faults the CLI suite found it weak against: JSON
 * answers damaged on the way, a node that is down for a second or two, and
 * credentials about to cross a network in clear text.
 */

const PASSWORD: NodeCredentials = {kind: 'password', user: 'bix', password: 'reliability-secret-9f3', source: 'flags'}
const servers: TinyNode[] = []
const clients: NodeClient[] = []
after(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all(servers.map((s) => s.close()))
})

async function server(handler: Handler, port = 0): Promise<TinyNode> {
  const s = await startTinyNode(handler, port)
  servers.push(s)
  return s
}

function client(hosts: Array<[string, number]>, options: Partial<ClientOptions> = {}): NodeClient {
  const c = createNodeClient(
    {network: 'regtest', networkExplicit: true, datadir: '/nonexistent', netDatadir: '/nonexistent', endpoints: hosts.map(([h, p]) => makeEndpoint(h, p)), credentials: PASSWORD},
    {parallelism: 2, connectTimeoutMs: 300, requestTimeoutMs: 2000, ...options},
  )
  clients.push(c)
  return c
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  assert.fail('expected a rejection')
}

/** Sends JSON cut off in the middle, with a Content-Length that matches what is sent (a proxy that lost the rest). */
function cutShort(res: import('node:http').ServerResponse): void {
  const body = '{"result":{"chain":"regtest","blo'
  res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)})
  res.end(body)
}

describe('damaged JSON answers', () => {
  test('a truncated answer to a read-only call is retried, and the retry answers', async () => {
    const s = await server((req, res, n) => (n <= 2 ? cutShort(res) : result(res, req, 147)))
    assert.equal(await client([['127.0.0.1', s.port]]).call('getblockcount'), 147)
    assert.equal(s.requests.length, 3)
  })

  test('a batch answered with garbage is retried as a whole', async () => {
    const s = await server((req, res, n) => {
      if (n === 1) return cutShort(res)
      const calls = req.json as Array<{id: number}>
      res.writeHead(200, {'Content-Type': 'application/json'})
      res.end(JSON.stringify(calls.map((c) => ({jsonrpc: '2.0', id: c.id, result: c.id}))))
    })
    const answers = await client([['127.0.0.1', s.port]]).batch([{method: 'getblockhash', params: [1]}, {method: 'getblockhash', params: [2]}])
    assert.equal(answers.length, 2)
    assert.ok(answers.every((a) => a.ok))
  })

  test('a node whose answers are always damaged: NodeUnreachable (exit 3) saying so, after a few seconds of retries', async () => {
    const s = await server((_req, res) => cutShort(res))
    const started = Date.now()
    const err = await rejection(client([['127.0.0.1', s.port]]).call('getblockchaininfo'))
    assert.ok(err instanceof BixError && err.kind === 'NodeUnreachable', String(err))
    assert.equal(err.exitCode, 3)
    assert.equal(err.message, `bitcoind did not answer getblockchaininfo: 127.0.0.1:${s.port} (HTTP 200 with malformed JSON)`)
    assert.ok(s.requests.length >= 5, `${s.requests.length} attempts`)
    assert.ok(Date.now() - started < 6000)
  })

  test('a damaged answer to sendrawtransaction is not repeated: its outcome is unknown, and the error says it may have run', async () => {
    const s = await server((_req, res) => cutShort(res))
    const err = await rejection(client([['127.0.0.1', s.port]]).call('sendrawtransaction', ['00']))
    assert.equal(s.requests.length, 1, 'sent once')
    assert.ok(err instanceof BixError && err.cause instanceof TransientFailure, String(err))
    assert.equal(err.cause.mayHaveRun, true, 'the caller (broadcast) must look the transaction up')
  })
})

describe('a node that is down for a moment', () => {
  test('refused for 1.5 s, then listening: a call with retryForMs 0 still gets its answer', async () => {
    // with full jitter the five attempts could all fit in a few milliseconds; the waits now add up to 1.875 s at least
    for (let round = 0; round < 2; round++) {
      const port = await closedPort()
      const call = client([['127.0.0.1', port]]).call('getblockcount')
      await new Promise((resolve) => setTimeout(resolve, 1500))
      await server((req, res) => result(res, req, round), port)
      assert.equal(await call, round)
    }
  })
})

describe('credentials in clear text to another machine', () => {
  test('loopback is 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost; everything else is another machine', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1', 'localhost', 'LocalHost.', 'node.localhost']) {
      assert.equal(isLoopbackHost(host), true, host)
    }
    for (const host of ['192.0.2.1', '10.0.0.5', '128.0.0.1', '::2', 'fe80::1', '::ffff:10.0.0.1', 'example.com', 'localhost.example.com', 'mynode']) {
      assert.equal(isLoopbackHost(host), false, host)
    }
  })

  test('one warning per client, before the first request to a remote endpoint, whatever happens to the requests; none for loopback', async () => {
    const warnings: string[] = []
    const onWarning = (line: string) => warnings.push(line)
    const local = await server((req, res) => result(res, req, 1))
    const c = client([['127.0.0.1', local.port]], {onWarning})
    await c.call('getblockcount')
    await c.call('getblockcount')
    assert.deepEqual(warnings, [])

    const port = await closedPort()
    // TEST-NET-1: refused or unreachable, never answered; the warning comes first all the same
    const remote = client([['192.0.2.1', port], ['localhost', port]], {onWarning})
    await rejection(remote.call('getblockcount', [], {retry: false}))
    await rejection(remote.call('getbestblockhash', [], {retry: false}))
    assert.equal(warnings.length, 1, warnings.join('\n'))
    assert.equal(
      warnings[0],
      `sending RPC credentials in clear text to 192.0.2.1:${port}, which is not this machine (bitcoind's RPC is plain HTTP); reach a remote node through an SSH tunnel, a VPN or WireGuard`,
    )
    assert.doesNotMatch(warnings[0], new RegExp(PASSWORD.password))
  })
})
