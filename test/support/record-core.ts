/**
 * Records real Bitcoin Core answers the simulator must give too (the contract
 * test replays them): UTXO lookups, REST blocks, and broadcast verdicts.
 *
 *   BITCOIND=/work/shared/bitcoin-core/bitcoind node --import tsx test/support/record-core.ts
 *
 * Core is started on a temp datadir and loaded with the recorded fixture chain
 * (test/fixtures/regtest-core/chain.json, by submitblock, mempool included), so
 * every txid and block hash is one the simulator serves. The lookups are
 * recorded on that state into rpc/ and rest/. Then Core mines blocks paying
 * P2WSH(OP_TRUE) (generateblock, no mempool transactions), which are saved in
 * broadcast-extension.json, and the broadcast exchanges are recorded in order
 * into rpc/broadcast/, each on the state the previous ones left.
 */
import {mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {Block, Transaction} from 'bitcoinjs-lib'

import {FIXTURE_DIR, readFixtureChain} from './simnode/fixture-chain.js'
import {basicAuth, httpRequest} from './simnode/client.js'
import {OPEN_ADDRESS, OPEN_SCRIPT, type OpenCoin, coinOf, opReturn, payOpen, spendOpen, toOpen} from './open-coins.js'
import {startTestNode} from './test-node.js'

/** blocks mined on top of the fixture: 6 of their coinbases are mature at the end */
export const EXTENSION_BLOCKS = 105

const binary = process.env.BITCOIND
if (!binary) {
  console.error('set BITCOIND=/path/to/bitcoind')
  process.exit(2)
}

const node = await startTestNode({fixtureChain: true, bitcoind: binary})
const auth = () => basicAuth({cookiePath: node.cookiePath})

/** Keys sorted at every level, one-space indent: the format of the existing recordings. */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])]))
  }
  return value
}
const writeJsonFile = (file: string, value: unknown) => writeFileSync(file, JSON.stringify(sorted(value), null, 1) + '\n')

async function exchange(file: string, method: string, params: unknown[]): Promise<{result: unknown; error: {code: number; message: string} | null}> {
  const request = {jsonrpc: '1.0', id: 'fx', method, params}
  const answer = await httpRequest({port: node.rpcPort, method: 'POST', path: '/', headers: {authorization: auth(), 'content-type': 'application/json'}, body: JSON.stringify(request)})
  const body = JSON.parse(answer.body.toString('utf8')) as {result: unknown; error: {code: number; message: string} | null}
  writeJsonFile(file, {request, path: '/', status: answer.status, body})
  console.log(`${file.slice(FIXTURE_DIR.length + 1)}: ${answer.status} ${JSON.stringify(body.error ?? body.result).slice(0, 140)}`)
  return body
}

async function rest(file: string, path: string): Promise<Buffer> {
  const answer = await httpRequest({port: node.rpcPort, path})
  writeFileSync(join(FIXTURE_DIR, 'rest', file), answer.body)
  writeFileSync(join(FIXTURE_DIR, 'rest', `${file}.status`), `${answer.status}\n`)
  console.log(`rest/${file}: ${answer.status} ${answer.headers['content-type']}`)
  return answer.body
}

