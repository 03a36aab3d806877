/**
 * Chain, network and control RPCs: getblockchaininfo, getblock, getblockhash,
 * getblockheader, getchaintips, the waitfor* long polls, invalidate/reconsider,
 * scantxoutset, getnetworkinfo and friends — answers shaped like Core 31's.
 */
import type {AddressPrefixes} from '../../../src/lib/chain/networks.js'
import type {BlockEntry} from './chain.js'
import {bitsToTarget, difficulty, hex256} from './block-codec.js'
import {Amount, HexString} from './core-json.js'
import type {NodeState, RpcMethod, SimPeer} from './rpc-methods.js'
import {RPC, RpcFailure, getInt, getBool, parseHash, parseVerbosity} from './rpc-params.js'
import {blockJson, headerJson} from './render.js'
import {addressToScript, descriptorChecksum, inferDescriptor} from './scripts.js'

export function blockOrThrow(node: NodeState, hash: string): BlockEntry {
  const entry = node.chain.get(hash)
  if (!entry) throw new RpcFailure(RPC.invalidAddressOrKey, 'Block not found')
  return entry
}

export function blockchainInfo(node: NodeState): Record<string, unknown> {
  const tip = node.chain.tip
  // in initial block download the node knows headers it has no blocks for yet
  const headers = node.syncHeaders()
  return {
    chain: node.chain.network,
    blocks: tip.height,
    headers: headers ?? tip.height,
    bestblockhash: tip.hash,
    bits: tip.bits.toString(16).padStart(8, '0'),
    target: hex256(bitsToTarget(tip.bits)),
    difficulty: difficulty(tip.bits),
    time: tip.time,
    mediantime: node.chain.medianTimePast(tip),
    verificationprogress: headers === undefined ? 1 : tip.height / headers,
    initialblockdownload: headers !== undefined,
    chainwork: hex256(tip.chainWork),
    size_on_disk: node.sizeOnDisk(),
    pruned: node.info.pruneHeight !== undefined,
    // -prune=1 is manual pruning: no automatic target
    ...(node.info.pruneHeight === undefined ? {} : {pruneheight: node.info.pruneHeight, automatic_pruning: false}),
    warnings: node.info.warnings,
  }
}

const network = (name: string, limited: boolean) => ({name, limited, reachable: !limited, proxy: '', proxy_randomize_credentials: false})

export function networkInfo(node: NodeState): Record<string, unknown> {
  const v = node.info.version
  return {
    version: v,
    subversion: node.info.subversion,
    protocolversion: 70017,
    localservices: '0000000000000c09',
    localservicesnames: ['NETWORK', 'WITNESS', 'NETWORK_LIMITED', 'P2P_V2'],
    localrelay: true,
    timeoffset: 0,
    networkactive: true,
    connections: node.info.peers.length,
    connections_in: node.info.peers.filter((p) => p.inbound).length,
    connections_out: node.info.peers.filter((p) => !p.inbound).length,
    networks: [network('ipv4', false), network('ipv6', false), network('onion', true), network('i2p', true), network('cjdns', true)],
    relayfee: new Amount(node.chain.policy.minRelayFeeRate),
    incrementalfee: new Amount(node.chain.policy.incrementalRelayFeeRate),
    localaddresses: [],
    tx_send_rate: 14,
    inv_buckets: {
      inbound: {backlog: 0, count_tok: 0, size_tok: 0},
      outbound: {backlog: 0, count_tok: 0, size_tok: 0},
    },
    warnings: node.info.warnings,
  }
}

/** Core's MIN_BLOCKS_TO_KEEP: manual pruning never reaches into the last 288 blocks */
const MIN_BLOCKS_TO_KEEP = 288

/**
 * pruneblockchain as Core answers it: refused unless -prune, never the last
 * 288 blocks; returns the height of the last block pruned. Core deletes whole
 * blk files, so it may keep more than asked; the simulator prunes to the
 * height exactly (it keeps serving the blocks: no test reads pruned data).
 */
