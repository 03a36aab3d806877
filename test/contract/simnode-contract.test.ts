/**
 * The simulator answers like the recorded Bitcoin Core node: every exchange in
 * test/fixtures/regtest-core/rpc/*.json and rest/* is replayed against a
 * simulator holding the recorded chain and mempool, and the status, content
 * type and body must match — same keys and JSON types everywhere, same values
 * except the few listed below that no two nodes share (disk usage, memory
 * usage, arrival times, traffic counters, the mempool sequence).
 */
import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, test} from 'node:test'

import {regtestChain} from '../support/chain-fixtures.js'
import {basicAuth, httpRequest, type HttpAnswer} from '../support/simnode/client.js'
import {FIXTURE_DIR} from '../support/simnode/fixture-chain.js'
import {Simulator} from '../support/simnode/simulator.js'

interface RecordedExchange {
  request?: unknown
  path?: string
  status: number
  body: unknown
}

/** Values that differ between any two nodes; their type is still checked. */
const VOLATILE: Record<string, RegExp[]> = {
  // Core also counts undo (rev) files; the simulator writes blk files only
  'getblockchaininfo.json': [/^result\.size_on_disk$/],
  'getnetworkinfo.json': [/^result\.inv_buckets\.\w+\.(count_tok|size_tok)$/],
  'getmempoolinfo.json': [/^result\.usage$/],
  'getmempoolentry.json': [/^result\.time$/],
  'getrawmempool-verbose.json': [/^result\.\w+\.time$/],
  'getrawmempool-sequence.json': [/^result\.mempool_sequence$/],
  'chaininfo.json': [/^size_on_disk$/],
  'mempool-info.json': [/^usage$/],
}

/** The ordered broadcast session: a mempool entry's arrival time is the only value two runs do not share. */
const volatileInBroadcast = (name: string): RegExp[] => (/^\d+-getmempoolentry-/.test(name) ? [/^result\.time$/] : [])

/** Exchanges recorded without their request: how to provoke each one. */
const PROVOKED: Record<string, (sim: Simulator) => {body: string; auth: string}> = {
  'err-bad-auth.json': () => ({body: call('getblockcount'), auth: basicAuth({user: '__cookie__', password: 'wrong'})}),
  'err-parse.json': (sim) => ({body: '{"method": "getblockcount", ', auth: basicAuth({cookiePath: sim.cookiePath})}),
  'err-warmup.json': (sim) => {
    sim.faults.warmup({message: 'Loading P2P addresses…', requests: 1})
    return {body: JSON.stringify({jsonrpc: '1.0', id: 1, method: 'getblockcount', params: []}), auth: basicAuth({cookiePath: sim.cookiePath})}
  },
  'err-work-queue.json': (sim) => {
    sim.faults.workQueueFull(1)
    return {body: call('getblockcount'), auth: basicAuth({cookiePath: sim.cookiePath})}
  },
}

const call = (method: string, params: unknown[] = []) => JSON.stringify({jsonrpc: '1.0', id: 'fx', method, params})

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)

/** Same keys and types recursively; same values unless the path is volatile. */
function assertSameShape(expected: unknown, actual: unknown, volatile: RegExp[], path = ''): void {
  const where = path || '(root)'
  assert.equal(typeOf(actual), typeOf(expected), `${where}: type`)
  if (Array.isArray(expected)) {
    const got = actual as unknown[]
    assert.equal(got.length, expected.length, `${where}: array length`)
    expected.forEach((item, i) => assertSameShape(item, got[i], volatile, `${path}[${i}]`))
  } else if (expected !== null && typeof expected === 'object') {
    const exp = expected as Record<string, unknown>
    const got = actual as Record<string, unknown>
    assert.deepEqual(Object.keys(got).sort(), Object.keys(exp).sort(), `${where}: keys`)
    for (const key of Object.keys(exp)) assertSameShape(exp[key], got[key], volatile, path ? `${path}.${key}` : key)
  } else if (!volatile.some((re) => re.test(path))) {
    assert.equal(actual, expected, `${where}: value`)
  }
}

