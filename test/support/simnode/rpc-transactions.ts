/**
 * Mempool and transaction RPCs: getrawmempool, getmempoolinfo,
 * getmempoolentry, getrawtransaction (txindex semantics), gettxout,
 * decoderawtransaction, and the broadcast paths — sendrawtransaction,
 * testmempoolaccept, submitpackage — with Core's order of checks and errors.
 */
import {Transaction} from 'bitcoinjs-lib'

import type {Chain} from './chain.js'
import {readHeader, wtxidOf} from './block-codec.js'
import {Amount, HexString} from './core-json.js'
import {type Coin, inputTxid, outpointKey} from './ledger.js'
import type {NodeState, RpcMethod} from './rpc-methods.js'
import {RPC, RpcFailure, amountFromValue, getBool, getInt, parseFeeRate, parseHash, parseVerbosity} from './rpc-params.js'
import {mempoolEntryJson, txJson} from './render.js'
import {isUnspendable, scriptPubKeyJson} from './scripts.js'
import {type Verdict, feeForSize} from './policy.js'

/** sendrawtransaction's default maxfeerate: 0.10 BTC/kvB */
const DEFAULT_MAX_FEE_RATE = 10_000_000n
const MAX_PACKAGE_COUNT = 25

export function decodeTx(hex: unknown, message = 'TX decode failed. Make sure the tx has at least one input.'): Transaction {
  try {
    if (typeof hex !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(hex)) throw new Error('not hex')
    const tx = Transaction.fromHex(hex)
    if (tx.ins.length === 0) throw new Error('no inputs')
    return tx
  } catch {
    throw new RpcFailure(RPC.deserializationError, message)
  }
}

export function mempoolInfo(chain: Chain): Record<string, unknown> {
  const entries = [...chain.mempool.entries.values()]
  const rate = (satPerKvB: number) => new Amount(satPerKvB)
  return {
    loaded: chain.mempool.loaded,
    size: entries.length,
    bytes: entries.reduce((sum, e) => sum + e.vsize, 0),
    // a rough stand-in for Core's DynamicMemoryUsage
    usage: entries.reduce((sum, e) => sum + Math.ceil((e.raw.length + 900) / 16) * 16, 0),
    total_fee: new Amount(entries.reduce((sum, e) => sum + e.fee, 0n)),
    maxmempool: 300_000_000,
    mempoolminfee: rate(chain.policy.minRelayFeeRate),
    minrelaytxfee: rate(chain.policy.minRelayFeeRate),
    incrementalrelayfee: rate(chain.policy.incrementalRelayFeeRate),
    unbroadcastcount: entries.filter((e) => !e.relayed).length,
    permitbaremultisig: true,
    maxdatacarriersize: 100_000,
    limitclustercount: 64,
    limitclustersize: 101_000,
    optimal: true,
  }
}

/** getrawmempool / REST mempool contents. */
export function rawMempool(chain: Chain, verbose: boolean, withSequence: boolean): unknown {
  if (verbose && withSequence) throw new RpcFailure(RPC.invalidParameter, 'Verbose results cannot contain mempool sequence values.')
  const ids = chain.mempool.orderedTxids()
  if (withSequence) return {txids: ids, mempool_sequence: chain.mempool.sequence}
  if (!verbose) return ids
  return Object.fromEntries(ids.map((txid) => [txid, mempoolEntryJson(chain, chain.mempool.get(txid)!)]))
}

/** Core's error text for a failed acceptance: the reason, then the details if any. */
const stateText = (v: Extract<Verdict, {ok: false}>): string => (v.details ? `${v.reason}, ${v.details}` : v.reason)

function checkBurn(tx: Transaction, maxBurn: bigint): void {
  for (const out of tx.outs) {
    if (isUnspendable(out.script) && out.value > maxBurn) {
      throw new RpcFailure(RPC.verifyError, 'Unspendable output exceeds maximum configured by user (maxburnamount)')
    }
  }
}