function pruneBlockchain(node: NodeState, height: number): number {
  const kept = node.info.pruneHeight
  if (kept === undefined) throw new RpcFailure(RPC.miscError, 'Cannot prune blocks because node is not in prune mode.')
  if (height < 0) throw new RpcFailure(RPC.invalidParameter, 'Negative block height.')
  const tip = node.chain.height
  if (height > tip) throw new RpcFailure(RPC.invalidParameter, 'Blockchain is shorter than the attempted prune height.')
  const last = Math.min(height, tip - MIN_BLOCKS_TO_KEEP)
  node.info.pruneHeight = Math.max(kept, last + 1)
  return node.info.pruneHeight - 1
}

function peerJson(node: NodeState, peer: SimPeer): Record<string, unknown> {
  return {
    id: peer.id,
    addr: peer.addr,
    network: 'not_publicly_routable',
    services: '0000000000000c09',
    servicesnames: ['NETWORK', 'WITNESS', 'NETWORK_LIMITED', 'P2P_V2'],
    relaytxes: true,
    conntime: Math.floor(node.info.startedAt / 1000),
    timeoffset: 0,
    version: 70017,
    subver: peer.subver,
    inbound: peer.inbound,
    startingheight: peer.startingHeight,
    synced_headers: node.chain.height,
    synced_blocks: node.chain.height,
    connection_type: peer.connectionType,
    transport_protocol_type: 'v2',
  }
}

/** Resolves with the tip once `done` holds, the timeout passes (0 = never) or the node stops. */
function waitForTip(node: NodeState, timeoutMs: number, done: (tip: BlockEntry) => boolean): Promise<{hash: string; height: number}> {
  const answer = () => ({hash: node.chain.tip.hash, height: node.chain.tip.height})
  if (done(node.chain.tip) || node.stopping.aborted) return Promise.resolve(answer())
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer)
      node.chain.off('tip', onTip)
      node.stopping.removeEventListener('abort', finish)
      resolve(answer())
    }
    const onTip = (tip: BlockEntry) => {
      if (done(tip)) finish()
    }
    const timer = timeoutMs > 0 ? setTimeout(finish, timeoutMs) : undefined
    node.chain.on('tip', onTip)
    node.stopping.addEventListener('abort', finish)
  })
}

function timeoutArg(value: unknown): number {
  const ms = value === null || value === undefined ? 0 : getInt(value)
  if (ms < 0) throw new RpcFailure(RPC.miscError, 'Negative timeout')
  return ms
}

/** addr(...) and raw(...) descriptors, with or without checksum (what scantxoutset supports here). */
function descriptorScript(desc: string, prefixes: AddressPrefixes): Buffer {
  const [body, checksum] = desc.split('#')
  if (checksum !== undefined && checksum !== descriptorChecksum(body)) {
    throw new RpcFailure(RPC.invalidAddressOrKey, `Provided checksum '${checksum}' does not match computed checksum '${descriptorChecksum(body)}'`)
  }
  const keyed = /^(pk|pkh|wpkh|combo)\((.*)\)$/.exec(body)
  // Core's key parser: what is neither hex, WIF nor an extended key is "not valid" (keys themselves are not supported here)
  if (keyed && !/^[0-9a-fA-F]*$/.test(keyed[2]) && !/^[tx](pub|prv)/.test(keyed[2]) && !/^c[1-9A-HJ-NP-Za-km-z]{51}$/.test(keyed[2])) {
    throw new RpcFailure(RPC.invalidAddressOrKey, `${keyed[1]}(): key '${keyed[2]}' is not valid`)
  }
  const match = /^(addr|raw)\((.*)\)$/.exec(body)
  if (!match) throw new RpcFailure(RPC.invalidAddressOrKey, `'${body}' is not a valid descriptor function`)
  if (match[1] === 'raw') {
    if (!/^([0-9a-fA-F]{2})*$/.test(match[2])) throw new RpcFailure(RPC.invalidAddressOrKey, 'Raw script is not hex')
    return Buffer.from(match[2], 'hex')
  }
  try {
    return addressToScript(match[2], prefixes)
  } catch {
    throw new RpcFailure(RPC.invalidAddressOrKey, 'Address is not valid')
  }
}

