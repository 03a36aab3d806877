import {NETWORKS, type NetworkName} from '../chain/networks.js'
import {sha256d, toDisplayHex} from '../chain/hashes.js'
import {BixError, badInput} from '../errors.js'
import type {NodeClient} from '../node/types.js'
import {listBlockFiles, readXorKey, scanBlockFile} from './blk-files.js'
import {BlkBlockSource} from './blk-source.js'
import type {BlockSource, ReadAhead, SourceKind} from './block-source.js'
import {RestBlockSource, restEnabled} from './rest-source.js'
import {RpcBlockSource, fetchBlockOverRpc} from './rpc-source.js'

export type SourceChoice = 'auto' | SourceKind

/** Reading the node's files pays off when there is a lot to read; a few blocks are quicker over HTTP. */
export const BLK_MIN_BLOCKS_BEHIND = 1000

export interface SourceRequest {
  choice: SourceChoice
  client: NodeClient
  network: NetworkName
  blocksDir: string
  /** blocks between the index's tip and the node's */
  blocksBehind: number
  readAhead: ReadAhead
  signal: AbortSignal
}

export interface ChosenSource {
  source: BlockSource
  /** why this source, in a few words for the operator */
  reason: string
}

/**
 * --source auto: the node's block files when they are readable here and the
 * index is far behind, else REST when the node serves it, else RPC. An
 * explicit choice that cannot work is refused, saying why.
 */
export async function chooseSource(request: SourceRequest): Promise<ChosenSource> {
  const {choice, client, readAhead, signal} = request
  if (choice === 'rpc') return {source: new RpcBlockSource(client, readAhead), reason: 'chosen with --source rpc'}
  const restOff = 'the node does not serve REST (start bitcoind with -rest=1 to use it)'
  if (choice === 'rest') {
    if (!(await restEnabled(client, signal))) throw badInput(`--source rest: ${restOff}`)
    return {source: new RestBlockSource(client, readAhead), reason: 'chosen with --source rest'}
  }

  const files = choice === 'blk' || request.blocksBehind > BLK_MIN_BLOCKS_BEHIND ? await blockFilesProblem(request) : 'not needed'
  if (choice === 'blk') {
    if (files !== undefined) throw badInput(`--source blk: ${files}`)
    return {source: await blkSource(request), reason: `chosen with --source blk, reading ${request.blocksDir}`}
  }
  if (files === undefined) {
    return {source: await blkSource(request), reason: `${request.blocksBehind} blocks to index and the node's block files are readable in ${request.blocksDir}`}
  }
  const why = files === 'not needed' ? `only ${request.blocksBehind} blocks to index` : files
  if (await restEnabled(client, signal)) {
    return {source: new RestBlockSource(client, readAhead), reason: `the node serves REST; not its block files: ${why}`}
  }
  return {source: new RpcBlockSource(client, readAhead), reason: `${restOff}; not its block files: ${why}`}
}

async function blkSource(request: SourceRequest): Promise<BlkBlockSource> {
  const {client, readAhead} = request
  return new BlkBlockSource({
    blocksDir: request.blocksDir,
    magic: NETWORKS[request.network].magic,
    xorKey: await readXorKey(request.blocksDir),
    client,
    fallback: {kind: 'rpc', fetch: (block, signal) => fetchBlockOverRpc(client, block, signal)},
    readAhead,
  })
}

/**
 * Why the node's block files cannot be used here, or undefined when they can:
 * the directory must be readable, and its first file must start with this
 * network's genesis block (as bitcoind writes it), so files of another chain
 * or another program are not scanned for nothing.
 */
async function blockFilesProblem(request: SourceRequest): Promise<string | undefined> {
  const {blocksDir, network, signal} = request
  let files: string[]
  let xorKey: Buffer | undefined
  try {
    xorKey = await readXorKey(blocksDir)
    files = await listBlockFiles(blocksDir)
  } catch (err) {
    if (err instanceof BixError) return err.message
    const code = (err as NodeJS.ErrnoException).code
    return `cannot read ${blocksDir} (${code ?? String(err)}); pass --blocksdir if the node keeps its blocks elsewhere`
  }
  if (files.length === 0) return `no blk*.dat files in ${blocksDir}`
  for await (const record of scanBlockFile(files[0], {magic: NETWORKS[network].magic, xorKey, signal})) {
    const first = toDisplayHex(sha256d(record.bytes.subarray(0, 80)))
    return first === NETWORKS[network].genesisHash ? undefined : `${files[0]} does not start with the ${network} genesis block`
  }
  return `${files[0]} holds no ${network} block`
}

/**
 * For the few blocks a query reads (`bix query tx`): REST when the node
 * serves it, else `getblock`. Never the node's files: finding one block in
 * them means scanning them first, and the node answers at once.
 */
export async function chooseQuerySource(client: NodeClient, readAhead: ReadAhead, signal: AbortSignal): Promise<BlockSource> {
  return (await restEnabled(client, signal)) ? new RestBlockSource(client, readAhead) : new RpcBlockSource(client, readAhead)
}
