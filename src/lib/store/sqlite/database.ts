import Database from 'better-sqlite3'
import fs from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {NETWORKS, type NetworkName, isNetworkName} from '../../chain/networks.js'
import {BixError} from '../../errors.js'
import {DEFAULT_CACHE_BYTES, type IndexStore, type LockHolder, type MempoolActivity, type MempoolSnapshotInfo, type OpenMode, type OpenOptions as StoreOpenOptions, type StoredTip, type WriterOptions} from '../index-store.js'
import {TX_SHIFT, txidKey} from '../output-ids.js'
import {AddressReader} from './address-reader.js'
import {MempoolWriter} from './mempool-writer.js'
import {mempoolActivityOf, mempoolSnapshotInfo} from './mempool-reader.js'
import {withReadSnapshot} from './read-snapshot.js'
import {ALL_OUTPUTS, BULK_LOAD, MIGRATIONS, type Migration, SCHEMA_VERSION, TX_NUM_OF_TXID, type TxidParams, migrate} from './schema.js'
import {sqliteAddon} from './sqlite-addon.js'
import {databaseError, isSqliteError} from './sqlite-errors.js'
import {TxReader} from './tx-reader.js'
import {IndexWriter} from './writer.js'
import {readLockHolder} from './lock.js'

/**
 * Opening the index: one SQLite file per network, created 0600 in a 0700
 * directory, in WAL mode so queries read while `bix index` writes. Opening
 * checks that the file is an index of the expected network and of a schema
 * this bix understands, and migrates an older one in place.
 *
 * A reader needs nothing written: an index in a directory bix may not write,
 * on a read-only mount, or copied elsewhere (a backup, a snapshot) is read as
 * it is. SQLite reads a WAL database read-only when its -shm and -wal files
 * are there, or can be created; when neither is possible and there is no
 * -wal (an index no bix index was writing when it was copied), the file alone
 * is the whole index and is opened immutable. A -wal that SQLite cannot read
 * that way holds committed blocks the file lacks: that is said, never skipped.
 */

// better-sqlite3 reads this once, when it loads SQLite (at the first open in the process): it lets
// openImmutable() name the file as a URI. Every other open passes an absolute path, which is never one.
process.env.SQLITE_USE_URI ??= '1'

export type {OpenMode, StoredTip}

export interface OpenOptions extends StoreOpenOptions {
  /** for tests of the migration path: the steps to bring an older database up to date */
  migrations?: readonly Migration[]
}

/** Large pages suit the workload: long appends, and reads that walk many neighbouring rows. */
const PAGE_SIZE = 8192
/** After a checkpoint, a WAL larger than this (grown by one big batch) is truncated back. */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024

export class IndexDb implements IndexStore {
  readonly backend = 'sqlite'
  /** the better-sqlite3 handle, for the other store modules */
  readonly sqlite: Database.Database
  readonly path: string
  readonly network: NetworkName
  readonly mode: OpenMode
  readonly schemaVersion: number
  /** set when the file was opened immutable: how it looked then (see changedSinceOpen) */
  private readonly immutableStamp?: string
  private readonly tipStmt: Database.Statement<[], {height: number; hash: Buffer}>
  private readonly hashStmt: Database.Statement<[number], Buffer>
  private readonly hashesStmt: Database.Statement<[number, number], Buffer>
  private readonly metaStmt: Database.Statement<[string], string>
  private readonly setMetaStmt?: Database.Statement<[string, string]>
  private readonly deleteMetaStmt?: Database.Statement<[string]>
  private outputValueStmt?: Database.Statement<[TxidParams & {vout: number}], number>

  constructor(sqlite: Database.Database, file: string, network: NetworkName, mode: OpenMode, schemaVersion: number, immutableStamp?: string) {
    this.sqlite = sqlite
    this.path = file
    this.network = network
    this.mode = mode
    this.schemaVersion = schemaVersion
    this.immutableStamp = immutableStamp
    this.tipStmt = sqlite.prepare('SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1')
    this.hashStmt = sqlite.prepare<[number], Buffer>('SELECT hash FROM blocks WHERE height = ?').pluck()
    this.hashesStmt = sqlite.prepare<[number, number], Buffer>('SELECT hash FROM blocks WHERE height BETWEEN ? AND ? ORDER BY height').pluck()
    this.metaStmt = sqlite.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck()
    if (mode === 'write') {
      this.setMetaStmt = sqlite.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      this.deleteMetaStmt = sqlite.prepare('DELETE FROM meta WHERE key = ?')
    }
  }

