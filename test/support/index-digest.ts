/**
 * A digest of everything an index holds (every row of every table, in key
 * order; meta without its creation time), so that two databases can be
 * compared: a run that was killed and resumed must end identical to a clean one.
 */
import {createHash} from 'node:crypto'
import Database from 'better-sqlite3'

/**
 * Each table's rows in key order. An index after its first run also keeps
 * rows in recent_* tables until a merge moves them into the main ones
 * (schema 5): the digest reads the two together, as readers do, so that
 * indexes merged at different points compare equal when they hold the same.
 */
const TABLES: Record<string, {query: string; recent?: string}> = {
  blocks: {query: 'SELECT * FROM blocks ORDER BY height'},
  txs: {query: 'SELECT * FROM txs ORDER BY tx_num'},
  txid_keys: {
    query: 'SELECT key, tx_num FROM txid_keys ORDER BY 1, 2',
    recent: 'SELECT key, tx_num FROM txid_keys UNION ALL SELECT key, tx_num FROM recent_txid_keys ORDER BY 1, 2',
  },
  outputs: {
    query: 'SELECT * FROM outputs ORDER BY id',
    recent: `SELECT o.id, o.script_key, o.value, COALESCE(o.spent_by, (SELECT spender FROM recent_spends WHERE output_id = o.id)) FROM outputs o
             UNION ALL SELECT id, script_key, value, spent_by FROM recent_outputs ORDER BY 1`,
  },
  bulk_spends: {query: 'SELECT * FROM bulk_spends ORDER BY id'},
  mempool_txs: {query: 'SELECT * FROM mempool_txs ORDER BY txid'},
  mempool_outputs: {query: 'SELECT * FROM mempool_outputs ORDER BY txid, vout'},
  mempool_spends: {query: 'SELECT * FROM mempool_spends ORDER BY txid, vin'},
}

export function indexDigest(file: string, options: {mempool?: boolean} = {}): string {
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    const hash = createHash('sha256')
    const hasRecent = db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'recent_outputs'").pluck().get() === 1
    for (const [table, {query, recent}] of Object.entries(TABLES)) {
      if (!options.mempool && table.startsWith('mempool_')) continue
      hash.update(`${table}\n`)
      for (const row of db.prepare((hasRecent && recent) || query).raw().iterate()) {
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
