import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {Block, Transaction} from 'bitcoinjs-lib'

import {prepareTransactions} from '../../src/lib/broadcast/prepare.js'
import {feeOf, findPrevouts} from '../../src/lib/broadcast/prevouts.js'
import {BixError} from '../../src/lib/errors.js'
import {regtestChain} from '../support/chain-fixtures.js'

const chain = regtestChain()
/** 52a0…d809 from the recorded mempool; its getmempoolentry says fee 0.00002691 BTC, vsize 132 */
const child = chain.mempool.find((m) => m.txid === '52a0073d5c2deca9f4d05d2fad8b212691fd0e19136dcb63e3bf58334dd5d809')!
const parentHex = Block.fromHex(chain.blocks.find((b) => b.height === 142)!.hex)
  .transactions!.find((t) => t.getId() === '2a1315a0995a27cbf236084046f5bd40017f1100a26f18675823b70454f75b4e')!
  .toHex()

const given = (...hexes: string[]) => hexes.map((hex, i) => ({hex, origin: `argument ${i + 1}`}))

describe('transactions are decoded before anything is sent', () => {
  test('a real transaction decodes to the txid, wtxid, sizes and addresses Core reports', () => {
    const [tx] = prepareTransactions(given(child.hex), 'regtest')
    assert.equal(tx.decoded.txid, child.txid)
    assert.equal(tx.decoded.wtxid, 'bfcd691fa7bf921addcea6ec5e7da2ee33859b270c3582b10f451476e805e08f')
    assert.equal(tx.decoded.vsize, 132)
    assert.ok(tx.decoded.outputs.every((o) => o.address?.startsWith('2')), 'p2sh outputs show regtest addresses')
    assert.equal(tx.largestBurn, 0n)
  })

  test('the error names which transaction is bad, where it came from and what is wrong', () => {
    const attempt = () => prepareTransactions(given(child.hex, child.hex.slice(0, 101), 'zz' + child.hex), 'regtest')
    assert.throws(attempt, (err: unknown) => {
      assert.ok(err instanceof BixError)
      assert.equal(err.exitCode, 2)
      assert.match(err.message, /^transaction 2 \(argument 2\): transaction hex has an odd number of characters \(101\) \(and 1 more bad transaction\); nothing was sent$/)
      return true
    })
    assert.throws(() => prepareTransactions(given(child.hex.slice(0, 120)), 'regtest'), /^BadInput: transaction 1 \(argument 1\): .*byte/)
  })

  test('--max-burn looks at the largest unspendable output, one by one as Core does: OP_RETURN, invalid or oversized scripts', () => {
    const tx = new Transaction()
    tx.version = 2
    tx.addInput(Buffer.alloc(32, 7), 0)
    const out = (hex: string, value: number) => tx.addOutput(Buffer.from(hex, 'hex'), BigInt(value))
    out('6a0462697821', 600) // OP_RETURN
    out('6a', 400) // bare OP_RETURN
    out('4c0501', 650) // a push of 5 bytes with 1 present: !HasValidOps
    out('ba', 640) // OP_CHECKSIGADD, above MAX_OPCODE outside tapscript: !HasValidOps
    out('51', 5_000) // OP_TRUE: spendable by anyone, not burnt
    out('0014' + '11'.repeat(20), 9_000) // p2wpkh
    const [prepared] = prepareTransactions(given(tx.toHex()), 'regtest')
    assert.equal(prepared.largestBurn, 650n)
    const large = new Transaction()
    large.addInput(Buffer.alloc(32, 8), 0)
    large.addOutput(Buffer.alloc(10_001, 0x51), 3n) // over MAX_SCRIPT_SIZE: never spendable
    large.addOutput(Buffer.from('0014' + '22'.repeat(20), 'hex'), 1000n)
    assert.equal(prepareTransactions(given(large.toHex()), 'regtest')[0].largestBurn, 3n)
  })
})

describe('the fee needs the outputs a transaction spends', () => {
  test('a parent given in the same call supplies them: fee and rate match the node to the satoshi', async () => {
    const txs = prepareTransactions(given(child.hex, parentHex), 'regtest')
    const search = await findPrevouts(txs.map((t) => t.decoded), {network: 'regtest'})
    const fee = feeOf(txs[0].decoded, search)
    assert.deepEqual(fee, {fee: 2691, feerate: 20.386})
    assert.equal(search.found.get(`${txs[1].decoded.txid}:1`)?.from, 'given')
  })

  test('without them the fee is unknown, and the reason says where bix looked', async () => {
    const txs = prepareTransactions(given(child.hex), 'regtest')
    const fee = feeOf(txs[0].decoded, await findPrevouts([txs[0].decoded], {network: 'regtest', index: () => new Map()}))
    assert.equal(fee.fee, undefined)
    assert.equal(fee.unknownBecause, "fee unknown: the output it spends is not in bix's index")
  })

  test("bix's index supplies values by outpoint", async () => {
    const txs = prepareTransactions(given(child.hex), 'regtest')
    const input = txs[0].decoded.inputs[0]
    const search = await findPrevouts([txs[0].decoded], {
      network: 'regtest',
      index: (outpoints) => new Map(outpoints.map((o) => [`${o.txid}:${o.vout}`, {value: o.txid === input.txid && o.vout === input.vout ? 159_931_034 : 0}])),
    })
    const outputs = txs[0].decoded.outputs.reduce((sum, o) => sum + o.value, 0)
    assert.equal(feeOf(txs[0].decoded, search).fee, 159_931_034 - outputs)
  })
})
