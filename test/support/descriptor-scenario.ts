/**
 * A chain built on a real Bitcoin Core for `bix query descriptor`, with
 * Core's own answers about it:
 *
 * - descriptors of every kind Core writes (pkh, wpkh, sh(wpkh), tr, wsh(multi),
 *   wsh(sortedmulti), sh(wsh(…)), a non-ranged one, multipath /<0;1>/*) and the
 *   SLIP-132 shorthands (tpub, upub, vpub), made from BIP32 keys of a fixed
 *   seed; Core's wallet pays chosen indices of each (one beyond a gap of 20);
 *   for each, Core's `getdescriptorinfo` (the checksum), `deriveaddresses`
 *   and `scantxoutset` over a range;
 * - Core's own descriptor wallet after payments to others and between its
 *   own addresses (every address type), two of them left unconfirmed:
 *   `listdescriptors` (public), `getbalances` and `listtransactions` netted
 *   per transaction.
 *
 * Under BITCOIND the test builds it live; test/fixtures/regtest-core/
 * record-descriptors.ts records it (blocks and answers) for the simulator.
 */
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {DescriptorsFactory} from '@bitcoinerlab/descriptors'
import bs58check from 'bs58check'
import {networks} from 'bitcoinjs-lib'

import {type RpcNode, satsOf} from './core-oracle.js'
import type {BuiltBlock} from './script-kinds-chain.js'

export interface DescriptorCase {
  name: string
  /** what bix is given: Core's checksummed descriptor, or an extended key */
  input: string
  /** the descriptor Core was asked about, with Core's checksum */
  core: string
  /** per branch (one for a descriptor without multipath): Core's deriveaddresses over 0…DERIVE_TO (one address when not ranged) */
  derived: string[][]
  /** the [branch, index] pairs the wallet paid */
  funded: Array<[number, number]>
  /** Core's scantxoutset over 0…SCAN_TO: the outputs and their sum */
  scan: {total: number; unspents: Array<{txid: string; vout: number; value: number; height: number}>}
}

export interface WalletTruth {
  /** listdescriptors false: the wallet's public descriptors, checksummed */
  descriptors: string[]
  /** getbalances.mine, in satoshis */
  balances: {trusted: number; untrusted_pending: number; immature: number}
  /** listtransactions, every entry of a transaction summed, and its fee once when it sends: the wallet's net change per txid (and the unlisted ones) */
  net: Record<string, number>
  /** transactions listtransactions leaves out (a payment to the wallet's own change address), netted from gettransaction: amount + fee */
  unlisted: string[]
  /** txids of the payments between the wallet's own addresses, and their fees (positive) */
  selfPayments: Record<string, number>
}

export interface DescriptorScenario {
  bitcoind: string
  blocks: BuiltBlock[]
  /** the wallet's unconfirmed transactions at the end, raw, in the order sent (a payment to itself first) */
  mempool: string[]
  cases: DescriptorCase[]
  wallet: WalletTruth
}

/** Indices Core derives for comparison, and the range scantxoutset scans (past every funded index). */
export const DERIVE_TO = 60
export const SCAN_TO = 100
/** Where the wallet pays each branch: the last index lies 21 unused indices past the one before, beyond a gap of 20. */
export const FUNDED_INDICES = [0, 1, 5, 24, 46]
/** what a gap of 20 finds of FUNDED_INDICES: 46 comes after 21 unused (25…45) */
export const FOUND_WITH_GAP_20 = [0, 1, 5, 24]

type Rpc = RpcNode['rpc']

const {BIP32} = DescriptorsFactory()
const regtest = networks.regtest

/** An extended key re-encoded with another SLIP-132 version (upub, vpub): the form wallets export. */
function withVersion(tpub: string, version: number): string {
  const bytes = Buffer.from(bs58check.decode(tpub))
  bytes.writeUInt32BE(version, 0)
  return bs58check.encode(bytes)
}

function keys() {
  const root = BIP32.fromSeed(Buffer.from('bix query descriptor fixed seed, 32b'.padEnd(32, '.').slice(0, 32)), regtest)
  const fp = Buffer.from(root.fingerprint).toString('hex')
  const account = (path: string) => root.derivePath(path).neutered().toBase58()
  const single = Buffer.from(root.derivePath("m/0'/7").publicKey).toString('hex')
  return {fp, a: account("m/84'/1'/0'"), b: account("m/48'/1'/0'/2'"), legacy: account("m/44'/1'/0'"), nested: account("m/49'/1'/0'"), segwit: account("m/84'/1'/1'"), taproot: account("m/86'/1'/0'"), single}
}

