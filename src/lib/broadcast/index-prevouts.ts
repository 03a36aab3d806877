import fs from 'node:fs'

import type Database from 'better-sqlite3'

import {fromDisplayHex} from '../chain/hashes.js'
import type {NetworkName} from '../chain/networks.js'
import {isBixError} from '../errors.js'
import {type IndexDb, openIndex} from '../store/database.js'
import {TX_NUM_OF_TXID, TX_SHIFT, txidKey} from '../store/schema.js'
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
  if (!fs.existsSync(dbPath)) return {warnings, close: () => {}}
  let db: IndexDb
  try {
    db = openIndex(dbPath, {network, mode: 'read'})
  } catch (err) {
    if (!isBixError(err)) throw err
    warnings.push(`index not used for fees: ${err.message}`)
    return {warnings, close: () => {}}
  }
  const lookup = outputValues(db.sqlite)
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

/**
 * Values of confirmed outputs by outpoint: outputs.id = tx_num · 2^20 + vout,
 * the transaction found by the 8-byte txid prefix its index is built on, then
 * the whole txid (internal byte order). Spent outputs are found too: whether
 * an input is still spendable is the node's to say.
 */
export function outputValues(sqlite: Database.Database): (outpoints: readonly Outpoint[]) => Map<string, {value: number}> {
  const stmt = sqlite
    .prepare<[number, Buffer, number], number>(`SELECT value FROM outputs WHERE id = (${TX_NUM_OF_TXID}) * ${TX_SHIFT} + ?`)
    .pluck()
  return (outpoints) => {
    const found = new Map<string, {value: number}>()
    for (const o of outpoints) {
      const txid = fromDisplayHex(o.txid)
      const value = stmt.get(txidKey(txid), txid, o.vout)
      if (value !== undefined) found.set(outpointKey(o), {value})
    }
    return found
  }
}
