import {toDisplayHex} from '../../chain/hashes.js'
import {NETWORKS, type NetworkName, isNetworkName} from '../../chain/networks.js'
import {BixError} from '../../errors.js'
import {
  type AddressReads,
  type BlockOfTx,
  type ChainActivity,
  DEFAULT_CACHE_BYTES,
  type IndexStore,
  type IndexedTxOutput,
  type LockHolder,
  MEMPOOL_SYNCED_AT,
  MEMPOOL_TIP,
  type MempoolActivity,
  type MempoolSnapshotInfo,
  type OpenMode,
  type OpenOptions,
  type OutputRef,
  type StoredTip,
  type TxChange,
  type TxPlace,
  type TxReads,
  type UnspentOutput,
  type WriterOptions,
} from '../index-store.js'
import {TX_SHIFT, outputId, txNumOfId, txidKey, voutOfId} from '../output-ids.js'
import {PgConnection, maskUrl} from './connection.js'
import {writerOn} from './lock.js'
import {PgMempoolWriter} from './mempool-writer.js'
import {PG_MIGRATIONS, PG_TABLES, PG_TX_NUM_OF_Q, PG_TX_NUM_OF_TXID, type PgMigration} from './schema.js'
import {PgIndexWriter} from './writer.js'

/**
 * The index in a PostgreSQL database: the same answers as the SQLite file,
 * for many readers on many hosts. Opening checks that the database holds a
 * bix index of the expected network and a schema this bix knows, creates it
 * when a writer finds the database empty, and migrates an older one.
 */

/** meta key, '1' while the first run of an index loads without its script index */
export const PG_BULK_LOAD = 'bulk_load'

/** meta's row `$1` set to `$2` */
export const PG_SET_META = 'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value'

export class PgIndexStore implements IndexStore {
  readonly backend = 'postgres'
  /** bytes on disk as last measured, for sizeBytes() once closed */
  private lastSize?: number
  private inSnapshot = false
  /** answers that cannot change within the read snapshot (tip, meta rows, the mempool's size), asked once per snapshot: a query of many targets asked them per target */
  private snapshotAnswers = new Map<string, unknown>()

  constructor(
    readonly pg: PgConnection,
    readonly location: string,
    readonly network: NetworkName,
    readonly mode: OpenMode,
    readonly schemaVersion: number,
  ) {}

  tip(): StoredTip | undefined {
    return this.inSnapshotOnce('tip', () => this.pg.query<{height: number; hash: Buffer}>('SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1')[0])
  }

  blockHash(height: number): Buffer | undefined {
    return this.pg.query<{hash: Buffer}>('SELECT hash FROM blocks WHERE height = $1', [height])[0]?.hash
  }

  blockHashes(fromHeight: number, toHeight: number): Buffer[] {
    return this.pg.query<{hash: Buffer}>('SELECT hash FROM blocks WHERE height BETWEEN $1 AND $2 ORDER BY height', [fromHeight, toHeight]).map((r) => r.hash)
  }

  meta(key: string): string | undefined {
    return this.inSnapshotOnce(`meta ${key}`, () => this.pg.query<{value: string}>('SELECT value FROM meta WHERE key = $1', [key])[0]?.value)
  }

  /** Inside the caller's transaction when there is one. */
  setMeta(key: string, value: string | undefined): void {
    if (this.mode !== 'write') throw new Error('setMeta on an index opened for reading')
    this.snapshotAnswers.delete(`meta ${key}`)
    if (value === undefined) this.pg.run('DELETE FROM meta WHERE key = $1', [key])
    else this.pg.run(PG_SET_META, [key, value])
  }

  building(): boolean {
    return this.meta(PG_BULK_LOAD) === '1'
  }

  read<T>(read: () => T): T {
    if (this.inSnapshot) return read()
    this.pg.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    this.inSnapshot = true
    try {
      return read()
    } finally {
      this.inSnapshot = false
      this.snapshotAnswers.clear()
      this.pg.exec('COMMIT')
    }
  }

  async readSnapshot<T>(work: () => Promise<T>): Promise<T> {
    if (this.inSnapshot) return work()
    // REPEATABLE READ: every statement sees the snapshot the first one took, while bix index commits
    this.pg.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    this.inSnapshot = true
    try {
      this.tip()
      return await work()
    } finally {
      this.inSnapshot = false
      this.snapshotAnswers.clear()
      this.pg.exec('COMMIT')
    }
  }

