import assert from 'node:assert/strict'
import {after, describe, test} from 'node:test'

import {sha256d, toDisplayHex} from '../../src/lib/chain/hashes.js'
import {BixError, RpcError} from '../../src/lib/errors.js'
import {makeEndpoint} from '../../src/lib/node/config.js'
import {
  btcToSats,
  getBestBlockHash,
  getBlockchainInfo,
  getBlockCount,
  getBlockHash,
  getBlockHashes,
  getBlockHeader,
  getBlockHeaderRaw,
  getChainTips,
  getIndexInfo,
  getMempoolEntry,
  getMempoolInfo,
  getNetworkInfo,
  getPeerSummary,
  getRawBlock,
  getRawMempool,
  getRawMempoolSequence,
  getRawMempoolVerbose,
  getRawTransactionHex,
  sendRawTransaction,
  testMempoolAccept,
} from '../../src/lib/node/node-api.js'
import {getNodeStatus} from '../../src/lib/node/node-status.js'
import {checkNode} from '../../src/lib/node/preflight.js'
import {createNodeClient} from '../../src/lib/node/rpc-client.js'
import type {NodeClient, NodeConfig} from '../../src/lib/node/types.js'
import {type RecordedRequest, type TinyNode, replay, result, rpcFixture, rpcMethod, startTinyNode} from '../support/tiny-node.js'

const TIP = '1c7076a1b1c714398722185f4cf74d1d6aa604e5a2efc9d8876e0ac040fc49f9'
const MEMPOOL_TX = '52a0073d5c2deca9f4d05d2fad8b212691fd0e19136dcb63e3bf58334dd5d809'

/** Which recorded exchange answers a request, as a real regtest node answered it. */
function fixtureFor(req: RecordedRequest): string {
  if (Array.isArray(req.json)) return 'batch'
  const {method, params = []} = req.json as {method: string; params?: unknown[]}
  switch (method) {
    case 'getblock':
      return `getblock-${params[1] ?? 1}`
    case 'getblockheader':
      return params[1] === false ? 'getblockheader-raw' : 'getblockheader-verbose'
    case 'getrawmempool':
      return params[0] === true ? 'getrawmempool-verbose' : params[1] === true ? 'getrawmempool-sequence' : 'getrawmempool'
    case 'getrawtransaction':
      return 'getrawtransaction-mempool'
    case 'testmempoolaccept':
      return 'testmempoolaccept-ok-already'
    case 'sendrawtransaction':
      return 'err-sendraw-already-in-mempool'
    default:
      return method
  }
}

type Overrides = Record<string, (body: Record<string, unknown>) => unknown>

const servers: TinyNode[] = []
const clients: NodeClient[] = []
after(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all(servers.map((s) => s.close()))
})

/** A node answering with the recorded regtest exchanges; `overrides` rewrite a method's recorded result. */
async function recordedNode(overrides: Overrides = {}, config: Partial<NodeConfig> = {}): Promise<{client: NodeClient; server: TinyNode}> {
  const server = await startTinyNode((req, res) => {
    const method = rpcMethod(req)
    if (method === 'uptime') return result(res, req, 3600)
    if (method === 'getpeerinfo') return result(res, req, [{inbound: true}, {inbound: false}, {inbound: false}])
    const fixture = rpcFixture(fixtureFor(req))
    const override = method ? overrides[method] : undefined
    if (override) {
      const body = fixture.body as {result: Record<string, unknown>}
      return replay(res, {...fixture, body: {...body, result: override({...body.result})}}, req)
    }
    replay(res, fixture, req)
  })
  const client = createNodeClient(
    {
      network: 'regtest',
      networkExplicit: true,
      datadir: '/nonexistent',
      netDatadir: '/nonexistent/regtest',
      endpoints: [makeEndpoint('127.0.0.1', server.port)],
      credentials: {kind: 'password', user: 'u', password: 'p', source: 'flags'},
      ...config,
    },
    {parallelism: 2, connectTimeoutMs: 1000, requestTimeoutMs: 5000},
  )
  servers.push(server)
  clients.push(client)
  return {client, server}
}

