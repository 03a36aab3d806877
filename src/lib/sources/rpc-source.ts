import {sha256d, toDisplayHex} from '../chain/hashes.js'
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
    const fetched = fetchInOrder(wanted, (block, s) => fetchBlockHexOverRpc(this.client, block, s), this.readAhead, signal)
    for await (const {item, bytes} of fetched) {
      // hex that does not decode (damaged on the way after the header): the block once more, read and checked as JSON
      yield {height: item.height, hash: item.hash, bytes, from: 'rpc', encoding: 'hex', refetch: async () => ({...item, bytes: await fetchBlockOverRpc(this.client, item, signal), from: 'rpc'})}
    }
  }
}

/**
 * One block as hex text, as the node sent it: its header alone is decoded and
 * checked here; the rest is decoded with the parsing, on the decoding thread
 * (RawBlock.encoding), not on the writer's. An answer whose header is not
 * hex is asked again and read as JSON, which retries an answer damaged on
 * the way.
 */
async function fetchBlockHexOverRpc(client: NodeClient, block: WantedBlock, signal: AbortSignal): Promise<Buffer> {
  const display = toDisplayHex(block.hash)
  try {
    let hex = await client.callHexResult('getblock', [display, 0], {signal})
    let header = headerOfHex(hex)
    if (header === undefined) {
      // not even hex where the header is: damaged on the way, so once more, read as JSON (which retries damage)
      const text = await client.call('getblock', [display, 0], {signal})
      if (typeof text !== 'string') throw new BixError('NodeError', 'getblock: the node did not send hex')
      hex = Buffer.from(text, 'latin1')
      header = headerOfHex(hex)
    }
    if (header === undefined || !sha256d(header).equals(block.hash)) {
      throw new BixError('BadBlock', `getblock ${display}: the node sent ${Math.floor(hex.length / 2)} bytes that are not that block`)
    }
    return hex
  } catch (err) {
    throw atHeight(err, block.height)
  }
}

/** The 80-byte header that hex text starts with, undefined when it does not start with 160 hex digits. */
function headerOfHex(hex: Buffer): Buffer | undefined {
  const header = Buffer.from(hex.toString('latin1', 0, 160), 'hex')
  return header.length === 80 ? header : undefined
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