  /** `ask()`, or inside a read snapshot the answer it gave the first time there */
  private inSnapshotOnce<T>(key: string, ask: () => T): T {
    if (!this.inSnapshot) return ask()
    if (this.snapshotAnswers.has(key)) return this.snapshotAnswers.get(key) as T
    const answer = ask()
    this.snapshotAnswers.set(key, answer)
    return answer
  }

  addressReader(): AddressReads {
    return new PgAddressReader(this)
  }

  txReader(): TxReads {
    return new PgTxReader(this)
  }

  mempoolInfo(): MempoolSnapshotInfo {
    const syncedAt = this.meta(MEMPOOL_SYNCED_AT)
    const txCount = this.inSnapshotOnce('mempool count', () => Number(this.pg.query<{n: number}>('SELECT count(*)::int AS n FROM mempool_txs')[0].n))
    return {txCount, syncedAt: syncedAt === undefined ? null : Number(syncedAt), tipHash: this.meta(MEMPOOL_TIP) ?? null}
  }

  mempoolActivity(scriptKey: Buffer): MempoolActivity {
    const outputs = this.pg.query<{txid: Buffer; vout: number; value: number}>('SELECT txid, vout, value FROM mempool_outputs WHERE script_key = $1', [scriptKey])
    const spends = this.pg
      .query<{txid: Buffer; vin: number; prev_txid: Buffer; prev_vout: number; value: number}>(
        'SELECT txid, vin, prev_txid, prev_vout, value FROM mempool_spends WHERE script_key = $1',
        [scriptKey],
      )
      .map((r) => ({txid: r.txid, vin: r.vin, prevTxid: r.prev_txid, prevVout: r.prev_vout, value: r.value}))
    const txids = [...new Set([...outputs, ...spends].map((r) => r.txid.toString('hex')))].map((hex) => Buffer.from(hex, 'hex'))
    const firstSeen = new Map<string, number>()
    if (txids.length > 0) {
      for (const row of this.pg.query<{txid: Buffer; first_seen: number}>('SELECT txid, first_seen FROM mempool_txs WHERE txid = ANY($1::bytea[])', [txids])) {
        firstSeen.set(toDisplayHex(row.txid), row.first_seen)
      }
      for (const txid of txids) {
        const key = toDisplayHex(txid)
        if (!firstSeen.has(key)) firstSeen.set(key, 0)
      }
    }
    return {outputs, spends, firstSeen}
  }

  outputValues(outpoints: ReadonlyArray<{txid: Buffer; vout: number}>): Array<number | undefined> {
    const values: Array<number | undefined> = outpoints.map(() => undefined)
    // no transaction has 2^20 outputs; a larger vout would name another transaction's output id
    const asked = outpoints.map((o, i) => ({...o, i})).filter((o) => o.vout < TX_SHIFT)
    if (asked.length === 0) return values
    const rows = this.pg.query<{i: number; value: number}>(
      `SELECT q.i, o.value
         FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::int[]) AS q(key, txid, vout, i)
         CROSS JOIN LATERAL (${PG_TX_NUM_OF_Q}) AS found
         JOIN outputs o ON o.id = found.tx_num * ${TX_SHIFT} + q.vout`,
      [asked.map((o) => txidKey(o.txid)), asked.map((o) => o.txid), asked.map((o) => o.vout), asked.map((o) => o.i)],
    )
    for (const row of rows) values[row.i] = row.value
    return values
  }

  writer(options?: WriterOptions): PgIndexWriter {
    return new PgIndexWriter(this, options)
  }

  mempoolWriter(): PgMempoolWriter {
    return new PgMempoolWriter(this)
  }

  writerHolder(): LockHolder | undefined {
    return writerOn(this.pg)
  }

  sizeBytes(): number {
    if (this.pg.closed) return this.lastSize ?? 0
    const sizes = this.pg.query<{bytes: number}>(
      `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes FROM pg_class c
        WHERE c.relkind = 'r' AND c.relname = ANY($1::text[]) AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`,
      [PG_TABLES],
    )
    this.lastSize = Number(sizes[0].bytes)
    return this.lastSize
  }

