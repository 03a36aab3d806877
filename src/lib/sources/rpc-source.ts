import {toDisplayHex} from '../chain/hashes.js'
import {BixError} from '../errors.js'
import {getRawBlock} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'
import {type BlockSource, type RawBlock, type ReadAhead, type WantedBlock, fetchInOrder} from './block-source.js'

/**
 * Blocks over JSON-RPC: `getblock <hash> 0`, one request per block, several
 * in flight. Not JSON-RPC batches: bitcoind runs a batch serially on one
 * thread, while separate requests run on its RPC threads in parallel.
 */
export class RpcBlockSource implements BlockSource {
  readonly kind = 'rpc'

  constructor(
    private readonly client: NodeClient,
    private readonly readAhead: ReadAhead,
  ) {}

  async *blocks(wanted: readonly WantedBlock[], signal: AbortSignal): AsyncGenerator<RawBlock> {
    const fetched = fetchInOrder(wanted, (block, s) => fetchBlockOverRpc(this.client, block, s), this.readAhead, signal)
    for await (const {item, bytes} of fetched) yield {height: item.height, hash: item.hash, bytes, from: 'rpc'}
  }
}

/** One block's bytes as the node serves them over RPC (also the blk source's fallback). */
export async function fetchBlockOverRpc(client: NodeClient, block: WantedBlock, signal: AbortSignal): Promise<Buffer> {
  try {
    return await getRawBlock(client, toDisplayHex(block.hash), {signal})
  } catch (err) {
    throw atHeight(err, block.height)
  }
}

/** A BadBlock error from a fetch, with the height the block was wanted at. */
export function atHeight(err: unknown, height: number): unknown {
  if (err instanceof BixError && err.kind === 'BadBlock') {
    return new BixError('BadBlock', `bad block at height ${height}: ${err.message}`, {cause: err})
  }
  return err
}
