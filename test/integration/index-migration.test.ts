import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'
import Database from 'better-sqlite3'
import {Block} from 'bitcoinjs-lib'

import {SCHEMA_VERSION} from '../../src/lib/store/sqlite/schema.js'
import {runBix} from '../support/cli.js'
import {type FixtureBlock, fixtureForkHeight, readFixtureChain} from '../support/simnode/fixture-chain.js'
import {type TestNode, startTestNode} from '../support/test-node.js'

/**
 * An index left by the first bix, at schema 1, is upgraded in place by
 * today's `bix index` and then answers exactly as a fresh index does, and as
 * the node's scantxoutset does. Runs against the simulator, or bitcoind with
 * BITCOIND set.
 */

const fixture = readFixtureChain()
const TX_SHIFT = 2 ** 20

/**
 * Schema 1 as commit b6b8458 ("index: SQLite address index fed from RPC, REST
 * or blk files…") created it: src/lib/store/schema.ts, MIGRATIONS[0], verbatim.
 * (47a8604 later dropped spend_undo from this step in place, so a schema-1
 * index in the wild may still have it.)
 */
const SCHEMA_1_DDL = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE blocks (
    height INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    header BLOB NOT NULL,
    first_tx INTEGER NOT NULL,
    tx_count INTEGER NOT NULL
  );
  CREATE INDEX blocks_by_first_tx ON blocks (first_tx);
  CREATE TABLE txs (tx_num INTEGER PRIMARY KEY, txid BLOB NOT NULL);
  CREATE INDEX txs_by_txid ON txs (substr(txid, 1, 8));
  CREATE TABLE outputs (
    id INTEGER PRIMARY KEY,
    script_key BLOB NOT NULL,
    value INTEGER NOT NULL,
    spent_by INTEGER
  );
  CREATE INDEX outputs_by_script ON outputs (script_key);
  CREATE TABLE spend_undo (spender INTEGER PRIMARY KEY, output_id INTEGER NOT NULL);
