/**
 * A deterministic test wallet: keys derived from a seed, addresses of every
 * type a Core wallet hands out (legacy, p2sh-segwit, bech32, bech32m, plus
 * p2wsh), and spends of its coins with change and a fee. Signatures are
 * well-formed dummies of the real sizes — nothing here verifies scripts —
 * so transactions serialize, weigh and pay fees exactly like signed ones.
 */
import {Transaction, crypto as bjsCrypto} from 'bitcoinjs-lib'

import {fromDisplayHex, sha256} from '../../../src/lib/chain/hashes.js'
import {addressToScript, isValidXOnly, scriptToAddress} from './scripts.js'
import {dustThreshold} from './policy.js'
import type {AddressPrefixes} from '../../../src/lib/chain/networks.js'

export const ADDRESS_TYPES = ['legacy', 'p2sh-segwit', 'bech32', 'bech32m', 'p2wsh'] as const
export type AddressType = (typeof ADDRESS_TYPES)[number]

export interface WalletKey {
  type: AddressType
  index: number
  /** 33-byte compressed public key (its x coordinate doubles as the taproot output key) */
  pubkey: Buffer
  script: Buffer
  address: string
  /** P2SH redeem script or P2WSH witness script */
  innerScript?: Buffer
  /** handed out for change (Core's internal keychain), not as a receiving address */
  change: boolean
}

export interface SpendableCoin {
  txid: string
  vout: number
  value: bigint
  script: Buffer
  /** false for outputs of mempool transactions (spent only when confirmed coins do not suffice) */
  confirmed?: boolean
}

export interface Payment {
  script: Buffer
  value: bigint
}

export class InsufficientFunds extends Error {}

/** sat/vB; what Core's wallet pays with -fallbackfee=0.0002 and no fee estimates */
export const DEFAULT_FEE_RATE = 20

const SEQUENCE_RBF = 0xfffffffd

export class Wallet {
  private readonly keys = new Map<string, WalletKey>()
  private next = 0

  constructor(
    private readonly seed = 'simnode',
    /** the address forms it hands out (default regtest's) */
    private readonly prefixes?: AddressPrefixes,
  ) {}

  newKey(type: AddressType = 'bech32', change = false): WalletKey {
    const index = this.next++
    const pubkey = derivePubkey(this.seed, index)
    const key = {...keyFor(type, index, pubkey, this.prefixes), change}
    this.keys.set(key.script.toString('hex'), key)
    return key
  }

  /** a fresh bech32 change output script */
  changeScript(): Buffer {
    return this.newKey('bech32', true).script
  }

  /** true for outputs paying the wallet's change keys */
  isChange(script: Uint8Array): boolean {
    return this.owns(script)?.change ?? false
  }

  newAddress(type: AddressType = 'bech32'): string {
    return this.newKey(type).address
  }

  owns(script: Uint8Array): WalletKey | undefined {
    return this.keys.get(Buffer.from(script).toString('hex'))
  }

  /** hex scripts of every key handed out, for scanning the UTXO set */
  scripts(): Set<string> {
    return new Set(this.keys.keys())
  }

  /**
   * Builds a transaction paying `payments` from `coins` (confirmed before
   * unconfirmed, largest first, as Core's coin selection tries them),
   * change to `changeScript`, fee at `feeRate` sat/vB on the final size.
   * Signals RBF and sets nLockTime to the tip height, as Core's wallet does.
   */
  buildSpend(opts: {coins: SpendableCoin[]; payments: Payment[]; changeScript: Buffer; feeRate?: number; locktime: number}): Transaction {
    const feeRate = opts.feeRate ?? DEFAULT_FEE_RATE
    const target = opts.payments.reduce((sum, p) => sum + p.value, 0n)
    const rank = (c: SpendableCoin) => (c.confirmed === false ? 1 : 0)
    const candidates = [...opts.coins].sort((a, b) => rank(a) - rank(b) || (a.value === b.value ? 0 : a.value > b.value ? -1 : 1))
    const chosen: SpendableCoin[] = []
    let total = 0n
    for (const coin of candidates) {
      chosen.push(coin)
      total += coin.value
      if (total < target) continue
      const tx = this.assemble(chosen, opts.payments, opts.changeScript, total - target, feeRate, opts.locktime)
      if (tx) return tx
    }
    throw new InsufficientFunds(`Insufficient funds: need ${target} sats plus fee, wallet has ${total}`)
  }

