import type Database from 'better-sqlite3'

import {TX_SHIFT, txidKey} from '../output-ids.js'

/**
 * The index's tables and how a database of an older bix is brought up to
 * date. Each migration takes the database from `version - 1` to `version`
 * and runs inside the same transaction as the schema_version update, so a
 * crash leaves either the old schema or the new one, never half of each.
 */

export interface Migration {
  version: number
  describe: string
  up(db: Database.Database): void
}


export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    describe: 'blocks, txs and outputs',
    up(db) {
      db.exec(`
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        -- the active chain as the index knows it; the tip is MAX(height)
        CREATE TABLE blocks (
          height INTEGER PRIMARY KEY,
          hash BLOB NOT NULL,
          header BLOB NOT NULL,
          first_tx INTEGER NOT NULL,
          tx_count INTEGER NOT NULL
        );
        -- tx_num -> block: first_tx grows with height, so this index is appended to, never reshuffled
        CREATE INDEX blocks_by_first_tx ON blocks (first_tx);

        -- tx_num is the position in the active chain (the genesis coinbase is 0); txid in internal order
        CREATE TABLE txs (tx_num INTEGER PRIMARY KEY, txid BLOB NOT NULL);
        -- 8 bytes of the txid find it among a billion with a handful of false candidates at most;
        -- the full txid in the row settles them
        CREATE INDEX txs_by_txid ON txs (substr(txid, 1, 8));

        -- id = tx_num * 2^20 + vout; script_key = first 8 bytes of sha256(scriptPubKey);
        -- spent_by = spending tx_num * 2^20 + vin, NULL while unspent
        CREATE TABLE outputs (
          id INTEGER PRIMARY KEY,
          script_key BLOB NOT NULL,
          value INTEGER NOT NULL,
          spent_by INTEGER
        );
        CREATE INDEX outputs_by_script ON outputs (script_key);
      `)
    },
  },
  {
    version: 2,
    describe: 'the mempool snapshot: mempool_txs, mempool_outputs, mempool_spends',
    up(db) {
      db.exec(`
        -- the node's mempool as last synced; txids in internal order, first_seen in unix seconds (the node's time)
        CREATE TABLE mempool_txs (
          txid BLOB PRIMARY KEY,
          first_seen INTEGER NOT NULL,
          vsize INTEGER NOT NULL,
          fee INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE mempool_outputs (
          txid BLOB NOT NULL,
          vout INTEGER NOT NULL,
          script_key BLOB NOT NULL,
          value INTEGER NOT NULL,
          PRIMARY KEY (txid, vout)
        ) WITHOUT ROWID;
        CREATE INDEX mempool_outputs_by_script ON mempool_outputs (script_key);

        -- each input of a mempool transaction, with the script and value of the output it spends
        -- (confirmed or itself in the mempool), resolved when the transaction was added
        CREATE TABLE mempool_spends (
          txid BLOB NOT NULL,
          vin INTEGER NOT NULL,
          prev_txid BLOB NOT NULL,
          prev_vout INTEGER NOT NULL,
          script_key BLOB NOT NULL,
          value INTEGER NOT NULL,
          PRIMARY KEY (txid, vin)
        ) WITHOUT ROWID;
        CREATE INDEX mempool_spends_by_script ON mempool_spends (script_key);
        CREATE INDEX mempool_spends_by_prevout ON mempool_spends (prev_txid, prev_vout);
      `)
    },
  },
  {
    version: 3,
    describe: 'txids found through txid_keys (a 6-byte integer key, written in key order); the script index on 5 bytes of the key; spent_by is the spending tx_num',
    up(db) {
      db.exec(`
        -- key = the txid's first 6 bytes as an integer (txidKey): with the full txid in txs it settles a lookup
        CREATE TABLE txid_keys (
          key INTEGER NOT NULL,
          tx_num INTEGER NOT NULL,
          PRIMARY KEY (key, tx_num)
        ) WITHOUT ROWID;
      `)
      fillTxidKeys(db)
      db.exec('DROP INDEX txs_by_txid')
      // spent_by was the spending tx_num * 2^20 + vin; nothing reads the vin, and without it the column is half the size
      db.exec(`UPDATE outputs SET spent_by = spent_by / ${TX_SHIFT} WHERE spent_by IS NOT NULL`)
      // absent while a first run loads (BULK_LOAD): its end builds the new one
      const scriptIndex = db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?").pluck().get(SCRIPT_INDEX.name)
      if (scriptIndex) db.exec(`DROP INDEX ${SCRIPT_INDEX.name}; ${SCRIPT_INDEX.create}`)
    },
  },
  {
    version: 4,
    describe: 'bulk_spends: the spends of old outputs that a first run resolves at its end',
    up(db) {
      db.exec(`
        -- while a first run loads (BULK_LOAD): spends of outputs made long before their spender, resolved and
        -- marked in outputs.spent_by by one sorted pass at the run's end; empty otherwise.
        -- id = spending tx_num * 2^20 + the spend's position among the transaction's; prev_key = txidKey(prev_txid)
        CREATE TABLE bulk_spends (
          id INTEGER PRIMARY KEY,
          prev_key INTEGER NOT NULL,
          prev_txid BLOB NOT NULL,
          prev_vout INTEGER NOT NULL
        );
      `)
    },
  },
  {
    version: 5,
    describe: 'recent_outputs, recent_txid_keys, recent_spends: what runs after the first one write, merged into the main tables when large',
    up(db) {
      db.exec(`
        -- Runs after the first write here rather than into outputs, txid_keys and outputs.spent_by, whose pages are
        -- random and, once the index outgrows memory, a disk read and write each; these stay small enough to stay cached.
        -- mergeRecent moves them into the main tables in sorted passes once they grow large.

        -- the outputs of every transaction from some tx_num on (all of them: outputs holds the ones before); as outputs
        CREATE TABLE recent_outputs (
          id INTEGER PRIMARY KEY,
          script_key BLOB NOT NULL,
          value INTEGER NOT NULL,
          spent_by INTEGER
        );
        CREATE INDEX recent_outputs_by_script ON recent_outputs (${SCRIPT_INDEX_KEY});
        -- txid_keys of transactions indexed after the first run's end
        CREATE TABLE recent_txid_keys (
          key INTEGER NOT NULL,
          tx_num INTEGER NOT NULL,
          PRIMARY KEY (key, tx_num)
        ) WITHOUT ROWID;
        -- spends of outputs in outputs (spent_by NULL there): output id, spending tx_num, and the output's
        -- script_key and value, so that a script's spends are found without a look at each of its outputs
        CREATE TABLE recent_spends (
          output_id INTEGER PRIMARY KEY,
          spender INTEGER NOT NULL,
          script_key BLOB NOT NULL,
          value INTEGER NOT NULL
        );
        CREATE INDEX recent_spends_by_script ON recent_spends (${SCRIPT_INDEX_KEY});
      `)
    },
  },
]

