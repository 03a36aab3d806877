import assert from 'node:assert/strict'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {Block, Transaction} from 'bitcoinjs-lib'

import {REPO_ROOT, runBix} from '../support/cli.js'
import {OPEN_ADDRESS, type OpenCoin, coinOf, payOpen} from '../support/open-coins.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * Every command's --json is what docs/json.md says it is. The shapes are read
 * from the tables in that file, so the documentation and the test cannot
 * drift: a key the doc does not list, a listed key that is missing or of
 * another type, a camelCase key, or a single object where the doc says array
 * fails here. Runs on Core with BITCOIND, else on the simulator.
 */

const DOC_PATH = path.join(REPO_ROOT, 'docs', 'json.md')
const SNAKE_CASE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/

interface KeyDoc {
  /** 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'null' | 'array of string' … */
  types: string[]
  optional: boolean
}

interface Shape {
  top: 'object' | 'array'
  /** path → its documentation; `a.b` a nested key, `a[].b` a key of the elements of array a */
  keys: Map<string, KeyDoc>
  /** the example output under the table */
  example: unknown
}

/** The sections of docs/json.md: "errors" and one per command ("index", "query address", …). */
function readShapes(markdown: string): Map<string, Shape> {
  const shapes = new Map<string, Shape>()
  for (const section of markdown.split(/^## /m).slice(1)) {
    const heading = section.slice(0, section.indexOf('\n')).trim()
    const name = heading === 'Errors' ? 'errors' : /^`bix (.+)`$/.exec(heading)?.[1]
    if (!name) continue
    const top = /prints \*\*(one object|an array)\*\*/i.exec(section)?.[1]
    assert.ok(top, `docs/json.md, ${heading}: says neither "prints **one object**" nor "prints **an array**"`)
    const keys = new Map<string, KeyDoc>()
    for (const [, key, type] of section.matchAll(/^\| `([^`]+)` \| ([^|]+) \|/gm)) {
      const [alternatives, ...flags] = type.trim().split(/,\s*/)
      const types = alternatives.split(' or ').map((t) => t.trim())
      for (const t of types) assert.match(t, /^(string|integer|number|boolean|object|array|null|array of (string|integer))$/, `docs/json.md, ${heading}: type "${t}" of ${key}`)
      keys.set(key, {types, optional: flags.includes('optional')})
    }
    const example = /```json\n([\s\S]*?)```/.exec(section)?.[1]
    assert.ok(example, `docs/json.md, ${heading}: no example`)
    shapes.set(name, {top: top === 'one object' ? 'object' : 'array', keys, example: JSON.parse(example)})
  }
  return shapes
}

function typeOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number'
  return typeof value
}

function matches(value: unknown, type: string): boolean {
  const actual = typeOf(value)
  if (type === 'number') return actual === 'number' || actual === 'integer'
  const arrayOf = /^array of (\w+)$/.exec(type)
  if (arrayOf) return Array.isArray(value) && value.every((v) => matches(v, arrayOf[1]))
  return actual === type
}

/**
 * What is wrong with one JSON document against a documented shape; every
 * path found is added to `seen`. Keys are checked at every depth: snake_case,
 * documented, of a documented type; documented keys that are not optional
 * must be there whenever their parent is.
 */
function problemsOf(doc: unknown, shape: Shape, seen = new Set<string>()): string[] {
  const problems: string[] = []
  const checkObject = (value: unknown, at: string) => {
    if (typeOf(value) !== 'object') {
      problems.push(`${at || 'the answer'}: an object was documented, got ${JSON.stringify(value)?.slice(0, 80)}`)
      return
    }
    const object = value as Record<string, unknown>
    for (const [key, child] of Object.entries(object)) {
      const keyPath = at ? `${at}.${key}` : key
      if (!SNAKE_CASE.test(key)) problems.push(`${keyPath}: not snake_case`)
      const documented = shape.keys.get(keyPath.replace(/^\[\]\./, ''))
      if (!documented) {
        problems.push(`${keyPath}: not in docs/json.md`)
        continue
      }
      seen.add(keyPath.replace(/^\[\]\./, ''))
      if (!documented.types.some((t) => matches(child, t))) problems.push(`${keyPath}: ${documented.types.join(' or ')} was documented, got ${JSON.stringify(child)?.slice(0, 80)}`)
      else if (typeOf(child) === 'object') checkObject(child, keyPath)
      else if (Array.isArray(child) && documented.types.includes('array')) for (const element of child) checkObject(element, `${keyPath}[]`)
    }
    // the documented children of this object
    const prefix = at.replace(/^\[\]\.?/, '')
    for (const [keyPath, documented] of shape.keys) {
      const parent = keyPath.includes('.') ? keyPath.slice(0, keyPath.lastIndexOf('.')) : ''
      if (parent !== prefix || documented.optional) continue
      const key = keyPath.slice(parent ? parent.length + 1 : 0)
      if (!(key in object)) problems.push(`${at ? `${at}.` : ''}${key}: documented, missing`)
    }
  }
  if (shape.top === 'array') {
    if (!Array.isArray(doc)) problems.push(`an array was documented, got ${typeOf(doc)}`)
    else for (const element of doc) checkObject(element, '[]')
  } else checkObject(doc, '')
  return problems
}

const shapes = readShapes(fs.readFileSync(DOC_PATH, 'utf8'))
const shapeOf = (name: string): Shape => {
  const shape = shapes.get(name)
  assert.ok(shape, `docs/json.md has no section for ${name}`)
  return shape
}

/** What each command printed, checked, and which documented paths the runs showed. */
const seen = new Map<string, Set<string>>()
function assertShape(name: string, stdout: string): unknown {
  let doc: unknown
  assert.doesNotThrow(() => (doc = JSON.parse(stdout)), `${name}: stdout is not one JSON document:\n${stdout}`)
  const paths = seen.get(name) ?? new Set<string>()
  seen.set(name, paths)
  const problems = problemsOf(doc, shapeOf(name), paths)
  assert.deepEqual(problems, [], `${name} --json against docs/json.md:\n${stdout}`)
  return doc
}

describe('docs/json.md', () => {
  test('has a shape for every command bix has, and for errors', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, unknown>}
    const commands = Object.keys(manifest.commands).map((id) => id.replaceAll(':', ' '))
    assert.ok(commands.includes('query address') && commands.includes('status'), `the built manifest lists ${commands.join(', ')}`)
    assert.deepEqual([...shapes.keys()].sort(), ['errors', ...commands].sort())
  })

  test('every key it documents is snake_case, and every example follows its own table', () => {
    for (const [name, shape] of shapes) {
      for (const keyPath of shape.keys.keys()) {
        for (const key of keyPath.split(/\.|\[\]\.?/).filter(Boolean)) assert.match(key, SNAKE_CASE, `${name}: ${keyPath}`)
      }
      assert.deepEqual(problemsOf(shape.example, shape), [], `${name}: the example in docs/json.md`)
    }
  })

  test('the check fails on a camelCase key, an undocumented or missing key, a wrong type, and an object where an array is documented', () => {
    const [one] = shapeOf('query address').example as Array<Record<string, unknown>>
    const shape = shapeOf('query address')
    assert.deepEqual(problemsOf([one], shape), [])
    assert.deepEqual(problemsOf([{...one, chainStats: one.chain_stats}], shape), ['[].chainStats: not snake_case', '[].chainStats: not in docs/json.md'])
    assert.deepEqual(problemsOf([{...one, extra: 1}], shape), ['[].extra: not in docs/json.md'])
    const {scripthash: _, ...missing} = one
    assert.deepEqual(problemsOf([missing], shape), ['[].scripthash: documented, missing'])
    const deep = {...one, balance: {confirmed: 1, unconfirmed: 0}}
    assert.deepEqual(problemsOf([deep], shape), ['[].balance.total: documented, missing'])
    assert.deepEqual(problemsOf([{...one, script: 5}], shape), ['[].script: string or null was documented, got 5'])
    assert.deepEqual(problemsOf(one, shape), ['an array was documented, got object'])
    const error = shapeOf('errors')
    assert.deepEqual(problemsOf({error: {kind: 'BadInput', message: 'm', exitCode: 2}}, error), [
      'error.exitCode: not snake_case',
      'error.exitCode: not in docs/json.md',
      'error.exit_code: documented, missing',
    ])
  })
})

describe('every command prints --json as docs/json.md says', () => {
  let node: TestNode
  let dir: string
  let db: string
  let wallet: string
  let payment: string
  const coins: OpenCoin[] = []
  const bix = (args: string[], input?: string) => runBix([...args, ...node.cliArgs(), '--db', db, '--json'], {input, timeoutMs: 120_000})

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-json-contract-'))
    db = path.join(dir, 'index.db')
    node = await startTestNode()
    // coinbases to an output anyone may spend (broadcast needs no signature), matured, and one for the wallet
    const hashes = await node.mine(3, OPEN_ADDRESS)
    await node.mine(101)
    for (const hash of hashes) coins.push(coinOf(Block.fromHex(await node.rpc<string>('getblock', [hash, 0])).transactions![0]))
    wallet = await node.newAddress('bech32')
    payment = await node.send(wallet, 150_000)
    await node.mine(1)
  })
  after(async () => {
    await node?.stop()
    if (dir) fs.rmSync(dir, {recursive: true, force: true})
  })

  test('index: a first run, a run that undoes a reorg, and a run from the block files', async () => {
    const first = await bix(['index'])
    assert.equal(first.code, 0, first.stderr)
    const summary = assertShape('index', first.stdout) as {start_height: number; height: number}
    assert.equal(summary.start_height, -1)
    assert.equal(summary.height, await node.tipHeight())

    // the node abandons its tip for a longer branch (mined to another address: Core would mine the abandoned block again)
    await node.invalidate(await node.tipHash())
    await node.mine(2, OPEN_ADDRESS)
    const reorg = await bix(['index'])
    assert.equal(reorg.code, 0, reorg.stderr)
    const undone = assertShape('index', reorg.stdout) as {reorgs: Array<{undone: number}>}
    assert.deepEqual(undone.reorgs.map((r) => r.undone), [1])

    const fromFiles = await runBix(['index', ...node.cliArgs(), '--db', path.join(dir, 'blk.db'), '--source', 'blk', '--json'], {timeoutMs: 120_000})
    assert.equal(fromFiles.code, 0, fromFiles.stderr)
    assert.equal((assertShape('index', fromFiles.stdout) as {source: string}).source, 'blk')
  })

  test('broadcast: an array for one transaction, sent, rejected and --dry-run accepted', async () => {
    const sent = await bix(['broadcast', payOpen(coins[0], 1_000n).toHex()])
    assert.equal(sent.code, 0, sent.stderr)
    assert.deepEqual((assertShape('broadcast', sent.stdout) as Array<{status: string}>).map((r) => r.status), ['sent'])

    // the same coin again, paying less: the node refuses to replace the first
    const conflict = await bix(['broadcast', payOpen(coins[0], 500n).toHex()])
    assert.equal(conflict.code, 8, conflict.stdout)
    const [rejected] = assertShape('broadcast', conflict.stdout) as Array<{status: string; node_code: number}>
    assert.equal(rejected.status, 'rejected')

    const txs = [payOpen(coins[1], 1_000n), payOpen(coins[2], 1_500n)]
    const dryRun = await bix(['broadcast', '--dry-run', ...txs.map((tx) => tx.toHex())])
    assert.equal(dryRun.code, 0, dryRun.stderr)
    const accepted = assertShape('broadcast', dryRun.stdout) as Array<{txid: string; status: string}>
    assert.deepEqual(accepted.map((r) => [r.txid, r.status]), txs.map((tx) => [tx.getId(), 'accepted']))
  })

  test('sync-mempool, then query address and query descriptor: an array in the order given, even for one target; --jsonl a line each', async () => {
    const sync = await bix(['sync-mempool'])
    assert.equal(sync.code, 0, sync.stderr)
    assert.equal((assertShape('sync-mempool', sync.stdout) as {total: number}).total, (await node.rpc<{size: number}>('getmempoolinfo')).size)

    const one = await bix(['query', 'address', wallet])
    assert.equal(one.code, 0, one.stderr)
    assert.deepEqual((assertShape('query address', one.stdout) as Array<{address: string}>).map((r) => r.address), [wallet])

    // the open address: confirmed coins, one spent by the unconfirmed transaction (pending_spends), lists cut by --limit
    const scripthash = (JSON.parse(one.stdout) as Array<{scripthash: string}>)[0].scripthash
    const many = await bix(['query', 'address', OPEN_ADDRESS, wallet, '--scripthash', scripthash, '--utxos', '--history', '--limit', '1'])
    assert.equal(many.code, 0, many.stderr)
    const reports = assertShape('query address', many.stdout) as Array<{address: string | null; scripthash: string; pending_spends: unknown[]; next_after?: object}>
    assert.deepEqual(reports.map((r) => r.address), [OPEN_ADDRESS, wallet, null])
    assert.equal(reports[2].scripthash, scripthash)
    assert.equal(reports[0].pending_spends.length, 1)
    assert.deepEqual(Object.keys(reports[0].next_after ?? {}).sort(), ['history', 'utxos'])

    // a wallet of both addresses from the command line, then one wallet a line from a file: one element each, in order
    const file = path.join(dir, 'wallets.txt')
    fs.writeFileSync(file, `addr(${wallet})\naddr(${OPEN_ADDRESS})\n`)
    const wallets = await bix(['query', 'descriptor', `addr(${OPEN_ADDRESS})`, `addr(${wallet})`, '--file', file, '--utxos', '--history', '--limit', '1'])
    assert.equal(wallets.code, 0, wallets.stdout + wallets.stderr)
    const answers = assertShape('query descriptor', wallets.stdout) as Array<{descriptors: string[]; truncated?: boolean}>
    assert.deepEqual(answers.map((w) => w.descriptors), [[`addr(${OPEN_ADDRESS})`, `addr(${wallet})`], [`addr(${wallet})`], [`addr(${OPEN_ADDRESS})`]])
    assert.equal(answers[0].truncated, true)
    const alone = await bix(['query', 'descriptor', `addr(${wallet})`])
    assert.equal(alone.code, 0, alone.stderr)
    assert.equal((assertShape('query descriptor', alone.stdout) as unknown[]).length, 1)

    // --jsonl: each line one element of the same shape
    for (const [name, args] of [['query address', ['query', 'address', wallet, OPEN_ADDRESS]], ['query descriptor', ['query', 'descriptor', '--file', file]]] as const) {
      const lines = await runBix([...args, ...node.cliArgs(), '--db', db, '--jsonl'])
      assert.equal(lines.code, 0, lines.stderr)
      const objects = lines.stdout.trimEnd().split('\n')
      assert.equal(objects.length, 2, lines.stdout)
      for (const line of objects) assertShape(name, `[${line}]`)
    }
  })

  test('query tx and query outpoint: an array in the order given, even for one', async () => {
    // the payment (segwit, confirmed), the coinbase it spent (spent in a block), an open coinbase (spent by the mempool) and that spender
    const funding = Transaction.fromHex(await node.rpc<string>('getrawtransaction', [payment])).ins[0]
    const fundingTxid = Buffer.from(funding.hash).reverse().toString('hex')
    const mempool = await node.rpc<string[]>('getrawmempool')
    const txids = [payment, fundingTxid, coins[0].txid, ...mempool]
    const txs = await bix(['query', 'tx', ...txids, '--hex'])
    assert.equal(txs.code, 0, txs.stdout + txs.stderr)
    assert.deepEqual((assertShape('query tx', txs.stdout) as Array<{txid: string}>).map((t) => t.txid), txids)
    const one = await bix(['query', 'tx', payment])
    assert.equal(one.code, 0, one.stderr)
    assert.equal((assertShape('query tx', one.stdout) as unknown[]).length, 1)

    const outpoints = [`${fundingTxid}:${funding.index}`, `${coins[0].txid}:0`, `${payment}:0`]
    const spends = await bix(['query', 'outpoint', ...outpoints])
    assert.equal(spends.code, 0, spends.stdout + spends.stderr)
    const answers = assertShape('query outpoint', spends.stdout) as Array<{txid: string; vout: number; spender: {status: {confirmed: boolean}} | null}>
    assert.deepEqual(answers.map((o) => `${o.txid}:${o.vout}`), outpoints)
    assert.deepEqual(answers.map((o) => o.spender?.status.confirmed ?? null), [true, false, null])
  })

  test('status and wait-sync: one object, with the node up, and with neither node nor index', async () => {
    const status = await bix(['status'])
    assert.equal(status.code, 0, status.stdout + status.stderr)
    assert.equal((assertShape('status', status.stdout) as {lag: number}).lag, 0)

    const nothing = await runBix(['status', '--network', 'regtest', '--rpcport', String(await closedPort()), '--rpcuser', 'u', '--rpcpassword', 'p', '--db', path.join(dir, 'none.db'), '--json'])
    assert.equal(nothing.code, 3, nothing.stderr)
    const down = assertShape('status', nothing.stdout) as {node: unknown; index: unknown; node_error: string}
    assert.equal(down.node, null)
    assert.equal(down.index, null)

    const wait = await runBix(['wait-sync', ...node.cliArgs(), '--json'])
    assert.equal(wait.code, 0, wait.stderr)
    assert.equal((assertShape('wait-sync', wait.stdout) as {blocks: number}).blocks, await node.tipHeight())
  })

  test('errors: bix\'s own, oclif\'s flag parsing and a timeout are one object whose exit_code is the exit code', async () => {
    const runs = [
      await bix(['query', 'address', 'nonsense']),
      await runBix(['status', '--rpcport', 'many', '--json']),
      await runBix(['wait-sync', '--network', 'regtest', '--rpcport', String(await closedPort()), '--rpcuser', 'u', '--rpcpassword', 'p', '--timeout', '1', '--json']),
    ]
    assert.deepEqual(runs.map((r) => r.code), [2, 2, 4])
    for (const r of runs) {
      const {error} = assertShape('errors', r.stdout) as {error: {exit_code: number}}
      assert.equal(error.exit_code, r.code)
    }
  })

  test('together the runs show every key docs/json.md lists, but the few only faults or other chains give', () => {
    // keys no run above can produce on demand; each is covered where its cause is
    const notShown: Record<string, string[]> = {
      // a lost answer only: the fault simulator's broadcast tests
      broadcast: ['note'],
    }
    const missing: string[] = []
    for (const [name, shape] of shapes) {
      for (const keyPath of shape.keys.keys()) {
        if (!seen.get(name)?.has(keyPath) && !notShown[name]?.includes(keyPath)) missing.push(`${name}: ${keyPath}`)
      }
    }
    assert.deepEqual(missing, [])
  })
})

/** A port nothing listens on: one the system just gave out and took back. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}