  /** The highest block the index holds, undefined when it is empty. */
  tip(): StoredTip | undefined {
    return this.reading(() => this.tipStmt.get())
  }

  blockHash(height: number): Buffer | undefined {
    return this.reading(() => this.hashStmt.get(height))
  }

  /** Hashes of the blocks from..to (inclusive) that the index holds, in height order. */
  blockHashes(fromHeight: number, toHeight: number): Buffer[] {
    return this.reading(() => this.hashesStmt.all(fromHeight, toHeight))
  }

  meta(key: string): string | undefined {
    return this.reading(() => this.metaStmt.get(key))
  }

  /** Inside the caller's transaction when there is one. */
  setMeta(key: string, value: string | undefined): void {
    if (!this.setMetaStmt || !this.deleteMetaStmt) throw new Error('setMeta on an index opened for reading')
    if (value === undefined) this.deleteMetaStmt.run(key)
    else this.setMetaStmt.run(key, value)
  }

  get location(): string {
    return this.path
  }

  building(): boolean {
    return this.meta(BULK_LOAD) === '1'
  }

  read<T>(read: () => T): T {
    return this.sqlite.transaction(read)()
  }

  readSnapshot<T>(work: () => Promise<T>): Promise<T> {
    return withReadSnapshot(this, work)
  }

  addressReader(): AddressReader {
    return new AddressReader(this)
  }

  txReader(): TxReader {
    return new TxReader(this)
  }

  mempoolInfo(): MempoolSnapshotInfo {
    return mempoolSnapshotInfo(this)
  }

  mempoolActivity(scriptKey: Buffer): MempoolActivity {
    return mempoolActivityOf(this, scriptKey)
  }

  outputValues(outpoints: ReadonlyArray<{txid: Buffer; vout: number}>): Array<number | undefined> {
    // the transaction by its txid key, then its output by id = (tx_num, vout)
    this.outputValueStmt ??= this.sqlite.prepare<[TxidParams & {vout: number}], number>(`SELECT value FROM ${ALL_OUTPUTS} WHERE id = (${TX_NUM_OF_TXID}) * ${TX_SHIFT} + @vout`).pluck()
    const stmt = this.outputValueStmt
    // no transaction has 2^20 outputs; a larger vout would name another transaction's output id
    return this.reading(() => outpoints.map((o) => (o.vout < TX_SHIFT ? stmt.get({key: txidKey(o.txid), txid: o.txid, vout: o.vout}) : undefined)))
  }

  writer(options?: WriterOptions): IndexWriter {
    return new IndexWriter(this, options)
  }

  mempoolWriter(): MempoolWriter {
    return new MempoolWriter(this)
  }

  writerHolder(): LockHolder | undefined {
    return readLockHolder(this.path)
  }

  /** the file and its write-ahead log */
  sizeBytes(): number {
    return fileBytes(this.path) + fileBytes(`${this.path}-wal`)
  }

  close(): void {
    if (this.sqlite.open) this.sqlite.close()
  }

  /**
   * Whether an index opened immutable was written since (a bix index began on it through another
   * mount): what was read from it may mix two states. False for an index opened the usual way,
   * where SQLite's locks keep each read transaction whole.
   */
  changedSinceOpen(): boolean {
    return this.immutableStamp !== undefined && immutableStamp(this.path) !== this.immutableStamp
  }

  private reading<T>(read: () => T): T {
    try {
      return read()
    } catch (err) {
      throw databaseError(err, this.path, 'reading')
    }
  }
}

/**
 * Opens (in 'write' mode: creates if missing) the index at `file`. Failures
 * are BixErrors: DatabaseError for a missing, foreign, corrupt, newer or
 * unwritable file, WrongNetwork for an index of another network.
 */
