import {fromDisplayHex} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import {isBixError} from '../errors.js'
import type {IndexStore} from '../store/index-store.js'
import {openStore, storeExists} from '../store/open-store.js'
import {type IndexPrevoutReader, type Outpoint, outpointKey} from './prevouts.js'

/**
 * bix's own index as a source of prevout values, for the fee. Optional in
 * every way: no index for the network, one that cannot be opened or read,
 * or one that lacks the outpoint all leave the node to ask; a problem is a
 * warning, never a reason not to broadcast.
 */
export interface IndexPrevouts {
  reader?: IndexPrevoutReader
  /** why an index that exists was not (fully) used, for a warning line */
  readonly warnings: string[]
  close(): void
}

export function openIndexPrevouts(dbPath: string, network: NetworkName): IndexPrevouts {
  const warnings: string[] = []
  if (!storeExists(dbPath)) return {warnings, close: () => {}}
  let db: IndexStore
  try {
    db = openStore(dbPath, {network, mode: 'read'})
  } catch (err) {
    if (!isBixError(err)) throw err
    warnings.push(`index not used for fees: ${err.message}`)
    return {warnings, close: () => {}}
  }
  if (db.building()) {
    warnings.push(`index not used for fees: ${db.location} is still being built (its first bix index run has not finished)`)
    db.close()
    return {warnings, close: () => {}}
  }
  const lookup = outputValues(db)
  return {
    warnings,
    reader: (outpoints) => {
      try {
        return lookup(outpoints)
      } catch (err) {
        warnings.push(`index not used for fees: reading ${dbPath} failed: ${(err as Error).message}`)
        return new Map()
      }
    },
    close: () => db.close(),
  }
}

/** Values of confirmed outputs by outpoint. Spent outputs are found too: whether an input is still spendable is the node's to say. */
function outputValues(db: IndexStore): (outpoints: readonly Outpoint[]) => Map<string, {value: number}> {
  return (outpoints) => {
    const values = db.outputValues(outpoints.map((o) => ({txid: fromDisplayHex(o.txid), vout: o.vout})))
    const found = new Map<string, {value: number}>()
    outpoints.forEach((o, i) => {
      const value = values[i]
      if (value !== undefined) found.set(outpointKey(o), {value})
    })
    return found
  }
}
