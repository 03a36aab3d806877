import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {BixError} from '../../src/lib/errors.js'
import {parseConf} from '../../src/lib/node/bitcoin-conf.js'
import {describeCredentials, readCookie, resolveNodeConfig, splitHostPort} from '../../src/lib/node/config.js'

let root: string
let n = 0

/** A fresh fake home with ~/.bitcoin and the given files (paths relative to ~/.bitcoin). */
function home(files: Record<string, string> = {}): {home: string; datadir: string} {
  const dir = path.join(root, `home${++n}`)
  const datadir = path.join(dir, '.bitcoin')
  fs.mkdirSync(datadir, {recursive: true})
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(datadir, name)), {recursive: true})
    fs.writeFileSync(path.join(datadir, name), content)
  }
  return {home: dir, datadir}
}

function rejects(fn: () => unknown, kind: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BixError, `expected a BixError, got ${String(err)}`)
    assert.equal(err.kind, kind)
    assert.match(err.message, message)
    return true
  })
}

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-node-config-'))
})
after(() => fs.rmSync(root, {recursive: true, force: true}))

describe('finding the node like bitcoin-cli', () => {
  test('without flags or conf: ~/.bitcoin, mainnet, 127.0.0.1:8332, the cookie in the datadir', () => {
    const h = home()
    const config = resolveNodeConfig({home: h.home, platform: 'linux'})
    assert.equal(config.network, 'main')
    assert.equal(config.networkExplicit, false)
    assert.equal(config.datadir, h.datadir)
    assert.equal(config.netDatadir, h.datadir)
    assert.deepEqual(config.endpoints, [{host: '127.0.0.1', port: 8332, url: 'http://127.0.0.1:8332'}])
    assert.deepEqual(config.credentials, {kind: 'cookie', path: path.join(h.datadir, '.cookie')})
    assert.equal(config.confPath, undefined)
  })

  test('macOS keeps the datadir under Library/Application Support', () => {
    const config = resolveNodeConfig({home: '/Users/satoshi', platform: 'darwin'})
    assert.equal(config.datadir, '/Users/satoshi/Library/Application Support/Bitcoin')
  })

  const perNetwork = [
    ['main', '', 8332],
    ['test', 'testnet3', 18332],
    ['testnet4', 'testnet4', 48332],
    ['signet', 'signet', 38332],
    ['regtest', 'regtest', 18443],
  ] as const
  for (const [network, subdir, port] of perNetwork) {
    test(`--network ${network}: cookie in ${subdir || 'the datadir itself'}, port ${port}`, () => {
      const h = home()
      const config = resolveNodeConfig({home: h.home, platform: 'linux', network})
      assert.equal(config.netDatadir, path.join(h.datadir, subdir))
      assert.deepEqual(config.credentials, {kind: 'cookie', path: path.join(h.datadir, subdir, '.cookie')})
      assert.equal(config.endpoints[0].port, port)
      assert.equal(config.networkExplicit, true)
    })
  }

  test('rpccookiefile: relative to the network datadir, absolute as given', () => {
    const h = home()
    const relative = resolveNodeConfig({home: h.home, network: 'signet', rpccookiefile: 'auth/cookie'})
    assert.deepEqual(relative.credentials, {kind: 'cookie', path: path.join(h.datadir, 'signet', 'auth', 'cookie')})
    const absolute = resolveNodeConfig({home: h.home, network: 'signet', rpccookiefile: '/run/bitcoind/cookie'})
    assert.deepEqual(absolute.credentials, {kind: 'cookie', path: '/run/bitcoind/cookie'})
  })

  test('--datadir that does not exist is refused with its path', () => {
    const missing = path.join(root, 'nowhere')
    rejects(() => resolveNodeConfig({datadir: missing}), 'BadInput', new RegExp(`data directory "${missing}" does not exist`))
  })

  test('--datadir moves the conf and the cookie', () => {
    const dir = fs.mkdtempSync(path.join(root, 'dd-'))
    fs.writeFileSync(path.join(dir, 'bitcoin.conf'), 'regtest=1\n')
    const config = resolveNodeConfig({datadir: dir, home: '/nonexistent'})
    assert.equal(config.network, 'regtest')
    assert.equal(config.confPath, path.join(dir, 'bitcoin.conf'))
    assert.deepEqual(config.credentials, {kind: 'cookie', path: path.join(dir, 'regtest', '.cookie')})
  })

  test('an explicit --conf must exist; a relative one is inside the datadir', () => {
    const h = home({'other.conf': 'testnet4=1\n'})
    rejects(() => resolveNodeConfig({home: h.home, conf: 'missing.conf'}), 'BadInput', /config file ".*missing\.conf" does not exist/)
    const config = resolveNodeConfig({home: h.home, conf: 'other.conf'})
    assert.equal(config.network, 'testnet4')
    assert.equal(config.confPath, path.join(h.datadir, 'other.conf'))
  })

  test('a conf that cannot be read is one clear line, not a crash', (t) => {
    const h = home()
    fs.mkdirSync(path.join(h.datadir, 'bitcoin.conf'))
    rejects(() => resolveNodeConfig({home: h.home}), 'BadInput', /config file ".*bitcoin\.conf" is a directory/)
    if (process.getuid?.() === 0) {
      t.diagnostic('running as root: permissions cannot make a file unreadable')
      return
    }
    const h2 = home({'bitcoin.conf': 'rpcuser=x\n'})
    fs.chmodSync(path.join(h2.datadir, 'bitcoin.conf'), 0o000)
    rejects(() => resolveNodeConfig({home: h2.home}), 'BadInput', /cannot read config file ".*" \(permission denied\)/)
  })
})

