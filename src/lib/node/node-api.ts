import {sha256d, toDisplayHex} from '../chain/hashes.js'
import {BixError} from '../errors.js'
import {fields, hash, hashList, hexBytes, number, object, warningsOf} from './answer-fields.js'
import type {CallOptions, NodeClient} from './types.js'

/**
 * The bitcoind calls bix makes, typed. Answers are checked field by field
 * (a node that answers nonsense is an error here, not a crash later), amounts
 * become integer satoshis, and field names become camelCase.
 */

export interface BlockchainInfo {
  chain: string
  blocks: number
  /** -1 before the node has any header */
  headers: number
  bestBlockHash: string
  verificationProgress: number
  initialBlockDownload: boolean
  pruned: boolean
  /** first height with block data, when pruned */
  pruneHeight?: number
  sizeOnDisk: number
  time?: number
  medianTime: number
  /** a string before Core 28 (and with -deprecatedrpc=warnings), an array since; always an array here */
  warnings: string[]
}

export interface NetworkInfo {
  /** 10000 × major + 100 × minor + patch: 280000 for 28.0.0 */
  version: number
  subversion: string
  protocolVersion: number
  connections: number
  connectionsIn: number
  connectionsOut: number
  warnings: string[]
}

export interface BlockHeader {
  hash: string
  height: number
  /** -1 when the block is not in the active chain */
  confirmations: number
  version: number
  merkleRoot: string
  time: number
  medianTime: number
  nonce: number
  bits: string
  difficulty: number
  chainwork: string
  nTx: number
  previousBlockHash?: string
  nextBlockHash?: string
}

export interface MempoolInfo {
  /** false until mempool.dat is loaded: an empty mempool means nothing before that */
  loaded: boolean
  size: number
  bytes: number
  usage: number
  maxMempool: number
  totalFeeSats?: number
  /** fee rates in sat per 1000 vbytes, as the node states them in BTC/kvB */
  mempoolMinFeeSatPerKvB: number
  minRelayTxFeeSatPerKvB: number
}

export interface MempoolEntry {
  vsize: number
  weight?: number
  time: number
  height: number
  wtxid?: string
  fees: {base: number; modified: number; ancestor: number; descendant: number}
  ancestorCount: number
  descendantCount: number
  depends: string[]
  spentBy: string[]
}

export interface RawMempoolSequence {
  txids: string[]
  mempoolSequence: number
}

export interface TestAcceptResult {
  txid: string
  wtxid?: string
  /** absent when a package error prevented a verdict */
  allowed?: boolean
  vsize?: number
  feeSats?: number
  rejectReason?: string
  rejectDetails?: string
  packageError?: string
}

export interface SubmitPackageResult {
  packageMsg: string
  txResults: Array<{wtxid: string; txid?: string; otherWtxid?: string; vsize?: number; feeSats?: number; error?: string}>
  replacedTransactions: string[]
}

export interface ChainTip {
  height: number
  hash: string
  branchLen: number
  status: string
}

export interface PeerSummary {
  total: number
  inbound: number
  outbound: number
}

/** BTC as the node writes it (a JSON number with up to 8 decimals) → satoshis; exact below 2^53. */
export function btcToSats(btc: number): number {
  if (!Number.isFinite(btc)) throw new BixError('NodeError', `the node sent an amount that is not a number: ${btc}`)
  return Math.round(btc * 1e8)
}

export async function getBlockchainInfo(client: NodeClient, options?: CallOptions): Promise<BlockchainInfo> {
  const r = object(await client.call('getblockchaininfo', [], options), 'getblockchaininfo')
  const f = fields(r, 'getblockchaininfo')
  return {
    chain: f.str('chain'),
    blocks: f.num('blocks'),
    headers: f.num('headers'),
    bestBlockHash: f.str('bestblockhash'),
    verificationProgress: f.num('verificationprogress'),
    initialBlockDownload: f.bool('initialblockdownload'),
    pruned: f.bool('pruned'),
    pruneHeight: f.optNum('pruneheight'),
    sizeOnDisk: f.optNum('size_on_disk') ?? 0,
    time: f.optNum('time'),
    medianTime: f.num('mediantime'),
    warnings: warningsOf(r.warnings),
  }
}