/** Core's BroadcastTransaction as sendrawtransaction drives it. */
export function broadcast(chain: Chain, tx: Transaction, maxFeeRate: bigint): string {
  const txid = tx.getId()
  if (tx.outs.some((_, vout) => chain.ledger.utxos.has(outpointKey(txid, vout)))) {
    throw new RpcFailure(RPC.verifyAlreadyInChain, 'Transaction outputs already in utxo set')
  }
  if (chain.mempool.has(txid)) return txid
  const fail = (v: Extract<Verdict, {ok: false}>) =>
    v.missingInputs ? new RpcFailure(RPC.verifyError, 'bad-txns-inputs-missingorspent') : new RpcFailure(RPC.verifyRejected, stateText(v))
  const test = chain.testAccept(tx)
  if (!test.ok) throw fail(test)
  if (maxFeeRate > 0n && test.fee > feeForSize(Number(maxFeeRate), test.vsize)) {
    throw new RpcFailure(RPC.verifyError, 'Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)')
  }
  const verdict = chain.acceptToMempool(tx)
  if (!verdict.ok) throw fail(verdict)
  return txid
}

function acceptResult(tx: Transaction, verdict: Verdict, maxFeeRate: bigint): Record<string, unknown> {
  const base = {txid: tx.getId(), wtxid: wtxidOf(tx)}
  if (!verdict.ok) {
    return verdict.missingInputs
      ? {...base, allowed: false, 'reject-reason': 'missing-inputs'}
      : {...base, allowed: false, 'reject-reason': verdict.reason, 'reject-details': stateText(verdict)}
  }
  if (maxFeeRate > 0n && verdict.fee > feeForSize(Number(maxFeeRate), verdict.vsize)) return {...base, allowed: false, 'reject-reason': 'max-fee-exceeded'}
  return {
    ...base,
    allowed: true,
    ...sizes(verdict.vsize),
    fees: {base: new Amount(verdict.fee), 'effective-feerate': new Amount((verdict.fee * 1000n) / BigInt(verdict.vsize)), 'effective-includes': [base.wtxid]},
  }
}

/** Core 31's sizes: BIP141's, and the one adjusted for signature operations (the same for standard spends). */
const sizes = (vsize: number) => ({vsize, vsize_bip141: vsize, vsize_adjusted: vsize})

/** Outputs of earlier package members, so children can spend their parents. */
function addPackageCoins(coins: Map<string, Coin>, tx: Transaction): void {
  const txid = tx.getId()
  tx.outs.forEach((out, vout) => {
    if (!isUnspendable(out.script)) coins.set(outpointKey(txid, vout), {value: out.value, script: Buffer.from(out.script), height: 0x7fffffff, coinbase: false})
  })
}

/** Core's IsChildWithParentsTree: every transaction but the last is a parent of the last, and no parent spends another. */
function isChildWithParentsTree(txs: Transaction[]): boolean {
  const child = txs[txs.length - 1]
  const spentByChild = new Set(child.ins.map((input) => inputTxid(input.hash)))
  const parents = new Set(txs.slice(0, -1).map((tx) => tx.getId()))
  if (![...parents].every((txid) => spentByChild.has(txid))) return false
  return txs.slice(0, -1).every((tx) => tx.ins.every((input) => !parents.has(inputTxid(input.hash))))
}

function packageArray(value: unknown): unknown[] {
  const list = value as unknown[]
  if (list.length < 1 || list.length > MAX_PACKAGE_COUNT) {
    throw new RpcFailure(RPC.invalidParameter, `Array must contain between 1 and ${MAX_PACKAGE_COUNT} transactions.`)
  }
  return list
}