  /** Tries change-and-fee for a fixed input set; undefined when the inputs cannot also pay the fee. */
  private assemble(coins: SpendableCoin[], payments: Payment[], changeScript: Buffer, surplus: bigint, feeRate: number, locktime: number): Transaction | undefined {
    const build = (change: bigint | undefined): Transaction => {
      const tx = new Transaction()
      tx.version = 2
      tx.locktime = locktime
      for (const coin of coins) tx.addInput(fromDisplayHex(coin.txid), coin.vout, SEQUENCE_RBF)
      for (const p of payments) tx.addOutput(p.script, p.value)
      if (change !== undefined) tx.addOutput(changeScript, change)
      coins.forEach((coin, i) => this.signInput(tx, i, coin.script))
      return tx
    }
    const withChange = build(0n)
    const feeWithChange = BigInt(Math.ceil(withChange.virtualSize() * feeRate))
    const change = surplus - feeWithChange
    if (change >= dustThreshold(changeScript, 3000)) return build(change)
    const noChange = build(undefined)
    return surplus >= BigInt(Math.ceil(noChange.virtualSize() * feeRate)) ? noChange : undefined
  }

  /** Puts a dummy signature of the right shape where the key type needs it. */
  signInput(tx: Transaction, index: number, script: Uint8Array): void {
    const key = this.owns(script)
    if (!key) throw new Error(`the wallet does not own ${Buffer.from(script).toString('hex')}`)
    const sig = dummyDerSignature(`${this.seed}/${key.index}/${index}/${tx.ins.length}`)
    switch (key.type) {
      case 'legacy':
        tx.setInputScript(index, Buffer.concat([Buffer.from([sig.length]), sig, Buffer.from([key.pubkey.length]), key.pubkey]))
        break
      case 'p2sh-segwit':
        tx.setInputScript(index, Buffer.concat([Buffer.from([key.innerScript!.length]), key.innerScript!]))
        tx.setWitness(index, [sig, key.pubkey])
        break
      case 'bech32':
        tx.setWitness(index, [sig, key.pubkey])
        break
      case 'p2wsh':
        tx.setWitness(index, [sig, key.innerScript!])
        break
      case 'bech32m':
        tx.setWitness(index, [schnorrDummy(`${this.seed}/${key.index}/${index}`)])
        break
    }
  }
}

/** A compressed public key whose x coordinate is on the curve, derived from seed and index. */
function derivePubkey(seed: string, index: number): Buffer {
  for (let counter = 0; ; counter++) {
    const x = sha256(Buffer.from(`${seed}/key/${index}/${counter}`))
    if (isValidXOnly(x)) return Buffer.concat([Buffer.from([0x02]), x])
  }
}

function keyFor(type: AddressType, index: number, pubkey: Buffer, prefixes?: AddressPrefixes): Omit<WalletKey, 'change'> {
  const pkh = Buffer.from(bjsCrypto.hash160(pubkey))
  let script: Buffer
  let innerScript: Buffer | undefined
  switch (type) {
    case 'legacy':
      script = Buffer.concat([Buffer.from([0x76, 0xa9, 0x14]), pkh, Buffer.from([0x88, 0xac])])
      break
    case 'p2sh-segwit':
      innerScript = Buffer.concat([Buffer.from([0x00, 0x14]), pkh])
      script = Buffer.concat([Buffer.from([0xa9, 0x14]), Buffer.from(bjsCrypto.hash160(innerScript)), Buffer.from([0x87])])
      break
    case 'bech32':
      script = Buffer.concat([Buffer.from([0x00, 0x14]), pkh])
      break
    case 'bech32m':
      script = Buffer.concat([Buffer.from([0x51, 0x20]), pubkey.subarray(1)])
      break
    case 'p2wsh':
      innerScript = Buffer.concat([Buffer.from([0x21]), pubkey, Buffer.from([0xac])])
      script = Buffer.concat([Buffer.from([0x00, 0x20]), sha256(innerScript)])
      break
  }
  const address = scriptToAddress(script, prefixes)
  if (!address) throw new Error(`no address for ${type}`)
  return {type, index, pubkey, script, address, innerScript}
}

/** 72 bytes: a strict-DER (r 33 bytes, s 32 bytes) signature plus SIGHASH_ALL. */
function dummyDerSignature(label: string): Buffer {
  const r = sha256(Buffer.from(`r/${label}`))
  const s = sha256(Buffer.from(`s/${label}`))
  r[0] |= 0x80
  s[0] = (s[0] & 0x7f) | 0x01
  return Buffer.concat([Buffer.from([0x30, 0x45, 0x02, 0x21, 0x00]), r, Buffer.from([0x02, 0x20]), s, Buffer.from([0x01])])
}

function schnorrDummy(label: string): Buffer {
  return Buffer.concat([sha256(Buffer.from(`schnorr-r/${label}`)), sha256(Buffer.from(`schnorr-s/${label}`))])
}

/** An address or a raw script, as tests like to pass them. */
export const toScript = (to: string | Uint8Array, prefixes?: AddressPrefixes): Buffer => (typeof to === 'string' ? addressToScript(to, prefixes) : Buffer.from(to))
