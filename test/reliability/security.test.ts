import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {type BixOptions, type BixResult, REPO_ROOT, runBix, spawnBix} from '../support/cli.js'
import {closedPort} from '../support/tiny-node.js'
import {type FaultTestNode, type TestNode, startFaultSimulator, startTestNode} from '../support/test-node.js'
import {blocksServed, fixture, inParallel, tempDir, waitUntil} from './support.js'

/**
 * What bix must never give away: passwords, cookie values and credentials
 * inside --rpc-url stay out of every output, error and --verbose report,
 * whatever fails; the files it creates are the owner's alone; its SQL takes
 * values only as bound parameters; and credentials about to cross a network
 * in clear text get a warning.
 */

const PASSWORD = 'Sup3r-s3cret-rpc-passw0rd'
const URL_PASSWORD = 'url-secret-pa55/word'
const USER = 'bixuser'

let node: TestNode
/** simulator: fault injection (503s, slowed answers) with the same credentials, for runs that must meet trouble */
let faulty: FaultTestNode
/** simulator: fault injection (a cookie rotated at a chosen point of a run) */
let cookieNode: FaultTestNode
let dir: string

before(async () => {
  const auth = {user: USER, password: PASSWORD}
  ;[node, faulty, cookieNode] = await Promise.all([
    startTestNode({fixtureChain: true, auth}),
    startFaultSimulator({fixtureChain: true, auth}),
    startFaultSimulator({fixtureChain: true}),
  ])
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-rel-sec-'))
})
after(async () => {
  await Promise.all([node?.stop(), faulty?.stop(), cookieNode?.stop()])
  fs.rmSync(dir, {recursive: true, force: true})
})

/** Every form a secret could leak in: as given, URL-encoded, and inside a Basic Authorization header. */
function leakPatterns(secret: string, user = USER): string[] {
  return [secret, encodeURIComponent(secret), Buffer.from(`${user}:${secret}`).toString('base64'), Buffer.from(`${user}:${secret}`).toString('hex')]
}

function assertNoLeak(results: Array<{what: string; r: BixResult}>, secrets: string[]): void {
  for (const {what, r} of results) {
    const output = r.stdout + r.stderr
    for (const secret of secrets) assert.ok(!output.includes(secret), `${what}: the output holds a secret (${secret.slice(0, 6)}…):\n${output}`)
  }
}

