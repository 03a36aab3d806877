import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {describe, test} from 'node:test'
import {Block} from 'bitcoinjs-lib'

import {linesToTxs} from '../../src/lib/broadcast/raw-input.js'
import {prepareTransactions} from '../../src/lib/broadcast/prepare.js'
import {addressToScript, scriptToAddress} from '../../src/lib/chain/address.js'
import {parseBlock, verifyBlock} from '../../src/lib/chain/block-parser.js'
import {NETWORK_NAMES, type NetworkName} from '../../src/lib/chain/networks.js'
import {classifyScript} from '../../src/lib/chain/script.js'
import {parseScriptHashHex} from '../../src/lib/chain/scripthash.js'
import {decodeRawTransaction} from '../../src/lib/chain/tx-decode.js'
import {BixError, type ErrorKind} from '../../src/lib/errors.js'
import {decodeBlock} from '../../src/lib/index/decode.js'
import {addressTarget, scriptTarget} from '../../src/lib/query/targets.js'
import {FIXTURES, MAINNET_413567, mutate} from '../support/chain-fixtures.js'
import {fixture, seeded} from './support.js'

/**
 * Random damage to real data, for a bounded time each (BIX_FUZZ_MS, default
 * 2.5 s), from a printed seed: the block pipeline the indexer runs (parse,
 * check hash and merkle root, turn into rows), the transaction decoder
 * broadcast runs, and address and script decoding. Every input ends in a
 * result or in a BixError of the expected kind with a short one-line
 * message; no other exception, and no input takes long (no hang, no giant
 * allocation).
 */

const FUZZ_MS = Number(process.env.BIX_FUZZ_MS ?? 2500)
/** inputs each fuzz tries however slow the machine: the time only adds more */
const MIN_RUNS = 50
/**
 * A limit the user would see: bix decoding one input for over 1.5 s looks hung
 * to them. Honest inputs (a 1 MB block included) take milliseconds, so no load
 * on the machine comes near it; only a runaway loop or a giant allocation does.
 */
const SLOW_MS = 1500

interface Tally {
  runs: number
  ok: number
  refused: Map<string, number>
}

/** Calls `one` on fresh inputs until the time is up; each must return or throw a BixError of `kinds`. */
function fuzz(
  seedLabel: string,
  t: {diagnostic: (m: string) => void; after: (fn: () => void) => void},
  kinds: ErrorKind[],
  one: (random: () => number, int: (lo: number, hi: number) => number) => {input: string; echoed?: string; run: () => void},
): Tally {
  const {seed, random, int} = seeded(t, seedLabel)
  const tally: Tally = {runs: 0, ok: 0, refused: new Map()}
  const deadline = performance.now() + FUZZ_MS
  while (tally.runs < MIN_RUNS || performance.now() < deadline) {
    const {input, echoed, run} = one(random, int)
    const started = performance.now()
    try {
      run()
      tally.ok++
    } catch (err) {
      const what = `seed ${seed}, run ${tally.runs} (${input})`
      if (!(err instanceof BixError)) assert.fail(`${what}: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`)
      assert.ok(kinds.includes(err.kind), `${what}: a ${err.kind} error: ${err.message}`)
      assert.ok(!err.message.includes('\n') && err.message.length < 600, `${what}: not one short line: ${err.message.slice(0, 800)}`)
      // the reason, without its offsets and values: how many kinds of damage were told apart
      const reason = (echoed ? err.message.split(echoed).join('…') : err.message).replace(/"."/g, '"c"').replace(/[0-9a-f]{16,}/g, 'H').replace(/\d+/g, 'N').slice(0, 80)
      tally.refused.set(reason, (tally.refused.get(reason) ?? 0) + 1)
    }
    const took = performance.now() - started
    assert.ok(took < SLOW_MS, `seed ${seed}, run ${tally.runs} (${input}) took ${took.toFixed(0)} ms`)
    tally.runs++
  }
  t.diagnostic(`${tally.runs} inputs: ${tally.ok} accepted, ${tally.runs - tally.ok} refused for ${tally.refused.size} distinct reasons`)
  return tally
}

