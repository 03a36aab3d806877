import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import {bech32, bech32m} from 'bech32'
import bs58check from 'bs58check'
import {Transaction} from 'bitcoinjs-lib'

import {NETWORK_NAMES} from '../../src/lib/chain/networks.js'
import {BixError} from '../../src/lib/errors.js'
import {addressTarget} from '../../src/lib/query/targets.js'
import {FIXTURES} from '../support/chain-fixtures.js'
import {type BixOptions, type BixResult, runBix} from '../support/cli.js'
import {indexDigest} from '../support/index-digest.js'
import {type TestNode, startTestNode} from '../support/test-node.js'
import {startTinyNode} from '../support/tiny-node.js'
import {assertCleanFailure, cleanDigest, fixture, inParallel, indexArgs, tempDir} from './support.js'

/**
 * Malformed input of every kind the issue lists: addresses (checksum,
 * network, witness version and program length, case, Core's invalid
 * vectors), raw transactions (garbage, truncated, oversized), heights, flag
 * values, bitcoin.conf contents and cookies. Each is one clear line on
 * stderr with the documented exit code (2; 3 for credentials), never a
 * stack trace, and nothing reaches the node or the index.
 */

const IS_ROOT = process.getuid?.() === 0
const NOBODY = 65534

let node: TestNode
let db: string
let dbDigest: string
let dir: string

before(async () => {
  node = await startTestNode({fixtureChain: true})
  dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'bix-rel-input-'))
  db = path.join(dir, 'index.db')
  const r = await runBix(indexArgs(node, db, '--quiet'))
  assert.equal(r.code, 0, r.stderr)
  dbDigest = indexDigest(db)
})
after(async () => {
  await node?.stop()
  fs.rmSync(dir, {recursive: true, force: true})
})

interface Case {
  what: string
  args: string[]
  code: number
  pattern: RegExp
  opts?: BixOptions
}

/** Runs the cases three at a time; each must fail cleanly with its code and line. */
async function assertAllRefused(cases: Case[]): Promise<void> {
  const results = await inParallel(3, cases.map((c) => () => runBix(c.args, c.opts)))
  results.forEach((r, i) => assertCleanFailure(r, cases[i].code, cases[i].pattern, cases[i].what))
}

const regtestHrp = 'bcrt'
const program = (n: number, fill = 0x5c) => Buffer.alloc(n, fill)
const segwit = (hrp: string, version: number, prog: Buffer, encoding = version === 0 ? bech32 : bech32m) =>
  encoding.encode(hrp, [version, ...bech32.toWords(prog)], 1023)
const base58 = (version: number, hash = program(20)) => bs58check.encode(Buffer.concat([Buffer.from([version]), hash]))
/** flips one data character of a bech32 string (not the separator, not the hrp): the checksum no longer matches */
const mistype = (address: string) => {
  const at = address.length - 3
  return address.slice(0, at) + (address[at] === 'q' ? 'p' : 'q') + address.slice(at + 1)
}