/** The cases: name, the descriptor written for Core, and (for shorthands) what bix is given instead. */
function plannedCases(): Array<{name: string; descriptor: string; shorthand?: string}> {
  const k = keys()
  return [
    {name: 'pkh', descriptor: `pkh(${k.a}/0/*)`},
    {name: 'wpkh multipath with origin', descriptor: `wpkh([${k.fp}/84h/1h/0h]${k.a}/<0;1>/*)`},
    {name: 'sh(wpkh)', descriptor: `sh(wpkh(${k.a}/2/*))`},
    {name: 'tr multipath', descriptor: `tr([${k.fp}/86h/1h/0h]${k.taproot}/<0;1>/*)`},
    {name: 'wsh(multi)', descriptor: `wsh(multi(2,${k.a}/5/*,${k.b}/0/*))`},
    {name: 'wsh(sortedmulti)', descriptor: `wsh(sortedmulti(2,${k.a}/6/*,${k.b}/1/*))`},
    {name: 'sh(wsh(sortedmulti))', descriptor: `sh(wsh(sortedmulti(1,${k.a}/7/*,${k.b}/2/*)))`},
    {name: 'wpkh of one key (not ranged)', descriptor: `wpkh(${k.single})`},
    {name: 'tpub shorthand (pkh)', descriptor: `pkh(${k.legacy}/<0;1>/*)`, shorthand: k.legacy},
    {name: 'upub shorthand (sh(wpkh))', descriptor: `sh(wpkh(${k.nested}/<0;1>/*))`, shorthand: withVersion(k.nested, 0x044a5262)},
    {name: 'vpub shorthand (wpkh)', descriptor: `wpkh(${k.segwit}/<0;1>/*)`, shorthand: withVersion(k.segwit, 0x045f1cf6)},
  ]
}

