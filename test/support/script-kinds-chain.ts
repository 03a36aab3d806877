/**
 * Builds, on a real Bitcoin Core regtest node, a chain whose outputs cover
 * the kinds of output script an address index meets beyond wallet
 * addresses, then reorganises it:
 *
 * - P2PK and bare 1-of-2 multisig (keys of our own, signed by Core's
 *   signrawtransactionwithkey), P2WSH and P2SH of a bare OP_TRUE (spent with
 *   the script alone), a bare OP_TRUE (spent with an empty scriptSig), the
 *   wallet's P2PKH, P2SH-P2WPKH and P2TR, change outputs (fundrawtransaction),
 *   OP_RETURN with and without value, one script paid twice by one
 *   transaction, a transaction that spends from and pays to the same script,
 *   and coinbases paying non-wallet scripts (P2PK, multisig, OP_TRUE);
 * - every block is made with `generateblock <output> [rawtx…]`, which takes
 *   transactions the mempool's policy refuses (a bare OP_TRUE output, its
 *   spend, a valued OP_RETURN);
 * - then a reorg: the last 2 blocks are invalidated and 3 replacement blocks
 *   mined, in which a stale spend is replaced by a conflicting one (so the
 *   stale spend and its child exist nowhere any more), one payment is
 *   confirmed again at the same height and another at a new height.
 *
 * Only the recorder (test/fixtures/regtest-core/record-script-kinds.ts) runs
 * it; tests replay the recorded blocks (submitblock) on Core or the simulator
 * (readScriptKindsFixture) and hold bix to Core's recorded answers.
 */
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import bs58check from 'bs58check'
import {Transaction, payments} from 'bitcoinjs-lib'

import type {CoreTruth, RpcNode} from './core-oracle.js'

export interface BuiltBlock {
  height: number
  hash: string
  hex: string
}

export interface ScriptKindsChain {
  /** the blocks of the first branch (heights 1…), in the order mined */
  blocks: BuiltBlock[]
  /** the output scripts built, by name (hex) */
  scripts: Record<string, string>
  /** transactions by name; which ones the node's mempool policy refused */
  txids: Record<string, string>
  refusedByPolicy: Record<string, string>
}

export interface ScriptKindsReorg {
  /** the blocks that went stale (the top of `blocks`) */
  stale: BuiltBlock[]
  /** the replacement blocks, in the order mined */
  replacement: BuiltBlock[]
  /** transactions only the stale branch confirms: in neither the new chain nor the mempool */
  staleOnly: string[]
  /** stale transactions confirmed again, and at which heights before and after */
  reconfirmed: Array<{txid: string; before: number; after: number}>
}

type Rpc = RpcNode['rpc']

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest()
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const fromHex = (s: string) => Buffer.from(s, 'hex')
const btc = (sats: number) => (sats / 1e8).toFixed(8)

/** A regtest private key (WIF, compressed) from a label, and its public key as Core derives it. */
async function key(rpc: Rpc, label: string): Promise<{wif: string; pub: string}> {
  const secret = sha256(Buffer.from(`bix script-kinds chain ${label}`))
  const wif = bs58check.encode(Buffer.concat([Buffer.from([0xef]), secret, Buffer.from([0x01])]))
  const info = await rpc<{descriptor: string}>('getdescriptorinfo', [`pk(${wif})`])
  const pub = /^pk\(([0-9a-f]{66})\)/.exec(info.descriptor)?.[1]
  if (!pub) throw new Error(`no public key in ${info.descriptor}`)
  return {wif, pub}
}