describe('secrets', () => {
  test('rpcpassword and --rpc-url credentials: never in any output of any command, in success or failure, with --verbose or --json', async (t) => {
    const sim = faulty.sim
    const port = String(node.rpcPort)
    const db = path.join(tempDir(t), 'index.db')
    const conf = path.join(tempDir(t), 'bitcoin.conf')
    fs.writeFileSync(conf, `regtest=1\n[regtest]\nrpcuser=${USER}\nrpcpassword=${PASSWORD}\nrpcport=${port}\n`)
    const down = String(await closedPort())
    const flags = ['--network', 'regtest', '--rpcport', port, '--rpcuser', USER, '--rpcpassword', PASSWORD]
    const urlTo = (p: number | string) => ['--network', 'regtest', '--rpc-url', `http://${USER}:${encodeURIComponent(URL_PASSWORD)}@127.0.0.1:${p}`]
    const url = urlTo(port)
    const wrong = ['--network', 'regtest', '--rpcport', port, '--rpcuser', USER, '--rpcpassword', PASSWORD + 'x']
    const tx = fixture.mempool[0].hex
    const runs: Array<{what: string; args: string[]; opts?: BixOptions; before?: () => void}> = [
      {what: 'index --verbose', args: ['index', ...flags, '--db', db, '--verbose', '--batch-blocks', '20']},
      // simulator: fault injection (503s); the same recorded chain, so it adds to the same index
      {what: 'index --json with 503s and retries', args: ['index', ...urlTo(faulty.rpcPort), '--db', db, '--json', '--verbose'], before: () => sim.faults.workQueueFull(3)},
      {what: 'sync-mempool --verbose', args: ['sync-mempool', ...flags, '--db', db, '--verbose']},
      {what: 'query address --verbose', args: ['query', 'address', ...flags, '--db', db, '--verbose', fixture.addresses[0]]},
      {what: 'status --verbose', args: ['status', ...flags, '--db', db, '--verbose']},
      {what: 'status --json, password from the environment', args: ['status', '--network', 'regtest', '--rpcport', port, '--rpcuser', USER, '--db', db, '--json'], opts: {env: {BIX_RPCPASSWORD: PASSWORD}}},
      {what: 'wait-sync --verbose, password from bitcoin.conf', args: ['wait-sync', '--conf', conf, '--datadir', path.dirname(conf), '--verbose', '--timeout', '5']},
      {what: 'broadcast --dry-run --verbose', args: ['broadcast', ...url, '--db', db, '--dry-run', '--verbose', tx]},
      {what: 'broadcast a bad transaction', args: ['broadcast', ...flags, '--db', db, tx.slice(0, 30)]},
      {what: 'index with a wrong password', args: ['index', ...wrong, '--db', db]},
      {what: 'status with a wrong password, --json', args: ['status', ...wrong, '--db', db, '--json']},
      {what: 'query with a wrong password, --verbose', args: ['query', 'address', ...wrong, '--db', db, '--verbose', fixture.addresses[0]]},
      {what: 'index, node down, --verbose', args: ['index', '--network', 'regtest', '--rpcport', down, '--rpcuser', USER, '--rpcpassword', PASSWORD, '--db', db, '--verbose']},
      {what: 'status, --rpc-url to a node that is down', args: ['status', '--network', 'regtest', '--rpc-url', `http://${USER}:${encodeURIComponent(URL_PASSWORD)}@127.0.0.1:${down}`]},
      {what: 'a bad --rpc-url holding a password', args: ['status', '--rpc-url', `ftp://${USER}:${encodeURIComponent(URL_PASSWORD)}@127.0.0.1:${port}`]},
      {what: 'an --rpc-url with a path', args: ['index', '--rpc-url', `http://${USER}:${encodeURIComponent(URL_PASSWORD)}@127.0.0.1:${port}/wallet/x`]},
      {what: 'an --rpc-url that is no URL', args: ['index', '--rpc-url', `http://${USER}:${encodeURIComponent(URL_PASSWORD)}@exa mple`]},
      {what: 'an unknown flag after the password', args: ['index', ...flags, '--bogus']},
      {what: 'a bad flag value after the password, --json', args: ['index', ...flags, '--rpcport', 'abc', '--json']},
      {what: 'help', args: ['index', ...flags, '--help']},
    ]
    const results: Array<{what: string; r: BixResult}> = []
    // in order: the index is written by the first runs, and faults are set just before their run
    for (const run of runs.slice(0, 3)) {
      run.before?.()
      results.push({what: run.what, r: await runBix(run.args, run.opts)})
      sim.faults.clear()
    }
    const rest = await inParallel(3, runs.slice(3).map((run) => () => runBix(run.args, run.opts)))
    rest.forEach((r, i) => results.push({what: runs[3 + i].what, r}))
    assert.equal(results[0].r.code, 0, results[0].r.stderr)
    assert.match(results[0].r.stderr, /rpc method +calls/, '--verbose printed its report')
    assert.match(results[1].r.stderr, /retry \S+ on 127\.0\.0\.1:\d+/, 'the retries were reported')
    assert.ok(results.some((x) => /authorization failed: rpcuser\/rpcpassword from flags were rejected/.test(x.r.stderr + x.r.stdout)))
    assertNoLeak(results, [...leakPatterns(PASSWORD), ...leakPatterns(URL_PASSWORD), ...leakPatterns(PASSWORD + 'x')])
    // nor in what bix wrote
    for (const file of fs.readdirSync(path.dirname(db))) {
      const bytes = fs.readFileSync(path.join(path.dirname(db), file))
      for (const secret of [PASSWORD, URL_PASSWORD]) assert.equal(bytes.includes(secret), false, `${file} holds a secret`)
    }
  })

  test('the cookie value: never in any output, also when the cookie is rejected or rotated', async (t) => {
    const sim = cookieNode.sim
    const db = path.join(tempDir(t), 'index.db')
    const cookies: string[] = [fs.readFileSync(cookieNode.cookiePath, 'utf8').split(':')[1]]
    const args = cookieNode.cliArgs()
    const results: Array<{what: string; r: BixResult}> = []
    const run = spawnBix(['index', ...args, '--db', db, '--verbose', '--batch-blocks', '5', '--source', 'rpc', '--rpc-parallelism', '1'])
    sim.faults.slow(5)
    const base = blocksServed(cookieNode)
    await waitUntil(() => blocksServed(cookieNode) - base >= 40 || run.child.exitCode !== null)
    sim.rotateCookie()
    cookies.push(fs.readFileSync(cookieNode.cookiePath, 'utf8').split(':')[1])
    results.push({what: 'index across a cookie rotation, --verbose', r: await run.done})
    sim.faults.clear()
    assert.equal(results[0].r.code, 0, results[0].r.stderr)
    // a cookie file that holds another node's secret
    const stale = path.join(tempDir(t), 'stale.cookie')
    const staleSecret = 'a'.repeat(20) + 'stale-cookie-secret' + 'b'.repeat(25)
    fs.writeFileSync(stale, `__cookie__:${staleSecret}`)
    cookies.push(staleSecret)
    const more = await inParallel(3, [
      () => runBix(['status', ...args, '--db', db, '--verbose']),
      () => runBix(['status', ...args, '--rpccookiefile', stale, '--json']),
      () => runBix(['index', ...args, '--rpccookiefile', stale, '--db', db, '--verbose']),
      () => runBix(['sync-mempool', ...args, '--db', db, '--verbose', '--json']),
    ])
    more.forEach((r, i) => results.push({what: `run ${i}`, r}))
    assert.match(more[2].stderr, /authorization failed: cookie file .*stale\.cookie credentials were rejected/)
    assertNoLeak(
      results,
      cookies.flatMap((c) => leakPatterns(c, '__cookie__')),
    )
  })
})