const regtestBlocks = [...fixture.blocks, ...fixture.stale].map((b) => ({hash: b.hash, height: b.height, bytes: Buffer.from(b.hex, 'hex')}))
const mainnet = {hash: MAINNET_413567.hash, height: 413_567, bytes: MAINNET_413567.bytes()}
const transactions = [
  ...fixture.mempool.map((m) => m.hex),
  ...regtestBlocks.slice(100).flatMap((b) => (Block.fromBuffer(b.bytes).transactions ?? []).map((tx) => tx.toHex())),
]

/** Damage that keeps most of the structure: a real field set to an extreme, pieces of two inputs spliced. */
function structured(bytes: Buffer, random: () => number, others: readonly Buffer[]): Buffer {
  const pick = (n: number) => Math.floor(random() * n)
  const out = Buffer.from(bytes)
  switch (pick(4)) {
    case 0: {
      // a 4-byte field (version, value half, sequence, locktime) to all ones or zeros
      const at = pick(Math.max(1, out.length - 4))
      out.fill(random() < 0.5 ? 0xff : 0x00, at, at + 4)
      return out
    }
    case 1: {
      const other = others[pick(others.length)]
      const cut = pick(out.length)
      return Buffer.concat([out.subarray(0, cut), other.subarray(pick(other.length))])
    }
    case 2: {
      // a stretch repeated: duplicated inputs, outputs or transactions
      const at = pick(out.length)
      const len = 1 + pick(Math.min(200, out.length - at))
      return Buffer.concat([out.subarray(0, at + len), out.subarray(at, at + len), out.subarray(at + len)])
    }
    default:
      return mutate(out, random)
  }
}