export async function buildScriptKindsChain(node: RpcNode): Promise<ScriptKindsChain & {reorg(): Promise<ScriptKindsReorg>}> {
  const rpc: Rpc = (method, params) => node.rpc(method, params)
  const blocks: BuiltBlock[] = []
  const txids: Record<string, string> = {}
  const refusedByPolicy: Record<string, string> = {}

  const miner = await rpc<string>('getnewaddress', ['', 'bech32'])
  const mine = async (txs: Array<{name: string; hex: string}>, output = miner): Promise<BuiltBlock> => {
    // the mempool's verdict is recorded; the block takes the transaction either way
    for (const tx of txs) {
      txids[tx.name] = Transaction.fromHex(tx.hex).getId()
      const verdict = (await rpc<Array<{allowed: boolean; 'reject-reason'?: string}>>('testmempoolaccept', [[tx.hex]]))[0]
      if (!verdict.allowed && verdict['reject-reason'] !== 'txn-already-in-mempool') refusedByPolicy[tx.name] = verdict['reject-reason'] ?? 'refused'
    }
    const {hash} = await rpc<{hash: string}>('generateblock', [output, txs.map((t) => t.hex)])
    const height = await rpc<number>('getblockcount')
    const block = {height, hash, hex: await rpc<string>('getblock', [hash, 0])}
    blocks.push(block)
    return block
  }
  for (let i = 0; i < 101; i++) await mine([])

  const k1 = await key(rpc, 'one')
  const k2 = await key(rpc, 'two')
  const opTrue = fromHex('51')
  const scripts: Record<string, string> = {
    p2pk: `21${k1.pub}ac`,
    multisig: `5121${k1.pub}21${k2.pub}52ae`,
    opTrue: '51',
    p2wshOpTrue: hex(payments.p2wsh({redeem: {output: opTrue}}).output!),
    p2shOpTrue: hex(payments.p2sh({redeem: {output: opTrue}}).output!),
    opReturnData: '6a0c6269782073637269707473',
    opReturnValued: '6a04deadbeef',
  }
  const addressScript = async (type: string) => {
    const address = await rpc<string>('getnewaddress', ['', type])
    return (await rpc<{scriptPubKey: string}>('getaddressinfo', [address])).scriptPubKey
  }
  scripts.p2pkh = await addressScript('legacy')
  scripts.p2shP2wpkh = await addressScript('p2sh-segwit')
  scripts.p2tr = await addressScript('bech32m')
  scripts.p2wpkh = await addressScript('bech32')

  /** A wallet-funded transaction paying these outputs, with the wallet's change, signed. */
  const funded = async (outputs: Array<[string, number]>): Promise<string> => {
    const tx = new Transaction()
    tx.version = 2
    for (const [script, sats] of outputs) tx.addOutput(fromHex(script), BigInt(sats))
    const {hex: unsigned} = await rpc<{hex: string}>('fundrawtransaction', [tx.toHex(), {add_inputs: true}, false])
    const signed = await rpc<{hex: string; complete: boolean}>('signrawtransactionwithwallet', [unsigned])
    if (!signed.complete) throw new Error('the wallet could not sign its own funding')
    // the transaction reaches the node only inside a block: keep the wallet from spending its coins again meanwhile
    const spent = Transaction.fromHex(signed.hex).ins.map((i) => ({txid: hex(Buffer.from(i.hash).reverse()), vout: i.index}))
    await rpc('lockunspent', [false, spent])
    return signed.hex
  }
  /** A transaction spending outputs nobody needs to sign for (OP_TRUE and its P2SH and P2WSH forms). */
  const spendAnyone = (inputs: Array<{txid: string; vout: number; kind: 'bare' | 'p2sh' | 'p2wsh'}>, outputs: Array<[string, number]>): string => {
    const tx = new Transaction()
    tx.version = 2
    for (const input of inputs) tx.addInput(fromHex(input.txid).reverse(), input.vout, 0xfffffffd, input.kind === 'p2sh' ? fromHex('0151') : Buffer.alloc(0))
    for (const [script, sats] of outputs) tx.addOutput(fromHex(script), BigInt(sats))
    inputs.forEach((input, i) => {
      if (input.kind === 'p2wsh') tx.setWitness(i, [opTrue])
    })
    return tx.toHex()
  }
  /** A transaction spending our P2PK or multisig outputs, signed by Core with our key. */
  const spendWithKey = async (inputs: Array<{txid: string; vout: number; script: string; sats: number}>, outputs: Array<[string, number]>): Promise<string> => {
    const tx = new Transaction()
    tx.version = 2
    for (const input of inputs) tx.addInput(fromHex(input.txid).reverse(), input.vout, 0xfffffffd)
    for (const [script, sats] of outputs) tx.addOutput(fromHex(script), BigInt(sats))
    const prevtxs = inputs.map((i) => ({txid: i.txid, vout: i.vout, scriptPubKey: i.script, amount: btc(i.sats)}))
    const signed = await rpc<{hex: string; complete: boolean; errors?: unknown}>('signrawtransactionwithkey', [tx.toHex(), [k1.wif], prevtxs])
    if (!signed.complete) throw new Error(`signrawtransactionwithkey: ${JSON.stringify(signed.errors)}`)
    return signed.hex
  }
  const voutOf = (txHex: string, script: string, sats?: number): number => {
    const tx = Transaction.fromHex(txHex)
    const vout = tx.outs.findIndex((o) => hex(o.script) === script && (sats === undefined || o.value === BigInt(sats)))
    if (vout < 0) throw new Error(`no output ${script} in ${tx.getId()}`)
    return vout
  }

  // coinbases paying scripts no wallet holds
  await mine([], `raw(${scripts.p2pk})`)
  await mine([], `raw(${scripts.multisig})`)
  await mine([], `raw(${scripts.opTrue})`)

  // the wallet pays every kind, with change
  const fund = await funded([
    [scripts.p2pk, 100_000_000],
    [scripts.multisig, 50_000_000],
    [scripts.p2wshOpTrue, 30_000_000],
    [scripts.p2shOpTrue, 20_000_000],
    [scripts.opReturnData, 0],
    [scripts.p2pkh, 40_000_000],
    [scripts.p2shP2wpkh, 40_000_000],
    [scripts.p2tr, 40_000_000],
  ])
  // outputs policy refuses: a bare OP_TRUE (twice, to one script) and an OP_RETURN carrying value
  const bare = await funded([
    [scripts.opTrue, 25_000_000],
    [scripts.opTrue, 5_000_000],
    [scripts.opReturnValued, 1_000],
  ])
  await mine([{name: 'fund', hex: fund}, {name: 'fundNonstandard', hex: bare}])
  const fundId = Transaction.fromHex(fund).getId()
  const bareId = Transaction.fromHex(bare).getId()

  // every kind spent
  const spendBare = spendAnyone(
    [{txid: bareId, vout: voutOf(bare, scripts.opTrue, 25_000_000), kind: 'bare'}],
    [[scripts.opTrue, 10_000_000], [scripts.p2pkh, 14_990_000]],
  )
  const spendWsh = spendAnyone([{txid: fundId, vout: voutOf(fund, scripts.p2wshOpTrue), kind: 'p2wsh'}], [[scripts.p2wpkh, 29_990_000]])
  const spendSh = spendAnyone([{txid: fundId, vout: voutOf(fund, scripts.p2shOpTrue), kind: 'p2sh'}], [[scripts.p2pk, 19_990_000]])
  const spendP2pk = await spendWithKey([{txid: fundId, vout: voutOf(fund, scripts.p2pk, 100_000_000), script: scripts.p2pk, sats: 100_000_000}], [
    [scripts.multisig, 60_000_000],
    [scripts.p2pk, 39_990_000],
  ])
  const spendMultisig = await spendWithKey([{txid: fundId, vout: voutOf(fund, scripts.multisig, 50_000_000), script: scripts.multisig, sats: 50_000_000}], [
    [scripts.p2shP2wpkh, 49_990_000],
    [scripts.opReturnData, 0],
  ])
  await mine([
    {name: 'spendBareOpTrue', hex: spendBare},
    {name: 'spendP2wsh', hex: spendWsh},
    {name: 'spendP2sh', hex: spendSh},
    {name: 'spendP2pk', hex: spendP2pk},
    {name: 'spendMultisig', hex: spendMultisig},
  ])
  // the wallet spends its P2PKH, P2SH-P2WPKH and P2TR outputs together
  const walletInputs = [scripts.p2pkh, scripts.p2shP2wpkh, scripts.p2tr].map((s) => ({txid: fundId, vout: voutOf(fund, s)}))
  const sweepTo = await rpc<string>('getnewaddress', ['', 'bech32'])
  const sweep = await rpc<{txid: string}>('sendall', [[sweepTo], null, 'unset', null, {inputs: walletInputs}])
  await mine([{name: 'walletSweep', hex: await rpc<string>('getrawtransaction', [sweep.txid])}])

  // the branch that will go stale: a spend of the OP_TRUE change and its child, and two wallet payments
  const spendBareId = Transaction.fromHex(spendBare).getId()
  const staleSpend = spendAnyone([{txid: spendBareId, vout: voutOf(spendBare, scripts.opTrue), kind: 'bare'}], [
    [scripts.opTrue, 4_000_000],
    [scripts.p2wshOpTrue, 5_990_000],
  ])
  const payLegacy = await rpc<string>('sendtoaddress', [await rpc<string>('getnewaddress', ['', 'legacy']), '0.2'])
  const payTaproot = await rpc<string>('sendtoaddress', [await rpc<string>('getnewaddress', ['', 'bech32m']), '0.3'])
  const payLegacyHex = await rpc<string>('getrawtransaction', [payLegacy])
  const payTaprootHex = await rpc<string>('getrawtransaction', [payTaproot])
  const staleSpendId = Transaction.fromHex(staleSpend).getId()
  const staleChild = spendAnyone([{txid: staleSpendId, vout: voutOf(staleSpend, scripts.p2wshOpTrue), kind: 'p2wsh'}], [[scripts.p2pk, 5_980_000]])
  const d = await mine([{name: 'staleSpend', hex: staleSpend}, {name: 'payLegacy', hex: payLegacyHex}, {name: 'payTaproot', hex: payTaprootHex}])
  await mine([{name: 'staleChild', hex: staleChild}])

  const reorg = async (): Promise<ScriptKindsReorg> => {
    const stale = blocks.filter((b) => b.height >= d.height)
    await rpc('invalidateblock', [d.hash])
    // the OP_TRUE change spent differently: the stale spend and its child conflict with the new chain
    const conflicting = spendAnyone([{txid: spendBareId, vout: voutOf(spendBare, scripts.opTrue), kind: 'bare'}], [[scripts.p2pk, 9_990_000]])
    const before = blocks.length
    await mine([{name: 'conflictingSpend', hex: conflicting}, {name: 'payLegacy', hex: payLegacyHex}])
    await mine([{name: 'payTaproot', hex: payTaprootHex}], `raw(${scripts.multisig})`)
    await mine([])
    const replacement = blocks.slice(before)
    const mempool = await rpc<string[]>('getrawmempool')
    if (mempool.length > 0) throw new Error(`the mempool still holds ${mempool.join(', ')}`)
    return {
      stale,
      replacement,
      staleOnly: [staleSpendId, Transaction.fromHex(staleChild).getId()],
      reconfirmed: [
        {txid: payLegacy, before: d.height, after: replacement[0].height},
        {txid: payTaproot, before: d.height, after: replacement[1].height},
      ],
    }
  }
  return {blocks, scripts, txids, refusedByPolicy, reorg}
}

/** test/fixtures/regtest-core/script-kinds.json, as record-script-kinds.ts writes it. */
export interface ScriptKindsFixture {
  bitcoind: string
  scripts: Record<string, string>
  txids: Record<string, string>
  refusedByPolicy: Record<string, string>
  /** heights 1… of the branch that stays, up to the fork */
  blocks: BuiltBlock[]
  stale: BuiltBlock[]
  replacement: BuiltBlock[]
  staleOnly: string[]
  reconfirmed: Array<{txid: string; before: number; after: number}>
  truthBeforeReorg: CoreTruth
  truth: CoreTruth
}

export function readScriptKindsFixture(): ScriptKindsFixture {
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'regtest-core', 'script-kinds.json')
  return JSON.parse(readFileSync(file, 'utf8')) as ScriptKindsFixture
}
