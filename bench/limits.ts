import path from 'node:path'

import {parseBlock} from '../src/lib/chain/block-parser.js'
import {fromDisplayHex, toDisplayHex} from '../src/lib/chain/hashes.js'
import {NETWORKS} from '../src/lib/chain/networks.js'
import {makeEndpoint} from '../src/lib/node/config.js'
import {getBlockHashes, getRawMempool} from '../src/lib/node/node-api.js'
import {DEFAULT_FETCH_BATCH} from '../src/lib/mempool/mempool-sync.js'
import {fetchMempoolTxs} from '../src/lib/mempool/mempool-rpc.js'
import {createNodeClient} from '../src/lib/node/rpc-client.js'
import type {NodeClient} from '../src/lib/node/types.js'
import {listBlockFiles, readXorKey, scanBlockFile} from '../src/lib/sources/blk-files.js'
import {type ReadAhead, fetchInOrder} from '../src/lib/sources/block-source.js'

/**
 * The two ceilings bix's indexing is held against, measured with bix's own
 * code minus everything an index adds: (a) reading the blk files and
 * parsing every block (de-XOR, parse, double-SHA256 of every transaction),
 * and (e) fetching every block over JSON-RPC through bix's client with the
 * same parallelism and read-ahead as `bix index --source rpc`, each answer
 * decoded from hex in one native call and nothing else.
 */

export interface LimitResult {
  blocks: number
  txs: number
  bytes: number
  ms: number
}

/** (a): every record of every blk file, de-XORed and parsed (txids included), no database. */
export async function measureParseLimit(datadir: string): Promise<LimitResult> {
  const blocksDir = path.join(datadir, 'regtest', 'blocks')
  const started = performance.now()
  const xorKey = await readXorKey(blocksDir)
  let blocks = 0
  let txs = 0
  let bytes = 0
  for (const file of await listBlockFiles(blocksDir)) {
    for await (const record of scanBlockFile(file, {magic: NETWORKS.regtest.magic, xorKey})) {
      const block = parseBlock(record.bytes)
      blocks++
      txs += block.txs.length
      bytes += record.bytes.length
    }
  }
  return {blocks, txs, bytes, ms: performance.now() - started}
}

export interface RpcLimitOptions {
  datadir: string
  port: number
  /** requests in flight, as bix's --rpc-parallelism */
  parallelism: number
  readAhead: ReadAhead
}

/** (e): getblock <hash> 0 for every block of the node's chain, hex decoded, nothing more. */
export async function measureRpcLimit(o: RpcLimitOptions): Promise<LimitResult> {
  const client = benchClient(o.datadir, o.port, o.parallelism)
  const signal = new AbortController().signal
  try {
    const started = performance.now()
    const tip = (await client.call('getblockcount', [])) as number
    const heights = Array.from({length: tip + 1}, (_, h) => h)
    const wanted = (await getBlockHashes(client, heights, {signal})).map((hash, height) => ({height, hash: fromDisplayHex(hash)}))
    let blocks = 0
    let bytes = 0
    let txs = 0
    const fetchOne = async (block: {hash: Buffer}, s: AbortSignal): Promise<Buffer> => {
      const hex = (await client.call('getblock', [toDisplayHex(block.hash), 0], {signal: s})) as string
      return Buffer.from(hex, 'hex')
    }
    for await (const {bytes: raw} of fetchInOrder(wanted, fetchOne, o.readAhead, signal)) {
      blocks++
      bytes += raw.length
      txs += txCountOf(raw)
    }
    return {blocks, txs, bytes, ms: performance.now() - started}
  } finally {
    await client.close()
  }
}

export interface MempoolFetchLimit {
  /** the node's txids, in its order */
  listed: string[]
  fetched: number
  ms: number
}

/**
 * The mempool parts' ceiling: getrawmempool, then getmempoolentry +
 * getrawtransaction for every txid not in `known`, in bix sync-mempool's
 * batches and with its parallelism, through bix's client; nothing else.
 */
export async function measureMempoolFetchLimit(o: {datadir: string; port: number; parallelism: number; known?: ReadonlySet<string>}): Promise<MempoolFetchLimit> {
  const client = benchClient(o.datadir, o.port, o.parallelism)
  try {
    const started = performance.now()
    const listed = await getRawMempool(client)
    const wanted = o.known ? listed.filter((txid) => !o.known!.has(txid)) : listed
    let next = 0
    let fetched = 0
    const worker = async () => {
      while (next < wanted.length) {
        const batch = wanted.slice(next, (next += DEFAULT_FETCH_BATCH))
        const entries = await fetchMempoolTxs(client, batch)
        fetched += entries.length
      }
    }
    await Promise.all(Array.from({length: o.parallelism}, worker))
    return {listed, fetched, ms: performance.now() - started}
  } finally {
    await client.close()
  }
}

/** A client of the simulated node, with cookie authentication from the datadir as bix uses it. */
export function benchClient(datadir: string, port: number, parallelism: number): NodeClient {
  const netDatadir = path.join(datadir, 'regtest')
  return createNodeClient(
    {
      network: 'regtest',
      networkExplicit: true,
      datadir,
      netDatadir,
      endpoints: [makeEndpoint('127.0.0.1', port)],
      credentials: {kind: 'cookie', path: path.join(netDatadir, '.cookie')},
    },
    {parallelism, connectTimeoutMs: 5000, requestTimeoutMs: 120_000},
  )
}

/** The transaction count right after the header (a CompactSize), so (e) can report tx/s without parsing. */
function txCountOf(block: Buffer): number {
  const first = block[80]
  if (first < 0xfd) return first
  if (first === 0xfd) return block.readUInt16LE(81)
  return block.readUInt32LE(81)
}