/** txid_keys of every transaction in txs, from one sort, inserted in key order (an append at the B-tree's end each); txid_keys must be empty. */
export function fillTxidKeys(db: Database.Database): void {
  db.function('bix_txid_key', {deterministic: true}, (txid) => txidKey(txid as Buffer))
  db.exec('INSERT INTO txid_keys (key, tx_num) SELECT bix_txid_key(txid), tx_num FROM txs ORDER BY 1, 2')
}

/** tx_num of every transaction with a txid, main and recent; parameters @key (txidKey(txid)) and @txid. */
export const TX_NUMS_OF_TXID = `SELECT k.tx_num FROM txid_keys k JOIN txs t ON t.tx_num = k.tx_num WHERE k.key = @key AND t.txid = @txid
  UNION ALL SELECT k.tx_num FROM recent_txid_keys k JOIN txs t ON t.tx_num = k.tx_num WHERE k.key = @key AND t.txid = @txid`

/** tx_num of the latest transaction with a txid (a BIP30 duplicate replaced the earlier one); parameters as TX_NUMS_OF_TXID. */
export const TX_NUM_OF_TXID = `SELECT tx_num FROM (${TX_NUMS_OF_TXID}) ORDER BY tx_num DESC LIMIT 1`

/** Up to two transactions holding a txid key: one settles a spend's lookup (spentTxNum); parameter @key: txidKey(txid). */
export const TXID_KEY_HOLDERS = 'SELECT tx_num FROM txid_keys WHERE key = @key UNION ALL SELECT tx_num FROM recent_txid_keys WHERE key = @key LIMIT 2'

