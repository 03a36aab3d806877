/**
 * The payload of `COPY ... FROM STDIN (FORMAT binary)`, built row by row into
 * one growing Buffer for PgConnection.copyIn. Binary rather than text: for
 * 2 million rows of (bigint, bytea, bigint, bigint) it was both quicker to
 * build here and quicker for the server to read (see the commit that chose
 * pg). Each field is written with the column's own type, in the order of the
 * COPY's column list:
 *
 *   copy.row(3).int8(id).bytea(key).int8OrNull(spentBy)
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')
const HEADER_BYTES = SIGNATURE.length + 8
const TWO_32 = 2 ** 32

export class CopyWriter {
  private buf: Buffer
  private length = 0
  private count = 0

  constructor(private readonly initialBytes = 1 << 20) {
    this.buf = this.start()
  }

  /** rows written since the last finish() */
  get rows(): number {
    return this.count
  }

  /** Starts a row of `fields` fields. */
  row(fields: number): this {
    this.room(2)
    this.buf.writeInt16BE(fields, this.length)
    this.length += 2
    this.count++
    return this
  }

  /** A bigint column. */
  int8(value: number | bigint): this {
    this.room(12)
    this.buf.writeInt32BE(8, this.length)
    if (typeof value === 'bigint') {
      this.buf.writeBigInt64BE(value, this.length + 4)
    } else {
      if (!Number.isSafeInteger(value)) throw new RangeError(`CopyWriter.int8: ${value} is not an integer a JS number holds exactly`)
      const high = Math.floor(value / TWO_32)
      this.buf.writeInt32BE(high, this.length + 4)
      this.buf.writeUInt32BE(value - high * TWO_32, this.length + 8)
    }
    this.length += 12
    return this
  }

  /** An integer column. */
  int4(value: number): this {
    this.room(8)
    this.buf.writeInt32BE(4, this.length)
    this.buf.writeInt32BE(value, this.length + 4)
    this.length += 8
    return this
  }

  /** A bytea column. */
  bytea(value: Uint8Array): this {
    this.room(4 + value.length)
    this.buf.writeInt32BE(value.length, this.length)
    this.buf.set(value, this.length + 4)
    this.length += 4 + value.length
    return this
  }

  /** A text column (UTF-8, the server's encoding being UTF8). */
  text(value: string): this {
    const bytes = Buffer.byteLength(value)
    this.room(4 + bytes)
    this.buf.writeInt32BE(bytes, this.length)
    this.buf.write(value, this.length + 4)
    this.length += 4 + bytes
    return this
  }

  /** NULL, in a column of any type. */
  null(): this {
    this.room(4)
    this.buf.writeInt32BE(-1, this.length)
    this.length += 4
    return this
  }

  int8OrNull(value: number | bigint | null | undefined): this {
    return value === null || value === undefined ? this.null() : this.int8(value)
  }

  /** The payload of the rows written so far; the writer starts over empty. */
  finish(): Buffer {
    this.room(2)
    this.buf.writeInt16BE(-1, this.length)
    const payload = this.buf.subarray(0, this.length + 2)
    this.buf = this.start()
    this.count = 0
    return payload
  }

  private start(): Buffer {
    const buf = Buffer.allocUnsafe(Math.max(this.initialBytes, 64))
    SIGNATURE.copy(buf, 0)
    // flags (no OIDs) and the length of the header extension
    buf.writeInt32BE(0, SIGNATURE.length)
    buf.writeInt32BE(0, SIGNATURE.length + 4)
    this.length = HEADER_BYTES
    return buf
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.buf.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + bytes))
    this.buf.copy(grown, 0, 0, this.length)
    this.buf = grown
  }
}