describe('bitcoin.conf as Core reads it', () => {
  test('comments, whitespace, sections and net.key prefixes', () => {
    const text = '# a comment\n  rpcuser = alice  # trailing\nregtest.rpcport=2\n[regtest]\nrpcport=1\n\n[main]\nrpcbind=x\n'
    assert.deepEqual(
      parseConf(text, 'f').map((e) => [e.section, e.key, e.value, e.line]),
      [
        ['', 'rpcuser', 'alice', 2],
        ['regtest', 'rpcport', '2', 3],
        ['regtest', 'rpcport', '1', 5],
        ['main', 'rpcbind', 'x', 8],
      ],
    )
  })

  test('a "#" on an rpcpassword line is refused, as Core does, without echoing the password', () => {
    assert.throws(
      () => parseConf('rpcpassword=abc#def\n', '/x/bitcoin.conf'),
      (err: unknown) => err instanceof BixError && /line 1/.test(err.message) && !err.message.includes('abc'),
    )
  })

  test('the first assignment wins, and the network section beats the default section', () => {
    const h = home({'bitcoin.conf': 'rpcuser=first\nrpcuser=second\nrpcpassword=top\nregtest=1\n[regtest]\nrpcpassword=net\nrpcpassword=later\n'})
    const config = resolveNodeConfig({home: h.home})
    assert.equal(config.credentials.kind, 'password')
    if (config.credentials.kind !== 'password') return
    assert.equal(config.credentials.user, 'first')
    assert.equal(config.credentials.password, 'net')
    assert.equal(config.credentials.source, `bitcoin.conf ${path.join(h.datadir, 'bitcoin.conf')}`)
  })

  test('a top-level rpcport is mainnet only: regtest ignores it, main uses it', () => {
    const h = home({'bitcoin.conf': 'rpcport=9999\n'})
    assert.equal(resolveNodeConfig({home: h.home}).endpoints[0].port, 9999)
    assert.equal(resolveNodeConfig({home: h.home, network: 'regtest'}).endpoints[0].port, 18443)
  })

  test('rpcport for a network from its section or a net.key prefix', () => {
    const h = home({'bitcoin.conf': 'regtest.rpcport=5555\n[signet]\nrpcport=6666\n'})
    assert.equal(resolveNodeConfig({home: h.home, network: 'regtest'}).endpoints[0].port, 5555)
    assert.equal(resolveNodeConfig({home: h.home, network: 'signet'}).endpoints[0].port, 6666)
    assert.equal(resolveNodeConfig({home: h.home, network: 'main'}).endpoints[0].port, 8332)
  })

  test('the network comes from --network, else chain= / regtest=1 / testnet=1 …, else main', () => {
    assert.equal(resolveNodeConfig({home: home({'bitcoin.conf': 'chain=signet\n'}).home}).network, 'signet')
    assert.equal(resolveNodeConfig({home: home({'bitcoin.conf': 'testnet=1\n'}).home}).network, 'test')
    assert.equal(resolveNodeConfig({home: home({'bitcoin.conf': 'testnet4=1\n'}).home}).network, 'testnet4')
    assert.equal(resolveNodeConfig({home: home({'bitcoin.conf': 'regtest=0\ntestnet=1\n'}).home}).network, 'test')
    // [regtest] regtest=1 selects nothing: chain selection reads the default section only
    assert.equal(resolveNodeConfig({home: home({'bitcoin.conf': '[regtest]\nregtest=1\n'}).home}).network, 'main')
    const h = home({'bitcoin.conf': 'regtest=1\n'})
    assert.equal(resolveNodeConfig({home: h.home, network: 'testnet4'}).network, 'testnet4')
  })

  test('two networks selected in bitcoin.conf is refused', () => {
    rejects(() => resolveNodeConfig({home: home({'bitcoin.conf': 'regtest=1\ntestnet=1\n'}).home}), 'BadInput', /more than one network/)
    rejects(() => resolveNodeConfig({home: home({'bitcoin.conf': 'chain=main\nsignet=1\n'}).home}), 'BadInput', /signet=1, chain=main/)
    rejects(() => resolveNodeConfig({home: home({'bitcoin.conf': 'chain=mainnet\n'}).home}), 'BadInput', /unknown chain "mainnet"/)
  })

  test('includeconf: relative to the datadir, network section first, nested includes ignored', () => {
    const h = home({
      'bitcoin.conf': 'regtest=1\nincludeconf=common.conf\n[regtest]\nincludeconf=conf.d/regtest.conf\n',
      'common.conf': 'rpcuser=from-common\nrpcpassword=common-secret\nincludeconf=nested.conf\n',
      'conf.d/regtest.conf': 'rpcuser=from-regtest-include\nregtest.rpcport=7777\n',
      'nested.conf': 'rpcconnect=10.9.9.9\n',
    })
    const config = resolveNodeConfig({home: h.home})
    assert.equal(config.endpoints[0].port, 7777)
    assert.equal(config.endpoints[0].host, '127.0.0.1', 'an include inside an include is ignored')
    assert.equal(config.credentials.kind, 'password')
    if (config.credentials.kind === 'password') {
      assert.equal(config.credentials.user, 'from-regtest-include')
      assert.equal(config.credentials.source, `bitcoin.conf ${path.join(h.datadir, 'common.conf')}`)
    }
  })

  test('a missing include is an error naming it', () => {
    const h = home({'bitcoin.conf': 'includeconf=gone.conf\n'})
    rejects(() => resolveNodeConfig({home: h.home}), 'BadInput', /included config file ".*gone\.conf" does not exist/)
  })

  test('datadir= inside bitcoin.conf moves where the cookie is looked for', () => {
    const moved = fs.mkdtempSync(path.join(root, 'moved-'))
    const h = home({'bitcoin.conf': `datadir=${moved}\nregtest=1\n`})
    const config = resolveNodeConfig({home: h.home})
    assert.equal(config.datadir, moved)
    assert.deepEqual(config.credentials, {kind: 'cookie', path: path.join(moved, 'regtest', '.cookie')})
    assert.equal(config.confPath, path.join(h.datadir, 'bitcoin.conf'))
    rejects(() => resolveNodeConfig({home: home({'bitcoin.conf': `datadir=${root}/absent\n`}).home}), 'BadInput', /datadir= in .* does not exist/)
  })

  test('rpcpassword in bitcoin.conf with an empty value falls back to the cookie, as bitcoin-cli does', () => {
    const h = home({'bitcoin.conf': 'rpcuser=alice\nrpcpassword=\n'})
    assert.equal(resolveNodeConfig({home: h.home}).credentials.kind, 'cookie')
  })

  test('norpccookiefile without a password leaves no way in, and says so', () => {
    const h = home({'bitcoin.conf': 'norpccookiefile=1\n'})
    rejects(() => resolveNodeConfig({home: h.home}), 'AuthFailed', /disables the cookie file/)
  })
})