export async function getNetworkInfo(client: NodeClient, options?: CallOptions): Promise<NetworkInfo> {
  const r = object(await client.call('getnetworkinfo', [], options), 'getnetworkinfo')
  const f = fields(r, 'getnetworkinfo')
  return {
    version: f.num('version'),
    subversion: f.str('subversion'),
    protocolVersion: f.num('protocolversion'),
    connections: f.num('connections'),
    connectionsIn: f.optNum('connections_in') ?? 0,
    connectionsOut: f.optNum('connections_out') ?? 0,
    warnings: warningsOf(r.warnings),
  }
}

export async function getBlockCount(client: NodeClient, options?: CallOptions): Promise<number> {
  return number(await client.call('getblockcount', [], options), 'getblockcount')
}

export async function getBestBlockHash(client: NodeClient, options?: CallOptions): Promise<string> {
  return hash(await client.call('getbestblockhash', [], options), 'getbestblockhash')
}

export async function getBlockHash(client: NodeClient, height: number, options?: CallOptions): Promise<string> {
  return hash(await client.call('getblockhash', [height], options), 'getblockhash')
}

/** Block hashes for many heights in batches of 1000; a height the node lacks fails the whole call with its RpcError (-8). */
export async function getBlockHashes(client: NodeClient, heights: readonly number[], options?: CallOptions): Promise<string[]> {
  const chunks: number[][] = []
  for (let i = 0; i < heights.length; i += 1000) chunks.push(heights.slice(i, i + 1000))
  const answers = await Promise.all(chunks.map((chunk) => client.batch<unknown>(chunk.map((h) => ({method: 'getblockhash', params: [h]})), options)))
  return answers.flat().map((answer) => {
    if (!answer.ok) throw answer.error
    return hash(answer.result, 'getblockhash')
  })
}

export async function getBlockHeader(client: NodeClient, blockHash: string, options?: CallOptions): Promise<BlockHeader> {
  const r = object(await client.call('getblockheader', [blockHash, true], options), 'getblockheader')
  const f = fields(r, 'getblockheader')
  return {
    hash: f.str('hash'),
    height: f.num('height'),
    confirmations: f.num('confirmations'),
    version: f.num('version'),
    merkleRoot: f.str('merkleroot'),
    time: f.num('time'),
    medianTime: f.num('mediantime'),
    nonce: f.num('nonce'),
    bits: f.str('bits'),
    difficulty: f.num('difficulty'),
    chainwork: f.str('chainwork'),
    nTx: f.num('nTx'),
    previousBlockHash: f.optStr('previousblockhash'),
    nextBlockHash: f.optStr('nextblockhash'),
  }
}

/** The 80-byte serialized header. */
export async function getBlockHeaderRaw(client: NodeClient, blockHash: string, options?: CallOptions): Promise<Buffer> {
  const bytes = hexBytes(await client.call('getblockheader', [blockHash, false], options), 'getblockheader')
  if (bytes.length !== 80) throw new BixError('NodeError', `getblockheader ${blockHash}: expected 80 bytes, got ${bytes.length}`)
  return bytes
}

/** The block as stored (getblock <hash> 0), checked to be the block asked for. */
export async function getRawBlock(client: NodeClient, blockHash: string, options?: CallOptions): Promise<Buffer> {
  const bytes = hexBytes(await client.call('getblock', [blockHash, 0], options), 'getblock')
  const got = bytes.length >= 80 ? toDisplayHex(sha256d(bytes.subarray(0, 80))) : ''
  if (got !== blockHash.toLowerCase()) {
    throw new BixError('BadBlock', `getblock ${blockHash}: the node sent ${bytes.length} bytes that are not that block`)
  }
  return bytes
}

export async function getMempoolInfo(client: NodeClient, options?: CallOptions): Promise<MempoolInfo> {
  const r = object(await client.call('getmempoolinfo', [], options), 'getmempoolinfo')
  const f = fields(r, 'getmempoolinfo')
  const totalFee = f.optNum('total_fee')
  return {
    loaded: f.optBool('loaded') ?? true,
    size: f.num('size'),
    bytes: f.num('bytes'),
    usage: f.num('usage'),
    maxMempool: f.num('maxmempool'),
    totalFeeSats: totalFee === undefined ? undefined : btcToSats(totalFee),
    mempoolMinFeeSatPerKvB: btcToSats(f.num('mempoolminfee')),
    minRelayTxFeeSatPerKvB: btcToSats(f.num('minrelaytxfee')),
  }
}

export async function getRawMempool(client: NodeClient, options?: CallOptions): Promise<string[]> {
  return hashList(await client.call('getrawmempool', [false], options), 'getrawmempool')
}