  close(): void {
    if (this.pg.closed) return
    // a writer's summary reports the size once closed; a reader never asks
    if (this.mode === 'write') {
      try {
        this.sizeBytes()
      } catch {
        // a size is not worth an error on the way out
      }
    }
    this.pg.close()
  }
}

class PgAddressReader implements AddressReads {
  private readonly blocks = new Map<number, BlockOfTx>()

  constructor(private readonly store: PgIndexStore) {}

  private get pg(): PgConnection {
    return this.store.pg
  }

  chainActivity(scriptKey: Buffer): ChainActivity {
    // one pass over the script's outputs (the CTE is read once) for both the sums and the span of its transactions
    const row = this.pg.query<{funded: number; funded_sum: number; spent: number; spent_sum: number; txs: number; first: number | null; last: number | null}>(
      `WITH mine AS (SELECT o.id, o.value, s.spent_by FROM outputs o LEFT JOIN spends s ON s.output_id = o.id WHERE o.script_key = $1),
            changes AS (SELECT id / ${TX_SHIFT} AS t FROM mine UNION ALL SELECT spent_by AS t FROM mine WHERE spent_by IS NOT NULL)
       SELECT stats.*, span.*
         FROM (SELECT count(*)::bigint AS funded, coalesce(sum(value), 0)::bigint AS funded_sum, count(spent_by)::bigint AS spent,
                      coalesce(sum(value) FILTER (WHERE spent_by IS NOT NULL), 0)::bigint AS spent_sum FROM mine) AS stats,
              (SELECT count(DISTINCT t)::bigint AS txs, min(t) AS first, max(t) AS last FROM changes) AS span`,
      [scriptKey],
    )[0]
    return {
      funded_txo_count: Number(row.funded),
      funded_txo_sum: Number(row.funded_sum),
      spent_txo_count: Number(row.spent),
      spent_txo_sum: Number(row.spent_sum),
      tx_count: Number(row.txs),
      firstTxNum: row.first === null ? undefined : Number(row.first),
      lastTxNum: row.last === null ? undefined : Number(row.last),
    }
  }

  history(scriptKey: Buffer, beforeTxNum: number | undefined, limit: number): TxChange[] {
    return this.pg
      .query<{t: number; delta: number}>(
        `SELECT t, sum(delta)::bigint AS delta FROM (${CHANGES}) AS c WHERE t < $2 GROUP BY t ORDER BY t DESC LIMIT $3`,
        [scriptKey, beforeTxNum ?? Number.MAX_SAFE_INTEGER, limit > 0 ? limit : null],
      )
      .map((r) => ({txNum: Number(r.t), delta: Number(r.delta)}))
  }

  unspent(scriptKey: Buffer, before: OutputRef | undefined, limit: number): UnspentOutput[] {
    return this.pg
      .query<{id: number; value: number}>(
        `SELECT o.id, o.value FROM outputs o
          WHERE o.script_key = $1 AND o.id < $2 AND NOT EXISTS (SELECT 1 FROM spends s WHERE s.output_id = o.id)
          ORDER BY o.id DESC LIMIT $3`,
        [scriptKey, before ? outputId(before.txNum, before.vout) : Number.MAX_SAFE_INTEGER, limit > 0 ? limit : null],
      )
      .map((r) => ({txNum: txNumOfId(Number(r.id)), vout: voutOfId(Number(r.id)), value: Number(r.value)}))
  }

  output(txNum: number, vout: number): {value: number; spentBy: number | null; scriptKey: Buffer} | undefined {
    if (vout >= TX_SHIFT) return undefined
    const row = this.pg.query<{value: number; spent_by: number | null; script_key: Buffer}>(
      'SELECT o.value, s.spent_by, o.script_key FROM outputs o LEFT JOIN spends s ON s.output_id = o.id WHERE o.id = $1',
      [outputId(txNum, vout)],
    )[0]
    return row && {value: Number(row.value), spentBy: row.spent_by === null ? null : Number(row.spent_by), scriptKey: row.script_key}
  }

  txidOf(txNum: number): Buffer {
    const txid = this.pg.query<{txid: Buffer}>('SELECT txid FROM txs WHERE tx_num = $1', [txNum])[0]?.txid
    if (!txid) throw damaged(this.store.location, `transaction ${txNum} is missing`)
    return txid
  }

