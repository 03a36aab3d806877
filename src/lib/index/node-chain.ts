import {fromDisplayHex, sha256d, toDisplayHex} from '../chain/hashes.js'
import {BixError, RpcCode, RpcError} from '../errors.js'
import {getBlockHashes, getBlockchainInfo} from '../node/node-api.js'
import type {NodeClient} from '../node/types.js'
import type {WantedBlock} from '../sources/block-source.js'

/**
 * The node's active chain as the indexer sees it: its tip, its hashes at
 * given heights, and the blocks after a given one, a window at a time. Asked
 * again for every window, so a reorg on the node shows up as hashes that no
 * longer link to what was indexed.
 */
export interface NodeChain {
  tip(signal: AbortSignal): Promise<{height: number; hash: Buffer}>
  /** active-chain hashes at these heights; a height above the tip fails (RpcError -8) */
  hashesAt(heights: number[], signal: AbortSignal): Promise<Buffer[]>
  /**
   * Up to `count` blocks after `from` (null: from genesis), none above
   * `toHeight`. An empty answer while `from` is below `toHeight` means the
   * node's active chain no longer goes through `from`, or got shorter.
   */
  after(from: WantedBlock | null, toHeight: number, count: number, signal: AbortSignal): Promise<WantedBlock[]>
}

/** REST serves at most this many headers per request (MAX_REST_HEADERS_RESULTS). */
export const REST_HEADERS_MAX = 2000
const HEADER_BYTES = 80

/** getblockchaininfo, and getblockhash for each height in JSON-RPC batches (cheap calls, so batching pays). */
export class RpcNodeChain implements NodeChain {
  constructor(protected readonly client: NodeClient) {}

  async tip(signal: AbortSignal): Promise<{height: number; hash: Buffer}> {
    const info = await getBlockchainInfo(this.client, {signal})
    return {height: info.blocks, hash: fromDisplayHex(info.bestBlockHash)}
  }

  async hashesAt(heights: number[], signal: AbortSignal): Promise<Buffer[]> {
    return (await getBlockHashes(this.client, heights, {signal})).map(fromDisplayHex)
  }

  async after(from: WantedBlock | null, toHeight: number, count: number, signal: AbortSignal): Promise<WantedBlock[]> {
    const first = from ? from.height + 1 : 0
    const last = Math.min(toHeight, first + count - 1)
    if (last < first) return []
    const heights = Array.from({length: last - first + 1}, (_, i) => first + i)
    try {
      const hashes = await this.hashesAt(heights, signal)
      return hashes.map((hash, i) => ({height: heights[i], hash}))
    } catch (err) {
      // -8: a height above the node's tip, its chain got shorter since we asked how long it is
      if (err instanceof RpcError && err.code === RpcCode.invalidParameter) return []
      throw err
    }
  }
}

/**
 * Hashes from /rest/headers, which walks up the active chain from a hash,
 * 2000 headers a request, and answers nothing for a hash that left the active
 * chain. The hashes are computed from the headers and checked to link.
 */
export class RestNodeChain extends RpcNodeChain {
  constructor(
    client: NodeClient,
    private readonly genesis: Buffer,
  ) {
    super(client)
  }

  override async after(from: WantedBlock | null, toHeight: number, count: number, signal: AbortSignal): Promise<WantedBlock[]> {
    const first = from ? from.height + 1 : 0
    const wantCount = Math.min(count, toHeight - first + 1)
    if (wantCount <= 0) return []
    const wanted: WantedBlock[] = []
    let anchor: WantedBlock = from ?? {height: -1, hash: this.genesis}
    while (wanted.length < wantCount) {
      // the first header answered is the anchor's own: kept only when it is genesis, which nothing precedes
      const includeAnchor = anchor.height < 0
      const ask = Math.min(REST_HEADERS_MAX, wantCount - wanted.length + (includeAnchor ? 0 : 1))
      const headers = await this.headers(anchor.hash, ask, signal)
      if (headers.length === 0) break
      let prev: Buffer | undefined
      for (let i = 0; i < headers.length && wanted.length < wantCount; i++) {
        const header = headers[i]
        const hash = sha256d(header)
        if (i === 0 && !hash.equals(anchor.hash)) {
          throw new BixError('NodeError', `/rest/headers answered from ${toDisplayHex(hash)} when asked from ${toDisplayHex(anchor.hash)}`)
        }
        if (prev && !header.subarray(4, 36).equals(prev)) {
          throw new BixError('NodeError', `/rest/headers answered headers that do not link after ${toDisplayHex(prev)}`)
        }
        prev = hash
        if (i > 0 || includeAnchor) wanted.push({height: includeAnchor ? i : anchor.height + i, hash})
      }
      // fewer headers than asked: the chain ends here
      if (headers.length < ask) break
      anchor = wanted[wanted.length - 1]
    }
    return wanted
  }

  private async headers(hash: Buffer, count: number, signal: AbortSignal): Promise<Buffer[]> {
    const display = toDisplayHex(hash)
    const reply = await this.client.restGet(`/rest/headers/${display}.bin?count=${count}`, {signal})
    if (reply.status !== 200) {
      throw new BixError('NodeError', `/rest/headers/${display}.bin answered HTTP ${reply.status}: ${reply.body.toString('utf8', 0, 200).trim()}`)
    }
    if (reply.body.length % HEADER_BYTES !== 0) {
      throw new BixError('NodeError', `/rest/headers answered ${reply.body.length} bytes, not a whole number of 80-byte headers`)
    }
    const headers: Buffer[] = []
    for (let at = 0; at < reply.body.length; at += HEADER_BYTES) headers.push(reply.body.subarray(at, at + HEADER_BYTES))
    return headers
  }
}
