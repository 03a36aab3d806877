import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, test} from 'node:test'

import {runBix} from '../support/cli.js'
import {FIXTURES} from '../support/chain-fixtures.js'
import {TestRpcClient} from '../support/simnode/client.js'
import {Simulator} from '../support/simnode/simulator.js'

/**
 * bix end to end on each of the five chains Bitcoin Core knows: where it
 * looks for the node (default RPC port, datadir sub-directory and cookie),
 * the blk files it reads (each chain's magic), the default database path per
 * network, and `bix index` + `bix query address` with every address form of
 * that chain, taken from Core's own vectors (key_io_valid.json).
 *
 * Simulator even with BITCOIND set: the Core here runs regtest only; the
 * simulator serves the other chains' genesis blocks, names and file layout.
 */

type Chain = 'main' | 'test' | 'testnet4' | 'signet' | 'regtest'

/** What Core's chainparams say of each chain (pchMessageStart, nDefaultPort's RPC twin, the datadir sub-directory, hashGenesisBlock). */
const CORE: Record<Chain, {rpcPort: number; subdir: string; magic: string; genesis: string; vectors: string; foreign: Chain}> = {
  main: {rpcPort: 8332, subdir: '', magic: 'f9beb4d9', genesis: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f', vectors: 'main', foreign: 'testnet4'},
  // key_io_valid.json has no testnet3 vectors: Core gives testnet3 and testnet4 the same address prefixes
  test: {rpcPort: 18332, subdir: 'testnet3', magic: '0b110907', genesis: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943', vectors: 'testnet4', foreign: 'main'},
  testnet4: {rpcPort: 48332, subdir: 'testnet4', magic: '1c163f28', genesis: '00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043', vectors: 'testnet4', foreign: 'regtest'},
  signet: {rpcPort: 38332, subdir: 'signet', magic: '0a03cf40', genesis: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6', vectors: 'signet', foreign: 'main'},
  regtest: {rpcPort: 18443, subdir: 'regtest', magic: 'fabfb5da', genesis: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206', vectors: 'regtest', foreign: 'main'},
}

type Vector = [address: string, script: string, meta: {chain: string; isPrivkey: boolean; tryCaseFlip?: boolean}]
const VECTORS = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vectors/key_io_valid.json'), 'utf8')) as Vector[]

/** One address of each output script kind (P2PKH, P2SH, P2WPKH, P2WSH, P2TR, a later witness version) of a chain. */
function addressesOf(vectorChain: string): Array<{address: string; script: string}> {
  const byKind = new Map<string, {address: string; script: string}>()
  for (const [address, script, meta] of VECTORS) {
    if (meta.chain !== vectorChain || meta.isPrivkey) continue
    const kind = script.startsWith('0014') || script.startsWith('0020') || script.startsWith('5120') ? script.slice(0, 4) : script.slice(0, 2)
    if (!byKind.has(kind)) byKind.set(kind, {address, script})
  }
  return [...byKind.values()]
}

interface Summary {
  network: string
  database: string
  source: string
  height: number
  hash: string
  blocks: number
}

interface Report {
  address: string
  chain_stats: {funded_txo_count: number; funded_txo_sum: number; tx_count: number}
  utxos: Array<{txid: string; vout: number; value: number; height: number}>
}

interface CoreBlock {
  height: number
  tx: Array<{txid: string; vout: Array<{value: number; n: number; scriptPubKey: {hex: string; address?: string}}>}>
}

describe('every network, end to end on the simulator', () => {
  for (const network of Object.keys(CORE) as Chain[]) {
    const core = CORE[network]
    test(`${network}: default port, datadir${core.subdir ? `/${core.subdir}` : ''} cookie, blk magic ${core.magic}, default database, and its address forms indexed and queried`, async (t) => {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), `bix-${network}-`))
      t.after(() => fs.rmSync(home, {recursive: true, force: true}))
      const datadir = path.join(home, 'bitcoin')
      const dataDir = path.join(home, 'bix-data')
      const sim = await Simulator.start({network, datadir})
      t.after(() => sim.stop())
      const env = {BIX_DATA_DIR: dataDir}

      // the node as Core would lay it out, and its own name for the chain
      const netDatadir = path.join(datadir, core.subdir)
      assert.ok(fs.existsSync(path.join(netDatadir, '.cookie')), `the cookie in ${netDatadir}`)
      const node = new TestRpcClient(sim.port, {cookiePath: sim.cookiePath})
      assert.equal(await node.call('getblockhash', [0]), core.genesis)
      assert.equal((await node.call<{chain: string}>('getblockchaininfo')).chain, network)

      // where bix looks with nothing but --network and --datadir: the default RPC port, the cookie in the sub-directory
      const defaults = await runBix(['status', '--network', network, '--datadir', datadir, '--json'], {env})
      const tried = (JSON.parse(defaults.stdout) as {tried: {endpoints: string[]; credentials: string[]}}).tried
      assert.deepEqual(tried, {endpoints: [`http://127.0.0.1:${core.rpcPort}`], credentials: [`cookie file ${path.join(netDatadir, '.cookie')}`]})

      // a block paying each address form of the chain, mined on its genesis
      const addresses = addressesOf(core.vectors)
      assert.ok(addresses.length >= 5, `${addresses.length} address forms for ${network}`)
      const hashes = addresses.map(({script}) => sim.mine(1, {to: Buffer.from(script, 'hex')})[0])

      // every blk record starts with the chain's magic (the files are xored with xor.dat's key)
      const blocksDir = path.join(netDatadir, 'blocks')
      const key = fs.readFileSync(path.join(blocksDir, 'xor.dat'))
      const blk = fs.readFileSync(path.join(blocksDir, 'blk00000.dat'))
      assert.equal(Buffer.from(blk.subarray(0, 4).map((b, i) => b ^ key[i % key.length])).toString('hex'), core.magic)

      // bix index from those files, with no --db: the default database of the network
      const args = ['--network', network, '--datadir', datadir, '--rpcport', String(sim.port)]
      const indexed = await runBix(['index', ...args, '--source', 'blk', '--json'], {env})
      assert.equal(indexed.code, 0, indexed.stderr)
      const summary = JSON.parse(indexed.stdout) as Summary
      const defaultDb = path.join(dataDir, network, 'index.db')
      assert.deepEqual(
        {network: summary.network, database: summary.database, source: summary.source, height: summary.height, hash: summary.hash, blocks: summary.blocks},
        {network, database: defaultDb, source: 'blk', height: addresses.length, hash: sim.chain.tip.hash, blocks: addresses.length + 1},
      )
      assert.ok(fs.statSync(defaultDb).isFile())
      const status = await runBix(['status', ...args, '--json'], {env})
      assert.equal(status.code, 0, status.stderr)
      const s = JSON.parse(status.stdout) as {node: {chain: string}; index: {path: string; network: string; tip_height: number}; lag: number}
      assert.deepEqual([s.node.chain, s.index.path, s.index.network, s.index.tip_height, s.lag], [network, defaultDb, network, addresses.length, 0])

      // each address, as Core writes it, has exactly its coinbase output: value and place from getblock verbosity 2
      const query = await runBix(['query', 'address', ...args, '--json', '--utxos', ...addresses.map((a) => a.address)], {env})
      assert.equal(query.code, 0, query.stderr)
      const reports = JSON.parse(query.stdout) as Report[]
      for (const [i, {address, script}] of addresses.entries()) {
        const block = await node.call<CoreBlock>('getblock', [hashes[i], 2])
        const coinbase = block.tx[0]
        const out = coinbase.vout.find((o) => o.scriptPubKey.hex === script)!
        assert.equal(out.scriptPubKey.address, address, 'the node writes the address as Core does')
        assert.equal(reports[i].address, address)
        assert.deepEqual(reports[i].utxos, [{txid: coinbase.txid, vout: out.n, value: Math.round(out.value * 1e8), height: block.height}], address)
        assert.deepEqual([reports[i].chain_stats.funded_txo_count, reports[i].chain_stats.tx_count], [1, 1])
      }

      // another chain's address form is refused with the reason, exit 2 (a segwit one: regtest and the test chains share base58 versions)
      const foreign = addressesOf(CORE[core.foreign].vectors).find((a) => /^(00|5)/.test(a.script))!.address
      const refused = await runBix(['query', 'address', ...args, foreign], {env})
      assert.equal(refused.code, 2, refused.stderr)
      assert.match(refused.stderr, new RegExp(`^error: address ${foreign} is for [a-z0-9/]+, but the index is ${network}\n$`))
    })
  }
})
