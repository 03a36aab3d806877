import {BixError} from '../errors.js'
import type {IndexStore} from './index-store.js'

/**
 * Until the first `bix index` run on a database has finished, the index
 * answers nothing: the script index, txid_keys and the spends of old outputs
 * are built at its end (see IndexWriter). The queries ask this first;
 * sync-mempool counts such an index as behind, and broadcast's fee check
 * does without it.
 */
export function refuseWhileBuilding(db: IndexStore): void {
  if (!db.building()) return
  const tip = db.tip()
  const where = tip ? `at height ${tip.height}` : 'empty so far'
  throw new BixError('IndexBusy', `the index is still being built (its first bix index run, ${where}, has not finished); queries work once it has`)
}
