import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, test} from 'node:test'

import {linesToTxs, readRawTransactions} from '../../src/lib/broadcast/raw-input.js'
import {BixError} from '../../src/lib/errors.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-broadcast-input-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))

const noStdin = async () => assert.fail('stdin must not be read')

describe('raw transactions come from arguments, a file or standard input', () => {
  test('a file holds one per line; blank lines, # comments and CRLF line ends are skipped', async () => {
    const file = path.join(dir, 'txs.txt')
    fs.writeFileSync(file, '# signed on Tuesday\r\n0200AB\r\n\r\n   \n  # indented comment\n0300cd  \n')
    const txs = await readRawTransactions({args: [], file, readStdin: noStdin})
    assert.deepEqual(txs, [
      {hex: '0200ab', origin: `line 2 of ${file}`},
      {hex: '0300cd', origin: `line 6 of ${file}`},
    ])
  })

  test('arguments come first, then "-" reads standard input in its place', async () => {
    const txs = await readRawTransactions({args: ['aa', '-', 'bb'], readStdin: async () => 'cc\ndd\n'})
    assert.deepEqual(
      txs.map((t) => `${t.hex}@${t.origin}`),
      ['aa@argument 1', 'cc@line 1 of stdin', 'dd@line 2 of stdin', 'bb@argument 3'],
    )
  })

  test('--file - reads standard input; it cannot be read twice', async () => {
    assert.equal((await readRawTransactions({args: [], file: '-', readStdin: async () => 'ee'})).length, 1)
    await assert.rejects(readRawTransactions({args: ['-'], file: '-', readStdin: async () => 'ee'}), /only once/)
  })

  test('nothing given, an empty file, or a missing file is bad input (exit 2)', async () => {
    const empty = path.join(dir, 'empty.txt')
    fs.writeFileSync(empty, '# nothing yet\n\n')
    for (const sources of [{args: []}, {args: [], file: empty}, {args: [], file: path.join(dir, 'nope.txt')}]) {
      await assert.rejects(readRawTransactions({...sources, readStdin: noStdin}), (err: unknown) => err instanceof BixError && err.exitCode === 2)
    }
    await assert.rejects(readRawTransactions({args: [], file: path.join(dir, 'nope.txt'), readStdin: noStdin}), /cannot read --file .*nope\.txt: no such file/)
  })

  test('line numbers count the skipped lines, so an error points at the right one', () => {
    assert.deepEqual(linesToTxs('\n\n# c\nff\n', 'f'), [{hex: 'ff', origin: 'line 4 of f'}])
  })
})
