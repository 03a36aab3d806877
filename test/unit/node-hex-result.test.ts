import assert from 'node:assert/strict'
import {after, before, test} from 'node:test'

import {makeEndpoint} from '../../src/lib/node/config.js'
import {hexResultOf} from '../../src/lib/node/jsonrpc.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import {basicAuth, httpRequest} from '../support/simnode/client.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * getblock <hash> 0 answers megabytes of hex: bix reads the hex in place
 * (hexResultOf) and leaves decoding it to the decoding thread. The fast path
 * must take what the node really sends, byte for byte, and leave every other
 * answer to the JSON path, which reads errors.
 */

const hex = 'deadbeef00'
const read = (body: string) => hexResultOf(Buffer.from(body))?.toString('latin1')

test('the hex of a successful answer is read in place, in both JSON-RPC styles and with any id', () => {
  assert.equal(read(`{"result":"${hex}","error":null,"id":7}`), hex)
  assert.equal(read(`{"jsonrpc":"2.0","result":"${hex}","id":7}`), hex)
  assert.equal(read(`{"result":"${hex}","error":null,"id":"fx"}\n`), hex)
  assert.equal(read(`{ "result" : "${hex}" , "id" : -1 , "error" : null }`), hex)
})

test('any other answer is left to the JSON path: errors, another order, another member, a cut body', () => {
  assert.equal(read('{"result":null,"error":{"code":-5,"message":"Block not found"},"id":7}'), undefined)
  assert.equal(read('{"jsonrpc":"2.0","error":{"code":-5,"message":"Block not found"},"id":7}'), undefined)
  assert.equal(read(`{"result":"${hex}","error":{"code":-1,"message":"x"},"id":7}`), undefined)
  assert.equal(read(`{"id":7,"result":"${hex}","error":null}`), undefined)
  assert.equal(read(`{"result":"${hex}","warning":"x","id":7}`), undefined)
  assert.equal(read(`{"result":"${hex}`), undefined)
  assert.equal(read(`[{"result":"${hex}","id":7}]`), undefined)
})

let node: TestNode
before(async () => {
  node = await startTestNode({fixtureChain: true})
})
after(() => node?.stop())

test("the node's own getblock answer (Core's with BITCOIND set) is read in place, and callHexResult gives what call gives", async () => {
  const hash = await node.rpc<string>('getblockhash', [100])
  // the request exactly as bix's client sends it
  const answer = await httpRequest({
    port: node.rpcPort,
    method: 'POST',
    headers: {authorization: basicAuth({cookiePath: node.cookiePath}), 'content-type': 'application/json'},
    body: JSON.stringify({jsonrpc: '2.0', id: 1, method: 'getblock', params: [hash, 0]}),
  })
  const expected = (JSON.parse(answer.body.toString('utf8')) as {result: string}).result
  assert.ok(expected.length > 160)
  assert.equal(hexResultOf(answer.body)?.toString('latin1'), expected, 'the fast path takes the node\'s answer as it is')

  const client = createNodeClient(
    {
      network: 'regtest',
      networkExplicit: true,
      datadir: node.datadir,
      netDatadir: node.netDatadir,
      endpoints: [makeEndpoint('127.0.0.1', node.rpcPort)],
      credentials: {kind: 'cookie', path: node.cookiePath},
    },
    {parallelism: 1, connectTimeoutMs: 1000, requestTimeoutMs: 10_000},
  )
  try {
    assert.equal((await client.callHexResult('getblock', [hash, 0])).toString('latin1'), await client.call('getblock', [hash, 0]))
    await assert.rejects(client.callHexResult('getblock', ['00'.repeat(32), 0]), /Block not found/)
  } finally {
    await client.close()
  }
})