describe('files bix creates', () => {
  test('database, -wal, -shm and lock are 0600 and the directories 0700, whatever the umask; also after kill -9', async (t) => {
    const dataDir = path.join(tempDir(t), 'data')
    const previous = process.umask(0)
    let run
    try {
      // the default place: <BIX_DATA_DIR>/<network>/index.db, directories made by bix
      // simulator: fault injection (slowed answers, so that the files are caught while the run writes)
      faulty.sim.faults.slow(10)
      run = spawnBix(['index', '--network', 'regtest', '--rpcport', String(faulty.rpcPort), '--rpcuser', USER, '--rpcpassword', PASSWORD, '--batch-blocks', '3', '--source', 'rpc', '--rpc-parallelism', '1'], {
        env: {BIX_DATA_DIR: dataDir},
      })
    } finally {
      process.umask(previous)
    }
    const db = path.join(dataDir, 'regtest', 'index.db')
    await waitUntil(() => fs.existsSync(`${db}-wal`) && fs.existsSync(`${db}-shm`) && fs.existsSync(`${db}.lock`), 30_000, 'the files of a running index')
    const mode = (p: string) => fs.statSync(p).mode & 0o777
    const modes = () => ({
      dataDir: mode(dataDir),
      networkDir: mode(path.dirname(db)),
      db: mode(db),
      wal: mode(`${db}-wal`),
      shm: mode(`${db}-shm`),
    })
    const expected = {dataDir: 0o700, networkDir: 0o700, db: 0o600, wal: 0o600, shm: 0o600}
    assert.deepEqual(modes(), expected, 'while the index runs')
    assert.equal(mode(`${db}.lock`), 0o600, 'the lock')
    run.kill('SIGKILL')
    await run.done
    faulty.sim.faults.clear()
    assert.deepEqual(modes(), expected, 'left by kill -9')
    // and the files the next run and sync-mempool make (a fresh -shm, the lock again)
    fs.rmSync(`${db}-shm`)
    const previous2 = process.umask(0)
    try {
      const flags = ['--network', 'regtest', '--rpcport', String(node.rpcPort), '--rpcuser', USER, '--rpcpassword', PASSWORD]
      const again = spawnBix(['sync-mempool', ...flags, '--index'], {env: {BIX_DATA_DIR: dataDir}})
      const r = await again.done
      assert.equal(r.code, 0, r.stderr)
    } finally {
      process.umask(previous2)
    }
    assert.equal(mode(db), 0o600)
    for (const suffix of ['-wal', '-shm']) if (fs.existsSync(db + suffix)) assert.equal(mode(db + suffix), 0o600, suffix)
    assert.equal(fs.existsSync(`${db}.lock`), false, 'the lock is removed at the end')
  })
})

