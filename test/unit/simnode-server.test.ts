/**
 * The simulator's HTTP server answers like bitcoind's: cookie and password
 * auth, JSON-RPC 1.x and 2.0 status codes, batches and notifications, REST
 * on or off — and every fault switch does what a test expects of it, while
 * the counters record what the client asked for.
 */
import assert from 'node:assert/strict'
import {readFileSync, statSync} from 'node:fs'
import {connect} from 'node:net'
import {describe, test} from 'node:test'

import {basicAuth, httpRequest, TestRpcClient} from '../support/simnode/client.js'
import {Simulator, type SimulatorOptions} from '../support/simnode/simulator.js'

async function startSim(t: {after: (fn: () => Promise<void>) => void}, opts: SimulatorOptions = {}) {
  const sim = await Simulator.start({blockFiles: false, authFailureDelayMs: 0, ...opts})
  t.after(() => sim.stop())
  return sim
}

/** POST a JSON body with the current cookie; returns status, headers and parsed-or-raw body. */
async function post(sim: Simulator, body: unknown, opts: {raw?: string; path?: string; auth?: string} = {}) {
  const answer = await httpRequest({
    port: sim.port,
    method: 'POST',
    path: opts.path ?? '/',
    headers: {authorization: opts.auth ?? basicAuth({cookiePath: sim.cookiePath})},
    body: opts.raw ?? JSON.stringify(body),
  })
  const text = answer.body.toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return {status: answer.status, headers: answer.headers, text, json: json as Record<string, unknown> & unknown[]}
}

const v1 = (method: string, params: unknown = [], id: unknown = 1) => ({jsonrpc: '1.0', id, method, params})
const v2 = (method: string, params: unknown = [], id: unknown = 1) => ({jsonrpc: '2.0', id, method, params})

describe('authentication', () => {
  test('the cookie is __cookie__:<64 hex>, mode 0600, under <datadir>/regtest', async (t) => {
    const sim = await startSim(t)
    assert.equal(sim.cookiePath, `${sim.datadir}/regtest/.cookie`)
    assert.match(readFileSync(sim.cookiePath, 'utf8'), /^__cookie__:[0-9a-f]{64}$/)
    assert.equal(statSync(sim.cookiePath).mode & 0o777, 0o600)
  })

  test('no or wrong credentials get 401 with an empty body and WWW-Authenticate', async (t) => {
    const sim = await startSim(t)
    for (const auth of [undefined, basicAuth({user: '__cookie__', password: '00'.repeat(32)})]) {
      const answer = await httpRequest({port: sim.port, method: 'POST', headers: auth ? {authorization: auth} : {}, body: JSON.stringify(v1('getblockcount'))})
      assert.equal(answer.status, 401)
      assert.equal(answer.body.length, 0)
      assert.equal(answer.headers['www-authenticate'], 'Basic realm="jsonrpc"')
    }
  })

  test('Core waits before refusing bad credentials', async (t) => {
    const sim = await startSim(t, {authFailureDelayMs: 250})
    const started = Date.now()
    const answer = await post(sim, v1('getblockcount'), {auth: basicAuth({user: 'x', password: 'y'})})
    assert.equal(answer.status, 401)
    assert.ok(Date.now() - started >= 240)
  })

  test('a rotated cookie locks out the old one at once', async (t) => {
    const sim = await startSim(t)
    const old = basicAuth({cookiePath: sim.cookiePath})
    sim.rotateCookie()
    assert.equal((await post(sim, v1('getblockcount'), {auth: old})).status, 401)
    assert.equal((await post(sim, v1('getblockcount'))).status, 200)
  })

  test('fixed rpcuser/rpcpassword replace the cookie', async (t) => {
    const sim = await startSim(t, {auth: {user: 'alice', password: 'secret'}})
    assert.equal((await post(sim, v1('getblockcount'), {auth: basicAuth({user: 'alice', password: 'secret'})})).json.result, 0)
    assert.equal((await post(sim, v1('getblockcount'), {auth: basicAuth({user: 'alice', password: 'nope'})})).status, 401)
  })

  test('REST needs no credentials', async (t) => {
    const sim = await startSim(t)
    assert.equal((await httpRequest({port: sim.port, path: '/rest/chaininfo.json'})).status, 200)
  })
})

