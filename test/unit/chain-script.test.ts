import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {classifyScript, isProvablyUnspendable, witnessProgramOf, type ScriptType} from '../../src/lib/chain/script.js'
import {FIXTURES, MAINNET_413567, regtestChain} from '../support/chain-fixtures.js'

const hex = (s: string) => Buffer.from(s, 'hex')
const key33 = '02' + '11'.repeat(32)
const key65 = '04' + '22'.repeat(64)

describe('script classification', () => {
  it('recognises each template by its bytes', () => {
    const cases: [string, ScriptType][] = [
      ['76a914a31c06bd463e3923bc1aadbde48b16976c08071788ac', 'p2pkh'],
      ['a914373b819a068f32b7a6b38b6b38729647cfde01c287', 'p2sh'],
      ['00146100fc6343edc8c874496cb2f5bbfec88ea9b77c', 'v0_p2wpkh'],
      ['002027304b37f70e94bc8a0fbf500e0c957a80ebda87280ef58214d92f119811acdc', 'v0_p2wsh'],
      ['51203c671ef1e3913f94980a9e146ba895908550ef4234abb7503d436521aba54c75', 'v1_p2tr'],
      ['51024e73', 'anchor'],
      ['520250ed', 'witness_unknown'],
      ['53104329bd718db46d8f021c13f1e2b0e726', 'witness_unknown'],
      ['5102abcd', 'witness_unknown'],
      [`21${key33}ac`, 'p2pk'],
      [`41${key65}ac`, 'p2pk'],
      [`5121${key33}21${key33}52ae`, 'multisig'],
      [`5221${key33}41${key65}21${key33}53ae`, 'multisig'],
      ['6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9', 'op_return'],
      ['6a', 'op_return'],
      ['', 'nonstandard'],
      ['51', 'nonstandard'],
      // version 0 has only 20- and 32-byte programs
      ['0018' + '00'.repeat(24), 'nonstandard'],
      // a key with a bad header byte is not P2PK
      [`21${'05' + '11'.repeat(32)}ac`, 'nonstandard'],
      // m > n, and n not matching the keys given
      [`5321${key33}21${key33}52ae`, 'nonstandard'],
      [`5121${key33}21${key33}53ae`, 'nonstandard'],
      // a script that only looks like P2PKH by its length
      ['76a914a31c06bd463e3923bc1aadbde48b16976c08071788ad', 'nonstandard'],
      // a 41-byte push is beyond the 40-byte witness program limit
      ['5129' + '00'.repeat(41), 'nonstandard'],
    ]
    for (const [script, type] of cases) assert.equal(classifyScript(hex(script)), type, script)
  })

  it('agrees with Bitcoin Core on every scriptPubKey of its address vectors', () => {
    const rows = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vectors/key_io_valid.json'), 'utf8')) as [string, string, {isPrivkey: boolean}][]
    const coreName: Record<string, ScriptType> = {'76': 'p2pkh', a9: 'p2sh'}
    for (const [, script, meta] of rows) {
      if (meta.isPrivkey) continue
      const type = classifyScript(hex(script))
      const witness = witnessProgramOf(hex(script))
      if (witness) {
        assert.ok(type.startsWith('v') || type === 'witness_unknown', `${script}: ${type}`)
      } else {
        assert.equal(type, coreName[script.slice(0, 2)], script)
      }
    }
  })

  it('finds the kinds of outputs the regtest workload created, and types every output of mainnet block 413567', () => {
    const counts = new Map<ScriptType, number>()
    for (const block of regtestChain().blocks) {
      for (const tx of parseBlock(Buffer.from(block.hex, 'hex')).txs) {
        for (const out of tx.outputs) {
          const type = classifyScript(out.script)
          counts.set(type, (counts.get(type) ?? 0) + 1)
        }
      }
    }
    for (const type of ['p2pkh', 'p2sh', 'v0_p2wpkh', 'v1_p2tr', 'op_return'] as const) {
      assert.ok((counts.get(type) ?? 0) > 0, `no ${type} output in the regtest chain: ${JSON.stringify([...counts])}`)
    }
    assert.equal(counts.get('nonstandard') ?? 0, 0)

    const mainnet = new Map<ScriptType, number>()
    for (const tx of parseBlock(MAINNET_413567.bytes()).txs) {
      for (const out of tx.outputs) mainnet.set(classifyScript(out.script), (mainnet.get(classifyScript(out.script)) ?? 0) + 1)
    }
    // 3,578 outputs with an address (bitcoinjs agrees, node-ecosystem.md §6) and 3 OP_RETURNs
    assert.deepEqual(Object.fromEntries(mainnet), {p2pkh: 2841, p2sh: 737, op_return: 3})
  })

  it('witnessProgramOf reads version and program of a witness output', () => {
    const taproot = witnessProgramOf(hex('5120' + 'ab'.repeat(32)))!
    assert.equal(taproot.version, 1)
    assert.equal(Buffer.from(taproot.program).toString('hex'), 'ab'.repeat(32))
    assert.equal(witnessProgramOf(hex('6014' + '00'.repeat(20)))!.version, 16)
    assert.equal(witnessProgramOf(hex('0015' + '00'.repeat(20))), undefined, 'push length must match the rest')
    assert.equal(witnessProgramOf(hex('6114' + '00'.repeat(20))), undefined, 'OP_NOP is no version')
  })

  it('calls unspendable what Core never puts in its UTXO set: OP_RETURN first, or over 10,000 bytes', () => {
    assert.equal(isProvablyUnspendable(hex('6a')), true)
    assert.equal(isProvablyUnspendable(hex('6a04deadbeef')), true)
    assert.equal(isProvablyUnspendable(Buffer.alloc(10_001, 0x51)), true)
    assert.equal(isProvablyUnspendable(Buffer.alloc(10_000, 0x51)), false)
    assert.equal(isProvablyUnspendable(hex('')), false, 'an empty script can be spent')
    assert.equal(isProvablyUnspendable(hex('516a')), false, 'OP_RETURN after the first opcode is only reached when run')
  })
})