describe('host, port and credentials from flags', () => {
  test('rpcconnect forms: host, host:port, [v6]:port, [v6], bare v6', () => {
    assert.deepEqual(splitHostPort('node.lan'), {host: 'node.lan', port: undefined})
    assert.deepEqual(splitHostPort('node.lan:1234'), {host: 'node.lan', port: 1234})
    assert.deepEqual(splitHostPort('[::1]:1234'), {host: '::1', port: 1234})
    assert.deepEqual(splitHostPort('[::1]'), {host: '::1', port: undefined})
    assert.deepEqual(splitHostPort('fe80::1'), {host: 'fe80::1', port: undefined})
    assert.throws(() => splitHostPort('node.lan:99999'), /invalid port in rpcconnect "node.lan:99999"/)
    assert.throws(() => splitHostPort('node.lan:abc'), /invalid port/)
  })

  test('several rpcconnect values are failover endpoints; IPv6 URLs are bracketed', () => {
    const config = resolveNodeConfig({home: home().home, network: 'regtest', rpcconnect: ['[::1]:1111', '10.0.0.2']})
    assert.deepEqual(
      config.endpoints.map((e) => e.url),
      ['http://[::1]:1111', 'http://10.0.0.2:18443'],
    )
  })

  test('port precedence: --rpcport > port in --rpcconnect > rpcport in bitcoin.conf > network default', () => {
    const h = home({'bitcoin.conf': 'rpcport=3333\n'})
    assert.equal(resolveNodeConfig({home: h.home, rpcconnect: ['h:2222'], rpcport: 1111}).endpoints[0].port, 1111)
    assert.equal(resolveNodeConfig({home: h.home, rpcconnect: ['h:2222']}).endpoints[0].port, 2222)
    assert.equal(resolveNodeConfig({home: h.home, rpcconnect: ['h']}).endpoints[0].port, 3333)
    assert.equal(resolveNodeConfig({home: home().home, rpcconnect: ['h']}).endpoints[0].port, 8332)
  })

  test('rpcconnect from bitcoin.conf: its host is used, and the conf rpcport beats its port (bitcoin-cli)', () => {
    const h = home({'bitcoin.conf': 'rpcconnect=10.1.1.1:4444\n'})
    assert.equal(resolveNodeConfig({home: h.home}).endpoints[0].url, 'http://10.1.1.1:4444')
    const h2 = home({'bitcoin.conf': 'rpcconnect=10.1.1.1:4444\nrpcport=5555\n'})
    assert.equal(resolveNodeConfig({home: h2.home}).endpoints[0].url, 'http://10.1.1.1:5555')
    assert.equal(resolveNodeConfig({home: h2.home, rpcconnect: ['10.2.2.2']}).endpoints[0].url, 'http://10.2.2.2:5555')
  })

  test('rpcuser/rpcpassword flags beat bitcoin.conf and name "flags" as their source', () => {
    const h = home({'bitcoin.conf': 'rpcuser=conf\nrpcpassword=conf-secret\n'})
    const config = resolveNodeConfig({home: h.home, rpcuser: 'flag', rpcpassword: 'flag-secret'})
    assert.deepEqual(config.credentials, {kind: 'password', user: 'flag', password: 'flag-secret', source: 'flags'})
    assert.equal(describeCredentials(config.credentials), 'rpcuser/rpcpassword from flags')
  })

  test('credentials inside --rpc-url are used but never shown', () => {
    const config = resolveNodeConfig({home: home().home, network: 'regtest', rpcUrls: ['http://alice:s3cr%40t@127.0.0.1:1234', 'http://10.0.0.9']})
    assert.deepEqual(
      config.endpoints.map((e) => e.url),
      ['http://127.0.0.1:1234', 'http://10.0.0.9:18443'],
    )
    assert.deepEqual(config.endpoints[0].credentials, {kind: 'password', user: 'alice', password: 's3cr@t', source: 'URL'})
    assert.deepEqual(config.credentials, config.endpoints[0].credentials)
    assert.equal(config.endpoints[1].credentials, undefined)
    const shown = JSON.stringify(config.endpoints.map((e) => e.url)) + describeCredentials(config.credentials)
    assert.ok(!shown.includes('s3cr'), shown)
  })

  test('a malformed --rpc-url is refused without echoing what may be a password', () => {
    assert.throws(
      () => resolveNodeConfig({home: home().home, rpcUrls: ['http://alice:hunter2@[bad']}),
      (err: unknown) => err instanceof BixError && err.kind === 'BadInput' && !err.message.includes('hunter2'),
    )
    rejects(() => resolveNodeConfig({home: home().home, rpcUrls: ['https://alice:pw@node:8332']}), 'BadInput', /^--rpc-url https:\/\/node:8332: only http:\/\/ is supported/)
  })
})

describe('the cookie file', () => {
  test('is user:password on its first line, split at the first colon', () => {
    const file = path.join(root, 'cookie-ok')
    fs.writeFileSync(file, '__cookie__:ab:cd\nsecond line')
    assert.deepEqual(readCookie(file), {user: '__cookie__', password: 'ab:cd'})
  })

  test('missing or malformed: AuthFailed naming the path, never the content', () => {
    const missing = path.join(root, 'no-cookie')
    rejects(() => readCookie(missing), 'AuthFailed', new RegExp(`cannot read cookie file ${missing} \\(no such file\\)`))
    const bad = path.join(root, 'cookie-bad')
    fs.writeFileSync(bad, 'supersecretwithoutcolon')
    assert.throws(
      () => readCookie(bad),
      (err: unknown) => err instanceof BixError && err.kind === 'AuthFailed' && err.message.includes(bad) && !err.message.includes('supersecret'),
    )
  })
})
