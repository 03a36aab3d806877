import Database from 'better-sqlite3'
import {parentPort, workerData} from 'node:worker_threads'

import {SCRIPT_KEY_BYTES} from '../../chain/indexed-block.js'
import {outputId, txidKey} from '../output-ids.js'
import type {PrefetchJob, PrefetchStart} from './page-prefetcher.js'
import {SCRIPT_INDEX_KEY, TXID_KEY_HOLDERS, TX_NUM_OF_TXID, spentTxNum} from './schema.js'
import {sqliteAddon} from './sqlite-addon.js'

/**
 * A prefetching thread (PagePrefetcher): its share of a batch's lookups, run
 * through a read-only connection of its own for the pages they read. What
 * the queries answer is thrown away.
 */
const {file} = workerData as PrefetchStart
let statements:
  | {
      findTx: Database.Statement<[number, Uint8Array], number>
      output: Database.Statement<[number]>
      keyHolders: Database.Statement<[number], number>
      lastOfScript: Database.Statement<[Uint8Array]>
    }
  | undefined

function open(): NonNullable<typeof statements> {
  const db = new Database(file, {readonly: true, fileMustExist: true, nativeBinding: sqliteAddon()})
  // the pages are wanted in the OS page cache, where the writer finds them; this connection's own cache need not hold them
  db.pragma('cache_size = -1024')
  return {
    findTx: db.prepare<[number, Uint8Array], number>(TX_NUM_OF_TXID).pluck(),
    output: db.prepare<[number]>('SELECT spent_by FROM outputs WHERE id = ?'),
    keyHolders: db.prepare<[number], number>(TXID_KEY_HOLDERS).pluck(),
    // the leaf a new output of the script goes into: after the script's last one
    lastOfScript: db.prepare<[Uint8Array]>(`SELECT id FROM outputs WHERE ${SCRIPT_INDEX_KEY} = substr(?, 1, 5) ORDER BY id DESC LIMIT 1`),
  }
}

parentPort!.on('message', (job: PrefetchJob) => {
  try {
    statements ??= open()
    const {findTx, output, keyHolders, lastOfScript} = statements
    const {prevTxids, prevVouts, txids, scriptKeys, part, parts} = job
    for (let s = part; s < prevVouts.length; s += parts) {
      const txNum = spentTxNum(keyHolders, findTx, prevTxids.subarray(s * 32, s * 32 + 32))
      if (txNum !== undefined) output.get(outputId(txNum, prevVouts[s]))
    }
    // the leaf a new key goes into
    for (let t = part; t < txids.length / 32; t += parts) keyHolders.all(txidKey(txids, t * 32))
    for (let o = part; o < scriptKeys.length / SCRIPT_KEY_BYTES; o += parts) {
      lastOfScript.get(scriptKeys.subarray(o * SCRIPT_KEY_BYTES, (o + 1) * SCRIPT_KEY_BYTES))
    }
  } catch {
    Atomics.store(job.control, 1, 1)
  } finally {
    Atomics.add(job.control, 0, 1)
    Atomics.notify(job.control, 0)
  }
})