/**
 * Core walks its coins database, keyed by the txid's bytes as stored (the
 * reverse of the hex shown) and then the output index: its unspents come in
 * that order.
 */
function inCoinsDbOrder<T>(coins: Iterable<[string, T]>): [string, T][] {
  const sortKey = (key: string) => {
    const i = key.lastIndexOf(':')
    return {stored: Buffer.from(key.slice(0, i), 'hex').reverse(), vout: Number(key.slice(i + 1))}
  }
  return [...coins]
    .map((entry) => ({entry, key: sortKey(entry[0])}))
    .sort((a, b) => Buffer.compare(a.key.stored, b.key.stored) || a.key.vout - b.key.vout)
    .map(({entry}) => entry)
}

function scanTxOutSet(node: NodeState, action: string, objects: unknown): unknown {
  if (action === 'abort') return false
  if (action === 'status') return null
  if (action !== 'start') throw new RpcFailure(RPC.invalidParameter, `Invalid action '${action}'`)
  if (!Array.isArray(objects)) throw new RpcFailure(RPC.miscError, 'scanobjects argument is required for the start action')
  const scripts = new Set<string>()
  for (const obj of objects) {
    const desc = typeof obj === 'string' ? obj : (obj as {desc?: unknown})?.desc
    if (typeof desc !== 'string') throw new RpcFailure(RPC.invalidParameter, 'Scan object needs to be either a string or an object')
    scripts.add(descriptorScript(desc, node.chain.addressPrefixes).toString('hex'))
  }
  const chain = node.chain
  const unspents: Record<string, unknown>[] = []
  let total = 0n
  for (const [key, coin] of inCoinsDbOrder(chain.ledger.coinsFor(scripts))) {
    const i = key.lastIndexOf(':')
    unspents.push({
      txid: key.slice(0, i),
      vout: Number(key.slice(i + 1)),
      scriptPubKey: coin.script.toString('hex'),
      desc: inferDescriptor(coin.script),
      amount: new Amount(coin.value),
      coinbase: coin.coinbase,
      height: coin.height,
      blockhash: chain.at(coin.height)!.hash,
      confirmations: chain.height - coin.height + 1,
    })
    total += coin.value
  }
  return {
    success: true,
    txouts: chain.ledger.utxos.size,
    height: chain.height,
    bestblock: chain.tip.hash,
    unspents,
    total_amount: new Amount(total),
  }
}