export async function buildDescriptorScenario(node: RpcNode): Promise<DescriptorScenario> {
  const rpc: Rpc = (method, params) => node.rpc(method, params)
  const own = () => rpc<string>('getnewaddress', ['', 'bech32'])
  // enough mature coinbases that no payment waits on an unconfirmed one
  await rpc('generatetoaddress', [120, await own()])

  const cases: DescriptorCase[] = []
  for (const plan of plannedCases()) {
    const info = await rpc<{checksum: string; isrange: boolean; multipath_expansion?: string[]}>('getdescriptorinfo', [plan.descriptor])
    const core = `${plan.descriptor}#${info.checksum}`
    const branches = info.multipath_expansion ?? [core]
    const derived: string[][] = []
    for (const branch of branches) derived.push(info.isrange ? await rpc<string[]>('deriveaddresses', [branch, [0, DERIVE_TO]]) : await rpc<string[]>('deriveaddresses', [branch]))
    const funded: Array<[number, number]> = []
    const amounts: Record<string, string> = {}
    for (let branch = 0; branch < derived.length; branch++) {
      for (const index of info.isrange ? FUNDED_INDICES : [0]) {
        // distinct amounts, so that a mix-up of outputs shows
        amounts[derived[branch][index]] = ((10_000 + cases.length * 1000 + branch * 100 + index) / 1e6).toFixed(8)
        funded.push([branch, index])
      }
    }
    await rpc('sendmany', ['', amounts])
    await rpc('generatetoaddress', [1, await own()])
    cases.push({name: plan.name, input: plan.shorthand ?? core, core, derived, funded, scan: {total: 0, unspents: []}})
  }

  // the wallet pays itself: every address type, its own change address, several outputs at once
  const selfTxids: string[] = []
  for (const type of ['legacy', 'p2sh-segwit', 'bech32', 'bech32m']) {
    selfTxids.push(await rpc<string>('sendtoaddress', [await rpc<string>('getnewaddress', ['', type]), '1.25']))
    await rpc('generatetoaddress', [1, await own()])
  }
  selfTxids.push(await rpc<string>('sendtoaddress', [await rpc<string>('getrawchangeaddress', ['bech32m']), '0.5']))
  selfTxids.push(await rpc<string>('sendmany', ['', {[await own()]: '0.3', [await rpc<string>('getnewaddress', ['', 'legacy'])]: '0.2'}]))
  await rpc('generatetoaddress', [1, await own()])
  // then spends those coins onward, to others and to itself again
  await rpc('sendtoaddress', [cases[0].derived[0][2], '3.1'])
  cases[0].funded.push([0, 2])
  selfTxids.push(await rpc<string>('sendtoaddress', [await rpc<string>('getnewaddress', ['', 'bech32m']), '2.2']))
  await rpc('generatetoaddress', [1, await own()])

  for (const c of cases) {
    const scan = await rpc<{success: boolean; total_amount: number; unspents: Array<{txid: string; vout: number; amount: number; height: number}>}>('scantxoutset', [
      'start',
      [{desc: c.core, range: [0, SCAN_TO]}],
    ])
    if (!scan.success) throw new Error(`scantxoutset ${c.core} failed`)
    c.scan = {
      total: satsOf(scan.total_amount),
      unspents: scan.unspents.map((u) => ({txid: u.txid, vout: u.vout, value: satsOf(u.amount), height: u.height})).sort((x, y) => (x.txid < y.txid ? -1 : x.txid > y.txid ? 1 : x.vout - y.vout)),
    }
  }

  // last, two payments left unconfirmed: one to itself, one to someone else (an address of no case)
  const other = `wpkh(${keys().b}/9/0)`
  const external = (await rpc<string[]>('deriveaddresses', [`${other}#${(await rpc<{checksum: string}>('getdescriptorinfo', [other])).checksum}`]))[0]
  const pending = [
    await rpc<string>('sendtoaddress', [await rpc<string>('getnewaddress', ['', 'bech32m']), '0.75']),
    await rpc<string>('sendtoaddress', [external, '0.4']),
  ]
  selfTxids.push(pending[0])
  const mempool: string[] = []
  for (const txid of pending) mempool.push(await rpc<string>('getrawtransaction', [txid]))

  const wallet = await walletTruth(rpc, selfTxids)
  const tip = await rpc<number>('getblockcount')
  const blocks: BuiltBlock[] = []
  for (let height = 1; height <= tip; height++) {
    const hash = await rpc<string>('getblockhash', [height])
    blocks.push({height, hash, hex: await rpc<string>('getblock', [hash, 0])})
  }
  const {subversion} = await rpc<{subversion: string}>('getnetworkinfo')
  return {bitcoind: subversion, blocks, mempool, cases, wallet}
}

async function walletTruth(rpc: Rpc, selfTxids: string[]): Promise<WalletTruth> {
  const {descriptors} = await rpc<{descriptors: Array<{desc: string}>}>('listdescriptors', [false])
  const {mine} = await rpc<{mine: {trusted: number; untrusted_pending: number; immature: number}}>('getbalances')
  const entries = await rpc<Array<{txid: string; category: string; amount: number; fee?: number}>>('listtransactions', ['*', 100_000, 0, true])
  const net: Record<string, number> = {}
  const feeOf: Record<string, number> = {}
  for (const e of entries) {
    net[e.txid] = (net[e.txid] ?? 0) + satsOf(e.amount)
    // every send entry of a transaction repeats its fee (negative): count it once
    if (e.category === 'send' && e.fee !== undefined) feeOf[e.txid] = satsOf(e.fee)
  }
  for (const [txid, fee] of Object.entries(feeOf)) net[txid] += fee
  // a payment to the wallet's own change address is all change: listtransactions lists nothing of it, gettransaction does
  const unlisted: string[] = []
  for (const txid of selfTxids.filter((id) => !(id in net))) {
    const tx = await rpc<{amount: number; fee: number}>('gettransaction', [txid, true])
    net[txid] = satsOf(tx.amount) + satsOf(tx.fee)
    feeOf[txid] = satsOf(tx.fee)
    unlisted.push(txid)
  }
  const selfPayments: Record<string, number> = {}
  for (const txid of selfTxids) selfPayments[txid] = -feeOf[txid]
  return {
    descriptors: descriptors.map((d) => d.desc),
    balances: {trusted: satsOf(mine.trusted), untrusted_pending: satsOf(mine.untrusted_pending), immature: satsOf(mine.immature)},
    net,
    unlisted,
    selfPayments,
  }
}

export function readDescriptorFixture(): DescriptorScenario {
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'regtest-core', 'descriptors.json')
  return JSON.parse(readFileSync(file, 'utf8')) as DescriptorScenario
}