/** One malformed address of each kind, and the reason bix must give. */
function badAddresses(): Array<{what: string; address: string; pattern: RegExp}> {
  const good = segwit(regtestHrp, 0, program(20))
  return [
    {what: 'bad bech32 checksum', address: mistype(good), pattern: /has a bad checksum/},
    {what: 'bad base58 checksum', address: base58(0x6f).slice(0, -1) + (base58(0x6f).endsWith('1') ? '2' : '1'), pattern: /bad checksum/},
    {what: 'mainnet segwit on regtest', address: segwit('bc', 0, program(20)), pattern: /is for main, but the index is regtest/},
    {what: 'testnet segwit on regtest', address: segwit('tb', 1, program(32)), pattern: /is for test\/testnet4\/signet, but the index is regtest/},
    {what: 'mainnet P2PKH on regtest', address: base58(0x00), pattern: /is for main, but the index is regtest/},
    {what: 'witness version 17', address: bech32m.encode(regtestHrp, [17, ...bech32.toWords(program(32))]), pattern: /witness version 17; versions go from 0 to 16/},
    {what: 'v0 with 21 bytes', address: segwit(regtestHrp, 0, program(21)), pattern: /21-byte version 0 program; it must be 20 \(P2WPKH\) or 32 \(P2WSH\)/},
    {what: 'v1 with 1 byte', address: segwit(regtestHrp, 1, program(1)), pattern: /1-byte witness program; it must be 2 to 40 bytes/},
    {what: 'v2 with 41 bytes', address: segwit(regtestHrp, 2, program(41)), pattern: /41-byte witness program/},
    {what: 'v0 with the bech32m checksum', address: segwit(regtestHrp, 0, program(20), bech32m), pattern: /version 0 but uses the bech32m checksum/},
    {what: 'v1 with the bech32 checksum', address: segwit(regtestHrp, 1, program(32), bech32), pattern: /version 1 but uses the bech32 checksum/},
    {what: 'mixed-case bech32', address: good.slice(0, 8).toUpperCase() + good.slice(8), pattern: /mixes upper and lower case/},
    {what: 'a character outside bech32', address: good.slice(0, 10) + 'b' + good.slice(11), pattern: /invalid character "b"/},
    {what: 'a character outside base58', address: '0' + base58(0x6f).slice(1), pattern: /invalid character "0" at position 1/},
    {what: 'unknown base58 version', address: base58(0x42), pattern: /unknown version byte 0x42/},
    {what: 'unknown segwit prefix', address: segwit('zz', 0, program(20)), pattern: /unknown prefix "zz1"/},
    {what: 'a space inside', address: good.slice(0, 12) + ' ' + good.slice(12), pattern: /spaces or non-printable characters/},
    {what: 'non-ASCII', address: good.slice(0, 12) + 'é' + good.slice(13), pattern: /spaces or non-printable characters/},
    {what: 'empty', address: '', pattern: /address is empty/},
    {what: 'far too long (a pasted key or block)', address: 'bcrt1' + 'q'.repeat(5000), pattern: /address is too long \(5005 characters/},
    {what: 'far too long base58', address: '1'.repeat(5000), pattern: /address is too long \(5000 characters/},
  ]
}

describe('malformed addresses', () => {
  test('each kind through the library: BadInput with its reason, for every network', () => {
    for (const {what, address, pattern} of badAddresses()) {
      assert.throws(
        () => addressTarget(address, 'regtest'),
        (err: unknown) => err instanceof BixError && err.kind === 'BadInput' && err.exitCode === 2 && pattern.test(err.message) && err.message.length < 400,
        what,
      )
    }
  })

  test("every string in Core's key_io_invalid.json is refused as BadInput on every network, in one short line", () => {
    const invalid = (JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vectors/key_io_invalid.json'), 'utf8')) as [string][]).map(([s]) => s)
    let refused = 0
    for (const address of invalid) {
      for (const network of NETWORK_NAMES) {
        assert.throws(
          () => addressTarget(address, network),
          (err: unknown) => err instanceof BixError && err.kind === 'BadInput' && !err.message.includes('\n') && err.message.length < 400,
          `${JSON.stringify(address)} on ${network}`,
        )
        refused++
      }
    }
    assert.ok(refused >= 5 * 50, `${refused} refusals`)
  })

  test('the main kinds through bix query address: exit 2, one line', async () => {
    // one code path turns them all into the error line: the library test above covers every kind's reason
    const kinds = ['bad bech32 checksum', 'mainnet segwit on regtest', 'mainnet P2PKH on regtest', 'witness version 17', 'v0 with 21 bytes', 'v0 with the bech32m checksum', 'mixed-case bech32', 'far too long (a pasted key or block)']
    const cases = badAddresses()
      .filter((c) => kinds.includes(c.what))
      .map(({what, address, pattern}) => ({what, args: ['query', 'address', '--network', 'regtest', '--offline', '--db', db, address], code: 2, pattern}))
    await assertAllRefused(cases)
    assert.equal(indexDigest(db), dbDigest)
  })

  test('the first bad address of several stops the query before any answer is printed', async () => {
    const r = await runBix(['query', 'address', '--network', 'regtest', '--offline', '--db', db, fixture.addresses[0], mistype(fixture.addresses[1]), fixture.addresses[2]])
    assertCleanFailure(r, 2, /bad checksum/)
  })
})

describe('malformed raw transactions for bix broadcast', () => {
  test('garbage, truncated, padded and oversized transactions: exit 2 naming which one, nothing sent to the node', async (t) => {
    // the node these go to records every request it hears, and answers none: decoding comes first, so it must hear nothing
    const listener = await startTinyNode((_req, res) => {
      res.statusCode = 500
      res.end()
    })
    t.after(() => listener.close())
    // a real transaction (from the recorded node's mempool), damaged in each way
    const hex = fixture.mempool[0].hex
    // a transaction whose weight is over Core's 400,000 standard limit: one output carrying 150 kB of script
    const huge = new Transaction()
    huge.addInput(Buffer.alloc(32, 7), 0)
    huge.addOutput(Buffer.alloc(150_000, 0x51), 1000n)
    // and one over the 4,000,000 weight consensus limit (1.1 MB), given on stdin as a user would pipe it
    const giant = new Transaction()
    giant.addInput(Buffer.alloc(32, 8), 0)
    giant.addOutput(Buffer.alloc(1_100_000, 0x51), 1000n)
    const file = path.join(tempDir(t), 'txs.txt')
    fs.writeFileSync(file, `# my transactions\n${hex}\n\nnot hex at all\n`)
    // (too long for one argument: the kernel caps those at 128 KiB)
    const hugeFile = path.join(tempDir(t), 'huge.txt')
    fs.writeFileSync(hugeFile, huge.toHex() + '\n')
    const nodeArgs = ['--network', 'regtest', '--rpcport', String(listener.port), '--rpcuser', 'u', '--rpcpassword', 'p']
    await assertAllRefused([
      {what: 'non-hex', args: ['broadcast', ...nodeArgs, 'zz' + hex], code: 2, pattern: /transaction 1 \(argument 1\): transaction hex has a non-hex character at position 1; nothing was sent/},
      {what: 'odd length', args: ['broadcast', ...nodeArgs, hex + 'a'], code: 2, pattern: /odd number of characters/},
      {what: 'truncated', args: ['broadcast', ...nodeArgs, hex.slice(0, hex.length - 20)], code: 2, pattern: /transaction 1 \(argument 1\): transaction: .* at offset \d+; nothing was sent/},
      {what: 'trailing bytes', args: ['broadcast', ...nodeArgs, hex + '00'], code: 2, pattern: /nothing was sent/},
      {what: 'the second of two is bad', args: ['broadcast', ...nodeArgs, hex, '0100'], code: 2, pattern: /^error: transaction 2 \(argument 2\): .*nothing was sent/},
      {what: 'a bad line in a file', args: ['broadcast', ...nodeArgs, '--file', file], code: 2, pattern: /transaction 2 \(line 4 of .*txs\.txt\): .*non-hex.*; nothing was sent/},
      {what: 'over the consensus weight, on stdin', args: ['broadcast', ...nodeArgs, '-'], code: 2, pattern: /transaction 1 \(line 1 of stdin\): transaction weighs \d+ units, more than a block can hold \(4000000\); nothing was sent/, opts: {input: giant.toHex() + '\n'}},
      {what: '8 MB of random text on stdin', args: ['broadcast', ...nodeArgs, '-'], code: 2, pattern: /nothing was sent/, opts: {input: Buffer.alloc(8_000_000, 'qz').toString() + '\n'}},
      {what: 'nothing at all on stdin', args: ['broadcast', ...nodeArgs, '-'], code: 2, pattern: /no transaction|nothing to (send|broadcast)|empty/i, opts: {input: '\n# only a comment\n'}},
      {what: 'no argument', args: ['broadcast', ...nodeArgs], code: 2, pattern: /transaction|nothing/i},
    ])
    assert.deepEqual(listener.requests.map((r) => r.path), [], 'nothing reached the node')
    // over the standard weight but within consensus: the node's policy decides, and bix reports its verdict (exit 8)
    const standard = await runBix(['broadcast', ...node.cliArgs(), '--json', '--file', hugeFile])
    assert.equal(standard.code, 8, standard.stderr)
    assert.equal((JSON.parse(standard.stdout) as Array<{status: string}>)[0].status, 'rejected')
  })
})

describe('heights, flags and settings', () => {
  test('--to-height out of range: negative is refused; beyond the tip indexes to the tip', async (t) => {
    for (const args of [['--to-height', '-1'], ['--to-height', '1.5'], ['--to-height', 'abc']]) {
      const target = path.join(tempDir(t), 'index.db')
      const r = await runBix(indexArgs(node, target, ...args))
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.doesNotMatch(r.stderr, /\n\s+at /)
      assert.match(r.stderr, /--to-height/)
      assert.equal(fs.existsSync(target), false, 'nothing created')
    }
    const target = path.join(tempDir(t), 'index.db')
    // far beyond any tip, and beyond what a double holds exactly: still "the tip", never an error
    const huge = await runBix(indexArgs(node, target, '--to-height', '99999999999999999999', '--json'))
    assert.equal(huge.code, 0, huge.stderr)
    assert.equal(JSON.parse(huge.stdout).height, await node.tipHeight(), 'a height beyond the tip means the tip')
    assert.equal(indexDigest(target), await cleanDigest(t, node))
  })

  /** Bad values of shared flags, per command, and what the error must name. */
  function badFlags(): Array<{what: string; args: string[]; name: RegExp}> {
    const n = ['--network', 'regtest']
    return [
      {what: '--rpcport 0', args: ['status', ...n, '--rpcport', '0'], name: /rpcport/},
      {what: '--rpcport abc', args: ['wait-sync', ...n, '--rpcport', 'abc'], name: /rpcport/},
      {what: 'BIX_RPCPORT=abc', args: ['status', ...n], name: /rpcport/},
      {what: '--rpc-parallelism 0', args: ['index', ...n, '--rpc-parallelism', '0'], name: /rpc-parallelism/},
      {what: '--rpc-timeout 0', args: ['broadcast', ...n, '--rpc-timeout', '0', '00'], name: /rpc-timeout/},
      {what: '--connect-timeout -1', args: ['status', ...n, '--connect-timeout', '-1'], name: /connect-timeout/},
      {what: '--network foo', args: ['status', '--network', 'foo'], name: /network/},
      {what: 'an unknown flag', args: ['index', ...n, '--rpcpasswort', 'x'], name: /rpcpasswort/},
      {what: '--batch-blocks 0', args: ['index', ...n, '--batch-blocks', '0'], name: /batch-blocks/},
      {what: '--source nope', args: ['index', ...n, '--source', 'nope'], name: /source/},
      {what: '--limit -1', args: ['query', 'address', ...n, '--limit', '-1', fixture.addresses[0]], name: /limit/},
      {what: '--interval 0', args: ['wait-sync', ...n, '--interval', '0'], name: /interval/},
    ]
  }

  test('bad flag values and unknown flags: exit 2, one line naming the flag, no stack trace', async () => {
    const cases = badFlags()
    const results = await inParallel(3, cases.map((c) => () => runBix(c.args, c.what.startsWith('BIX_') ? {env: {BIX_RPCPORT: 'abc'}} : {})))
    results.forEach((r, i) => assertCleanFailure(r, 2, cases[i].name, cases[i].what))
  })

  test('other bad values of flags bix checks itself: exit 2, one line', async () => {
    const n = ['--network', 'regtest']
    await assertAllRefused([
      {what: '--datadir missing', args: ['status', '--datadir', '/nonexistent/bitcoin'], code: 2, pattern: /data directory "\/nonexistent\/bitcoin" does not exist/},
      {what: '--conf missing', args: ['status', ...n, '--datadir', dir, '--conf', 'nope.conf'], code: 2, pattern: /config file ".*nope\.conf" does not exist/},
      {what: '--rpc-url ftp', args: ['status', ...n, '--rpc-url', 'ftp://u:secretpw@127.0.0.1:1'], code: 2, pattern: /^error: --rpc-url ftp:\/\/127\.0\.0\.1:1: only http:\/\/ is supported/},
      {what: '--rpc-url with a path', args: ['status', ...n, '--rpc-url', 'http://127.0.0.1:1/wallet/x'], code: 2, pattern: /a path is not supported/},
      {what: '--rpc-url garbage', args: ['status', ...n, '--rpc-url', 'http://exa mple:1'], code: 2, pattern: /invalid --rpc-url/},
      {what: '--rpc-url without a scheme', args: ['status', ...n, '--rpc-url', 'user:secretpw@127.0.0.1:1'], code: 2, pattern: /^error: invalid --rpc-url: expected http:\/\/\[user:password@\]host\[:port\]$/},
      {what: '--rpcconnect with a bad port', args: ['status', ...n, '--rpcconnect', '127.0.0.1:99999'], code: 2, pattern: /invalid port in rpcconnect "127\.0\.0\.1:99999"/},
      {what: '--scripthash not hex', args: ['query', 'address', ...n, '--db', db, '--offline', '--scripthash', 'zz'], code: 2, pattern: /--scripthash/},
      {what: '--script not hex', args: ['query', 'address', ...n, '--db', db, '--offline', '--script', 'xyz'], code: 2, pattern: /--script "xyz": not an even number of hex digits/},
      {what: '--script too long', args: ['query', 'address', ...n, '--db', db, '--offline', '--script', '51'.repeat(10_001)], code: 2, pattern: /longer than any output script/},
      {what: '--after garbage', args: ['query', 'address', ...n, '--db', db, '--offline', '--history', '--after', 'garbage', fixture.addresses[0]], code: 2, pattern: /--after/},
      {what: '--after a txid not in the history', args: ['query', 'address', ...n, '--db', db, '--offline', '--history', '--after', 'ab'.repeat(32), fixture.addresses[0]], code: 2, pattern: /not a transaction of this address's history/},
      {what: 'query with nothing to look up', args: ['query', 'address', ...n, '--db', db], code: 2, pattern: /nothing to look up/},
      {what: '--max-fee-rate abc', args: ['broadcast', ...n, '--max-fee-rate', 'abc', '00'], code: 2, pattern: /--max-fee-rate/},
      {what: '--max-burn 1.5', args: ['broadcast', ...n, '--max-burn', '1.5', '00'], code: 2, pattern: /--max-burn/},
    ])
    assert.equal(indexDigest(db), dbDigest)
  })

  test('bitcoin.conf garbage: exit 2 naming the file and line, never echoing a value', async (t) => {
    const secret = 'conf-secret-password-4242'
    const confs: Array<[string, string, RegExp]> = [
      ['a line without "="', `rpcpassword=${secret}\nregtest=1\nthis is not a setting\n`, /bitcoin\.conf line 3: expected key=value/],
      ['a leading "-"', `-regtest=1\nrpcpassword=${secret}\n`, /line 1: options in bitcoin\.conf are written without a leading "-"/],
      ['an unknown chain', `chain=bitcoinz\nrpcpassword=${secret}\n`, /line 1: unknown chain "bitcoinz"/],
      ['two networks', `regtest=1\ntestnet=1\nrpcpassword=${secret}\n`, /selects more than one network \(regtest=1, testnet=1\)/],
      ['a bad rpcport', `regtest=1\n[regtest]\nrpcport=eighteen\nrpcpassword=${secret}\n`, /invalid rpcport in .*bitcoin\.conf line 3: "eighteen"/],
      ['a missing includeconf', `regtest=1\nincludeconf=extra.conf\nrpcpassword=${secret}\n`, /included config file ".*extra\.conf" does not exist \(includeconf= in .* line 2\)/],
      ['"#" in the password', `regtest=1\nrpcpassword=${secret}#x\n`, /line 2: a "#" on an rpcpassword line is ambiguous/],
      ['binary garbage', `\u0000\u0001\u00ff\u00fe rpcpassword ${secret}\n`, /line 1: expected key=value/],
    ]
    const cases: Case[] = confs.map(([what, text, pattern]) => {
      const datadir = tempDir(t)
      fs.writeFileSync(path.join(datadir, 'bitcoin.conf'), text)
      return {what, args: ['status', '--datadir', datadir], code: 2, pattern}
    })
    const asDir = tempDir(t)
    fs.mkdirSync(path.join(asDir, 'bitcoin.conf'))
    cases.push({what: 'the conf is a directory', args: ['status', '--datadir', asDir], code: 2, pattern: /config file ".*bitcoin\.conf" is a directory/})
    const results = await inParallel(3, cases.map((c) => () => runBix(c.args)))
    results.forEach((r: BixResult, i) => {
      assertCleanFailure(r, cases[i].code, cases[i].pattern, cases[i].what)
      assert.doesNotMatch(r.stderr, new RegExp(secret), `${cases[i].what}: the password was echoed`)
    })
  })

  test('a cookie that cannot be used: exit 3 naming the file and why, never its content', async (t) => {
    const secret = 'f'.repeat(8) + 'cookie-secret-value' + '0'.repeat(8)
    const cases: Case[] = []
    const cookie = (what: string, make: (file: string) => void, pattern: RegExp, opts?: BixOptions) => {
      const datadir = tempDir(t)
      fs.mkdirSync(path.join(datadir, 'regtest'))
      make(path.join(datadir, 'regtest', '.cookie'))
      cases.push({what, args: ['index', '--datadir', datadir, '--network', 'regtest', '--rpcport', String(node.rpcPort), '--db', path.join(datadir, 'i.db')], code: 3, pattern, opts})
    }
    cookie('a directory', (f) => fs.mkdirSync(f), /cannot read cookie file .*\.cookie \(is a directory\)/)
    cookie('no colon', (f) => fs.writeFileSync(f, secret), /cookie file .*\.cookie is malformed \(expected user:password on its first line\)/)
    cookie('empty', (f) => fs.writeFileSync(f, ''), /cookie file .*\.cookie is malformed/)
    cookie('the wrong secret', (f) => fs.writeFileSync(f, `__cookie__:${secret}`), /authorization failed: cookie file .*\.cookie credentials were rejected by 127\.0\.0\.1:\d+/)
    if (IS_ROOT) {
      cookie(
        'unreadable',
        (f) => {
          fs.writeFileSync(f, `__cookie__:${secret}`, {mode: 0o600})
          fs.chownSync(path.dirname(path.dirname(f)), NOBODY, NOBODY)
          fs.chownSync(path.dirname(f), NOBODY, NOBODY)
        },
        /cannot read cookie file .*\.cookie \(permission denied\)/,
        {uid: NOBODY, gid: NOBODY, env: {HOME: '/nonexistent'}},
      )
    }
    const results = await inParallel(3, cases.map((c) => () => runBix(c.args, c.opts)))
    results.forEach((r, i) => {
      assertCleanFailure(r, cases[i].code, cases[i].pattern, cases[i].what)
      assert.doesNotMatch(r.stderr, /cookie-secret-value/, `${cases[i].what}: the cookie's content was echoed`)
    })
  })
})