describe('SQL and shell', () => {
  /** The template literals of a TypeScript source: their text (interpolations as ${}) and what is interpolated. */
  function templates(src: string): Array<{text: string; exprs: string[]; line: number}> {
    const out: Array<{text: string; exprs: string[]; line: number}> = []
    let i = 0
    const lineAt = (k: number) => src.slice(0, k).split('\n').length
    const skipString = (quote: string) => {
      i++
      while (i < src.length && src[i] !== quote) i += src[i] === '\\' ? 2 : 1
      i++
    }
    const readTemplate = (): {text: string; exprs: string[]} => {
      i++
      let text = ''
      const exprs: string[] = []
      while (i < src.length && src[i] !== '`') {
        if (src[i] === '\\') {
          text += src.slice(i, i + 2)
          i += 2
        } else if (src[i] === '$' && src[i + 1] === '{') {
          i += 2
          const start = i
          for (let depth = 1; i < src.length && depth > 0; ) {
            const c = src[i]
            if (c === '`') {
              const line = lineAt(i)
              out.push({...readTemplate(), line})
            } else if (c === "'" || c === '"') {
              skipString(c)
            } else {
              if (c === '{') depth++
              if (c === '}') depth--
              i++
            }
          }
          exprs.push(src.slice(start, i - 1).trim())
          text += '${}'
        } else {
          text += src[i++]
        }
      }
      i++
      return {text, exprs}
    }
    while (i < src.length) {
      const c = src[i]
      if (c === '/' && src[i + 1] === '/') i = src.indexOf('\n', i) < 0 ? src.length : src.indexOf('\n', i)
      else if (c === '/' && src[i + 1] === '*') i = src.indexOf('*/', i + 2) + 2
      else if (c === "'" || c === '"') skipString(c)
      else if (c === '`') {
        const line = lineAt(i)
        out.push({...readTemplate(), line})
      } else i++
    }
    return out
  }

  function sources(root: string): string[] {
    return fs.readdirSync(root, {withFileTypes: true}).flatMap((e) => {
      const p = path.join(root, e.name)
      return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : []
    })
  }

  /** Every value interpolated into SQL text, with why it cannot carry user or node data. */
  const ALLOWED: Record<string, string> = {
    'src/lib/store/sqlite/database.ts: TX_SHIFT': 'a numeric constant (2^20)',
    'src/lib/store/sqlite/database.ts: TX_NUM_OF_TXID': 'a constant SQL text from schema.ts',
    'src/lib/store/postgres/store.ts: TX_SHIFT': 'a numeric constant (2^20)',
    'src/lib/store/postgres/store.ts: CHANGES': 'the constant subquery text defined in the same file',
    'src/lib/store/postgres/store.ts: PG_TX_NUM_OF_Q': 'a constant SQL text from postgres/schema.ts',
    'src/lib/store/postgres/writer.ts: PG_TX_NUM_OF_Q': 'a constant SQL text from postgres/schema.ts',
    'src/lib/store/postgres/lock.ts: LOCK_KEY': 'a numeric constant defined in the same file',
    'src/lib/store/postgres/mempool-writer.ts: PG_TX_NUM_OF_TXID': 'a constant SQL text from postgres/schema.ts',
    'src/lib/store/postgres/mempool-writer.ts: TX_SHIFT': 'a numeric constant (2^20)',
    'src/lib/store/postgres/writer.ts: PG_SCRIPT_INDEX.name': 'a constant from postgres/schema.ts',
    'src/lib/store/sqlite/mempool-writer.ts: TX_SHIFT': 'a numeric constant',
    'src/lib/store/sqlite/address-reader.ts: TX_SHIFT': 'a numeric constant',
    'src/lib/store/sqlite/address-reader.ts: changes': 'the constant subquery text built just above it',
    'src/lib/store/sqlite/database.ts: cacheKiB': 'an integer from Math.floor/Math.max of --max-memory',
    'src/lib/store/sqlite/database.ts: WAL_SIZE_LIMIT': 'a numeric constant',
    'src/lib/store/sqlite/database.ts: PAGE_SIZE': 'a numeric constant',
    'src/lib/store/sqlite/row-inserter.ts: table': 'a table name, a string literal at every `new RowInserter` (checked below)',
    "src/lib/store/sqlite/row-inserter.ts: columns.join(', ')": 'column names, string literals at every `new RowInserter` (checked below)',
    'src/lib/store/sqlite/writer.ts: SCRIPT_INDEX.name': 'a constant from schema.ts',
    'src/lib/store/sqlite/writer.ts: SORT_RUN_KIB': 'a numeric constant',
    'src/lib/store/sqlite/writer.ts: BULK_CACHE_KIB': 'a numeric constant',
    'src/lib/store/sqlite/writer.ts: TX_SHIFT': 'a numeric constant',
    'src/lib/store/sqlite/writer.ts: resolved': 'a constant SQL text built in the same function from TX_SHIFT only',
    'src/lib/store/sqlite/writer.ts: cache': "the connection's own cache_size, read back from SQLite just before",
    'src/lib/store/sqlite/schema.ts: SCRIPT_INDEX.name': 'a constant defined in the same file',
    'src/lib/store/sqlite/schema.ts: TX_SHIFT': 'a numeric constant defined in the same file',
    'src/lib/store/sqlite/schema.ts: SCRIPT_INDEX.create': 'a constant defined in the same file',
    'src/lib/store/sqlite/schema.ts: SCRIPT_INDEX_KEY': 'a constant defined in the same file',
    'src/lib/store/sqlite/schema.ts: TX_NUMS_OF_TXID': 'a constant SQL text defined in the same file',
    'src/lib/store/sqlite/writer.ts: SCRIPT_INDEX_KEY': 'a constant SQL expression from schema.ts',
    'src/lib/store/sqlite/writer.ts: TX_NUMS_OF_TXID': 'a constant SQL text from schema.ts',
    'src/lib/store/sqlite/address-reader.ts: ALL_OUTPUTS': 'a constant SQL text from schema.ts',
    'src/lib/store/sqlite/address-reader.ts: table': "a table name, the string literal at each call of `stats` in the same constructor",
    "src/lib/store/sqlite/address-reader.ts: stats('outputs')": 'the constant aggregate text built just above it, of a literal table name',
    "src/lib/store/sqlite/address-reader.ts: stats('recent_outputs')": 'the constant aggregate text built just above it, of a literal table name',
    'src/lib/store/sqlite/address-reader.ts: TX_NUMS_OF_TXID': 'a constant SQL text from schema.ts',
    'src/lib/store/sqlite/tx-reader.ts: ALL_OUTPUTS': 'a constant SQL text from schema.ts',
    'src/lib/store/sqlite/database.ts: ALL_OUTPUTS': 'a constant SQL text from schema.ts',
    'src/lib/store/sqlite/mempool-writer.ts: ALL_OUTPUTS': 'a constant SQL text from schema.ts',
    "src/lib/store/sqlite/address-reader.ts: scriptKeyIs('@key')": 'the constant condition of schema.ts, for the parameter @key',
    'src/lib/store/sqlite/mempool-writer.ts: TX_NUM_OF_TXID': 'a constant SQL text from schema.ts',
  }
  const SQL = /\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|VALUES|WHERE|FROM|INTO)\b|\b(cache_size|journal_size_limit|page_size|journal_mode|synchronous)\b/

  test('values reach SQL only as bound parameters: every interpolation into SQL text is a known constant', () => {
    const found: string[] = []
    for (const file of sources(path.join(REPO_ROOT, 'src'))) {
      const rel = path.relative(REPO_ROOT, file)
      for (const t of templates(fs.readFileSync(file, 'utf8'))) {
        if (!SQL.test(t.text.replace(/\$\{\}/g, ''))) continue
        // messages that merely mention a word like "from" are not SQL: SQL here is upper case or a pragma
        if (!/\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA)\b|= \$\{\}|^(cache_size|journal_size_limit|page_size)/.test(t.text)) continue
        for (const expr of t.exprs) found.push(`${rel}: ${expr}`)
      }
    }
    const unexplained = found.filter((f) => !(f in ALLOWED))
    assert.deepEqual(unexplained, [], 'SQL text built from something other than a reviewed constant: bind it as a parameter, or review it and add it here')
    assert.ok(found.length >= 5, `the scan found the known interpolations (${found.length})`)
  })

  test('RowInserter, which builds INSERT text, gets literal table and column names only', () => {
    for (const file of sources(path.join(REPO_ROOT, 'src'))) {
      const src = fs.readFileSync(file, 'utf8')
      for (const m of src.matchAll(/new RowInserter\(([^)]*)\)/g)) {
        assert.match(m[1], /^\s*\w+,\s*'[a-z_]+',\s*\[('[a-z_]+',?\s*)+\]\s*(,\s*\d+\s*)?$/, `${path.relative(REPO_ROOT, file)}: ${m[0]}`)
      }
    }
  })

  test('scriptKeyIs, which builds a condition, gets literal parameter names only', () => {
    let calls = 0
    for (const file of sources(path.join(REPO_ROOT, 'src'))) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/scriptKeyIs\(([^)]*)\)/g)) {
        if (m[1] === 'param: string') continue // the definition
        calls++
        assert.match(m[1], /^'@[a-z]+'$/, `${path.relative(REPO_ROOT, file)}: ${m[0]}`)
      }
    }
    assert.ok(calls > 0)
  })

  test('no shell commands: nothing in src runs a child process', () => {
    for (const file of sources(path.join(REPO_ROOT, 'src'))) {
      const src = fs.readFileSync(file, 'utf8')
      assert.doesNotMatch(src, /node:child_process|from 'child_process'|require\('child_process'\)|\bexecSync\b|\bspawnSync\b/, path.relative(REPO_ROOT, file))
    }
  })
})