/** a txid's lookup parameters */
export interface TxidParams {
  key: number
  txid: Uint8Array
}

/**
 * tx_num of the transaction whose output a spend in a block Core accepted
 * takes, or undefined. That txid is in the chain, so in the index: a key one
 * transaction holds is that transaction's, and its full txid (a page of txs,
 * read at random once the index outgrows memory) need not be read to tell.
 * An index that lacked the transaction would go unnoticed when another shares
 * its 6-byte key (odds n/2^48 for n transactions). `holders` runs
 * TXID_KEY_HOLDERS, `byTxid` TX_NUM_OF_TXID.
 */
export function spentTxNum(
  holders: Database.Statement<[{key: number}], number>,
  byTxid: Database.Statement<[TxidParams], number>,
  txid: Uint8Array,
): number | undefined {
  const key = txidKey(txid)
  const found = holders.all({key})
  return found.length < 2 ? found[0] : byTxid.get({key, txid})
}

/**
 * Every output as a table of (id, script_key, value, spent_by): those of
 * outputs, spent also when recent_spends says so, and those of
 * recent_outputs. SQLite takes a query's conditions on it into both halves
 * (their indexes serve them).
 */
export const ALL_OUTPUTS = `(SELECT o.id, o.script_key, o.value, COALESCE(o.spent_by, (SELECT r.spender FROM recent_spends r WHERE r.output_id = o.id)) AS spent_by
  FROM outputs o UNION ALL SELECT id, script_key, value, spent_by FROM recent_outputs)`

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version

/**
 * The index that finds a script's outputs; absent while the first run
 * bulk-loads (meta BULK_LOAD set). It holds 5 of script_key's 8 bytes: 3
 * bytes less in each of billions of entries, while the 8 bytes in the row
 * settle a shared prefix (scriptKeyIs). Among the ~2 billion scripts of
 * mainnet a given script shares its 5 bytes with another one time in 500:
 * that script's rows are read and dropped, the answer is the same.
 */
export const SCRIPT_INDEX_KEY = 'substr(script_key, 1, 5)'
export const SCRIPT_INDEX = {name: 'outputs_by_script', create: `CREATE INDEX IF NOT EXISTS outputs_by_script ON outputs (${SCRIPT_INDEX_KEY})`}

/** The SQL condition for outputs of the script key bound to `param`, through SCRIPT_INDEX. */
export function scriptKeyIs(param: string): string {
  return `${SCRIPT_INDEX_KEY} = substr(${param}, 1, 5) AND script_key = ${param}`
}
/** meta key, '1' while the first run of an index loads without SCRIPT_INDEX */
export const BULK_LOAD = 'bulk_load'

/**
 * Brings a database at `from` to the last version in `migrations`, each step
 * in its own transaction together with the new schema_version.
 * `setVersion` writes the version (meta does not exist before version 1).
 */
export function migrate(db: Database.Database, from: number, migrations: readonly Migration[] = MIGRATIONS): number {
  let version = from
  for (const step of migrations) {
    if (step.version <= version) continue
    if (step.version !== version + 1) throw new Error(`migration to schema ${step.version} does not follow schema ${version}`)
    db.transaction(() => {
      step.up(db)
      db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)
                  ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(step.version))
    }).immediate()
    version = step.version
  }
  return version
}