/** txid → entry. Heavy on a big mempool (hundreds of MB of JSON): prefer getRawMempool + getMempoolEntry. */
export async function getRawMempoolVerbose(client: NodeClient, options?: CallOptions): Promise<Map<string, MempoolEntry>> {
  const r = object(await client.call('getrawmempool', [true], options), 'getrawmempool')
  return new Map(Object.entries(r).map(([txid, entry]) => [txid, mempoolEntry(entry, `getrawmempool ${txid}`)]))
}

/** The txids with the mempool sequence number they belong to (the counter ZMQ publishes). */
export async function getRawMempoolSequence(client: NodeClient, options?: CallOptions): Promise<RawMempoolSequence> {
  const r = object(await client.call('getrawmempool', [false, true], options), 'getrawmempool')
  return {txids: hashList(r.txids, 'getrawmempool'), mempoolSequence: fields(r, 'getrawmempool').num('mempool_sequence')}
}

export async function getMempoolEntry(client: NodeClient, txid: string, options?: CallOptions): Promise<MempoolEntry> {
  return mempoolEntry(await client.call('getmempoolentry', [txid], options), 'getmempoolentry')
}

export async function getRawTransactionHex(client: NodeClient, txid: string, options?: CallOptions): Promise<string> {
  const hex = await client.call('getrawtransaction', [txid, false], options)
  if (typeof hex !== 'string' || !/^([0-9a-f]{2})+$/i.test(hex)) throw new BixError('NodeError', 'getrawtransaction: the node did not send hex')
  return hex
}

/** An outpoint and, when the node knows one, the transaction spending it (gettxspendingprevout). */
export interface OutpointSpend {
  txid: string
  vout: number
  spendingTxid?: string
  /** present when the spender is confirmed (nodes with -txospenderindex) */
  blockHash?: string
}

/**
 * Who spends each outpoint: the mempool's spender on every node (Core 24+),
 * and confirmed spenders too on a node with -txospenderindex.
 */
export async function getTxSpendingPrevout(
  client: NodeClient,
  outpoints: ReadonlyArray<{txid: string; vout: number}>,
  options?: CallOptions,
): Promise<OutpointSpend[]> {
  const r = await client.call('gettxspendingprevout', [outpoints.map((o) => ({txid: o.txid, vout: o.vout}))], options)
  if (!Array.isArray(r) || r.length !== outpoints.length) throw new BixError('NodeError', 'gettxspendingprevout: the node did not send one answer per outpoint')
  return r.map((item) => {
    const f = fields(object(item, 'gettxspendingprevout'), 'gettxspendingprevout')
    const spendingTxid = f.optStr('spendingtxid')
    const blockHash = f.optStr('blockhash')
    return {txid: f.str('txid'), vout: f.num('vout'), ...(spendingTxid ? {spendingTxid} : {}), ...(blockHash ? {blockHash} : {})}
  })
}

/**
 * Broadcast. maxfeerate is in BTC/kvB (node default 0.10; 0 = no limit),
 * maxburnamount in BTC (node default 0). Returns the txid. A transaction
 * already in the mempool is a success (the node re-announces it).
 */
export async function sendRawTransaction(
  client: NodeClient,
  hex: string,
  maxfeerate?: number,
  maxburnamount?: number,
  options?: CallOptions,
): Promise<string> {
  return hash(await client.call('sendrawtransaction', optionalParams([hex, maxfeerate, maxburnamount]), options), 'sendrawtransaction')
}

/** Policy check without broadcasting: 1 to 25 transactions; maxfeerate in BTC/kvB. */
export async function testMempoolAccept(client: NodeClient, hexes: readonly string[], maxfeerate?: number, options?: CallOptions): Promise<TestAcceptResult[]> {
  const r = await client.call('testmempoolaccept', optionalParams([hexes, maxfeerate]), options)
  if (!Array.isArray(r)) throw new BixError('NodeError', 'testmempoolaccept: the node did not send a list')
  return r.map((item) => {
    const o = object(item, 'testmempoolaccept')
    const f = fields(o, 'testmempoolaccept')
    const fees = o.fees === undefined ? undefined : fields(object(o.fees, 'testmempoolaccept fees'), 'testmempoolaccept fees')
    return {
      txid: f.str('txid'),
      wtxid: f.optStr('wtxid'),
      allowed: f.optBool('allowed'),
      vsize: f.optNum('vsize'),
      feeSats: fees ? btcToSats(fees.num('base')) : undefined,
      rejectReason: f.optStr('reject-reason'),
      rejectDetails: f.optStr('reject-details'),
      packageError: f.optStr('package-error'),
    }
  })
}