let sim: Simulator

before(async () => {
  sim = await Simulator.start({fixture: 'after-reorg', authFailureDelayMs: 0})
})

after(async () => {
  await sim.stop()
})

/** Exchanges recorded from a node started with that option (txospenderindex-*.json: -txospenderindex), replayed against a simulator with it. */
const WITH_OPTION = /^txospenderindex-/

describe('JSON-RPC answers match the recorded node', () => {
  const dir = join(FIXTURE_DIR, 'rpc')
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json') && !WITH_OPTION.test(f)).sort()) {
    test(name, async () => {
      const recorded = JSON.parse(readFileSync(join(dir, name), 'utf8')) as RecordedExchange
      sim.faults.clear()
      const provoked = PROVOKED[name]?.(sim)
      assert.ok(provoked || recorded.request !== undefined, `${name} has no request and no recipe to provoke it`)
      const answer = await httpRequest({
        port: sim.port,
        method: 'POST',
        path: recorded.path ?? '/',
        headers: {authorization: provoked?.auth ?? basicAuth({cookiePath: sim.cookiePath}), 'content-type': 'application/json'},
        body: provoked?.body ?? JSON.stringify(recorded.request),
      })
      assert.equal(answer.status, recorded.status, 'HTTP status')
      assertBody(name, recorded.body, answer)
    })
  }
})

describe('with -txospenderindex, JSON-RPC answers match the recorded node started with it', () => {
  let indexed: Simulator
  before(async () => {
    indexed = await Simulator.start({fixture: 'after-reorg', txospenderindex: true})
  })
  after(async () => {
    await indexed.stop()
  })
  const dir = join(FIXTURE_DIR, 'rpc')
  for (const name of readdirSync(dir).filter((f) => WITH_OPTION.test(f)).sort()) {
    test(name, async () => {
      const recorded = JSON.parse(readFileSync(join(dir, name), 'utf8')) as RecordedExchange
      const answer = await httpRequest({
        port: indexed.port,
        method: 'POST',
        path: '/',
        headers: {authorization: basicAuth({cookiePath: indexed.cookiePath}), 'content-type': 'application/json'},
        body: JSON.stringify(recorded.request),
      })
      assert.equal(answer.status, recorded.status, 'HTTP status')
      assertBody(name, recorded.body, answer)
    })
  }
})

function assertBody(name: string, expected: unknown, answer: HttpAnswer, volatile = VOLATILE[name] ?? []): void {
  const text = answer.body.toString('utf8')
  if (typeof expected === 'string') {
    // non-JSON bodies (401 empty, 503 text) and the parse error, recorded as raw text
    assert.equal(text, expected)
    if (answer.status === 401) assert.equal(answer.headers['www-authenticate'], 'Basic realm="jsonrpc"')
    return
  }
  assert.equal(answer.headers['content-type'], 'application/json')
  assert.ok(text.endsWith('\n'), 'JSON replies end with a newline')
  assertSameShape(expected, JSON.parse(text), volatile)
}

describe('broadcast verdicts match the recorded node, exchange after exchange', () => {
  // Core mined these on top of the fixture, paying P2WSH(OP_TRUE); every exchange runs on the state the ones before it left
  let node: Simulator
  before(async () => {
    node = await Simulator.start({fixture: 'after-reorg'})
    const extension = JSON.parse(readFileSync(join(FIXTURE_DIR, 'broadcast-extension.json'), 'utf8')) as {blocks: {hex: string}[]}
    node.loadBlocks(extension.blocks.map((b) => Buffer.from(b.hex, 'hex')))
  })
  after(() => node.stop())

  const dir = join(FIXTURE_DIR, 'rpc', 'broadcast')
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    test(name, async () => {
      const recorded = JSON.parse(readFileSync(join(dir, name), 'utf8')) as RecordedExchange
      const answer = await httpRequest({
        port: node.port,
        method: 'POST',
        path: recorded.path,
        headers: {authorization: basicAuth({cookiePath: node.cookiePath}), 'content-type': 'application/json'},
        body: JSON.stringify(recorded.request),
      })
      assert.equal(answer.status, recorded.status, 'HTTP status')
      assertBody(`broadcast/${name}`, recorded.body, answer, volatileInBroadcast(name))
    })
  }
})

