import {BixError} from '../errors.js'

/** The heights the index and the node both know, and their hashes on each side. */
export interface ForkInputs {
  /** the index's tip height (-1: empty) */
  storedHeight: number
  /** the node's tip height */
  nodeHeight: number
  /** hashes the index holds for heights from..to, in height order */
  storedHashes(from: number, to: number): Buffer[]
  /** the node's active-chain hashes at those heights (undefined above its tip) */
  nodeHashes(heights: number[]): Promise<Array<Buffer | undefined>>
}

/** The first comparison is one height (no reorg, the usual case), then windows grow to this. */
const MAX_WINDOW = 2000
const GROWTH = 16

/**
 * The height of the last block the index shares with the node's active chain
 * (-1 for an empty index). Everything the index holds above it is a stale
 * branch. Walks back from the lower of the two tips in growing windows, so a
 * one-block reorg costs one call and a deep one a few.
 */
export async function findForkHeight(inputs: ForkInputs): Promise<number> {
  let top = Math.min(inputs.storedHeight, inputs.nodeHeight)
  let window = 1
  while (top >= 0) {
    const from = Math.max(0, top - window + 1)
    const stored = inputs.storedHashes(from, top)
    if (stored.length !== top - from + 1) {
      throw new BixError(
        'DatabaseError',
        `the index is damaged: it should hold blocks ${from} to ${top} below its tip ${inputs.storedHeight} but has ${stored.length} of them; delete it and run bix index to rebuild it`,
      )
    }
    const heights = Array.from({length: top - from + 1}, (_, i) => from + i)
    const node = await inputs.nodeHashes(heights)
    for (let height = top; height >= from; height--) {
      const nodeHash = node[height - from]
      if (nodeHash !== undefined && nodeHash.equals(stored[height - from])) return height
    }
    top = from - 1
    window = Math.min(window * GROWTH, MAX_WINDOW)
  }
  if (inputs.storedHeight >= 0) {
    // not even the genesis blocks agree: this index was built from another chain
    throw new BixError('WrongNetwork', 'the index and the node disagree down to the genesis block: this database was built from another chain')
  }
  return -1
}
