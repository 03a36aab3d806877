import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {bech32, bech32m} from 'bech32'
import bs58check from 'bs58check'

import {addressToScript, scriptToAddress} from '../../src/lib/chain/address.js'
import {parseBlock} from '../../src/lib/chain/block-parser.js'
import {NETWORK_NAMES, NETWORKS, type NetworkName} from '../../src/lib/chain/networks.js'
import {BixError} from '../../src/lib/errors.js'
import {FIXTURES, regtestChain} from '../support/chain-fixtures.js'

type ValidRow = [string, string, {chain: NetworkName; isPrivkey: boolean; tryCaseFlip?: boolean}]
const valid = (JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vectors/key_io_valid.json'), 'utf8')) as ValidRow[]).filter(
  ([, , meta]) => !meta.isPrivkey,
)
const invalid = (JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vectors/key_io_invalid.json'), 'utf8')) as [string][]).map(([s]) => s)

const isBase58 = (address: string) => !/^(bc|tb|bcrt)1/i.test(address)

/** Networks on which an address of `chain` is valid too, because they share its prefixes. */
function sharesForm(address: string, chain: NetworkName, network: NetworkName): boolean {
  const a = NETWORKS[chain].address
  const b = NETWORKS[network].address
  return isBase58(address) ? a.pubKeyHash === b.pubKeyHash && a.scriptHash === b.scriptHash : a.bech32 === b.bech32
}

function rejects(address: string, network: NetworkName, pattern: RegExp): void {
  assert.throws(
    () => addressToScript(address, network),
    (error: unknown) => error instanceof BixError && error.kind === 'BadInput' && pattern.test(error.message),
    `${address} on ${network} should fail with ${pattern}`,
  )
}

const bytes = (n: number, fill = 0x11) => Buffer.alloc(n, fill)
const segwit = (hrp: string, version: number, program: Buffer, encoding = version === 0 ? bech32 : bech32m) =>
  encoding.encode(hrp, [version, ...bech32.toWords(program)], 90)

describe('addresses (Bitcoin Core key_io vectors)', () => {
  it('turns every valid address into its scriptPubKey on each network sharing its prefixes, and back', () => {
    assert.ok(valid.length >= 50)
    for (const [address, script, meta] of valid) {
      for (const network of NETWORK_NAMES) {
        if (!sharesForm(address, meta.chain, network)) continue
        assert.equal(addressToScript(address, network).toString('hex'), script, `${address} on ${network}`)
        if (meta.tryCaseFlip) assert.equal(addressToScript(address.toUpperCase(), network).toString('hex'), script)
        assert.equal(scriptToAddress(Buffer.from(script, 'hex'), network), address, `${script} on ${network}`)
      }
    }
  })

  it('refuses every valid address on the other networks, naming the networks it is for', () => {
    for (const [address, , meta] of valid) {
      for (const network of NETWORK_NAMES) {
        if (sharesForm(address, meta.chain, network)) continue
        rejects(address, network, new RegExp(`^address ${address} is for ([a-z0-9/]*\\b${meta.chain}\\b[a-z0-9/]*), but the index is ${network}$`))
      }
    }
  })

  it('refuses every invalid string on every network', () => {
    assert.ok(invalid.length >= 60)
    for (const address of invalid) {
      for (const network of NETWORK_NAMES) rejects(address, network, /./)
    }
  })
})

describe('address errors say what is wrong', () => {
  const p2wpkh = 'bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv'
  const p2pkh = '1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo'

  it('empty, spaces', () => {
    rejects('', 'main', /^address is empty$/)
    rejects(` ${p2wpkh}`, 'main', /spaces or non-printable/)
  })

  it('tb1… on regtest names the testnets', () => {
    rejects('tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54', 'regtest', /^address tb1q\S+ is for test\/testnet4\/signet, but the index is regtest$/)
    rejects('bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9', 'main', /is for regtest, but the index is main$/)
    rejects(p2pkh, 'regtest', /is for main, but the index is regtest$/)
    rejects('mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ', 'main', /is for test\/testnet4\/signet\/regtest, but the index is main$/)
  })

  it('bad checksums, in both encodings', () => {
    rejects(p2wpkh.slice(0, -1) + 'w', 'main', /^address bc1q\S+ has a bad checksum/)
    rejects(p2pkh.slice(0, -1) + 'n', 'main', /^address 1Fs\S+ has a bad checksum/)
  })

  it('unknown prefix', () => {
    rejects('tc1qeul5g2xfkvdkrhcfmdursv73ad64jnkjl9c40f', 'main', /unknown prefix "tc1" \(main segwit addresses start with "bc1"\)/)
  })

  it('mixed case and invalid characters', () => {
    rejects('bc1Qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv', 'main', /mixes upper and lower case/)
    rejects('bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhb', 'main', /invalid character "b" at position 42/)
    rejects('1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2m0', 'main', /invalid character "0" at position 34/)
  })

  it('the wrong checksum for the witness version (BIP-350)', () => {
    rejects(segwit('bc', 1, bytes(32), bech32), 'main', /witness version 1 but uses the bech32 checksum; .* bech32m \(BIP-350\)/)
    rejects(segwit('bc', 0, bytes(20), bech32m), 'main', /witness version 0 but uses the bech32m checksum; version 0 uses bech32 \(BIP-173\)/)
  })

  it('witness version and program length', () => {
    rejects(segwit('bc', 0, bytes(25)), 'main', /25-byte version 0 program; it must be 20 \(P2WPKH\) or 32 \(P2WSH\) bytes/)
    rejects(segwit('bc', 1, bytes(41)), 'main', /41-byte witness program; it must be 2 to 40 bytes/)
    rejects(segwit('bc', 1, bytes(1)), 'main', /1-byte witness program/)
    rejects(segwit('bc', 17, bytes(32)), 'main', /witness version 17; versions go from 0 to 16/)
    const words = [0, ...bech32.toWords(bytes(32))]
    words[words.length - 1] |= 1
    rejects(bech32.encode('bc', words), 'main', /invalid padding/)
  })

  it('too long — and a private key is never repeated back', () => {
    rejects(`bc1${'q'.repeat(100)}`, 'main', /^address is too long \(103 characters/)
    const wif = '5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ'
    rejects(wif, 'main', /^address is too long \(51 characters; not a valid address of any kind\)$/)
  })

  it('base58 strings that are not addresses', () => {
    rejects(bs58check.encode(bytes(20)), 'main', /decodes to 20 bytes, an address holds 21/)
    rejects(bs58check.encode(Buffer.concat([Buffer.from([0x30]), bytes(20)])), 'main', /unknown version byte 0x30/)
  })
})

describe('scriptToAddress', () => {
  it('round-trips every address of the regtest workload, each of which the chain paid', () => {
    const chain = regtestChain()
    const paid = new Set<string>()
    for (const block of chain.blocks) {
      for (const tx of parseBlock(Buffer.from(block.hex, 'hex')).txs) {
        for (const out of tx.outputs) {
          const address = scriptToAddress(out.script, 'regtest')
          if (address) paid.add(address)
        }
      }
    }
    for (const address of [...chain.addresses, chain.miner]) {
      assert.equal(scriptToAddress(addressToScript(address, 'regtest'), 'regtest'), address)
      assert.ok(paid.has(address), `${address} was never paid`)
    }
  })

  it('writes base58 addresses as bs58check does, leading zero bytes and all, and reads them back', () => {
    for (let i = 0; i < 100; i++) {
      const hash = crypto.randomBytes(20).fill(0, 0, i % 4)
      const script = Buffer.concat([Buffer.from([0x76, 0xa9, 20]), hash, Buffer.from([0x88, 0xac])])
      for (const network of ['main', 'regtest'] as const) {
        const address = bs58check.encode(Buffer.concat([Buffer.from([NETWORKS[network].address.pubKeyHash]), hash]))
        assert.equal(scriptToAddress(script, network), address)
        assert.equal(addressToScript(address, network).toString('hex'), script.toString('hex'))
      }
    }
  })

  it('gives pay-to-anchor its well-known address (Core 28+)', () => {
    assert.equal(scriptToAddress(Buffer.from('51024e73', 'hex'), 'main'), 'bc1pfeessrawgf')
    assert.equal(addressToScript('bc1pfeessrawgf', 'main').toString('hex'), '51024e73')
  })

  it('gives no address for scripts without one', () => {
    for (const script of ['6a0401020304', '21' + '02'.repeat(33) + 'ac', '0018' + '00'.repeat(24), '', '51']) {
      assert.equal(scriptToAddress(Buffer.from(script, 'hex'), 'main'), undefined, script)
    }
  })
})