describe('REST answers match the recorded node', () => {
  const rest = (file: string) => readFileSync(join(FIXTURE_DIR, 'rest', file))
  const status = (file: string) => Number(rest(`${file}.status`).toString().trim())
  const firstHeaderHash = (JSON.parse(rest('headers-5.json').toString()) as {hash: string}[])[0].hash
  // the recorder's pick: the fixture block with the most transactions
  const busiest = regtestChain().blocks.reduce((a, b) => (b.hex.length > a.hex.length ? b : a)).hash

  /** file → the request that produced it */
  const cases: [string, string][] = [
    ['block-notfound.txt', `/rest/block/${'0'.repeat(64)}.bin`],
    ['blockhashbyheight-147.json', '/rest/blockhashbyheight/147.json'],
    ['chaininfo.json', '/rest/chaininfo.json'],
    ['headers-5.json', `/rest/headers/${firstHeaderHash}.json?count=5`],
    ['headers-5.bin', `/rest/headers/${firstHeaderHash}.bin?count=5`],
    ['mempool-info.json', '/rest/mempool/info.json'],
    ['block-busiest.bin', `/rest/block/${busiest}.bin`],
    ['block-busiest.hex', `/rest/block/${busiest}.hex`],
    ['block-busiest.json', `/rest/block/${busiest}.json`],
    ['block-notxdetails-busiest.json', `/rest/block/notxdetails/${busiest}.json`],
    ['block-notfound-json.txt', `/rest/block/${'0'.repeat(64)}.json`],
  ]
  for (const [file, path] of cases) {
    test(`${file} (GET ${path.replace(/[0-9a-f]{64}/, '<hash>')})`, async () => {
      sim.faults.clear()
      const answer = await httpRequest({port: sim.port, path})
      const expected = rest(file)
      const expectedStatus = status(file === 'headers-5.bin' ? 'headers-5.json' : file)
      assert.equal(answer.status, expectedStatus)
      const volatile = VOLATILE[file]
      if (volatile) {
        assert.equal(answer.headers['content-type'], 'application/json')
        assertSameShape(JSON.parse(expected.toString()), JSON.parse(answer.body.toString()), volatile)
        // amounts are written as Core writes them (0.00017420, not 0.0001742)
        for (const amount of expected.toString().match(/\d+\.\d{8}\b/g) ?? []) assert.ok(answer.body.toString().includes(amount), `amount text ${amount}`)
      } else {
        assert.ok(answer.body.equals(expected), `${file}: byte-identical body\n got: ${answer.body.toString('hex').slice(0, 120)}`)
      }
      const contentType = file.endsWith('.bin') ? 'application/octet-stream' : file.endsWith('.txt') || file.endsWith('.hex') ? 'text/plain' : 'application/json'
      assert.equal(answer.headers['content-type'], contentType)
    })
  }
})

describe('deterministic answers are byte-identical where the recording is raw', () => {
  test('getblock 0 and getblockheader false return the recorded hex', async () => {
    for (const name of ['getblock-0.json', 'getblockheader-raw.json', 'getblockhash.json', 'getbestblockhash.json']) {
      const recorded = JSON.parse(readFileSync(join(FIXTURE_DIR, 'rpc', name), 'utf8')) as RecordedExchange
      const answer = await httpRequest({
        port: sim.port,
        method: 'POST',
        headers: {authorization: basicAuth({cookiePath: sim.cookiePath})},
        body: JSON.stringify(recorded.request),
      })
      assert.equal(JSON.parse(answer.body.toString()).result, (recorded.body as {result: string}).result, name)
    }
  })
})