  txNumOf(txid: Buffer): number | undefined {
    const row = this.pg.query<{tx_num: number}>(PG_TX_NUM_OF_TXID, [txidKey(txid), txid])[0]
    return row && Number(row.tx_num)
  }

  txNumsOf(txid: Buffer): number[] {
    return this.pg
      .query<{tx_num: number}>('SELECT k.tx_num FROM txid_keys k JOIN txs t ON t.tx_num = k.tx_num WHERE k.key = $1 AND t.txid = $2 ORDER BY k.tx_num', [txidKey(txid), txid])
      .map((r) => Number(r.tx_num))
  }

  blockOf(txNum: number): BlockOfTx {
    const row = this.pg.query<{height: number; hash: Buffer; header: Buffer}>(
      'SELECT height, hash, header FROM blocks WHERE first_tx <= $1 ORDER BY first_tx DESC LIMIT 1',
      [txNum],
    )[0]
    if (!row) throw damaged(this.store.location, `no block holds transaction ${txNum}`)
    let block = this.blocks.get(row.height)
    if (!block) {
      block = {height: row.height, hash: row.hash, time: row.header.readUInt32LE(68)}
      this.blocks.set(row.height, block)
    }
    return block
  }
}

/** A script's changes, one row per output paid to it and one per spend of such an output: t is the transaction, delta the satoshis. */
const CHANGES = `SELECT o.id / ${TX_SHIFT} AS t, o.value AS delta FROM outputs o WHERE o.script_key = $1
                 UNION ALL
                 SELECT s.spent_by AS t, -o.value AS delta FROM outputs o JOIN spends s ON s.output_id = o.id WHERE o.script_key = $1`

class PgTxReader implements TxReads {
  constructor(private readonly store: PgIndexStore) {}

  private get pg(): PgConnection {
    return this.store.pg
  }

  txNumOf(txid: Buffer): number | undefined {
    const row = this.pg.query<{tx_num: number}>(PG_TX_NUM_OF_TXID, [txidKey(txid), txid])[0]
    return row && Number(row.tx_num)
  }

  place(txNum: number): TxPlace {
    const txid = this.pg.query<{txid: Buffer}>('SELECT txid FROM txs WHERE tx_num = $1', [txNum])[0]?.txid
    const block = this.pg.query<{height: number; hash: Buffer; header: Buffer; first_tx: number}>(
      'SELECT height, hash, header, first_tx FROM blocks WHERE first_tx <= $1 ORDER BY first_tx DESC LIMIT 1',
      [txNum],
    )[0]
    if (!txid || !block) throw damaged(this.store.location, `transaction ${txNum} or its block is missing`)
    return {txNum, txid, height: block.height, blockHash: block.hash, blockTime: block.header.readUInt32LE(68), position: txNum - Number(block.first_tx)}
  }

  outputs(txNum: number): IndexedTxOutput[] {
    return this.pg
      .query<{id: number; value: number; spent_by: number | null}>(
        'SELECT o.id, o.value, s.spent_by FROM outputs o LEFT JOIN spends s ON s.output_id = o.id WHERE o.id >= $1 AND o.id < $2 ORDER BY o.id',
        [outputId(txNum, 0), outputId(txNum + 1, 0)],
      )
      .map((r) => ({vout: voutOfId(Number(r.id)), value: Number(r.value), spentBy: r.spent_by === null ? null : Number(r.spent_by)}))
  }

  output(txNum: number, vout: number): IndexedTxOutput | undefined {
    if (vout >= TX_SHIFT) return undefined
    const row = this.pg.query<{value: number; spent_by: number | null}>(
      'SELECT o.value, s.spent_by FROM outputs o LEFT JOIN spends s ON s.output_id = o.id WHERE o.id = $1',
      [outputId(txNum, vout)],
    )[0]
    return row && {vout, value: Number(row.value), spentBy: row.spent_by === null ? null : Number(row.spent_by)}
  }
}

const damaged = (location: string, what: string) => new BixError('DatabaseError', `${location} is damaged: ${what}; drop its tables and run bix index to rebuild it`)

/**
 * Opens (in 'write' mode: creates the tables in an empty database) the
 * index in the PostgreSQL database at `url`. Failures are BixErrors:
 * DatabaseError for a server that cannot be reached, a database that holds
 * something else, a newer schema; WrongNetwork for an index of another network.
 */