describe('typed calls on the answers of a real regtest node', () => {
  test('getblockchaininfo: the recorded chain state, warnings as a list', async () => {
    const {client} = await recordedNode()
    const info = await getBlockchainInfo(client)
    assert.equal(info.chain, 'regtest')
    assert.equal(info.blocks, 147)
    assert.equal(info.headers, 147)
    assert.equal(info.bestBlockHash, TIP)
    assert.equal(info.initialBlockDownload, false)
    assert.equal(info.pruned, false)
    assert.equal(info.verificationProgress, 1)
    assert.deepEqual(info.warnings, ['This is a pre-release test build - use at your own risk - do not use for mining or merchant applications'])
  })

  test('warnings in the pre-28 string form become a list too, and an empty string none', async () => {
    const {client} = await recordedNode({getblockchaininfo: (r) => ({...r, warnings: 'Unknown new rules activated'})})
    assert.deepEqual((await getBlockchainInfo(client)).warnings, ['Unknown new rules activated'])
    const {client: quiet} = await recordedNode({getblockchaininfo: (r) => ({...r, warnings: ''})})
    assert.deepEqual((await getBlockchainInfo(quiet)).warnings, [])
  })

  test('getnetworkinfo: version number and subversion of the recording node', async () => {
    const {client} = await recordedNode()
    const info = await getNetworkInfo(client)
    assert.equal(info.version, 319_900)
    assert.equal(info.subversion, '/Satoshi:31.99.0/')
    assert.deepEqual([info.connectionsIn, info.connectionsOut], [0, 0])
  })

  test('heights and hashes', async () => {
    const {client} = await recordedNode()
    assert.equal(await getBlockCount(client), 147)
    assert.equal(await getBestBlockHash(client), TIP)
    assert.equal(await getBlockHash(client, 147), TIP)
    const header = await getBlockHeader(client, TIP)
    assert.equal(header.height, 147)
    assert.equal(header.previousBlockHash, '7a36763db011e5416bc83c4c7055e2d08357854fdac35e936651f0aa62e813da')
    assert.equal(header.nextBlockHash, undefined)
    const raw = await getBlockHeaderRaw(client, TIP)
    assert.equal(toDisplayHex(sha256d(raw)), TIP)
  })

  test('getBlockHashes batches heights; a height the node lacks fails with its -8', async () => {
    const {client, server} = await recordedNode()
    const err = await getBlockHashes(client, [0, 1, 2, 1_000_000]).catch((e: unknown) => e)
    assert.ok(err instanceof RpcError && err.code === -8)
    assert.equal(server.requests.length, 1, 'one batch request')
    assert.deepEqual((server.requests[0].json as Array<{params: number[]}>).map((r) => r.params[0]), [0, 1, 2, 1_000_000])
  })

  test('getRawBlock returns the stored bytes, checked against the hash asked for', async () => {
    const {client} = await recordedNode()
    const block = await getRawBlock(client, TIP)
    assert.equal(block.length, 249)
    assert.equal(toDisplayHex(sha256d(block.subarray(0, 80))), TIP)
    const wrong = await getRawBlock(client, '0'.repeat(64)).catch((e: unknown) => e)
    assert.ok(wrong instanceof BixError && wrong.kind === 'BadBlock')
  })

  test('mempool: amounts become exact satoshis, fee rates sat per kvB', async () => {
    const {client} = await recordedNode()
    const info = await getMempoolInfo(client)
    assert.deepEqual(
      [info.loaded, info.size, info.bytes, info.totalFeeSats, info.mempoolMinFeeSatPerKvB, info.minRelayTxFeeSatPerKvB],
      [true, 6, 856, 17_420, 100, 100],
    )
    const entry = await getMempoolEntry(client, MEMPOOL_TX)
    assert.deepEqual(entry.fees, {base: 2691, modified: 2691, ancestor: 2691, descendant: 2691})
    assert.equal(entry.vsize, 132)
    assert.equal(entry.wtxid, 'bfcd691fa7bf921addcea6ec5e7da2ee33859b270c3582b10f451476e805e08f')
    const txids = await getRawMempool(client)
    assert.equal(txids.length, 6)
    const verbose = await getRawMempoolVerbose(client)
    assert.deepEqual([...verbose.keys()].sort(), [...txids].sort())
    assert.equal(verbose.get(MEMPOOL_TX)?.fees.base, 2691)
    const sequenced = await getRawMempoolSequence(client)
    assert.deepEqual(sequenced, {txids, mempoolSequence: 291})
  })

  test('transactions: raw hex, test-accept verdicts, an idempotent re-broadcast', async () => {
    const {client, server} = await recordedNode()
    const hex = await getRawTransactionHex(client, MEMPOOL_TX)
    const accept = await testMempoolAccept(client, [hex], 0.1)
    assert.deepEqual(accept, [
      {
        txid: MEMPOOL_TX,
        wtxid: 'bfcd691fa7bf921addcea6ec5e7da2ee33859b270c3582b10f451476e805e08f',
        allowed: false,
        vsize: undefined,
        feeSats: undefined,
        rejectReason: 'txn-already-in-mempool',
        rejectDetails: 'txn-already-in-mempool',
        packageError: undefined,
      },
    ])
    assert.equal(await sendRawTransaction(client, hex, undefined, 0.001), MEMPOOL_TX)
    // a gap in optional parameters goes as null, which Core reads as "default"
    assert.deepEqual((server.requests.at(-1)?.json as {params: unknown[]}).params, [hex, null, 0.001])
  })

  test('chain tips, index info, peers', async () => {
    const {client} = await recordedNode()
    assert.deepEqual(await getChainTips(client), [
      {height: 147, hash: TIP, branchLen: 0, status: 'active'},
      {height: 146, hash: '028172b5b9e9decef233e8cb13f379b8d5f1cd0febe9b967591b2aa513205195', branchLen: 3, status: 'valid-fork'},
    ])
    assert.deepEqual(await getIndexInfo(client), {txindex: {synced: true, bestBlockHeight: 147}})
    assert.deepEqual(await getPeerSummary(client), {total: 3, inbound: 1, outbound: 2})
  })

  test('an answer missing a field is a NodeError naming call and field', async () => {
    const {client} = await recordedNode({getblockchaininfo: (r) => ({...r, blocks: 'many'})})
    const err = await getBlockchainInfo(client).catch((e: unknown) => e)
    assert.ok(err instanceof BixError && err.kind === 'NodeError')
    assert.equal(err.message, 'getblockchaininfo: field "blocks" is missing or not a number')
  })

  test('btcToSats is exact for amounts that float arithmetic rounds badly', () => {
    assert.equal(btcToSats(0.29), 29_000_000)
    assert.equal(btcToSats(1e-8), 1)
    assert.equal(btcToSats(2.691e-5), 2691)
    assert.equal(btcToSats(20_999_999.9769), 2_099_999_997_690_000)
    assert.equal(btcToSats(-0.0001), -10_000)
  })
})