function getRawTransaction(node: NodeState, [txidArg, verbosityArg, blockHashArg]: unknown[]): unknown {
  const chain = node.chain
  const txid = parseHash(txidArg, 'parameter 1')
  const verbosity = parseVerbosity(verbosityArg, 0)
  const genesisCoinbase = chain.at(0)!.merkleRoot
  if (txid === genesisCoinbase) {
    throw new RpcFailure(RPC.invalidAddressOrKey, 'The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved')
  }
  let found = undefined as ReturnType<Chain['findTx']>
  let inActiveChain: boolean | undefined
  if (blockHashArg !== null && blockHashArg !== undefined) {
    const block = chain.get(parseHash(blockHashArg, 'parameter 3'))
    if (!block) throw new RpcFailure(RPC.invalidAddressOrKey, 'Block hash not found')
    inActiveChain = chain.isActive(block)
    const parsed = chain.parsed(block)
    const index = parsed.txids.indexOf(txid)
    if (index < 0) throw new RpcFailure(RPC.invalidAddressOrKey, 'No such transaction found in the provided block. Use gettransaction for wallet transactions.')
    const span = parsed.spans[index]
    found = {tx: parsed.txs[index], raw: block.raw.subarray(span.offset, span.offset + span.length), block}
  } else {
    found = chain.findTx(txid)
  }
  if (!found) throw new RpcFailure(RPC.invalidAddressOrKey, 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.')
  if (verbosity <= 0) return new HexString(found.raw)
  let spent: Coin[] | undefined
  if (verbosity >= 2 && found.block && !found.tx.isCoinbase()) {
    const index = chain.parsed(found.block).txids.indexOf(txid)
    spent = chain.spentCoins(found.block)?.[index - 1]
  }
  const result: Record<string, unknown> = {
    // Core 31 adds a mempool transaction's sigop-adjusted vsize first (the simulator's transactions have no sigop excess)
    vsize_adjusted: found.mempool ? found.mempool.vsize : undefined,
    in_active_chain: inActiveChain,
    ...txJson(found.tx, {verbosity: verbosity >= 2 ? 'prevout' : 'details', spent, includeHex: true, prefixes: chain.addressPrefixes}),
  }
  if (found.block) {
    result.blockhash = found.block.hash
    if (chain.isActive(found.block)) {
      result.confirmations = chain.height - found.block.height + 1
      result.time = found.block.time
      result.blocktime = found.block.time
    } else {
      result.confirmations = 0
    }
  }
  return result
}

export const TRANSACTION_METHODS: Record<string, RpcMethod> = {
  getrawmempool: {
    args: [
      {name: 'verbose', type: 'bool'},
      {name: 'mempool_sequence', type: 'bool'},
    ],
    run: (node, [verbose, sequence]) => rawMempool(node.chain, getBool(verbose, false), getBool(sequence, false)),
  },
  getmempoolinfo: {args: [], run: (node) => mempoolInfo(node.chain)},
  getmempoolentry: {
    args: [{name: 'txid', type: 'str_hex', required: true}],
    run: (node, [txid]) => {
      const entry = node.chain.mempool.get(parseHash(txid, 'parameter 1'))
      if (!entry) throw new RpcFailure(RPC.invalidAddressOrKey, 'Transaction not in mempool')
      return mempoolEntryJson(node.chain, entry)
    },
  },
  getrawtransaction: {
    args: [
      {name: 'txid', type: 'str_hex', required: true},
      {name: 'verbosity|verbose', type: 'num', skipTypeCheck: true},
      {name: 'blockhash', type: 'str_hex'},
    ],
    run: getRawTransaction,
  },
  gettxout: {
    args: [
      {name: 'txid', type: 'str_hex', required: true},
      {name: 'n', type: 'num', required: true},
      {name: 'include_mempool', type: 'bool'},
    ],
    run: (node, [txidArg, nArg, includeMempool]) => {
      const chain = node.chain
      const txid = parseHash(txidArg, 'txid')
      const n = getInt(nArg)
      const withMempool = getBool(includeMempool, true)
      if (withMempool && chain.mempool.spenderOf(txid, n)) return null
      const confirmed = chain.ledger.utxos.get(outpointKey(txid, n))
      const coin = confirmed ?? (withMempool ? chain.coinAt(txid, n) : undefined)
      if (!coin) return null
      return {
        bestblock: chain.tip.hash,
        confirmations: confirmed ? chain.height - coin.height + 1 : 0,
        value: new Amount(coin.value),
        scriptPubKey: scriptPubKeyJson(coin.script, chain.addressPrefixes),
        coinbase: coin.coinbase,
      }
    },
  },
  gettxspendingprevout: {
    args: [
      {name: 'outputs', type: 'arr', required: true},
      {name: 'options', type: 'obj'},
    ],
    // the mempool's spends; with -txospenderindex, the active chain's too (with the spending block)
    run: (node, [outputs]) => {
      const list = outputs as unknown[]
      if (list.length === 0) throw new RpcFailure(RPC.invalidParameter, 'Invalid parameter, outputs are missing')
      return list.map((o) => {
        const {txid: txidArg, vout} = (o ?? {}) as {txid?: unknown; vout?: unknown}
        const txid = parseHash(txidArg, 'txid')
        const n = getInt(vout)
        if (n < 0) throw new RpcFailure(RPC.invalidParameter, 'Invalid parameter, vout cannot be negative')
        const spender = node.chain.mempool.spenderOf(txid, n)
        if (spender) return {txid, vout: n, spendingtxid: spender}
        const confirmed = node.info.txospenderindex ? confirmedSpender(node.chain, txid, n) : undefined
        return confirmed ? {txid, vout: n, spendingtxid: confirmed.txid, blockhash: confirmed.blockHash} : {txid, vout: n}
      })
    },
  },
  decoderawtransaction: {
    args: [
      {name: 'hexstring', type: 'str_hex', required: true},
      {name: 'iswitness', type: 'bool'},
    ],
    run: (node, [hex]) => txJson(decodeTx(hex, 'TX decode failed'), {verbosity: 'details', prefixes: node.chain.addressPrefixes}),
  },
  sendrawtransaction: {
    args: [
      {name: 'hexstring', type: 'str_hex', required: true},
      {name: 'maxfeerate', type: 'amount'},
      {name: 'maxburnamount', type: 'amount'},
    ],
    run: (node, [hex, maxFeeRateArg, maxBurnArg]) => {
      const tx = decodeTx(hex)
      const maxBurn = maxBurnArg === null || maxBurnArg === undefined ? 0n : amountFromValue(maxBurnArg)
      checkBurn(tx, maxBurn)
      const maxFeeRate = parseFeeRate(maxFeeRateArg, DEFAULT_MAX_FEE_RATE)
      return broadcast(node.chain, tx, maxFeeRate)
    },
  },
  testmempoolaccept: {
    args: [
      {name: 'rawtxs', type: 'arr', required: true},
      {name: 'maxfeerate', type: 'amount'},
    ],
    run: (node, [rawtxs, maxFeeRateArg]) => {
      const txs = packageArray(rawtxs).map((hex) => decodeTx(hex))
      const maxFeeRate = parseFeeRate(maxFeeRateArg, DEFAULT_MAX_FEE_RATE)
      const coins = new Map<string, Coin>()
      // Core tests a package in order and stops at the first failure (AcceptMultipleTransactions),
      // or at the first fee above maxfeerate: the rest get only their txid and wtxid
      let stopped = false
      return txs.map((tx) => {
        if (stopped) return {txid: tx.getId(), wtxid: wtxidOf(tx)}
        const verdict = node.chain.testAccept(tx, coins)
        if (verdict.ok) addPackageCoins(coins, tx)
        const result = acceptResult(tx, verdict, maxFeeRate)
        if (txs.length > 1 && result.allowed === false) stopped = true
        return result
      })
    },
  },
  submitpackage: {
    args: [
      {name: 'package', type: 'arr', required: true},
      {name: 'maxfeerate', type: 'amount'},
      {name: 'maxburnamount', type: 'amount'},
    ],
    run: (node, [pkg, maxFeeRateArg, maxBurnArg]) => {
      const txs = packageArray(pkg).map((hex) => decodeTx(hex))
      const maxBurn = maxBurnArg === null || maxBurnArg === undefined ? 0n : amountFromValue(maxBurnArg)
      txs.forEach((tx) => checkBurn(tx, maxBurn))
      if (txs.length > 1 && !isChildWithParentsTree(txs)) {
        throw new RpcFailure(RPC.verifyError, 'package topology disallowed. not child-with-parents or parents depend on each other.')
      }
      const maxFeeRate = parseFeeRate(maxFeeRateArg, DEFAULT_MAX_FEE_RATE)
      const chain = node.chain
      // AcceptPackage: the child may spend only package parents and confirmed coins; else nothing is evaluated
      const packageTxids = new Set(txs.map((tx) => tx.getId()))
      const child = txs[txs.length - 1]
      const unconfirmedOutside = child.ins.some((input) => !packageTxids.has(inputTxid(input.hash)) && !chain.ledger.utxos.has(outpointKey(inputTxid(input.hash), input.index)))
      if (txs.length > 1 && unconfirmedOutside) {
        return {package_msg: 'package-not-child-with-unconfirmed-parents', 'tx-results': {}, 'replaced-transactions': []}
      }
      const results: Record<string, unknown> = {}
      const replaced: string[] = []
      const aboveMax = (fee: bigint, vsize: number) => maxFeeRate > 0n && fee > feeForSize(Number(maxFeeRate), vsize)
      const sent = (tx: Transaction, verdict: Extract<Verdict, {ok: true}>, effective: {fee: bigint; vsize: number; wtxids: string[]}) => {
        replaced.push(...verdict.replaces)
        results[wtxidOf(tx)] = {
          txid: tx.getId(),
          ...sizes(verdict.vsize),
          fees: {base: new Amount(verdict.fee), 'effective-feerate': new Amount((effective.fee * 1000n) / BigInt(effective.vsize)), 'effective-includes': effective.wtxids},
        }
      }
      // first each on its own, parents first (Core's AcceptSubPackage per transaction)
      const failures = new Map<Transaction, Extract<Verdict, {ok: false}>>()
      for (const tx of txs) {
        const txid = tx.getId()
        const wtxid = wtxidOf(tx)
        const existing = chain.mempool.get(txid)
        if (existing) {
          results[wtxid] = {txid, 'other-wtxid': existing.wtxid === wtxid ? undefined : existing.wtxid, ...sizes(existing.vsize), fees: {base: new Amount(existing.fee)}}
          continue
        }
        const test = chain.testAccept(tx)
        if (test.ok && aboveMax(test.fee, test.vsize)) {
          results[wtxid] = {txid, error: 'max feerate exceeded'}
          continue
        }
        const verdict = test.ok ? chain.acceptToMempool(tx, {relayed: true}) : test
        if (verdict.ok) sent(tx, verdict, {fee: verdict.fee, vsize: verdict.vsize, wtxids: [wtxid]})
        else failures.set(tx, verdict)
      }
      // then a parent too cheap on its own with the child that pays for it (1p1c): the pair's fee rate decides
      const [parent, paying] = txs
      const parentFailure = failures.get(parent)
      if (txs.length === 2 && parentFailure?.reason === 'min relay fee not met' && failures.get(paying)?.missingInputs) {
        const coins = new Map<string, Coin>()
        addPackageCoins(coins, parent)
        const p = chain.testAccept(parent, undefined, true)
        const c = chain.testAccept(paying, coins, true)
        if (p.ok && c.ok) {
          const fee = p.fee + c.fee
          const vsize = p.vsize + c.vsize
          const floor = feeForSize(chain.policy.minRelayFeeRate, vsize)
          if (fee < floor) failures.set(paying, {ok: false, missingInputs: false, reason: 'min relay fee not met', details: `${fee} < ${floor}`})
          else if (aboveMax(fee, vsize)) {
            failures.delete(paying)
            results[wtxidOf(paying)] = {txid: paying.getId(), error: 'max feerate exceeded'}
          } else {
            const pv = chain.acceptToMempool(parent, {packageFeerate: true, relayed: true})
            const cv = chain.acceptToMempool(paying, {packageFeerate: true, relayed: true})
            if (!pv.ok || !cv.ok) throw new Error('a package that passed its test failed to enter the mempool')
            const effective = {fee, vsize, wtxids: [wtxidOf(parent), wtxidOf(paying)]}
            sent(parent, pv, effective)
            sent(paying, cv, effective)
            failures.clear()
          }
        } else if (!c.ok && !c.missingInputs) failures.set(paying, c)
      }
      for (const [tx, verdict] of failures) results[wtxidOf(tx)] = {txid: tx.getId(), error: verdict.missingInputs ? 'bad-txns-inputs-missingorspent' : stateText(verdict)}
      const message = txs.every((tx) => (results[wtxidOf(tx)] as {error?: string}).error === undefined) ? 'success' : 'transaction failed'
      return {package_msg: message, 'tx-results': results, 'replaced-transactions': replaced}
    },
  },
  submitblock: {
    args: [
      {name: 'hexdata', type: 'str_hex', required: true},
      {name: 'dummy', type: 'str'},
    ],
    run: (node, [hex]) => {
      if (typeof hex !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(hex) || hex.length < 162) throw new RpcFailure(RPC.deserializationError, 'Block decode failed')
      const raw = Buffer.from(hex, 'hex')
      const result = node.chain.submitBlock(raw)
      // accepted but not (yet) on the active chain
      if (result === null && !node.chain.isActive(node.chain.get(readHeader(raw).hash)!)) return 'inconclusive'
      return result
    },
  },
}

/** The active chain's transaction spending txid:n (Core's txospenderindex), found by reading the chain: the simulator's chains are small. */
function confirmedSpender(chain: Chain, txid: string, n: number): {txid: string; blockHash: string} | undefined {
  for (let height = chain.height; height > 0; height--) {
    const block = chain.at(height)!
    const parsed = chain.parsed(block)
    for (let i = 1; i < parsed.txs.length; i++) {
      if (parsed.txs[i].ins.some((input) => input.index === n && inputTxid(input.hash) === txid)) return {txid: parsed.txids[i], blockHash: block.hash}
    }
  }
  return undefined
}