try {
  const fixture = readFixtureChain()
  const rpcDir = join(FIXTURE_DIR, 'rpc')

  // --- lookups on the fixture chain as recorded (its tip and mempool) ---
  interface Unspent {txid: string; vout: number; scriptPubKey: string}
  const addr = fixture.addresses.find((a) => a.startsWith('bcrt1p'))!
  const scanned = (await exchange(join(rpcDir, 'scantxoutset-addr.json'), 'scantxoutset', ['start', [`addr(${addr})`]])).result as {unspents: Unspent[]}
  const legacy = fixture.addresses.find((a) => /^[mn]/.test(a))!
  const legacyScan = (await node.rpc<{unspents: Unspent[]}>('scantxoutset', ['start', [`addr(${legacy})`]])).unspents
  await exchange(join(rpcDir, 'scantxoutset-raw.json'), 'scantxoutset', ['start', [`raw(${legacyScan[0].scriptPubKey})`, `raw(${scanned.unspents[0].scriptPubKey})`]])
  await exchange(join(rpcDir, 'err-scantxoutset-bad-descriptor.json'), 'scantxoutset', ['start', ['pk(nothing)']])
  await exchange(join(rpcDir, 'err-scantxoutset-bad-action.json'), 'scantxoutset', ['begin', []])

  const unspent = scanned.unspents[0]
  await exchange(join(rpcDir, 'gettxout-unspent.json'), 'gettxout', [unspent.txid, unspent.vout])
  // a coin some confirmed transaction spent: the first input of the first payment after the coinbases matured
  const payment = Block.fromHex(fixture.blocks[102].hex).transactions![1]
  const spent = {txid: Buffer.from(payment.ins[0].hash).reverse().toString('hex'), vout: payment.ins[0].index}
  await exchange(join(rpcDir, 'gettxout-spent.json'), 'gettxout', [spent.txid, spent.vout])
  // a mempool transaction's output, and the confirmed coin it spends
  const pending = Transaction.fromHex(fixture.mempool.find((m) => Transaction.fromHex(m.hex).ins.every((i) => !fixture.mempool.some((p) => p.txid === Buffer.from(i.hash).reverse().toString('hex'))))!.hex)
  await exchange(join(rpcDir, 'gettxout-mempool.json'), 'gettxout', [pending.getId(), 0, true])
  await exchange(join(rpcDir, 'gettxout-mempool-excluded.json'), 'gettxout', [pending.getId(), 0, false])
  const spentByPending = {txid: Buffer.from(pending.ins[0].hash).reverse().toString('hex'), vout: pending.ins[0].index}
  await exchange(join(rpcDir, 'gettxout-spent-in-mempool.json'), 'gettxout', [spentByPending.txid, spentByPending.vout])
  await exchange(join(rpcDir, 'gettxout-spent-in-mempool-excluded.json'), 'gettxout', [spentByPending.txid, spentByPending.vout, false])

  // the fixture block with the most transactions, in every REST form
  const busiest = fixture.blocks.reduce((a, b) => (b.hex.length > a.hex.length ? b : a))
  await rest('block-busiest.bin', `/rest/block/${busiest.hash}.bin`)
  await rest('block-busiest.hex', `/rest/block/${busiest.hash}.hex`)
  await rest('block-busiest.json', `/rest/block/${busiest.hash}.json`)
  await rest('block-notxdetails-busiest.json', `/rest/block/notxdetails/${busiest.hash}.json`)
  await rest('block-notfound-json.txt', `/rest/block/${'0'.repeat(64)}.json`)

  // --- the broadcast recordings, on the fixture plus blocks paying the open script ---
  const hashes: string[] = []
  for (let i = 0; i < EXTENSION_BLOCKS; i++) hashes.push((await node.rpc<{hash: string}>('generateblock', [OPEN_ADDRESS, []])).hash)
  const blocks = []
  for (const hash of hashes) blocks.push({height: (await node.rpc<{height: number}>('getblockheader', [hash])).height, hash, hex: await node.rpc<string>('getblock', [hash, 0])})
  writeJsonFile(join(FIXTURE_DIR, 'broadcast-extension.json'), {bitcoind: fixture.bitcoind, base_tip: fixture.tip, open_script: OPEN_SCRIPT.toString('hex'), blocks})
  const coins: OpenCoin[] = blocks.slice(0, 6).map((b) => coinOf(Block.fromHex(b.hex).transactions![0]))

  const dir = join(rpcDir, 'broadcast')
  rmSync(dir, {recursive: true, force: true})
  mkdirSync(dir)
  let n = 0
  const rec = (name: string, method: string, params: unknown[]) => exchange(join(dir, `${String(++n).padStart(2, '0')}-${name}.json`), method, params)

  const [a, b, c, d] = coins
  // a payment, tested then sent; a full-RBF replacement paying more; one paying less
  const original = payOpen(a, 1_000n)
  await rec('testmempoolaccept-allowed', 'testmempoolaccept', [[original.toHex()]])
  await rec('sendrawtransaction-sent', 'sendrawtransaction', [original.toHex()])
  await rec('getmempoolentry-sent', 'getmempoolentry', [original.getId()])
  const replacement = payOpen(a, 3_000n)
  await rec('sendrawtransaction-replacement', 'sendrawtransaction', [replacement.toHex()])
  await rec('err-getmempoolentry-replaced', 'getmempoolentry', [original.getId()])
  await rec('gettxout-replacement', 'gettxout', [replacement.getId(), 0])
  const cheaper = payOpen(a, 2_000n)
  await rec('err-sendrawtransaction-replacement-pays-less', 'sendrawtransaction', [cheaper.toHex()])
  await rec('testmempoolaccept-replacement-pays-less', 'testmempoolaccept', [[cheaper.toHex()]])
  // more fee in all, but spread over many outputs: a lower fee rate than the transaction it would replace
  const diluted = payOpen(a, 4_000n, Array.from({length: 12}, () => toOpen(1_000n)))
  await rec('err-sendrawtransaction-replacement-lower-feerate', 'sendrawtransaction', [diluted.toHex()])

  // rejections, each before the transaction could enter
  const free = payOpen(b, 0n)
  await rec('err-sendrawtransaction-min-relay-fee', 'sendrawtransaction', [free.toHex()])
  await rec('testmempoolaccept-min-relay-fee', 'testmempoolaccept', [[free.toHex()]])
  const orphan = payOpen({txid: 'ab'.repeat(32), vout: 0, value: 100_000n}, 1_000n)
  await rec('err-sendrawtransaction-missing-inputs', 'sendrawtransaction', [orphan.toHex()])
  await rec('testmempoolaccept-missing-inputs', 'testmempoolaccept', [[orphan.toHex()]])
  const dusty = payOpen(b, 1_000n, [toOpen(100n)])
  await rec('err-sendrawtransaction-dust', 'sendrawtransaction', [dusty.toHex()])
  const bare = payOpen(b, 1_000n, [{script: Buffer.from([0x51]), value: 10_000n}])
  await rec('err-sendrawtransaction-nonstandard-script', 'sendrawtransaction', [bare.toHex()])
  await rec('testmempoolaccept-nonstandard-script', 'testmempoolaccept', [[bare.toHex()]])
  const wrongScript = spendOpen([b], [toOpen(b.value - 1_000n)], {witnessScript: Buffer.from([0x52])})
  await rec('err-sendrawtransaction-script-fails', 'sendrawtransaction', [wrongScript.toHex()])
  await rec('testmempoolaccept-script-fails', 'testmempoolaccept', [[wrongScript.toHex()]])
  const unwitnessed = spendOpen([b], [toOpen(b.value - 1_000n)])
  unwitnessed.setWitness(0, [])
  await rec('err-sendrawtransaction-empty-witness', 'sendrawtransaction', [unwitnessed.toHex()])

  // fee and burn limits: 100,000 sats over ~110 vB is ~900 sat/vB, above a 0.001 BTC/kvB (1 sat/vB) cap
  const generous = payOpen(b, 100_000n)
  await rec('err-sendrawtransaction-maxfeerate', 'sendrawtransaction', [generous.toHex(), 0.00001])
  await rec('testmempoolaccept-maxfeerate', 'testmempoolaccept', [[generous.toHex()], 0.00001])
  const burn = payOpen(d, 1_000n, [opReturn('bix burns', 5_000n)])
  await rec('err-sendrawtransaction-maxburnamount', 'sendrawtransaction', [burn.toHex()])
  await rec('err-sendrawtransaction-maxburnamount-below', 'sendrawtransaction', [burn.toHex(), 0, 0.00004999])
  await rec('sendrawtransaction-maxburnamount', 'sendrawtransaction', [burn.toHex(), 0, 0.00005])

  // a parent below the relay fee and a child paying for both
  const parent = payOpen(c, 0n)
  const child = payOpen(coinOf(parent), 5_000n)
  const freeChild = payOpen(coinOf(parent), 0n)
  await rec('err-sendrawtransaction-parent-alone', 'sendrawtransaction', [parent.toHex()])
  await rec('testmempoolaccept-package', 'testmempoolaccept', [[parent.toHex(), child.toHex()]])
  await rec('err-submitpackage-fee-too-low', 'submitpackage', [[parent.toHex(), freeChild.toHex()]])
  await rec('err-submitpackage-not-sorted', 'submitpackage', [[child.toHex(), parent.toHex()]])
  await rec('submitpackage-maxfeerate', 'submitpackage', [[parent.toHex(), child.toHex()], 0.00001])
  await rec('submitpackage-success', 'submitpackage', [[parent.toHex(), child.toHex()]])
  await rec('getmempoolentry-child', 'getmempoolentry', [child.getId()])
  await rec('gettxout-child-mempool', 'gettxout', [child.getId(), 0, true])
  await rec('submitpackage-already', 'submitpackage', [[parent.toHex(), child.toHex()]])
} finally {
  await node.stop()
}

// the recordings left behind, for the log
console.log(`${readdirSync(join(FIXTURE_DIR, 'rpc', 'broadcast')).length} broadcast exchanges recorded`)
