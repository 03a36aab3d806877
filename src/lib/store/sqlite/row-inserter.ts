import type Database from 'better-sqlite3'

/**
 * Appends rows through one multi-row INSERT of `rowsPerStatement` rows,
 * reusing one parameter array, so that a row costs a few array stores
 * instead of a call into SQLite. Rows left when flushed go one statement
 * each. The caller flushes before anything reads the table.
 */
export class RowInserter {
  private readonly many: Database.Statement<unknown[]>
  private readonly one: Database.Statement<unknown[]>
  private readonly params: unknown[]
  private filled = 0

  constructor(
    db: Database.Database,
    private readonly table: string,
    columns: readonly string[],
    private readonly rowsPerStatement = 64,
  ) {
    const row = `(${columns.map(() => '?').join(', ')})`
    const head = `INSERT INTO ${table} (${columns.join(', ')}) VALUES `
    this.many = db.prepare(head + Array.from({length: rowsPerStatement}, () => row).join(', '))
    this.one = db.prepare(head + row)
    this.params = new Array(rowsPerStatement * columns.length)
    this.width = columns.length
  }

  private readonly width: number

  add2(a: unknown, b: unknown): void {
    const p = this.params
    p[this.filled++] = a
    p[this.filled++] = b
    if (this.filled === p.length) this.runFull()
  }

  add4(a: unknown, b: unknown, c: unknown, d: unknown): void {
    const p = this.params
    p[this.filled++] = a
    p[this.filled++] = b
    p[this.filled++] = c
    p[this.filled++] = d
    if (this.filled === p.length) this.runFull()
  }

  flush(): void {
    const rowParams = new Array(this.width)
    for (let at = 0; at < this.filled; at += this.width) {
      for (let i = 0; i < this.width; i++) rowParams[i] = this.params[at + i]
      this.one.run(rowParams)
    }
    this.clear()
  }

  /** Drops rows not yet written (the transaction they belonged to failed). */
  clear(): void {
    this.params.fill(undefined, 0, this.filled)
    this.filled = 0
  }

  private runFull(): void {
    this.many.run(this.params)
    this.filled = 0
  }

  toString(): string {
    return `RowInserter(${this.table})`
  }
}
