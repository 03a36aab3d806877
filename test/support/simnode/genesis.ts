/**
 * The genesis block of each chain Bitcoin Core knows, byte for byte as its
 * chainparams build them: main, testnet3 and signet share regtest's coinbase
 * ("The Times 03/Jan/2009 …") under their own time, bits and nonce; testnet4
 * has a coinbase of its own. Checked against Core's genesis hashes on build.
 */
import {Transaction} from 'bitcoinjs-lib'

import {sha256d, toDisplayHex} from '../../../src/lib/chain/hashes.js'
import type {NetworkName} from '../../../src/lib/chain/networks.js'
import {REGTEST_GENESIS_HEX} from './block-builder.js'
import {writeVarInt} from './block-codec.js'

interface GenesisParams {
  time: number
  bits: number
  nonce: number
  /** Core's hashGenesisBlock (display hex) */
  hash: string
}

const PARAMS: Record<NetworkName, GenesisParams> = {
  main: {time: 1231006505, bits: 0x1d00ffff, nonce: 2083236893, hash: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f'},
  test: {time: 1296688602, bits: 0x1d00ffff, nonce: 414098458, hash: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943'},
  testnet4: {time: 1714777860, bits: 0x1d00ffff, nonce: 393743547, hash: '00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043'},
  signet: {time: 1598918400, bits: 0x1e0377ae, nonce: 52613770, hash: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6'},
  regtest: {time: 1296688602, bits: 0x207fffff, nonce: 2, hash: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206'},
}

/** testnet4's coinbase: its own message, 50 BTC to a 33-zero-byte "pubkey" */
function testnet4Coinbase(): Transaction {
  const message = Buffer.from('03/May/2024 000000000000000000001ebd58c244970b3aa9d783bb001011fbe8ea8e98e00e')
  const tx = new Transaction()
  tx.version = 1
  // nBits 486604799 and CScriptNum(4) as in every genesis coinbase, then the message (76 bytes: OP_PUSHDATA1)
  const scriptSig = Buffer.concat([Buffer.from('04ffff001d0104', 'hex'), Buffer.from([0x4c, message.length]), message])
  tx.addInput(Buffer.alloc(32), 0xffffffff, 0xffffffff, scriptSig)
  tx.addOutput(Buffer.concat([Buffer.from([33]), Buffer.alloc(33), Buffer.from([0xac])]), 50_0000_0000n)
  return tx
}

export function genesisBlock(network: NetworkName): Buffer {
  const p = PARAMS[network]
  const regtest = Buffer.from(REGTEST_GENESIS_HEX, 'hex')
  let raw: Buffer
  if (network === 'testnet4') {
    const coinbase = testnet4Coinbase()
    const header = Buffer.from(regtest.subarray(0, 80))
    Buffer.from(coinbase.getHash()).copy(header, 36)
    raw = Buffer.concat([header, writeVarInt(1), coinbase.toBuffer()])
  } else {
    raw = Buffer.from(regtest)
  }
  raw.writeUInt32LE(p.time, 68)
  raw.writeUInt32LE(p.bits, 72)
  raw.writeUInt32LE(p.nonce, 76)
  const hash = toDisplayHex(sha256d(raw.subarray(0, 80)))
  if (hash !== p.hash) throw new Error(`${network} genesis built as ${hash}, Core's is ${p.hash}`)
  return raw
}
