import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {Block, Transaction} from 'bitcoinjs-lib'

import {decodeRawTransaction} from '../../src/lib/chain/tx-decode.js'
import {BixError} from '../../src/lib/errors.js'
import {FIXTURES, mutate, prng, regtestChain} from '../support/chain-fixtures.js'

interface MempoolEntry {
  vsize: number
  weight: number
  wtxid: string
}
const verbose = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'regtest-core/rpc/getrawmempool-verbose.json'), 'utf8')).body
  .result as Record<string, MempoolEntry>
const getblock2 = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'regtest-core/rpc/getblock-2.json'), 'utf8')).body.result

function refuses(hex: string, pattern: RegExp): void {
  assert.throws(
    () => decodeRawTransaction(hex, 'regtest'),
    (error: unknown) => error instanceof BixError && error.kind === 'BadInput' && pattern.test(error.message),
    `expected ${pattern}`,
  )
}

/** A real transaction rebuilt with changes, through bitcoinjs-lib. */
function edited(change: (tx: Transaction) => void): string {
  const tx = Transaction.fromHex(regtestChain().mempool[0].hex)
  change(tx)
  return tx.toHex()
}

describe('decodeRawTransaction', () => {
  it('matches what the node reported for every mempool transaction: txid, wtxid, vsize, weight', () => {
    for (const {txid, hex} of regtestChain().mempool) {
      const decoded = decodeRawTransaction(hex, 'regtest')
      const entry = verbose[txid]
      assert.equal(decoded.txid, txid)
      assert.equal(decoded.wtxid, entry.wtxid)
      assert.equal(decoded.vsize, entry.vsize)
      assert.equal(decoded.weight, entry.weight)
      assert.equal(decoded.size, hex.length / 2)
      assert.ok(decoded.inputs.every((input) => !input.isCoinbase && input.txid.length === 64))
    }
  })

  it('matches getblock verbosity 2 for a coinbase: fields, output types and addresses', () => {
    const [node] = getblock2.tx
    const decoded = decodeRawTransaction(node.hex, 'regtest')
    assert.equal(decoded.txid, node.txid)
    assert.equal(decoded.wtxid, node.hash)
    assert.equal(decoded.size, node.size)
    assert.equal(decoded.vsize, node.vsize)
    assert.equal(decoded.weight, node.weight)
    assert.equal(decoded.version, node.version)
    assert.equal(decoded.locktime, node.locktime)
    assert.deepEqual(decoded.inputs, [{txid: '0'.repeat(64), vout: 0xffffffff, sequence: node.vin[0].sequence, isCoinbase: true}])
    assert.deepEqual(
      decoded.outputs.map((out) => [out.vout, out.value, out.script, out.address]),
      node.vout.map((out: {n: number; value: number; scriptPubKey: {hex: string; address?: string}}) => [
        out.n,
        Math.round(out.value * 1e8),
        out.scriptPubKey.hex,
        out.scriptPubKey.address,
      ]),
    )
    assert.deepEqual(decoded.outputs.map((out) => out.type), ['v0_p2wpkh', 'op_return'])
    assert.ok(!('address' in decoded.outputs[1]), 'no address key for OP_RETURN')
  })

  it('decodes every transaction of the regtest chain, with addresses for the workload’s outputs', () => {
    const chain = regtestChain()
    const seen = new Set<string>()
    for (const block of chain.blocks.slice(100)) {
      for (const tx of Block.fromHex(block.hex).transactions!) {
        const decoded = decodeRawTransaction(tx.toHex(), 'regtest')
        assert.equal(decoded.txid, tx.getId())
        for (const out of decoded.outputs) if (out.address) seen.add(out.address)
      }
    }
    assert.ok(chain.addresses.filter((a) => seen.has(a)).length >= 30)
  })

  it('accepts surrounding whitespace (a pasted line, a file with a newline)', () => {
    const {txid, hex} = regtestChain().mempool[1]
    assert.equal(decodeRawTransaction(`  ${hex.toUpperCase()}\n`, 'regtest').txid, txid)
  })

  it('says what is wrong with malformed hex', () => {
    const {hex} = regtestChain().mempool[0]
    refuses('', /^transaction hex is empty$/)
    refuses(' \n', /^transaction hex is empty$/)
    refuses(hex.slice(0, -1), /odd number of characters/)
    refuses(hex.slice(0, 10) + 'zz' + hex.slice(12), /non-hex character at position 11/)
    refuses('0x' + hex, /non-hex character at position 2/)
    refuses('00'.repeat(4_000_001), /no valid transaction is larger than 4000000 bytes/)
  })

  it('says what is wrong with the transaction', () => {
    const {hex} = regtestChain().mempool[0]
    refuses(hex.slice(0, -20), /^transaction: witness item of 64 bytes runs past the end \(58 left\) at offset 114$/)
    refuses(hex.slice(0, 30), /^transaction: input count 1 cannot fit in the 8 bytes left at offset 6$/)
    refuses(hex.slice(0, -2), /^transaction: truncated locktime \(4 bytes needed, 3 left\) at offset \d+$/)
    refuses(hex + '00', /^transaction: 1 unexpected bytes after the transaction, which ends at byte \d+/)
    refuses(edited((tx) => (tx.ins = [])), /^transaction has no inputs$/)
    refuses(edited((tx) => (tx.outs = [])), /^transaction has no outputs$/)
    refuses(
      edited((tx) => (tx.outs[0].value = 2_100_000_000_000_001n)),
      /^transaction: output 0 value 2100000000000001 exceeds 21,000,000 BTC/,
    )
    refuses(
      edited((tx) => {
        tx.outs[0].value = 2_000_000_000_000_000n
        tx.outs[1].value = 200_000_000_000_000n
      }),
      /outputs total 2200000000000000 sat, more than 21,000,000 BTC/,
    )
    refuses(
      edited((tx) => tx.ins.push({...tx.ins[0]})),
      /^transaction spends [0-9a-f]{64}:\d+ twice$/,
    )
    refuses(
      edited((tx) => tx.addOutput(Buffer.alloc(1_000_001), 0n)),
      /^transaction weighs \d+ units, more than a block can hold \(4000000\)$/,
    )
  })

  it('random damage to real transactions gives a decoded transaction or BadInput, never anything else', () => {
    const seed = Date.now() >>> 0
    const random = prng(seed)
    const samples = [
      ...regtestChain().mempool.map((m) => Buffer.from(m.hex, 'hex')),
      Buffer.from(getblock2.tx[0].hex, 'hex'),
    ]
    const deadline = performance.now() + 1000
    let runs = 0
    while (performance.now() < deadline) {
      const damaged = mutate(samples[Math.floor(random() * samples.length)], random).toString('hex')
      try {
        decodeRawTransaction(damaged, 'regtest')
      } catch (error) {
        assert.ok(
          error instanceof BixError && error.kind === 'BadInput',
          `seed ${seed} run ${runs} (${damaged}): ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
        )
      }
      runs++
    }
    assert.ok(runs > 100)
  })
})