export function openIndex(file: string, options: OpenOptions): IndexDb {
  const resolved = path.resolve(file)
  if (options.mode === 'write') {
    if (!options.network) throw new Error('openIndex: write mode needs the network')
    prepareFile(resolved)
    placeTempFiles(path.dirname(resolved))
  } else {
    try {
      fs.statSync(resolved)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new BixError('DatabaseError', `no index at ${resolved}; run bix index first`)
      throw new BixError('DatabaseError', `cannot read ${resolved}: ${code === 'EACCES' ? 'permission denied on its directory' : code}`, {cause: err})
    }
  }

  try {
    return openAs(resolved, options)
  } catch (err) {
    // a reader of a WAL database needs -shm (and -wal) beside it, which nobody can create in a read-only directory
    if (options.mode === 'read' && isSqliteError(err) && /^SQLITE_(CANTOPEN|READONLY)/.test(err.code) && !writable(path.dirname(resolved))) {
      return openImmutable(resolved, options, err)
    }
    throw databaseError(err, resolved, 'opening')
  }
}

/**
 * The index file alone, read as a file that nothing changes (SQLite's
 * immutable=1: no locks, no -shm, no -wal). Only when there is no -wal to
 * lose: one holds transactions the file does not have yet.
 */
function openImmutable(file: string, options: OpenOptions, cause: Error): IndexDb {
  const name = path.basename(file)
  const walBytes = fs.statSync(`${file}-wal`, {throwIfNoEntry: false})?.size ?? 0
  if (walBytes > 0) {
    throw new BixError(
      'DatabaseError',
      `cannot read ${file}: ${name}-wal beside it holds ${walBytes} bytes of index not yet in ${name}, and SQLite can read them only by creating ${name}-shm, which this read-only directory does not allow; copy ${name} and ${name}-wal together to a writable directory and query the copy, or copy the index while no bix index runs (it then has no -wal)`,
      {cause},
    )
  }
  const stamp = immutableStamp(file)
  let sqlite: Database.Database
  try {
    sqlite = new Database(`${pathToFileURL(file).href}?immutable=1`, {readonly: true, fileMustExist: true, nativeBinding: sqliteAddon()})
  } catch (err) {
    throw databaseError(err, file, 'opening')
  }
  try {
    return setUp(sqlite, file, options, stamp)
  } catch (err) {
    sqlite.close()
    throw databaseError(err, file, 'opening')
  }
}

/** The file's identity, size and time, and whether a -wal has appeared: any change means a writer came by. */
function immutableStamp(file: string): string {
  const stat = fs.statSync(file, {throwIfNoEntry: false})
  return `${stat?.ino}:${stat?.size}:${stat?.mtimeMs}:${fs.existsSync(`${file}-wal`)}`
}

/**
 * One consistent read of the index: `read` runs in one read transaction. A
 * read-only copy opened immutable that changed meanwhile (a bix index began
 * writing it through another mount) is read once more, through its -wal.
 */
export function readIndex<T>(file: string, options: Omit<OpenOptions, 'mode'>, read: (db: IndexDb) => T): T {
  for (let attempt = 1; ; attempt++) {
    const db = openIndex(file, {...options, mode: 'read'})
    try {
      let value: T
      try {
        value = db.sqlite.transaction(() => read(db))()
      } catch (err) {
        // a torn read may look like damage: only a file that did not change is damaged
        if (!db.changedSinceOpen()) throw err
        if (attempt === 1) continue
        throw changedWhileRead(file, err)
      }
      if (!db.changedSinceOpen()) return value
      if (attempt > 1) throw changedWhileRead(file)
    } finally {
      db.close()
    }
  }
}

function changedWhileRead(file: string, cause?: unknown): BixError {
  return new BixError('DatabaseError', `${file} changed while bix read it as a read-only copy (is a bix index writing it?); try again`, {cause})
}

/**
 * The writer's sorts (the script index built at the end of a first run) go
 * to temporary files: as big as that index, too big for memory on mainnet,
 * so beside the database, where its own disk space is, unless the operator
 * names a place in SQLITE_TMPDIR. SQLite reads the variable once, when the
 * process first opens a database: for bix's commands, this one.
 */
function placeTempFiles(dir: string): void {
  process.env.SQLITE_TMPDIR ??= dir
}

function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK)
    return true
  } catch {
    return false
  }
}

function openAs(file: string, options: OpenOptions): IndexDb {
  const sqlite = new Database(file, {readonly: options.mode === 'read', fileMustExist: true, nativeBinding: sqliteAddon()})
  try {
    if (options.mode === 'write' && sqlite.readonly) {
      throw new BixError('DatabaseError', `cannot write ${file}: the file is read-only`)
    }
    return setUp(sqlite, file, options)
  } catch (err) {
    sqlite.close()
    throw err
  }
}


