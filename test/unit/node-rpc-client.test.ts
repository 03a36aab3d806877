import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {BixError, RpcError} from '../../src/lib/errors.js'
import {makeEndpoint, parseRpcUrl} from '../../src/lib/node/config.js'
import {transientReason} from '../../src/lib/node/failures.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import type {ClientOptions, NodeClient, NodeConfig, NodeCredentials, RetryEvent} from '../../src/lib/node/types.js'
import {type Handler, type TinyNode, closedPort, replay, result, rpcError, rpcFixture, rpcMethod, startTinyNode} from '../support/tiny-node.js'

const PASSWORD: NodeCredentials = {kind: 'password', user: 'bix', password: 'pa55-w0rd-xyz', source: 'flags'}

let dir: string
const servers: TinyNode[] = []
const clients: NodeClient[] = []

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-rpc-client-'))
})
after(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all(servers.map((s) => s.close()))
  fs.rmSync(dir, {recursive: true, force: true})
})

async function server(handler: Handler): Promise<TinyNode> {
  const s = await startTinyNode(handler)
  servers.push(s)
  return s
}

function configFor(ports: number[], credentials: NodeCredentials = PASSWORD): NodeConfig {
  return {
    network: 'regtest',
    networkExplicit: true,
    datadir: dir,
    netDatadir: dir,
    endpoints: ports.map((port) => makeEndpoint('127.0.0.1', port)),
    credentials,
  }
}