describe('fuzzing the parsers with damaged real data', () => {
  test('blocks through the indexer\'s decode (parse, hash and merkle checks, rows): a result or BadBlock', (t) => {
    const others = regtestBlocks.map((b) => b.bytes)
    let accepted = 0
    const tally = fuzz('block fuzz', t, ['BadBlock'], (random, int) => {
      const sample = int(0, 30) === 0 ? mainnet : regtestBlocks[int(0, regtestBlocks.length - 1)]
      const damaged = random() < 0.5 ? mutate(sample.bytes, random) : structured(sample.bytes, random, others)
      return {
        input: `${sample.height}: ${damaged.length} bytes`,
        run: () => {
          // as the indexer asks: this height and hash
          const asked = {height: sample.height, hash: Buffer.from(sample.hash, 'hex').reverse(), from: 'rpc' as const}
          const rows = decodeBlock({...asked, bytes: damaged})
          accepted++
          // what passes the checks may differ only where the index does not look (witness data, which
          // the txids and so the merkle root do not cover): the rows written are the original block's
          assert.deepEqual(rows, decodeBlock({...asked, bytes: sample.bytes}), 'an accepted block gives the original rows')
          // and parsing alone, without the expected hash, never throws anything but BadBlock either
          verifyBlock(parseBlock(damaged))
        },
      }
    })
    assert.ok(tally.runs - tally.ok > tally.runs / 2, 'most damage is refused')
    assert.equal(accepted, tally.ok)
  })

  test('raw transactions through broadcast\'s decoder, hex damage included: a decoded transaction or BadInput', (t) => {
    const others = transactions.map((h) => Buffer.from(h, 'hex'))
    fuzz('transaction fuzz', t, ['BadInput'], (random, int) => {
      const hex = transactions[int(0, transactions.length - 1)]
      let damaged: string
      const how = int(0, 9)
      if (how < 6) damaged = (random() < 0.5 ? mutate(Buffer.from(hex, 'hex'), random) : structured(Buffer.from(hex, 'hex'), random, others)).toString('hex')
      else if (how === 6) damaged = hex.slice(0, int(0, hex.length))
      else if (how === 7) damaged = hex.slice(0, int(0, hex.length)) + String.fromCharCode(int(0, 0xffff)) + hex.slice(int(0, hex.length))
      else if (how === 8) damaged = ` ${hex}\t`.toUpperCase()
      else damaged = hex.replace(/[0-9a-f]{2}/g, (pair) => (random() < 0.02 ? 'fd'.repeat(int(1, 4)) : pair))
      return {
        input: `${damaged.length} hex chars`,
        run: () => {
          const network: NetworkName = NETWORK_NAMES[int(0, NETWORK_NAMES.length - 1)]
          const decoded = decodeRawTransaction(damaged, network)
          assert.ok(decoded.txid.length === 64 && decoded.weight > 0)
          // the whole preparation broadcast does, from the text a user pipes in
          prepareTransactions(linesToTxs(damaged, 'fuzz'), network)
        },
      }
    })
  })

  test('addresses: a damaged address is refused as BadInput, or decodes to a script that encodes back to it', (t) => {
    type Row = [string, string, {chain: NetworkName; isPrivkey: boolean}]
    const valid = (JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vectors/key_io_valid.json'), 'utf8')) as Row[])
      .filter(([, , meta]) => !meta.isPrivkey)
      .map(([address, , meta]) => ({address, network: meta.chain}))
    const samples = [...valid, ...fixture.addresses.map((address) => ({address, network: 'regtest' as NetworkName}))]
    const alphabet = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:/. \u00e9\u0000'
    let roundTrips = 0
    fuzz('address fuzz', t, ['BadInput'], (random, int) => {
      const {address, network} = samples[int(0, samples.length - 1)]
      const chars = [...address]
      const edits = int(0, 3)
      for (let e = 0; e < edits; e++) {
        const at = int(0, chars.length)
        const c = alphabet[int(0, alphabet.length - 1)]
        switch (int(0, 4)) {
          case 0:
            chars[at] = c
            break
          case 1:
            chars.splice(at, 0, c)
            break
          case 2:
            chars.splice(at, 1)
            break
          case 3:
            if (chars[at]) chars[at] = chars[at] === chars[at].toUpperCase() ? chars[at].toLowerCase() : chars[at].toUpperCase()
            break
          default:
            chars.splice(int(0, chars.length), int(0, 5))
        }
      }
      const damaged = random() < 0.05 ? chars.join('').repeat(int(2, 50)) : chars.join('')
      const on: NetworkName = random() < 0.8 ? network : NETWORK_NAMES[int(0, NETWORK_NAMES.length - 1)]
      return {
        input: JSON.stringify(damaged.slice(0, 120)) + ` on ${on}`,
        echoed: damaged,
        run: () => {
          const script = addressToScript(damaged, on)
          // the query path says the same
          addressTarget(damaged, on)
          const back = scriptToAddress(script, on)
          assert.ok(back !== undefined, 'a decoded address has an address form')
          // the same characters back: only an all-upper-case bech32 address comes back in lower case
          const upperBech32 = /^[A-Z0-9]+$/.test(damaged.slice(damaged.lastIndexOf('1'))) && damaged === damaged.toUpperCase()
          assert.equal(back, upperBech32 ? damaged.toLowerCase() : damaged, 'an accepted address encodes back to itself (upper-case bech32: in lower case)')
          assert.deepEqual(addressToScript(back, on), script, 'the address form decodes to the same script')
          roundTrips++
        },
      }
    })
    t.diagnostic(`${roundTrips} damaged addresses were still valid and round-tripped`)
  })

  test('output scripts and script hashes: classified and given an address form or none, never an exception', (t) => {
    const scripts = regtestBlocks.flatMap((b) => parseBlock(b.bytes).txs.flatMap((tx) => tx.outputs.map((o) => Buffer.from(o.script))))
    fuzz('script fuzz', t, ['BadInput'], (random, int) => {
      const base = scripts[int(0, scripts.length - 1)]
      const damaged = random() < 0.2 ? Buffer.from(Array.from({length: int(0, 60)}, () => int(0, 255))) : mutate(base, random)
      const network: NetworkName = NETWORK_NAMES[int(0, NETWORK_NAMES.length - 1)]
      return {
        input: damaged.toString('hex').slice(0, 120),
        run: () => {
          classifyScript(damaged)
          const address = scriptToAddress(damaged, network)
          if (address !== undefined) assert.deepEqual(addressToScript(address, network), damaged, `${address} decodes back to its script`)
          if (damaged.length > 0) scriptTarget(damaged.toString('hex'), network)
          const hashHex = damaged.toString('hex').padEnd(64, '0').slice(0, int(60, 68))
          parseScriptHashHex(hashHex)
        },
      }
    })
  })
})