function prepareFile(file: string): void {
  const dir = path.dirname(file)
  try {
    fs.mkdirSync(dir, {recursive: true, mode: 0o700})
    // created here rather than by SQLite, so that it (and the -wal/-shm files, which copy its mode) is private
    fs.closeSync(fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new BixError('DatabaseError', `cannot create ${file}: ${dir} is read-only or not yours (${code})`, {cause: err})
    }
    if (code === 'ENOSPC') throw new BixError('DatabaseError', `disk full while creating ${file}`, {cause: err})
    if (code === 'ENOTDIR') throw new BixError('DatabaseError', `cannot create ${file}: part of its path is a file, not a directory`, {cause: err})
    throw err
  }
}

function setUp(sqlite: Database.Database, file: string, options: OpenOptions, immutableStamp?: string): IndexDb {
  const cacheKiB = Math.max(2048, Math.floor((options.maxMemoryBytes ?? DEFAULT_CACHE_BYTES) / 1024))
  const tables = sqlite.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()
  const write = options.mode === 'write'

  sqlite.pragma(`cache_size = -${cacheKiB}`)
  // a reader's sorts are small; the writer's are not (placeTempFiles)
  sqlite.pragma(`temp_store = ${write ? 'FILE' : 'MEMORY'}`)
  // nothing that writes (WAL mode, a migration) happens before the file is known to be an index of ours
  const setWriteMode = () => {
    if (!write) return
    if (sqlite.pragma('journal_mode = WAL', {simple: true}) !== 'wal') {
      throw new BixError('DatabaseError', `cannot put ${file} in WAL mode`)
    }
    sqlite.pragma('synchronous = NORMAL')
    sqlite.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`)
  }

  let version: number
  let network: NetworkName
  if (tables.length === 0) {
    if (!write) throw new BixError('DatabaseError', `${file} is empty, not a bix index; run bix index first`)
    // must precede the first table; ignored afterwards
    sqlite.pragma(`page_size = ${PAGE_SIZE}`)
    setWriteMode()
    network = options.network!
    version = create(sqlite, network, options.migrations ?? MIGRATIONS)
  } else {
    if (!tables.includes('meta')) throw new BixError('DatabaseError', `${file} is an SQLite database but not a bix index`)
    const meta = (key: string) => sqlite.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(key)
    version = Number(meta('schema_version'))
    const stored = meta('network')
    if (!Number.isInteger(version) || version < 1 || !stored || !isNetworkName(stored)) {
      throw new BixError('DatabaseError', `${file} is not a bix index (its meta table lacks a schema version or network)`)
    }
    const known = (options.migrations ?? MIGRATIONS).at(-1)!.version
    if (version > known) throw new BixError('DatabaseError', `${file} was made by a newer bix (schema ${version}); upgrade bix`)
    network = stored
    if (options.network && options.network !== stored) {
      throw new BixError('WrongNetwork', `index ${file} is for ${stored}, not ${options.network}; use another --db or --network`)
    }
    const genesis = meta('genesis_hash')
    if (genesis !== NETWORKS[stored].genesisHash) {
      throw new BixError('WrongNetwork', `index ${file} says it is for ${stored}, but its genesis block ${genesis ?? '(none)'} is not ${stored}'s`)
    }
    setWriteMode()
    if (version < known) {
      if (!write) throw new BixError('DatabaseError', `${file} was made by an older bix (schema ${version}); run bix index to upgrade it`)
      version = migrate(sqlite, version, options.migrations ?? MIGRATIONS)
    }
  }
  return new IndexDb(sqlite, file, network, options.mode, version, immutableStamp)
}

/** A new index: the schema and its identity, in one transaction. */
function create(sqlite: Database.Database, network: NetworkName, migrations: readonly Migration[]): number {
  let version = 0
  sqlite
    .transaction(() => {
      version = migrate(sqlite, 0, migrations)
      const set = sqlite.prepare('INSERT INTO meta (key, value) VALUES (?, ?)')
      set.run('network', network)
      set.run('genesis_hash', NETWORKS[network].genesisHash)
      set.run('created_at', new Date().toISOString())
    })
    .immediate()
  return version
}

function fileBytes(file: string): number {
  return fs.statSync(file, {throwIfNoEntry: false})?.size ?? 0
}

export {SCHEMA_VERSION}