describe('JSON-RPC', () => {
  test('1.x errors are HTTP 500 (404 for an unknown method) with result, error and id', async (t) => {
    const sim = await startSim(t)
    const notFound = await post(sim, v1('nosuchmethod'))
    assert.equal(notFound.status, 404)
    assert.deepEqual(notFound.json, {result: null, error: {code: -32601, message: 'Method not found'}, id: 1})
    const outOfRange = await post(sim, {method: 'getblockhash', params: [5], id: 'x'})
    assert.equal(outOfRange.status, 500)
    assert.equal(outOfRange.text, '{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":"x"}\n')
  })

  test('2.0 errors are HTTP 200 with only error; successes have only result', async (t) => {
    const sim = await startSim(t)
    const bad = await post(sim, v2('getblockhash', [5]))
    assert.equal(bad.status, 200)
    assert.deepEqual(bad.json, {jsonrpc: '2.0', error: {code: -8, message: 'Block height out of range'}, id: 1})
    assert.equal((await post(sim, v2('getblockcount'))).text, '{"jsonrpc":"2.0","result":0,"id":1}\n')
  })

  test('a 2.0 notification is executed and answered 204 with no body', async (t) => {
    const sim = await startSim(t)
    const answer = await post(sim, {jsonrpc: '2.0', method: 'getblockcount', params: []})
    assert.equal(answer.status, 204)
    assert.equal(answer.text, '')
    assert.equal(sim.calls('getblockcount'), 1)
  })

  test('batches are always 200, one reply per call in order, notifications left out', async (t) => {
    const sim = await startSim(t)
    const answer = await post(sim, [v2('getblockcount', [], 'a'), {jsonrpc: '2.0', method: 'getblockcount'}, v1('nosuchmethod', [], 'b'), 7])
    assert.equal(answer.status, 200)
    assert.deepEqual(answer.json, [
      {jsonrpc: '2.0', result: 0, id: 'a'},
      {result: null, error: {code: -32601, message: 'Method not found'}, id: 'b'},
      {result: null, error: {code: -32600, message: 'Invalid Request object'}, id: 'b'},
    ])
    assert.deepEqual((await post(sim, [])).json, [])
    assert.equal((await post(sim, [{jsonrpc: '2.0', method: 'getblockcount'}])).status, 204)
  })

  test('unparsable bodies are 500 Parse error; malformed requests 400', async (t) => {
    const sim = await startSim(t)
    const parse = await post(sim, undefined, {raw: '{"method":'})
    assert.equal(parse.status, 500)
    assert.equal(parse.text, '{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}\n')
    assert.equal((await post(sim, {jsonrpc: 2, method: 'getblockcount', id: 1})).status, 400)
    const unsupported = await post(sim, {jsonrpc: '3.0', method: 'getblockcount', id: 1})
    assert.equal(unsupported.status, 400)
    assert.equal((unsupported.json.error as {message: string}).message, 'JSON-RPC version not supported')
    assert.equal((await post(sim, {id: 1, method: 42})).status, 400)
  })

  test('named parameters, wrong counts and wrong types are refused as Core refuses them', async (t) => {
    const sim = await startSim(t)
    assert.equal((await post(sim, v2('getblockhash', {height: 0}))).json.result, sim.chain.at(0)!.hash)
    const unknownName = await post(sim, v2('getblockhash', {depth: 0}))
    assert.deepEqual(unknownName.json.error, {code: -8, message: 'Unknown named parameter depth'})
    const tooMany = await post(sim, v2('getblockcount', [1]))
    assert.equal((tooMany.json.error as {code: number}).code, -1)
    const wrongType = await post(sim, v2('getblockheader', [sim.chain.at(0)!.hash, 'yes']))
    assert.deepEqual(wrongType.json.error, {
      code: -3,
      message: 'Wrong type passed:\n{\n    "Position 2 (verbose)": "JSON value of type string is not of expected type bool"\n}',
    })
    const badHash = await post(sim, v2('getblockheader', ['zz'.repeat(32)]))
    assert.deepEqual(badHash.json.error, {code: -8, message: `blockhash must be hexadecimal string (not '${'zz'.repeat(32)}')`})
  })

  test('non-POST JSON-RPC is 405; unknown paths are 404 with an empty body', async (t) => {
    const sim = await startSim(t)
    const get = await httpRequest({port: sim.port, path: '/'})
    assert.equal(get.status, 405)
    assert.equal(get.body.toString(), 'JSONRPC server handles only POST requests')
    const unknown = await httpRequest({port: sim.port, path: '/nothing', method: 'POST', body: '{}'})
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.length, 0)
  })

  test('a node older than 28.0 answers "jsonrpc":"2.0" requests 1.x-style', async (t) => {
    const sim = await startSim(t, {version: 270000})
    const answer = await post(sim, v2('getblockhash', [5]))
    assert.equal(answer.status, 500)
    assert.deepEqual(answer.json, {result: null, error: {code: -8, message: 'Block height out of range'}, id: 1})
  })

  test('stop answers, then the node goes away and its cookie with it', async (t) => {
    const sim = await startSim(t)
    assert.equal((await post(sim, v1('stop'))).json.result, 'Bitcoin Core stopping')
    await new Promise((resolve) => setTimeout(resolve, 100))
    await assert.rejects(httpRequest({port: sim.port, path: '/rest/chaininfo.json'}), {code: 'ECONNREFUSED'})
    assert.throws(() => readFileSync(sim.cookiePath), {code: 'ENOENT'})
  })
})

