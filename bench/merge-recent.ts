/**
 * `node --import tsx bench/merge-recent.ts --db <index.db> --max-memory <MiB>`:
 * the merge of an index's recent tables into its main ones
 * (IndexWriter.mergeRecent), with the page cache `bix index --max-memory`
 * gives. bix merges once the recent tables are large; the scale bench's
 * chains have too few blocks after their tip to get there, so it times the
 * merge of what its catch-ups left with this. Prints the outputs merged as
 * JSON ({"rows": n}).
 */
import {fileURLToPath} from 'node:url'

import {CACHE_SHARE} from '../src/lib/index/index-node.js'
import {openIndex} from '../src/lib/store/sqlite/database.js'
import {mergeRowsOf} from '../src/lib/store/sqlite/writer.js'

export const MERGE_SCRIPT = fileURLToPath(import.meta.url)

const cacheBytesFor = (maxMemoryMiB: number) => Math.floor(maxMemoryMiB * 2 ** 20 * CACHE_SHARE)

/** how many outputs the recent tables hold when `bix index --max-memory <maxMemoryMiB>` merges them */
export const mergeRowsFor = (maxMemoryMiB: number): number => mergeRowsOf(cacheBytesFor(maxMemoryMiB))

if (process.argv[1] === MERGE_SCRIPT) {
  const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1]
  const db = openIndex(arg('--db'), {network: 'regtest', mode: 'write', maxMemoryBytes: cacheBytesFor(Number(arg('--max-memory')))})
  try {
    const rows = db.sqlite.prepare<[], number>('SELECT COUNT(*) FROM recent_outputs').pluck().get()!
    const writer = db.writer({longRun: true})
    writer.mergeRecent()
    await writer.close()
    console.log(JSON.stringify({rows}))
  } finally {
    db.close()
  }
}