/** Broadcast a package (child with its parents); maxfeerate BTC/kvB, maxburnamount BTC. */
export async function submitPackage(
  client: NodeClient,
  hexes: readonly string[],
  maxfeerate?: number,
  maxburnamount?: number,
  options?: CallOptions,
): Promise<SubmitPackageResult> {
  const r = object(await client.call('submitpackage', optionalParams([hexes, maxfeerate, maxburnamount]), options), 'submitpackage')
  const txResults = object(r['tx-results'] ?? {}, 'submitpackage tx-results')
  return {
    packageMsg: typeof r.package_msg === 'string' ? r.package_msg : '',
    txResults: Object.entries(txResults).map(([wtxid, value]) => {
      const o = object(value, 'submitpackage tx-results')
      const f = fields(o, 'submitpackage tx-results')
      const fees = o.fees === undefined ? undefined : fields(object(o.fees, 'submitpackage fees'), 'submitpackage fees')
      return {
        wtxid,
        txid: f.optStr('txid'),
        otherWtxid: f.optStr('other-wtxid'),
        vsize: f.optNum('vsize'),
        feeSats: fees ? btcToSats(fees.num('base')) : undefined,
        error: f.optStr('error'),
      }
    }),
    replacedTransactions: r['replaced-transactions'] === undefined ? [] : hashList(r['replaced-transactions'], 'submitpackage'),
  }
}

export async function getChainTips(client: NodeClient, options?: CallOptions): Promise<ChainTip[]> {
  const r = await client.call('getchaintips', [], options)
  if (!Array.isArray(r)) throw new BixError('NodeError', 'getchaintips: the node did not send a list')
  return r.map((item) => {
    const f = fields(object(item, 'getchaintips'), 'getchaintips')
    return {height: f.num('height'), hash: f.str('hash'), branchLen: f.num('branchlen'), status: f.str('status')}
  })
}

/** The node's own indexes (txindex, block filter index, …) and how far they are. */
export async function getIndexInfo(client: NodeClient, options?: CallOptions): Promise<Record<string, {synced: boolean; bestBlockHeight: number}>> {
  const r = object(await client.call('getindexinfo', [], options), 'getindexinfo')
  return Object.fromEntries(
    Object.entries(r).map(([name, value]) => {
      const f = fields(object(value, 'getindexinfo'), 'getindexinfo')
      return [name, {synced: f.bool('synced'), bestBlockHeight: f.num('best_block_height')}]
    }),
  )
}

export async function getPeerSummary(client: NodeClient, options?: CallOptions): Promise<PeerSummary> {
  const r = await client.call('getpeerinfo', [], options)
  if (!Array.isArray(r)) throw new BixError('NodeError', 'getpeerinfo: the node did not send a list')
  const inbound = r.filter((peer) => object(peer, 'getpeerinfo').inbound === true).length
  return {total: r.length, inbound, outbound: r.length - inbound}
}

/** Seconds since bitcoind started. */
export async function getUptime(client: NodeClient, options?: CallOptions): Promise<number> {
  return number(await client.call('uptime', [], options), 'uptime')
}

function mempoolEntry(value: unknown, what: string): MempoolEntry {
  const o = object(value, what)
  const f = fields(o, what)
  const fees = fields(object(o.fees, `${what} fees`), `${what} fees`)
  return {
    vsize: f.num('vsize'),
    weight: f.optNum('weight'),
    time: f.num('time'),
    height: f.num('height'),
    wtxid: f.optStr('wtxid'),
    fees: {
      base: btcToSats(fees.num('base')),
      modified: btcToSats(fees.num('modified')),
      ancestor: btcToSats(fees.num('ancestor')),
      descendant: btcToSats(fees.num('descendant')),
    },
    ancestorCount: f.num('ancestorcount'),
    descendantCount: f.num('descendantcount'),
    depends: hashList(o.depends ?? [], what),
    spentBy: hashList(o.spentby ?? [], what),
  }
}

/** Trailing optional parameters left out; a gap becomes null, which Core reads as "not given". */
function optionalParams(params: unknown[]): unknown[] {
  let end = params.length
  while (end > 0 && params[end - 1] === undefined) end--
  return params.slice(0, end).map((p) => (p === undefined ? null : p))
}