describe('REST', () => {
  test('formats, errors and the disabled state', async (t) => {
    const sim = await startSim(t)
    sim.mine(3)
    const tip = sim.chain.tip
    const bin = await httpRequest({port: sim.port, path: `/rest/block/${tip.hash}.bin`})
    assert.equal(bin.headers['content-type'], 'application/octet-stream')
    assert.ok(bin.body.equals(tip.raw))
    const hex = await httpRequest({port: sim.port, path: `/rest/block/${tip.hash}.hex`})
    assert.equal(hex.body.toString(), tip.raw.toString('hex') + '\n')
    const noFormat = await httpRequest({port: sim.port, path: `/rest/block/${tip.hash}`})
    assert.equal(noFormat.status, 404)
    assert.equal(noFormat.body.toString(), 'output format not found (available: .bin, .hex, .json)\r\n')
    const badHash = await httpRequest({port: sim.port, path: '/rest/block/xyz.bin'})
    assert.equal(badHash.status, 400)
    assert.equal(badHash.body.toString(), 'Invalid hash: xyz\r\n')
    const byHeight = await httpRequest({port: sim.port, path: '/rest/blockhashbyheight/2.bin'})
    assert.ok(byHeight.body.equals(Buffer.from(sim.chain.at(2)!.hash, 'hex').reverse()), 'internal byte order')
    const headers = await httpRequest({port: sim.port, path: `/rest/headers/2/${sim.chain.at(1)!.hash}.bin`})
    assert.equal(headers.body.length, 160, 'the deprecated path form still works')
    const stale = await httpRequest({port: sim.port, path: `/rest/headers/${'ab'.repeat(32)}.json`})
    assert.equal(stale.body.toString(), '[]\n')
    const count = await httpRequest({port: sim.port, path: `/rest/headers/${tip.hash}.bin?count=2001`})
    assert.equal(count.body.toString(), 'Header count is invalid or out of acceptable range (1-2000): 2001\r\n')
    const contents = await httpRequest({port: sim.port, path: '/rest/mempool/contents.json?verbose=false&mempool_sequence=true'})
    assert.deepEqual(JSON.parse(contents.body.toString()), {txids: [], mempool_sequence: 1})

    const off = await startSim(t, {rest: false})
    const disabled = await httpRequest({port: off.port, path: '/rest/chaininfo.json'})
    assert.equal(disabled.status, 404)
    assert.equal(disabled.body.length, 0)
  })

  test('transactions from the mempool and, through the tx index, from blocks', async (t) => {
    const sim = await startSim(t)
    sim.mine(101)
    const sent = sim.send({to: sim.newAddress(), value: 9_999})
    const fromMempool = await httpRequest({port: sim.port, path: `/rest/tx/${sent.txid}.hex`})
    assert.equal(fromMempool.body.toString(), sent.hex + '\n')
    const [hash] = sim.mine(1)
    const json = JSON.parse((await httpRequest({port: sim.port, path: `/rest/tx/${sent.txid}.json`})).body.toString())
    assert.equal(json.blockhash, hash)
    const spent = JSON.parse((await httpRequest({port: sim.port, path: `/rest/spenttxouts/${hash}.json`})).body.toString())
    assert.equal(spent.length, 2)
    assert.deepEqual(spent[0], [])
    assert.equal(spent[1][0].value, 50)
  })
})