function client(ports: number[], options: Partial<ClientOptions> = {}, credentials?: NodeCredentials): NodeClient {
  const c = createNodeClient(configFor(ports, credentials), {parallelism: 4, connectTimeoutMs: 1000, requestTimeoutMs: 5000, ...options})
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

describe('JSON-RPC on the wire', () => {
  test('requests are JSON-RPC 2.0 POSTs to / with numeric ids, Basic auth and a JSON content type', async () => {
    const s = await server((req, res) => result(res, req, 147))
    const c = client([s.port])
    assert.equal(await c.call('getblockcount'), 147)
    await c.call('getblockhash', [3])
    const [first, second] = s.requests
    assert.equal(first.method, 'POST')
    assert.equal(first.path, '/')
    assert.equal(first.headers['content-type'], 'application/json')
    assert.equal(first.auth, 'bix:pa55-w0rd-xyz')
    assert.deepEqual(Object.keys(first.json as object).sort(), ['id', 'jsonrpc', 'method', 'params'])
    assert.equal((first.json as {jsonrpc: string}).jsonrpc, '2.0')
    assert.equal(typeof (first.json as {id: unknown}).id, 'number')
    assert.deepEqual((second.json as {params: unknown}).params, [3])
    assert.notEqual((first.json as {id: number}).id, (second.json as {id: number}).id)
  })

  test('both reply styles of a real node: 1.x and 2.0 successes', async () => {
    for (const name of ['getblockcount', 'jsonrpc2-getblockcount']) {
      const s = await server((req, res) => replay(res, rpcFixture(name), req))
      assert.equal(await client([s.port]).call('getblockcount'), 147, name)
    }
  })

  test('both error styles of a real node (HTTP 404 with 1.x body, HTTP 200 with 2.0 body) are the same RpcError, not retried', async () => {
    for (const name of ['err-method-not-found', 'jsonrpc2-err-method-not-found']) {
      const s = await server((req, res) => replay(res, rpcFixture(name), req))
      const err = await rejection(client([s.port]).call('nosuchmethod'))
      assert.ok(err instanceof RpcError, `${name}: ${String(err)}`)
      assert.equal(err.code, -32_601)
      assert.equal(err.nodeMessage, 'Method not found')
      assert.equal(s.requests.length, 1, name)
    }
  })

  test('application errors reach the caller at once, with the node\'s code and text', async () => {
    const cases = [
      ['err-block-not-found', 'getblock', -5, 'Block not found'],
      ['err-height-out-of-range', 'getblockhash', -8, 'Block height out of range'],
      ['err-sendraw-decode', 'sendrawtransaction', -22, 'TX decode failed. Make sure the tx has at least one input.'],
      ['err-sendraw-already-in-chain', 'sendrawtransaction', -27, 'Transaction outputs already in utxo set'],
      ['err-tx-not-found', 'getrawtransaction', -5, 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.'],
      ['err-invalid-params', 'getblockhash', -3, undefined],
      ['err-parse', 'getblockcount', -32_700, 'Parse error'],
    ] as const
    for (const [name, method, code, message] of cases) {
      const s = await server((req, res) => replay(res, rpcFixture(name), req))
      const err = await rejection(client([s.port]).call(method, []))
      assert.ok(err instanceof RpcError, `${name}: ${String(err)}`)
      assert.equal(err.code, code, name)
      assert.equal(err.method, method)
      if (message) assert.equal(err.nodeMessage, message)
      assert.equal(s.requests.length, 1, `${name} must not be retried`)
    }
  })

  test('a batch answered out of order is matched by id; one bad item does not spoil the others', async () => {
    const s = await server((req, res) => replay(res, rpcFixture('batch'), req, {reverseBatch: true}))
    const c = client([s.port])
    const answers = await c.batch<string>([0, 1, 2, 1_000_000].map((h) => ({method: 'getblockhash', params: [h]})))
    assert.equal(answers.length, 4)
    assert.deepEqual(answers.slice(0, 3), [
      {ok: true, result: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206'},
      {ok: true, result: '2064ad149344374f48ea1a7ccaf88a22825611aade9e1177a7cd88eeb4d88ca7'},
      {ok: true, result: '77a52a670426c9b6f6ec691258470c93b0d3ec6ffbb6f2f3b387768302291840'},
    ])
    const last = answers[3]
    assert.ok(!last.ok && last.error instanceof RpcError && last.error.code === -8 && last.error.method === 'getblockhash')
    assert.equal(s.requests.length, 1)
    assert.ok(Array.isArray(s.requests[0].json))
    assert.deepEqual(c.stats().get('batch/getblockhash')?.calls, 1)
  })

  test('answers that are not JSON-RPC become clear errors', async () => {
    const html = await server((_req, res) => {
      res.writeHead(500, {'Content-Type': 'text/html'})
      res.end('<html><body>Internal Server Error</body></html>')
    })
    const err = await rejection(client([html.port]).call('getblockcount'))
    assert.ok(err instanceof BixError)
    assert.match(err.message, /answered HTTP 500 "<html><body>Internal Server Error/)

    const empty404 = await server((_req, res) => {
      res.writeHead(404)
      res.end()
    })
    const err404 = await rejection(client([empty404.port]).call('getblockcount'))
    assert.ok(err404 instanceof BixError)
    assert.match(err404.message, /HTTP 404 .*RPC port/)
  })

  test('HTTP 403 (rpcwhitelist) is a clear refusal, not retried', async () => {
    const s = await server((_req, res) => {
      res.writeHead(403)
      res.end()
    })
    const err = await rejection(client([s.port]).call('stop'))
    assert.ok(err instanceof BixError && err.kind === 'AuthFailed')
    assert.match(err.message, /HTTP 403/)
    assert.equal(s.requests.length, 1)
  })
})

describe('credentials', () => {
  test('a rotated cookie: 401, one fresh read of the cookie file, then success', async () => {
    const cookiePath = path.join(dir, 'rotating.cookie')
    let accepted = '__cookie__:' + 'a'.repeat(64)
    fs.writeFileSync(cookiePath, accepted)
    const s = await server((req, res) => {
      if (req.auth !== accepted) {
        res.writeHead(401, {'WWW-Authenticate': 'Basic realm="jsonrpc"'})
        res.end()
        return
      }
      result(res, req, 'ok')
    })
    const c = client([s.port], {}, {kind: 'cookie', path: cookiePath})
    assert.equal(await c.call('uptime'), 'ok')

    // bitcoind restarted: a new cookie of the same size, and an mtime that looks unchanged
    const {atime, mtime} = fs.statSync(cookiePath)
    accepted = '__cookie__:' + 'b'.repeat(64)
    fs.writeFileSync(cookiePath, accepted)
    fs.utimesSync(cookiePath, atime, mtime)

    assert.equal(await c.call('uptime'), 'ok')
    assert.deepEqual(
      s.requests.map((r) => r.auth?.slice(-1)),
      ['a', 'a', 'b'],
    )
  })

  test('a cookie that rotates under several requests in flight: each 401 tries the new cookie once, none fails', async () => {
    const cookiePath = path.join(dir, 'rotating-parallel.cookie')
    let accepted = '__cookie__:' + 'c'.repeat(64)
    fs.writeFileSync(cookiePath, accepted)
    let arrived = 0
    let rotate!: () => void
    const allArrived = new Promise<void>((resolve) => (rotate = resolve))
    const s = await server(async (req, res) => {
      if (req.auth === '__cookie__:' + 'c'.repeat(64) && ++arrived === 3) rotate()
      // the node restarts while the first three requests wait for their answers
      await allArrived
      if (req.auth !== accepted) {
        res.writeHead(401, {'WWW-Authenticate': 'Basic realm="jsonrpc"'})
        res.end()
        return
      }
      result(res, req, 'ok')
    })
    void allArrived.then(() => {
      accepted = '__cookie__:' + 'd'.repeat(64)
      fs.writeFileSync(cookiePath, accepted)
    })
    const c = client([s.port], {}, {kind: 'cookie', path: cookiePath})
    const answers = await Promise.all([1, 2, 3].map(() => c.call('uptime', [], {retry: false})))
    assert.deepEqual(answers, ['ok', 'ok', 'ok'])
    assert.deepEqual(
      s.requests.map((r) => r.auth?.slice(-1)).sort(),
      ['c', 'c', 'c', 'd', 'd', 'd'],
    )
  })

  test('a cookie the node keeps rejecting: AuthFailed after one retry at most, naming the file but not its content', async () => {
    const cookiePath = path.join(dir, 'stale.cookie')
    fs.writeFileSync(cookiePath, '__cookie__:deadbeefcafe0123')
    const s = await server((_req, res) => replay(res, rpcFixture('err-bad-auth'), _req))
    const err = await rejection(client([s.port], {}, {kind: 'cookie', path: cookiePath}).call('getblockcount'))
    assert.ok(err instanceof BixError && err.kind === 'AuthFailed', String(err))
    assert.equal(err.exitCode, 3)
    assert.match(err.message, new RegExp(`authorization failed: cookie file ${cookiePath} credentials were rejected by 127\\.0\\.0\\.1:${s.port}`))
    assert.ok(!err.message.includes('deadbeef'))
    assert.ok(s.requests.length <= 2, `${s.requests.length} attempts`)
  })

  test('rejected rpcuser/rpcpassword: AuthFailed naming the source, one request, no password in sight', async () => {
    const s = await server((req, res) => replay(res, rpcFixture('err-bad-auth'), req))
    const err = await rejection(client([s.port]).call('getblockcount'))
    assert.ok(err instanceof BixError && err.kind === 'AuthFailed')
    assert.match(err.message, /rpcuser\/rpcpassword from flags were rejected/)
    assert.ok(!err.message.includes(PASSWORD.password as string))
    assert.equal(s.requests.length, 1)
  })

  test('credentials inside --rpc-url are sent but appear neither in describe() nor in errors', async () => {
    const s = await server((req, res) => (req.auth === 'carol:t0p-s3cret' ? result(res, req, 1) : replay(res, rpcFixture('err-bad-auth'), req)))
    const endpoint = parseRpcUrl(`http://carol:t0p-s3cret@127.0.0.1:${s.port}`, 18_443)
    const config: NodeConfig = {...configFor([]), endpoints: [endpoint], credentials: endpoint.credentials!}
    const c = createNodeClient(config, {parallelism: 1, connectTimeoutMs: 500, requestTimeoutMs: 2000})
    clients.push(c)
    assert.equal(await c.call('getblockcount'), 1)
    assert.equal(c.describe(), `http://127.0.0.1:${s.port}`)

    const wrong = parseRpcUrl(`http://carol:wr0ng-s3cret@127.0.0.1:${s.port}`, 18_443)
    const c2 = createNodeClient({...config, endpoints: [wrong], credentials: wrong.credentials!}, {parallelism: 1, connectTimeoutMs: 500, requestTimeoutMs: 2000})
    clients.push(c2)
    const err = await rejection(c2.call('getblockcount'))
    assert.ok(err instanceof BixError && err.kind === 'AuthFailed')
    assert.match(err.message, /rpcuser\/rpcpassword from URL were rejected/)
    assert.ok(!err.message.includes('s3cret') && !c2.describe().includes('s3cret'))
  })

  test('no cookie file (bitcoind not started): AuthFailed naming the path, no request sent', async () => {
    const s = await server((req, res) => result(res, req, 1))
    const missing = path.join(dir, 'absent.cookie')
    const err = await rejection(client([s.port], {}, {kind: 'cookie', path: missing}).call('getblockcount', [], {retry: false}))
    assert.ok(err instanceof BixError && err.kind === 'AuthFailed')
    assert.match(err.message, new RegExp(`cannot read cookie file ${missing} \\(no such file\\)`))
    assert.equal(transientReason(err)?.kind, 'no-cookie', 'wait-sync treats it as "not running yet"')
    assert.equal(s.requests.length, 0)
  })
})

describe('transient failures', () => {
  test('warm-up (-28, as recorded from a starting node) is waited out', async () => {
    const s = await server((req, res, n) => (n <= 2 ? replay(res, rpcFixture('err-warmup'), req) : result(res, req, 147)))
    const retries: RetryEvent[] = []
    const c = client([s.port], {onRetry: (e) => retries.push(e)})
    assert.equal(await c.call('getblockcount'), 147)
    assert.equal(s.requests.length, 3)
    assert.equal(retries.length, 2)
    assert.equal(retries[0].reason, 'Loading P2P addresses…')
    assert.equal(retries[0].endpoint, `127.0.0.1:${s.port}`)
  })

  test('a node still warming up when retries run out says so, and wait-sync can tell why', async () => {
    const s = await server((req, res) => replay(res, rpcFixture('err-warmup'), req))
    const err = await rejection(client([s.port]).call('getblockcount', [], {retry: false}))
    assert.ok(err instanceof BixError && err.kind === 'NodeUnreachable')
    assert.match(err.message, /is still starting/)
    assert.deepEqual(transientReason(err), {kind: 'warmup', text: 'warming up: Loading P2P addresses…'})
  })

  test('a 503 storm ("Work queue depth exceeded") is ridden out with fewer requests at once', async () => {
    let storm = true
    const s = await server(async (req, res) => {
      if (storm) {
        replay(res, rpcFixture('err-work-queue'), req)
        return
      }
      await new Promise((r) => setTimeout(r, 300))
      result(res, req, 'done')
    })
    const c = client([s.port], {parallelism: 4})
    // the first four arrive together and all hit the full queue
    const gate = setInterval(() => {
      if (s.requests.length >= 4) {
        storm = false
        s.maxInFlight = 0
        clearInterval(gate)
      }
    }, 1)
    const answers = await Promise.all([1, 2, 3, 4].map(() => c.call('getblockcount')))
    clearInterval(gate)
    assert.deepEqual(answers, ['done', 'done', 'done', 'done'])
    // without the lowered limit the four retries (≤250 ms apart) would overlap their 300 ms answers
    assert.ok(s.maxInFlight <= 2, `${s.maxInFlight} requests at once after the storm`)
  })

  test('connection refused with retryForMs 0: NodeUnreachable within seconds, in bitcoin-cli\'s words', async () => {
    const port = await closedPort()
    const waits: number[] = []
    const err = await rejection(client([port], {onRetry: (e) => waits.push(e.delayMs)}).call('getblockcount'))
    assert.ok(err instanceof BixError && err.kind === 'NodeUnreachable', String(err))
    assert.equal(err.exitCode, 3)
    assert.equal(
      err.message,
      `cannot reach bitcoind at 127.0.0.1:${port} (connection refused); is it running, and is this the right --rpcport/--network?`,
    )
    // counted in the client's own backoff steps, not on the clock: a few retries, seconds of waiting in all
    assert.ok(waits.length >= 1 && waits.length <= 10, `${waits.length} retries`)
    const waited = waits.reduce((a, b) => a + b, 0)
    assert.ok(waited < 5000, `the backoff waits add up to ${waited} ms`)
  })

  test('a dead first endpoint fails over to a live one at once, which then stays preferred', async () => {
    const dead = await closedPort()
    const live = await server((req, res) => result(res, req, 7))
    const waits: number[] = []
    const c = client([dead, live.port], {onRetry: (e) => waits.push(e.delayMs)})
    assert.equal(await c.call('getblockcount'), 7)
    assert.deepEqual(waits, [0], 'one step to the next endpoint, without a backoff wait')
    assert.equal(c.describe(), `http://127.0.0.1:${live.port}`)
    assert.equal(await c.call('getblockcount'), 7)
    assert.equal(live.requests.length, 2)
  })

  test('failover works for single-attempt calls too; with every endpoint down the error names each one', async () => {
    const [a, b] = [await closedPort(), await closedPort()]
    const live = await server((req, res) => result(res, req, 8))
    assert.equal(await client([a, live.port]).call('getblockcount', [], {retry: false}), 8)
    const err = await rejection(client([a, b]).call('getblockcount', [], {retry: false}))
    assert.ok(err instanceof BixError && err.kind === 'NodeUnreachable')
    assert.match(err.message, new RegExp(`^cannot reach bitcoind at 127\\.0\\.0\\.1:${a} \\(connection refused\\), 127\\.0\\.0\\.1:${b} \\(connection refused\\);`))
  })

  test('a slow node: the request timeout ends the call, and a read is tried again', async () => {
    const s = await server(async (req, res, n) => {
      if (n === 1) return // never answers the first request
      result(res, req, 'late but fine')
    })
    const c = client([s.port], {requestTimeoutMs: 200})
    const single = await rejection(c.call('getblockcount', [], {retry: false}))
    assert.ok(single instanceof BixError && single.kind === 'NodeUnreachable')
    assert.match(single.message, /no answer to getblockcount .*no answer within 200 ms/)
    assert.equal(await c.call('getblockcount', [], {timeoutMs: 1000}), 'late but fine')
  })

  test('sendrawtransaction is not sent twice after a timeout: its outcome is unknown', async () => {
    const s = await server(() => {}) // never answers
    const c = client([s.port], {requestTimeoutMs: 150})
    const err = await rejection(c.call('sendrawtransaction', ['00']))
    assert.ok(err instanceof BixError)
    assert.equal(s.requests.length, 1)
    assert.equal(transientReason(err)?.kind, 'timeout')
  })

  test('a block whose data is not on disk yet is asked for again; pruned data is a clear refusal', async () => {
    const s = await server((req, res, n) =>
      n === 1 ? rpcError(res, req, -1, 'Block not available (not fully downloaded)') : result(res, req, '00'),
    )
    assert.equal(await client([s.port]).call('getblock', ['ab', 0]), '00')
    assert.equal(s.requests.length, 2)

    const pruned = await server((req, res) => rpcError(res, req, -1, 'Block not available (pruned data)'))
    const err = await rejection(client([pruned.port]).call('getblock', ['ab', 0]))
    assert.ok(err instanceof BixError && err.kind === 'NodeUnsupported')
    assert.match(err.message, /pruned .*prune=0/)
    assert.equal(pruned.requests.length, 1)
  })

  test('Ctrl-C ends a call in flight at once, with the signal\'s reason', async () => {
    const s = await server(() => {}) // never answers
    const interrupt = new AbortController()
    const c = client([s.port], {signal: interrupt.signal, requestTimeoutMs: 60_000})
    const reason = new BixError('Interrupted', 'interrupted by SIGINT', {exitCode: 130})
    const started = Date.now()
    setTimeout(() => interrupt.abort(reason), 50)
    assert.equal(await rejection(c.call('getblockcount')), reason)
    // a limit the user sees: Ctrl-C answered within half a second, not after the 60 s request timeout
    assert.ok(Date.now() - started < 500)
  })

  test('Ctrl-C also ends a backoff wait', async () => {
    const port = await closedPort()
    const interrupt = new AbortController()
    const c = client([port], {signal: interrupt.signal, retryForMs: 60_000})
    const reason = new BixError('Interrupted', 'interrupted by SIGINT', {exitCode: 130})
    const started = Date.now()
    setTimeout(() => interrupt.abort(reason), 300)
    assert.equal(await rejection(c.call('getblockcount')), reason)
    // a limit the user sees: Ctrl-C (at 300 ms) answered within half a second, not after the backoff
    assert.ok(Date.now() - started < 800)
  })
})

describe('REST and statistics', () => {
  test('restGet sends no credentials, returns non-2xx answers, and counts under rest/<name>', async () => {
    const s = await server((req, res) => {
      if (req.path.startsWith('/rest/block/')) {
        res.writeHead(404, {'Content-Type': 'text/plain'})
        res.end(fs.readFileSync(path.join('test/fixtures/regtest-core/rest/block-notfound.txt')))
        return
      }
      res.writeHead(200, {'Content-Type': 'application/json'})
      res.end(fs.readFileSync(path.join('test/fixtures/regtest-core/rest/chaininfo.json')))
    })
    const c = client([s.port])
    const info = await c.restGet('/rest/chaininfo.json')
    assert.equal(info.status, 200)
    assert.equal(JSON.parse(info.body.toString()).chain, 'regtest')
    const missing = await c.restGet(`/rest/block/${'0'.repeat(64)}.bin`)
    assert.equal(missing.status, 404)
    assert.equal(s.requests[0].method, 'GET')
    assert.equal(s.requests[0].headers.authorization, undefined)
    const stats = c.stats()
    assert.equal(stats.get('rest/chaininfo')?.calls, 1)
    assert.equal(stats.get('rest/block')?.calls, 1)
  })

  test('REST during warm-up (503 "Service temporarily unavailable") is waited out', async () => {
    const s = await server((_req, res, n) => {
      if (n === 1) {
        res.writeHead(503, {'Content-Type': 'text/plain'})
        res.end('Service temporarily unavailable: Loading block index…\r\n')
        return
      }
      res.writeHead(200, {'Content-Type': 'application/octet-stream'})
      res.end(Buffer.from([1, 2, 3]))
    })
    const reply = await client([s.port]).restGet('/rest/headers/abc.bin?count=1')
    assert.deepEqual([...reply.body], [1, 2, 3])
    assert.equal(s.requests.length, 2)
  })

  test('stats count calls, errors, time and bytes per method', async () => {
    const s = await server((req, res) => (rpcMethod(req) === 'getblock' ? replay(res, rpcFixture('err-block-not-found'), req) : result(res, req, 'x'.repeat(100))))
    const c = client([s.port])
    await c.call('getbestblockhash')
    await c.call('getbestblockhash')
    await rejection(c.call('getblock', ['00'.repeat(32), 0]))
    const best = c.stats().get('getbestblockhash')!
    assert.equal(best.calls, 2)
    assert.equal(best.errors, 0)
    assert.ok(best.bytesIn > 200 && best.bytesOut > 0 && best.totalMs > 0)
    assert.deepEqual([c.stats().get('getblock')?.calls, c.stats().get('getblock')?.errors], [1, 1])
  })
})
