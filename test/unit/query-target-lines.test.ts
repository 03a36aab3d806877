import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {PassThrough, Writable} from 'node:stream'
import {describe, test} from 'node:test'

import {BixError} from '../../src/lib/errors.js'
import {errorAtLine, readTargetLines} from '../../src/lib/query/target-lines.js'
import {JsonStream} from '../../src/lib/ui/json-stream.js'

async function collect(source: string, stdin?: NodeJS.ReadableStream) {
  const lines = []
  for await (const line of readTargetLines(source, stdin)) lines.push(line)
  return lines
}

describe('target lines (--file)', () => {
  test('blank lines and lines starting with # are skipped; a # later in a line (a descriptor checksum) is kept; numbers are the file\'s own', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-lines-'))
    t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
    const file = path.join(dir, 'targets.txt')
    fs.writeFileSync(file, '# header\r\n\r\n  bcrt1qaddress  \r\n\t# indented comment\nwpkh(tpubX/<0;1>/*)#abcdefgh\n   \nscript:51')
    assert.deepEqual(await collect(file), [
      {number: 3, text: 'bcrt1qaddress'},
      {number: 5, text: 'wpkh(tpubX/<0;1>/*)#abcdefgh'},
      {number: 7, text: 'script:51'},
    ])
  })

  test('- reads stdin, line by line as it arrives', async () => {
    const stdin = new PassThrough()
    const lines = collect('-', stdin)
    stdin.write('one\n# two\n')
    stdin.end('three\n')
    assert.deepEqual(await lines, [
      {number: 1, text: 'one'},
      {number: 3, text: 'three'},
    ])
  })

  test('a missing file and a directory are BadInput errors that name the path', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-lines-'))
    t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
    const missing = path.join(dir, 'nope.txt')
    await assert.rejects(collect(missing), (err: BixError) => err.kind === 'BadInput' && err.message === `--file ${missing}: no such file`)
    await assert.rejects(collect(dir), (err: BixError) => err.kind === 'BadInput' && err.message.startsWith(`--file ${dir}: `))
  })

  test('an error of one line says where it came from and keeps its kind and exit code; other errors pass unchanged', () => {
    const err = errorAtLine('-', {number: 7, text: 'x'}, new BixError('WrongNetwork', 'address x is for mainnet')) as BixError
    assert.equal(err.message, 'stdin line 7: address x is for mainnet')
    assert.equal(err.kind, 'WrongNetwork')
    assert.equal(err.exitCode, 2)
    const plain = new TypeError('bug')
    assert.equal(errorAtLine('f', {number: 1, text: ''}, plain), plain)
  })
})

describe('JsonStream', () => {
  const sink = () => {
    let text = ''
    const out = new Writable({
      write(chunk, _encoding, done) {
        text += String(chunk)
        done()
      },
    })
    return {out, text: () => text}
  }

  test('lines: one object per line; array: one JSON array, [] when empty', async () => {
    const lines = sink()
    const l = new JsonStream(lines.out, 'lines')
    await l.write({a: 1})
    await l.write({b: [2]})
    await l.end()
    assert.equal(lines.text(), '{"a":1}\n{"b":[2]}\n')

    const array = sink()
    const a = new JsonStream(array.out, 'array')
    await a.write({a: 1})
    await a.write({b: 2})
    await a.end()
    assert.deepEqual(JSON.parse(array.text()), [{a: 1}, {b: 2}])
    assert.equal(a.written, 2)

    const empty = sink()
    await new JsonStream(empty.out, 'array').end()
    assert.equal(empty.text(), '[]\n')
  })

  test('a write waits while the reader is behind (backpressure), so answers do not pile up in memory', async () => {
    const released: Array<() => void> = []
    const out = new Writable({
      highWaterMark: 1,
      write(_chunk, _encoding, done) {
        released.push(done)
      },
    })
    const stream = new JsonStream(out, 'lines')
    let settled = false
    const first = stream.write({big: 'x'.repeat(100)}).then(() => (settled = true))
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(settled, false, 'the write waits for the slow reader')
    released.shift()!()
    await first
    assert.equal(settled, true)
  })
})