`

/**
 * A schema-1 index of `blocks`, with the rows b6b8458's writer wrote: tx_num
 * is the position in the chain, output id = tx_num·2^20 + vout (the genesis
 * output left out), script_key = 8 bytes of sha256(script), spent_by = the
 * spender's tx_num·2^20 + vin, and a spend_undo row per spend (every block
 * was within its 1000-block undo depth). The blocks are parsed with
 * bitcoinjs-lib, not with bix.
 */
function writeSchema1Index(file: string, blocks: FixtureBlock[]): void {
  const db = new Database(file)
  try {
    db.pragma('journal_mode = WAL')
    db.exec(SCHEMA_1_DDL)
    const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)')
    meta.run('schema_version', '1')
    meta.run('network', 'regtest')
    meta.run('genesis_hash', fixture.genesis)
    meta.run('created_at', '2026-12-01T16:10:39.000Z')
    const insertBlock = db.prepare('INSERT INTO blocks (height, hash, header, first_tx, tx_count) VALUES (?, ?, ?, ?, ?)')
    const insertTx = db.prepare('INSERT INTO txs (tx_num, txid) VALUES (?, ?)')
    const insertOutput = db.prepare('INSERT INTO outputs (id, script_key, value, spent_by) VALUES (?, ?, ?, NULL)')
    const spend = db.prepare('UPDATE outputs SET spent_by = ? WHERE id = ? AND spent_by IS NULL')
    const insertUndo = db.prepare('INSERT INTO spend_undo (spender, output_id) VALUES (?, ?)')
    const txNums = new Map<string, number>()
    let txNum = 0
    db.transaction(() => {
      for (const b of blocks) {
        const block = Block.fromHex(b.hex)
        const txs = block.transactions ?? []
        insertBlock.run(b.height, Buffer.from(block.getHash()), Buffer.from(b.hex.slice(0, 160), 'hex'), txNum, txs.length)
        for (const tx of txs) {
          const txid = Buffer.from(tx.getHash())
          insertTx.run(txNum, txid)
          txNums.set(txid.toString('hex'), txNum)
          if (!tx.isCoinbase()) {
            tx.ins.forEach((input, vin) => {
              const outputId = txNums.get(Buffer.from(input.hash).toString('hex'))! * TX_SHIFT + input.index
              assert.equal(spend.run(txNum * TX_SHIFT + vin, outputId).changes, 1, `block ${b.height} spends a known unspent output`)
              insertUndo.run(txNum * TX_SHIFT + vin, outputId)
            })
          }
          if (b.height > 0) {
            tx.outs.forEach((out, vout) => insertOutput.run(txNum * TX_SHIFT + vout, createHash('sha256').update(out.script).digest().subarray(0, 8), Number(out.value)))
          }
          txNum++
        }
      }
    })()
  } finally {
    db.close()
  }
}

interface Report {
  address: string
  balance: {confirmed: number}
  utxos: Array<{txid: string; vout: number; value: number; height: number}>
}
interface Scan {
  unspents: Array<{txid: string; vout: number; amount: number; height: number}>
}

const sats = (btc: number) => Math.round(btc * 1e8)
const addresses = [...new Set([...fixture.addresses, fixture.miner])]

describe('an index of schema 1, upgraded by today\'s bix', () => {
  let node: TestNode
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-migration-'))
  const old = path.join(dir, 'schema-1.db')
  const fresh = path.join(dir, 'fresh.db')

  const query = (db: string) => runBix(['query', 'address', ...addresses, '--db', db, '--offline', '--json', '--utxos', '--history', '--limit', '0'])

  before(async () => {
    // indexed by the old bix before the recorded reorg: blocks up to 143 and the branch that went stale
    writeSchema1Index(old, [...fixture.blocks.slice(0, fixtureForkHeight() + 1), ...fixture.stale])
    node = await startTestNode({fixtureChain: true})
  })
  after(async () => {
    await node?.stop()
    fs.rmSync(dir, {recursive: true, force: true})
  })

  test('bix query refuses it, exit 7, naming bix index as the way to upgrade it', async () => {
    const r = await runBix(['query', 'address', addresses[0], '--db', old, '--offline'])
    assert.equal(r.code, 7, r.stderr)
    assert.match(r.stderr, /^error: .*schema-1\.db was made by an older bix \(schema 1\); run bix index to upgrade it$/m)
  })

  test('bix index upgrades it, takes the reorg, and every answer equals a fresh index\'s and the node\'s UTXO set', async () => {
    const upgrade = await runBix(['index', ...node.cliArgs(), '--db', old, '--quiet'])
    assert.equal(upgrade.code, 0, upgrade.stderr)
    const build = await runBix(['index', ...node.cliArgs(), '--db', fresh, '--quiet'])
    assert.equal(build.code, 0, build.stderr)

    const sqlite = new Database(old, {readonly: true})
    try {
      assert.equal(sqlite.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get(), String(SCHEMA_VERSION))
      assert.equal(sqlite.prepare('SELECT MAX(height) FROM blocks').pluck().get(), await node.tipHeight())
    } finally {
      sqlite.close()
    }

    const upgraded = await query(old)
    assert.equal(upgraded.code, 0, upgraded.stderr)
    const reference = await query(fresh)
    assert.equal(reference.code, 0, reference.stderr)
    assert.deepEqual(JSON.parse(upgraded.stdout), JSON.parse(reference.stdout))

    for (const report of JSON.parse(upgraded.stdout) as Report[]) {
      const scan = await node.rpc<Scan>('scantxoutset', ['start', [`addr(${report.address})`]])
      assert.deepEqual(
        report.utxos.map((u) => `${u.txid}:${u.vout}:${u.value}@${u.height}`).sort(),
        scan.unspents.map((u) => `${u.txid}:${u.vout}:${sats(u.amount)}@${u.height}`).sort(),
        `UTXOs of ${report.address}`,
      )
    }
  })

  test('an index of a newer schema than this bix knows is refused by index and query, exit 7, and left as it was', async () => {
    const newer = path.join(dir, 'newer.db')
    const source = new Database(fresh, {readonly: true})
    source.prepare('VACUUM INTO ?').run(newer)
    source.close()
    const sqlite = new Database(newer)
    sqlite.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1))
    sqlite.pragma('wal_checkpoint(TRUNCATE)')
    sqlite.close()
    const before = fs.readFileSync(newer)
    for (const args of [['index', ...node.cliArgs()], ['query', 'address', addresses[0]]]) {
      const r = await runBix([...args, '--db', newer])
      assert.equal(r.code, 7, `${args[0]}: ${r.stderr}`)
      assert.match(r.stderr, new RegExp(`^error: .*newer\\.db was made by a newer bix \\(schema ${SCHEMA_VERSION + 1}\\); upgrade bix$`, 'm'))
    }
    assert.ok(fs.readFileSync(newer).equals(before), 'the file is unchanged')
  })
})
