import type {PgConnection} from './connection.js'

/**
 * The index's tables in PostgreSQL. The same rows as in SQLite but for one
 * thing: a spend is a row of its own (spends: the output's id, the spending
 * tx_num) instead of a column updated in outputs. PostgreSQL rewrites a
 * whole row on UPDATE (a new row version, new index entries): marking
 * outputs spent in place would write each output twice and leave the table
 * half dead rows. Every table is only appended to while indexing, as romanz's
 * electrs keeps its spends, and COPY loads each batch.
 *
 * Each migration takes the database from `version - 1` to `version` in the
 * same transaction as the schema_version update.
 */

export interface PgMigration {
  version: number
  describe: string
  up(pg: PgConnection): void
}

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    describe: 'blocks, txs, txid_keys, outputs, spends and the mempool snapshot',
    up(pg) {
      pg.exec(`
        CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);

        -- the active chain as the index knows it; the tip is MAX(height)
        CREATE TABLE blocks (
          height integer PRIMARY KEY,
          hash bytea NOT NULL,
          header bytea NOT NULL,
          first_tx bigint NOT NULL,
          tx_count integer NOT NULL
        );
        CREATE INDEX blocks_by_first_tx ON blocks (first_tx);

        -- tx_num is the position in the active chain (the genesis coinbase is 0); txid in internal order
        CREATE TABLE txs (tx_num bigint PRIMARY KEY, txid bytea NOT NULL);
        -- key = the txid's first 6 bytes as an integer (output-ids.ts txidKey); the full txid in txs settles it
        CREATE TABLE txid_keys (key bigint NOT NULL, tx_num bigint NOT NULL, PRIMARY KEY (key, tx_num));

        -- id = tx_num * 2^20 + vout; script_key = first 8 bytes of sha256(scriptPubKey)
        CREATE TABLE outputs (id bigint PRIMARY KEY, script_key bytea NOT NULL, value bigint NOT NULL);
        CREATE INDEX outputs_by_script ON outputs (script_key);
        -- one row per spent output: the spending tx_num (a coinbase repeating a txid, BIP30, "spends" what it replaced)
        CREATE TABLE spends (output_id bigint PRIMARY KEY, spent_by bigint NOT NULL);

        CREATE TABLE mempool_txs (txid bytea PRIMARY KEY, first_seen bigint NOT NULL, vsize integer NOT NULL, fee bigint NOT NULL);
        CREATE TABLE mempool_outputs (
          txid bytea NOT NULL, vout integer NOT NULL, script_key bytea NOT NULL, value bigint NOT NULL,
          PRIMARY KEY (txid, vout)
        );
        CREATE INDEX mempool_outputs_by_script ON mempool_outputs (script_key);
        CREATE TABLE mempool_spends (
          txid bytea NOT NULL, vin integer NOT NULL, prev_txid bytea NOT NULL, prev_vout integer NOT NULL,
          script_key bytea NOT NULL, value bigint NOT NULL,
          PRIMARY KEY (txid, vin)
        );
        CREATE INDEX mempool_spends_by_script ON mempool_spends (script_key);
        CREATE INDEX mempool_spends_by_prevout ON mempool_spends (prev_txid, prev_vout);

      `)
    },
  },
]

/** The index that finds a script's outputs; absent while a first run bulk-loads (meta bulk_load). */
export const PG_SCRIPT_INDEX = {name: 'outputs_by_script', create: 'CREATE INDEX IF NOT EXISTS outputs_by_script ON outputs (script_key)'}

/** tx_num of the latest transaction with a txid: parameters $1 txidKey(txid), $2 txid. */
export const PG_TX_NUM_OF_TXID = 'SELECT k.tx_num FROM txid_keys k JOIN txs t ON t.tx_num = k.tx_num WHERE k.key = $1 AND t.txid = $2 ORDER BY k.tx_num DESC LIMIT 1'

/** The same for each row q (key, txid) of an unnest(): a LATERAL subquery. */
export const PG_TX_NUM_OF_Q = 'SELECT k.tx_num FROM txid_keys k JOIN txs t ON t.tx_num = k.tx_num WHERE k.key = q.key AND t.txid = q.txid ORDER BY k.tx_num DESC LIMIT 1'

/** The tables of the index, for its size. */
export const PG_TABLES = ['meta', 'blocks', 'txs', 'txid_keys', 'outputs', 'spends', 'mempool_txs', 'mempool_outputs', 'mempool_spends', 'writer']
