/**
 * Where blocks come from. The indexer knows which blocks it wants (heights
 * and hashes of the node's active chain); a source turns that list into raw
 * block bytes, in the same order, reading ahead a bounded amount. Sources do
 * not judge the bytes: the indexer checks every block's hash and merkle root.
 */
import {BixError} from '../errors.js'

export const SOURCE_KINDS = ['rpc', 'rest', 'blk'] as const
export type SourceKind = (typeof SOURCE_KINDS)[number]

/** A block of the active chain the index wants next. */
export interface WantedBlock {
  height: number
  /** internal byte order */
  hash: Buffer
}

export interface RawBlock extends WantedBlock {
  /** the consumer's to keep: it may hand them to another thread */
  bytes: Buffer
  /** 'hex': `bytes` is the block as hex text (getblock <hash> 0), decoded with the rest of the decoding, off the writer's thread */
  encoding?: 'hex'
  /** where these bytes came from (the blk source asks the node for blocks missing from its files) */
  from: SourceKind
  /**
   * Present when the bytes may be damaged in a way only decoding finds: read
   * from the node's files, which may hold a block that was not completely
   * flushed, or hex not yet decoded. If they fail verification, this asks the
   * node for the block again, read and checked in full.
   */
  refetch?: () => Promise<RawBlock>
}

export interface BlockSource {
  readonly kind: SourceKind
  /**
   * The bytes of every wanted block, in the order given. Stopping the
   * iteration early (break, return) cancels what is still being fetched.
   */
  blocks(wanted: readonly WantedBlock[], signal: AbortSignal): AsyncIterable<RawBlock>
}

export interface ReadAhead {
  /** requests in flight at once */
  concurrency: number
  /** fetched bytes not yet taken by the consumer, plus an estimate for those in flight */
  maxBytes: number
}

/**
 * Fetches items with bounded parallelism and yields them in their original
 * order. A new fetch starts only while fetched-but-unconsumed bytes (and an
 * estimate for fetches in flight, from the sizes seen so far) stay under
 * maxBytes, so memory does not depend on how many items there are; one fetch
 * is always allowed, so a block larger than the budget still gets through.
 */
export async function* fetchInOrder<T>(
  items: readonly T[],
  fetchOne: (item: T, signal: AbortSignal) => Promise<Buffer>,
  readAhead: ReadAhead,
  signal: AbortSignal,
): AsyncGenerator<{item: T; bytes: Buffer}> {
  const stop = new AbortController()
  const onAbort = () => stop.abort(signal.reason)
  signal.addEventListener('abort', onAbort, {once: true})
  const pending: Array<Promise<Buffer>> = []
  let started = 0
  let consumed = 0
  let inFlight = 0
  let bufferedBytes = 0
  let seenBytes = 0
  let seenCount = 0
  const estimate = () => (seenCount === 0 ? 0 : seenBytes / seenCount)

  const fill = () => {
    while (
      started < items.length &&
      !stop.signal.aborted &&
      inFlight < readAhead.concurrency &&
      (started === consumed || bufferedBytes + (inFlight + 1) * estimate() <= readAhead.maxBytes)
    ) {
      const item = items[started++]
      inFlight++
      const promise = fetchOne(item, stop.signal).then(
        (bytes) => {
          inFlight--
          bufferedBytes += bytes.length
          seenBytes += bytes.length
          seenCount++
          // keep reading ahead while the consumer is busy with earlier blocks
          fill()
          return bytes
        },
        (err: unknown) => {
          inFlight--
          throw err
        },
      )
      // a fetch that fails after the consumer stopped must not become an unhandled rejection
      promise.catch(() => {})
      pending.push(promise)
    }
  }

  try {
    while (consumed < items.length) {
      fill()
      const bytes = await pending[consumed]
      // let the promise and its buffer go as soon as they are handed over
      pending[consumed] = undefined as unknown as Promise<Buffer>
      bufferedBytes -= bytes.length
      const item = items[consumed++]
      fill()
      yield {item, bytes}
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    if (!stop.signal.aborted) stop.abort(new Error('block fetch cancelled'))
  }
}

/** The block's serialized bytes: `bytes` itself, or decoded from hex; BadBlock when that is not hex. */
export function blockBytes(raw: Pick<RawBlock, 'bytes' | 'encoding'>): Buffer {
  if (raw.encoding !== 'hex') return raw.bytes
  const bytes = Buffer.from(raw.bytes.toString('latin1'), 'hex')
  if (bytes.length * 2 !== raw.bytes.length) throw new BixError('BadBlock', `the node sent ${raw.bytes.length} characters that are not hex`)
  return bytes
}
