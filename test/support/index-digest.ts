/**
 * A digest of everything an index holds (every row of every table, in key
 * order; meta without its creation time), so that two databases can be
 * compared: a run that was killed and resumed must end identical to a clean one.
 */
import {createHash} from 'node:crypto'
import Database from 'better-sqlite3'

const TABLES: Record<string, string> = {
  blocks: 'height',
  txs: 'tx_num',
  txid_keys: 'key, tx_num',
  outputs: 'id',
  bulk_spends: 'id',
  mempool_txs: 'txid',
  mempool_outputs: 'txid, vout',
  mempool_spends: 'txid, vin',
}

export function indexDigest(file: string, options: {mempool?: boolean} = {}): string {
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    const hash = createHash('sha256')
    for (const [table, key] of Object.entries(TABLES)) {
      if (!options.mempool && table.startsWith('mempool_')) continue
      hash.update(`${table}\n`)
      for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY ${key}`).raw().iterate()) {
        hash.update(JSON.stringify((row as unknown[]).map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : v))) + '\n')
      }
    }
    const skip = options.mempool ? ['created_at'] : ['created_at', 'mempool_synced_at', 'mempool_tip']
    for (const row of db.prepare('SELECT key, value FROM meta ORDER BY key').raw().iterate()) {
      const [key] = row as [string, string]
      if (!skip.includes(key)) hash.update(JSON.stringify(row) + '\n')
    }
    return hash.digest('hex')
  } finally {
    db.close()
  }
}
