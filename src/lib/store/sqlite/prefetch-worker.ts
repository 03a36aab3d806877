import Database from 'better-sqlite3'
import {parentPort, workerData} from 'node:worker_threads'

import {outputId} from '../output-ids.js'
import type {PrefetchJob, PrefetchStart} from './page-prefetcher.js'
import {TXID_KEY_HOLDERS, TX_NUM_OF_TXID, type TxidParams, spentTxNum} from './schema.js'
import {sqliteAddon} from './sqlite-addon.js'

/**
 * A prefetching thread (PagePrefetcher): its share of a batch's spends' lookups, run
 * through a read-only connection of its own for the pages they read. What
 * the queries answer is thrown away.
 */
const {file} = workerData as PrefetchStart
let statements:
  | {
      findTx: Database.Statement<[TxidParams], number>
      output: Database.Statement<[number]>
      keyHolders: Database.Statement<[{key: number}], number>
    }
  | undefined

function open(): NonNullable<typeof statements> {
  const db = new Database(file, {readonly: true, fileMustExist: true, nativeBinding: sqliteAddon()})
  // the pages are wanted in the OS page cache, where the writer finds them; this connection's own cache need not hold them
  db.pragma('cache_size = -1024')
  return {
    findTx: db.prepare<[TxidParams], number>(TX_NUM_OF_TXID).pluck(),
    // the writer's check that the output is there and unspent (IndexWriter.spendOlder)
    output: db.prepare<[number]>('SELECT spent_by, script_key, value FROM outputs WHERE id = ?'),
    keyHolders: db.prepare<[{key: number}], number>(TXID_KEY_HOLDERS).pluck(),
  }
}

parentPort!.on('message', (job: PrefetchJob) => {
  try {
    statements ??= open()
    const {findTx, output, keyHolders} = statements
    const {prevTxids, prevVouts, part, parts} = job
    for (let s = part; s < prevVouts.length; s += parts) {
      const txNum = spentTxNum(keyHolders, findTx, prevTxids.subarray(s * 32, s * 32 + 32))
      if (txNum !== undefined) output.get(outputId(txNum, prevVouts[s]))
    }
  } catch {
    Atomics.store(job.control, 1, 1)
  } finally {
    Atomics.add(job.control, 0, 1)
    Atomics.notify(job.control, 0)
  }
})
