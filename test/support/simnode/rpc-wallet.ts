/**
 * Mining and the few wallet RPCs integration tests drive (generatetoaddress,
 * getnewaddress, sendtoaddress, bumpfee, getbalance, createwallet), so the
 * same test code works against the simulator and a real bitcoind.
 */
import {Amount} from './core-json.js'
import type {NodeState, RpcMethod} from './rpc-methods.js'
import {RPC, RpcFailure, amountFromValue, getInt, parseHash} from './rpc-params.js'
import {addressToScript} from './scripts.js'
import {type AddressType, InsufficientFunds} from './wallet.js'
import {broadcast} from './rpc-transactions.js'

const CORE_ADDRESS_TYPES: Record<string, AddressType> = {legacy: 'legacy', 'p2sh-segwit': 'p2sh-segwit', bech32: 'bech32', bech32m: 'bech32m'}

function scriptFor(node: NodeState, address: unknown, message: string): Buffer {
  try {
    return addressToScript(String(address), node.chain.addressPrefixes)
  } catch {
    throw new RpcFailure(RPC.invalidAddressOrKey, message)
  }
}

function addressType(value: unknown): AddressType {
  if (value === null || value === undefined) return 'bech32'
  const type = CORE_ADDRESS_TYPES[String(value)]
  if (!type) throw new RpcFailure(RPC.invalidAddressOrKey, `Unknown address type '${String(value)}'`)
  return type
}

export const WALLET_METHODS: Record<string, RpcMethod> = {
  generatetoaddress: {
    args: [
      {name: 'nblocks', type: 'num', required: true},
      {name: 'address', type: 'str', required: true},
      {name: 'maxtries', type: 'num'},
    ],
    run: (node, [n, address]) => node.mine(getInt(n), {to: scriptFor(node, address, 'Error: Invalid address')}),
  },
  createwallet: {
    args: [
      {name: 'wallet_name', type: 'str', required: true},
      {name: 'disable_private_keys', type: 'bool'},
      {name: 'blank', type: 'bool'},
      {name: 'passphrase', type: 'str'},
      {name: 'avoid_reuse', type: 'bool'},
      {name: 'descriptors', type: 'bool'},
      {name: 'load_on_startup', type: 'bool'},
      {name: 'external_signer', type: 'bool'},
    ],
    run: (_node, [name]) => ({name}),
  },
  loadwallet: {
    args: [
      {name: 'filename', type: 'str', required: true},
      {name: 'load_on_startup', type: 'bool'},
    ],
    run: (_node, [name]) => ({name}),
  },
  getnewaddress: {
    args: [
      {name: 'label', type: 'str'},
      {name: 'address_type', type: 'str'},
    ],
    run: (node, [, type]) => node.wallet.newAddress(addressType(type)),
  },
  getrawchangeaddress: {
    args: [{name: 'address_type', type: 'str'}],
    run: (node, [type]) => node.wallet.newAddress(addressType(type)),
  },
  getbalance: {
    args: [
      {name: 'dummy', type: 'str'},
      {name: 'minconf', type: 'num'},
      {name: 'include_watchonly', type: 'bool'},
      {name: 'avoid_reuse', type: 'bool'},
    ],
    run: (node) => {
      const coins = node.chain.spendableCoins(node.wallet.scripts()).filter((c) => !node.chain.mempool.has(c.txid))
      return new Amount(coins.reduce((sum, c) => sum + c.coin.value, 0n))
    },
  },
  sendtoaddress: {
    args: [
      {name: 'address', type: 'str', required: true},
      {name: 'amount', type: 'amount', required: true},
      {name: 'comment', type: 'str'},
      {name: 'comment_to', type: 'str'},
      {name: 'subtractfeefromamount', type: 'bool'},
      {name: 'replaceable', type: 'bool'},
      {name: 'conf_target', type: 'num'},
      {name: 'estimate_mode', type: 'str'},
      {name: 'avoid_reuse', type: 'bool'},
      {name: 'fee_rate', type: 'amount'},
      {name: 'verbose', type: 'bool'},
    ],
    run: (node, args) => {
      const script = scriptFor(node, args[0], 'Invalid address')
      const value = amountFromValue(args[1])
      if (value <= 0n) throw new RpcFailure(RPC.typeError, 'Invalid amount for send')
      const feeRate = args[9] === null || args[9] === undefined ? undefined : Number(args[9])
      try {
        const tx = node.walletSpend([{script, value}], {feeRate})
        return broadcast(node.chain, tx, 0n)
      } catch (err) {
        if (err instanceof InsufficientFunds) throw new RpcFailure(RPC.walletInsufficientFunds, 'Insufficient funds')
        throw err
      }
    },
  },
  bumpfee: {
    args: [
      {name: 'txid', type: 'str_hex', required: true},
      {name: 'options', type: 'obj'},
    ],
    run: (node, [txidArg]) => {
      const chain = node.chain
      const txid = parseHash(txidArg, 'txid')
      const entry = chain.mempool.get(txid)
      if (!entry) throw new RpcFailure(RPC.invalidAddressOrKey, 'Invalid or non-wallet transaction id')
      if (chain.mempool.descendants(txid).length > 0) throw new RpcFailure(RPC.invalidParameter, 'Transaction has descendants in the wallet')
      let tx
      try {
        tx = node.bumped(txid)
      } catch {
        throw new RpcFailure(RPC.invalidAddressOrKey, "Transaction contains inputs that don't belong to this wallet")
      }
      const newTxid = broadcast(chain, tx, 0n)
      const fee = chain.mempool.get(newTxid)!.fee
      return {txid: newTxid, origfee: new Amount(entry.fee), fee: new Amount(fee), errors: []}
    },
  },
}
