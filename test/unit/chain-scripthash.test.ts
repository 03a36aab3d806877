import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {addressToScript} from '../../src/lib/chain/address.js'
import {scriptKeyOf} from '../../src/lib/chain/indexed-block.js'
import {electrumScriptHash, parseScriptHashHex, scriptKeyOfHash} from '../../src/lib/chain/scripthash.js'
import {BixError} from '../../src/lib/errors.js'
import {regtestChain} from '../support/chain-fixtures.js'

describe('script hashes', () => {
  it('match the Electrum protocol documentation’s example (the genesis coinbase address)', () => {
    // electrum-protocol docs, "Script Hashes": 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa
    const script = addressToScript('1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa', 'main')
    assert.equal(script.toString('hex'), '76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac')
    assert.equal(electrumScriptHash(script), '8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161')
  })

  it('a script hash as shown leads to the same index key as the script itself: its last 16 hex characters, reversed', () => {
    for (const address of regtestChain().addresses) {
      const script = addressToScript(address, 'regtest')
      const shown = electrumScriptHash(script)
      const key = scriptKeyOf(script)
      assert.deepEqual(scriptKeyOfHash(parseScriptHashHex(shown)), key)
      assert.equal(Buffer.from(key).reverse().toString('hex'), shown.slice(-16))
    }
  })

  it('parses either case and refuses anything but 64 hex characters', () => {
    const shown = '8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161'
    assert.deepEqual(parseScriptHashHex(shown.toUpperCase()), parseScriptHashHex(shown))
    const bad = (input: string, pattern: RegExp) =>
      assert.throws(() => parseScriptHashHex(input), (e: unknown) => e instanceof BixError && e.kind === 'BadInput' && pattern.test(e.message))
    bad('', /must be 64 hex characters \(got 0 characters\)/)
    bad(shown.slice(1), /got 63 characters/)
    bad(shown.slice(0, -1) + 'g', /got 64 characters, not all hex/)
    bad(` ${shown}`, /not all hex/)
  })
})
