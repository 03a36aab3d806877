import {sha256d, toDisplayHex} from '../chain/hashes.js'
import {BixError} from '../errors.js'
import {sleep} from '../abortable.js'
import type {NodeClient} from '../node/types.js'
import {type BlockSource, type RawBlock, type ReadAhead, type WantedBlock, fetchInOrder} from './block-source.js'

/** A block whose header the node has but not yet its data: worth a few short waits (as electrs does). */
const NOT_READY_RETRIES = 5
const NOT_READY_WAIT_MS = 1000

/**
 * Blocks over bitcoind's REST interface (`-rest`): `/rest/block/<hash>.bin`
 * is the block file's bytes as they are, no hex and no JSON, so it is the
 * cheapest way to get a block from a node bix cannot read the files of.
 */
export class RestBlockSource implements BlockSource {
  readonly kind = 'rest'

  constructor(
    private readonly client: NodeClient,
    private readonly readAhead: ReadAhead,
  ) {}

  async *blocks(wanted: readonly WantedBlock[], signal: AbortSignal): AsyncGenerator<RawBlock> {
    const fetched = fetchInOrder(wanted, (block, s) => fetchBlockOverRest(this.client, block, s), this.readAhead, signal)
    for await (const {item, bytes} of fetched) yield {height: item.height, hash: item.hash, bytes, from: 'rest'}
  }
}

export async function fetchBlockOverRest(client: NodeClient, block: WantedBlock, signal: AbortSignal): Promise<Buffer> {
  const hashHex = toDisplayHex(block.hash)
  const path = `/rest/block/${hashHex}.bin`
  for (let attempt = 0; ; attempt++) {
    const reply = await client.restGet(path, {signal})
    if (reply.status === 200) {
      const bytes = reply.body
      if (bytes.length < 80 || !sha256d(bytes.subarray(0, 80)).equals(block.hash)) {
        throw new BixError('BadBlock', `bad block at height ${block.height}: ${path} sent ${bytes.length} bytes that are not block ${hashHex}`)
      }
      return bytes
    }
    const text = reply.body.toString('utf8', 0, 300).trim()
    if (reply.status === 404 && /not fully downloaded/.test(text) && attempt < NOT_READY_RETRIES) {
      await sleep(NOT_READY_WAIT_MS, signal)
      continue
    }
    if (/pruned/.test(text)) {
      throw new BixError('NodeUnsupported', `block ${block.height} (${hashHex}) is pruned on the node: bix index needs a node with -prune=0`)
    }
    throw new BixError('NodeError', `${path} answered HTTP ${reply.status}${text ? `: ${text}` : ''}`)
  }
}

/**
 * Whether the node serves REST: /rest/chaininfo.json answers 404 (an unknown
 * path, empty body) when bitcoind runs without -rest.
 */
export async function restEnabled(client: NodeClient, signal: AbortSignal): Promise<boolean> {
  const reply = await client.restGet('/rest/chaininfo.json', {signal})
  return reply.status === 200
}