export const BLOCKCHAIN_METHODS: Record<string, RpcMethod> = {
  getblockchaininfo: {args: [], run: (node) => blockchainInfo(node)},
  getblockcount: {args: [], run: (node) => node.chain.height},
  getbestblockhash: {args: [], run: (node) => node.chain.tip.hash},
  getdifficulty: {args: [], run: (node) => difficulty(node.chain.tip.bits)},
  getblockhash: {
    args: [{name: 'height', type: 'num', required: true}],
    run: (node, [height]) => {
      const h = getInt(height)
      const entry = node.chain.at(h)
      if (h < 0 || !entry) throw new RpcFailure(RPC.invalidParameter, 'Block height out of range')
      return entry.hash
    },
  },
  getblockheader: {
    args: [
      {name: 'blockhash', type: 'str_hex', required: true},
      {name: 'verbose', type: 'bool'},
    ],
    run: (node, [hash, verbose]) => {
      const entry = blockOrThrow(node, parseHash(hash, 'blockhash'))
      return getBool(verbose, true) ? headerJson(node.chain, entry) : new HexString(entry.raw.subarray(0, 80))
    },
  },
  getblock: {
    args: [
      {name: 'blockhash', type: 'str_hex', required: true},
      {name: 'verbosity|verbose', type: 'num', skipTypeCheck: true},
    ],
    run: (node, [hash, verbosityArg]) => {
      let entry = blockOrThrow(node, parseHash(hash, 'blockhash'))
      const verbosity = parseVerbosity(verbosityArg, 1)
      if (node.takeWrongBlock()) entry = entry.prev ?? node.chain.tip
      if (verbosity <= 0) return new HexString(entry.raw)
      return blockJson(node.chain, entry, verbosity === 1 ? 'txid' : verbosity === 2 ? 'details' : 'prevout')
    },
  },
  getchaintips: {args: [], run: (node) => node.chain.tips()},
  waitforblockheight: {
    args: [
      {name: 'height', type: 'num', required: true},
      {name: 'timeout', type: 'num'},
    ],
    run: (node, [height, timeout]) => {
      const target = getInt(height)
      return waitForTip(node, timeoutArg(timeout), (tip) => tip.height >= target)
    },
  },
  waitfornewblock: {
    args: [
      {name: 'timeout', type: 'num'},
      {name: 'current_tip', type: 'str_hex'},
    ],
    run: (node, [timeout, currentTip]) => {
      const start = currentTip === null || currentTip === undefined ? node.chain.tip.hash : parseHash(currentTip, 'current_tip')
      return waitForTip(node, timeoutArg(timeout), (tip) => tip.hash !== start)
    },
  },
  waitforblock: {
    args: [
      {name: 'blockhash', type: 'str_hex', required: true},
      {name: 'timeout', type: 'num'},
    ],
    run: (node, [hash, timeout]) => {
      const wanted = parseHash(hash, 'blockhash')
      return waitForTip(node, timeoutArg(timeout), (tip) => tip.hash === wanted)
    },
  },
  invalidateblock: {
    args: [{name: 'blockhash', type: 'str_hex', required: true}],
    run: (node, [hash]) => {
      node.chain.invalidate(blockOrThrow(node, parseHash(hash, 'blockhash')).hash)
      return null
    },
  },
  reconsiderblock: {
    args: [{name: 'blockhash', type: 'str_hex', required: true}],
    run: (node, [hash]) => {
      node.chain.reconsider(blockOrThrow(node, parseHash(hash, 'blockhash')).hash)
      return null
    },
  },
  scantxoutset: {
    args: [
      {name: 'action', type: 'str', required: true},
      {name: 'scanobjects', type: 'arr'},
    ],
    run: (node, [action, objects]) => scanTxOutSet(node, action as string, objects),
  },
  getindexinfo: {
    args: [{name: 'index_name', type: 'str'}],
    run: (node, [name]) => {
      const info = {txindex: {synced: true, best_block_height: node.chain.height}}
      return name === null || name === undefined || name === 'txindex' ? info : {}
    },
  },
  getnetworkinfo: {args: [], run: (node) => networkInfo(node)},
  getpeerinfo: {args: [], run: (node) => node.info.peers.map((peer) => peerJson(node, peer))},
  getconnectioncount: {args: [], run: (node) => node.info.peers.length},
  pruneblockchain: {
    args: [{name: 'height', type: 'num', required: true}],
    run: (node, [heightArg]) => pruneBlockchain(node, getInt(heightArg)),
  },
  uptime: {args: [], run: (node) => Math.floor((Date.now() - node.info.startedAt) / 1000)},
  getnettotals: {
    args: [],
    run: (node) => {
      const {received, sent} = node.traffic()
      return {
        totalbytesrecv: received,
        totalbytessent: sent,
        timemillis: Date.now(),
        uploadtarget: {timeframe: 86400, target: 0, target_reached: false, serve_historical_blocks: true, bytes_left_in_cycle: 0, time_left_in_cycle: 0},
      }
    },
  },
  stop: {
    args: [{name: 'wait', type: 'num'}],
    run: (node) => {
      node.requestStop()
      return 'Bitcoin Core stopping'
    },
  },
}