describe('credentials to a node on another machine', () => {
  /** An address of this machine that is not loopback (connections to a closed port there are refused at once). */
  function lanAddress(): string | undefined {
    return Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address
  }

  test('one warning per run on stderr, naming the endpoint and never the password; none for loopback', async () => {
    const lan = lanAddress() ?? '192.0.2.1'
    const port = String(await closedPort())
    const creds = ['--rpcuser', USER, '--rpcpassword', PASSWORD]
    const [remote, remoteUrl, failover, local, quiet] = await inParallel(3, [
      () => runBix(['status', '--network', 'regtest', '--rpcconnect', lan, '--rpcport', port, '--connect-timeout', '1', ...creds]),
      () => runBix(['index', '--network', 'regtest', '--rpc-url', `http://${USER}:${encodeURIComponent(PASSWORD)}@${lan}:${port}`, '--connect-timeout', '1', '--db', path.join(dir, 'x.db')]),
      // loopback first, then the remote one: the warning comes when (and only because) bix fails over to it
      () => runBix(['status', '--network', 'regtest', '--rpcconnect', `127.0.0.1:${port}`, '--rpcconnect', `${lan}:${port}`, '--connect-timeout', '1', ...creds]),
      () => runBix(['status', '--network', 'regtest', '--rpcconnect', 'localhost', '--rpcport', String(node.rpcPort), ...creds]),
      () => runBix(['status', '--network', 'regtest', '--rpcconnect', lan, '--rpcport', port, '--connect-timeout', '1', '--quiet', '--json', ...creds]),
    ])
    const warning = new RegExp(`^warning: sending RPC credentials in clear text to ${lan.replace(/\./g, '\\.')}:${port}, which is not this machine`)
    for (const [what, r] of [['--rpcconnect', remote], ['--rpc-url', remoteUrl], ['failover', failover], ['--quiet --json', quiet]] as const) {
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('warning: sending RPC credentials'))
      assert.equal(lines.length, 1, `${what}: one warning: ${r.stderr}`)
      assert.match(lines[0], warning, what)
      assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), `${what}: no password`)
      assert.equal(r.code, 3, `${what}: ${r.stderr}`)
    }
    assert.equal(local.code, 0, local.stderr)
    assert.doesNotMatch(local.stderr, /clear text/)
  })
})