export function openPgIndex(url: string, options: OpenOptions & {migrations?: readonly PgMigration[]}): PgIndexStore {
  const location = maskUrl(url)
  const pg = PgConnection.open(url)
  try {
    return setUp(pg, location, options)
  } catch (err) {
    pg.close()
    throw err
  }
}

function setUp(pg: PgConnection, location: string, options: OpenOptions & {migrations?: readonly PgMigration[]}): PgIndexStore {
  const migrations = options.migrations ?? PG_MIGRATIONS
  const write = options.mode === 'write'
  if (write) {
    // the index is derived from the node: a commit that a crash of the server loses is redone by the next run, and the
    // index stays whole (SQLite's synchronous=NORMAL promises as much); not waiting for each commit's WAL flush saves a disk round trip per batch
    pg.query("SELECT set_config('synchronous_commit', 'off', false)")
    // the sort that builds the script index at the end of a first run keeps this much in memory, as SQLite's cache may
    pg.query("SELECT set_config('maintenance_work_mem', $1, false)", [`${Math.max(64, Math.floor((options.maxMemoryBytes ?? DEFAULT_CACHE_BYTES) / 2 ** 20))}MB`])
  }
  const hasMeta = pg.query<{found: boolean}>("SELECT to_regclass('meta') IS NOT NULL AS found")[0].found
  let version: number
  let network: NetworkName
  if (!hasMeta) {
    // the writer lock's table (lock.ts) comes before the index's own
    const tables = Number(pg.query<{n: number}>("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'writer'")[0].n)
    if (tables > 0) throw new BixError('DatabaseError', `${location} holds tables but not a bix index; use an empty database`)
    if (!write) throw new BixError('DatabaseError', `${location} holds no bix index; run bix index first`)
    // the writer lock, taken before opening, keeps two first runs from creating the tables at once
    network = options.network!
    version = create(pg, network, migrations)
  } else {
    const meta = (key: string) => pg.query<{value: string}>('SELECT value FROM meta WHERE key = $1', [key])[0]?.value
    version = Number(meta('schema_version'))
    const stored = meta('network')
    if (!Number.isInteger(version) || version < 1 || !stored || !isNetworkName(stored)) {
      throw new BixError('DatabaseError', `${location} is not a bix index (its meta table lacks a schema version or network)`)
    }
    const known = migrations.at(-1)!.version
    if (version > known) throw new BixError('DatabaseError', `${location} was made by a newer bix (schema ${version}); upgrade bix`)
    network = stored
    if (options.network && options.network !== stored) {
      throw new BixError('WrongNetwork', `index ${location} is for ${stored}, not ${options.network}; use another --db or --network`)
    }
    const genesis = meta('genesis_hash')
    if (genesis !== NETWORKS[stored].genesisHash) {
      throw new BixError('WrongNetwork', `index ${location} says it is for ${stored}, but its genesis block ${genesis ?? '(none)'} is not ${stored}'s`)
    }
    if (version < known) {
      if (!write) throw new BixError('DatabaseError', `${location} was made by an older bix (schema ${version}); run bix index to upgrade it`)
      version = migrate(pg, version, migrations)
    }
  }
  return new PgIndexStore(pg, location, network, options.mode, version)
}

function migrate(pg: PgConnection, from: number, migrations: readonly PgMigration[]): number {
  let version = from
  for (const step of migrations) {
    if (step.version <= version) continue
    if (step.version !== version + 1) throw new Error(`migration to schema ${step.version} does not follow schema ${version}`)
    pg.transaction(() => {
      step.up(pg)
      pg.run(`INSERT INTO meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [String(step.version)])
    })
    version = step.version
  }
  return version
}

/** A new index: the schema and its identity, in one transaction. */
function create(pg: PgConnection, network: NetworkName, migrations: readonly PgMigration[]): number {
  let version = 0
  pg.transaction(() => {
    for (const step of migrations) {
      step.up(pg)
      version = step.version
    }
    pg.run("INSERT INTO meta (key, value) VALUES ('schema_version', $1), ('network', $2), ('genesis_hash', $3), ('created_at', $4)", [
      String(version),
      network,
      NETWORKS[network].genesisHash,
      new Date().toISOString(),
    ])
  })
  return version
}