describe('faults', () => {
  test('warm-up: RPC -28 (500 in 1.x, 200 in 2.0), REST 503 text, until the request budget is spent', async (t) => {
    const sim = await startSim(t, {warmup: {requests: 3}})
    const one = await post(sim, v1('getblockcount'))
    assert.equal(one.status, 500)
    assert.deepEqual(one.json.error, {code: -28, message: 'Loading block index…'})
    const two = await post(sim, v2('nosuchmethod'))
    assert.equal(two.status, 200, '2.0 errors stay 200; warm-up comes before the method lookup')
    assert.equal((two.json.error as {code: number}).code, -28)
    const rest = await httpRequest({port: sim.port, path: '/rest/chaininfo.json'})
    assert.equal(rest.status, 503)
    assert.equal(rest.headers['content-type'], 'text/plain')
    assert.equal(rest.body.toString(), 'Service temporarily unavailable: Loading block index…\r\n')
    assert.equal((await post(sim, v1('getblockcount'))).status, 200)
  })

  test('warm-up by time ends by itself', async (t) => {
    const sim = await startSim(t)
    sim.faults.warmup({ms: 80, message: 'Verifying blocks…'})
    assert.equal(((await post(sim, v2('getblockcount'))).json.error as {message: string}).message, 'Verifying blocks…')
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal((await post(sim, v2('getblockcount'))).json.result, 0)
  })

  test('work queue full: the next N requests get 503 "Work queue depth exceeded"', async (t) => {
    const sim = await startSim(t)
    sim.faults.workQueueFull(2)
    for (let i = 0; i < 2; i++) {
      const answer = await post(sim, v1('getblockcount'))
      assert.equal(answer.status, 503)
      assert.equal(answer.text, 'Work queue depth exceeded')
    }
    assert.equal((await post(sim, v1('getblockcount'))).status, 200)
    assert.equal(sim.calls('getblockcount'), 3, 'refused requests are counted too')
  })

  test('dropped connections end without an answer', async (t) => {
    const sim = await startSim(t)
    sim.faults.dropConnections(1)
    await assert.rejects(post(sim, v1('getblockcount')), (err: NodeJS.ErrnoException) => ['ECONNRESET', 'EPIPE'].includes(err.code ?? '') || /socket hang up/.test(err.message))
    assert.equal((await post(sim, v1('getblockcount'))).status, 200)
  })

  test('slow answers take at least the configured delay', async (t) => {
    const sim = await startSim(t)
    sim.faults.slow(120)
    const started = Date.now()
    await post(sim, v1('getblockcount'))
    assert.ok(Date.now() - started >= 115)
  })

  test('corrupted bodies: cut short, garbled, or shorter than Content-Length', async (t) => {
    const sim = await startSim(t)
    sim.faults.corruptBodies(1, 'truncate')
    const cut = await post(sim, v1('getblockchaininfo'))
    assert.equal(cut.status, 200)
    assert.equal(cut.json, undefined, 'not valid JSON')
    sim.faults.corruptBodies(1, 'garble')
    assert.equal((await post(sim, v1('getblockchaininfo'))).json, undefined)
    sim.faults.corruptBodies(1, 'short')
    await assert.rejects(post(sim, v1('getblockchaininfo')))
    assert.ok((await post(sim, v1('getblockchaininfo'))).json.result)
  })

  test('wrong block: getblock and REST return a different block than asked for', async (t) => {
    const sim = await startSim(t)
    sim.mine(3)
    const tip = sim.chain.tip
    sim.faults.wrongBlocks(2)
    assert.notEqual((await post(sim, v1('getblock', [tip.hash, 0]))).json.result, tip.raw.toString('hex'))
    assert.ok(!(await httpRequest({port: sim.port, path: `/rest/block/${tip.hash}.bin`})).body.equals(tip.raw))
    assert.equal((await post(sim, v1('getblock', [tip.hash, 0]))).json.result, tip.raw.toString('hex'))
  })

  test('beyond the concurrency limit requests get 503', async (t) => {
    const sim = await startSim(t)
    sim.faults.slow(150)
    sim.faults.limitConcurrency(2)
    const answers = await Promise.all([1, 2, 3, 4].map(() => post(sim, v1('getblockcount'))))
    const statuses = answers.map((a) => a.status).sort()
    assert.deepEqual(statuses, [200, 200, 503, 503])
  })

  test('restart: connections refused while down, then the same port with a new cookie', async (t) => {
    const sim = await startSim(t)
    const port = sim.port
    const oldAuth = basicAuth({cookiePath: sim.cookiePath})
    const restarting = sim.restart({downMs: 200, warmup: {requests: 1}})
    await new Promise((resolve) => setTimeout(resolve, 50))
    await assert.rejects(
      new Promise((resolve, reject) => connect(port, '127.0.0.1').once('connect', resolve).once('error', reject)),
      {code: 'ECONNREFUSED'},
    )
    await restarting
    assert.equal(sim.port, port)
    assert.equal((await post(sim, v1('getblockcount'), {auth: oldAuth})).status, 401)
    assert.equal(((await post(sim, v2('getblockcount'))).json.error as {code: number}).code, -28)
    assert.equal((await post(sim, v2('getblockcount'))).json.result, 0)
  })

  test('counters record each call of a batch and each REST path', async (t) => {
    const sim = await startSim(t)
    await post(sim, [v1('getblockhash', [0]), v1('getblockhash', [0]), v1('getblockcount')])
    await httpRequest({port: sim.port, path: `/rest/block/${sim.chain.tip.hash}.bin`})
    await httpRequest({port: sim.port, path: '/rest/headers/1/00.bin'})
    assert.equal(sim.calls('getblockhash'), 2)
    assert.equal(sim.calls('getblockcount'), 1)
    assert.equal(sim.calls('rest/block'), 1)
    assert.equal(sim.calls('rest/headers'), 1)
    assert.deepEqual(sim.faults.log, ['getblockhash', 'getblockhash', 'getblockcount', 'rest/block', 'rest/headers'])
  })

  test('the test client reads the cookie on each call, so it follows rotations', async (t) => {
    const sim = await startSim(t)
    const rpc = new TestRpcClient(sim.port, {cookiePath: sim.cookiePath})
    sim.rotateCookie()
    assert.equal(await rpc.call('getblockcount'), 0)
  })
})