describe('preflight', () => {
  test('the recorded node passes as regtest', async () => {
    const {client} = await recordedNode()
    const check = await checkNode(client, {requireUnpruned: true})
    assert.deepEqual([check.network, check.version, check.blocks, check.headers, check.pruned], ['regtest', 319_900, 147, 147, false])
  })

  test('a node on another network than --network is refused (exit 2)', async () => {
    const {client} = await recordedNode({}, {network: 'main'})
    const err = await checkNode(client).catch((e: unknown) => e)
    assert.ok(err instanceof BixError && err.kind === 'WrongNetwork')
    assert.equal(err.message, 'the node runs regtest but --network is main')
    assert.equal(err.exitCode, 2)
  })

  test('when main was only assumed, the refusal says how to fix it', async () => {
    const {client} = await recordedNode({}, {network: 'main', networkExplicit: false})
    const err = await checkNode(client).catch((e: unknown) => e)
    assert.ok(err instanceof BixError && err.kind === 'WrongNetwork')
    assert.match(err.message, /runs regtest, but bix assumed main .*pass --network regtest/)
  })

  test('nodes older than 0.21 are not supported', async () => {
    const {client} = await recordedNode({getnetworkinfo: (r) => ({...r, version: 200_100, subversion: '/Satoshi:0.20.1/'})})
    const err = await checkNode(client).catch((e: unknown) => e)
    assert.ok(err instanceof BixError && err.kind === 'NodeUnsupported')
    assert.match(err.message, /is 0\.20\.1 \(\/Satoshi:0\.20\.1\/\); bix needs Bitcoin Core 0\.21 or newer/)
  })

  test('a pruned node is refused only where every block is needed', async () => {
    const {client} = await recordedNode({getblockchaininfo: (r) => ({...r, pruned: true, pruneheight: 100})})
    assert.equal((await checkNode(client)).pruneHeight, 100)
    const err = await checkNode(client, {requireUnpruned: true}).catch((e: unknown) => e)
    assert.ok(err instanceof BixError && err.kind === 'NodeUnsupported')
    assert.match(err.message, /is pruned \(blocks below 100 are gone\).*prune=0/)
  })
})

describe('the status snapshot', () => {
  test('one screen of facts from the recorded node', async () => {
    const {client} = await recordedNode()
    const status = await getNodeStatus(client)
    assert.equal(status.chain, 'regtest')
    assert.equal(status.versionText, '31.99.0')
    assert.deepEqual([status.blocks, status.headers, status.pruneHeight], [147, 147, null])
    assert.deepEqual(status.mempool, {loaded: true, txCount: 6, bytes: 856, usage: 6816})
    assert.deepEqual(status.peers, {inbound: 0, outbound: 0})
    assert.equal(status.uptimeSeconds, 3600)
    assert.equal(status.warnings.length, 1, 'the same warning from two calls is shown once')
    assert.ok(status.rpcRoundTripMs >= 0 && status.rpcRoundTripMs < 1000)
  })
})
