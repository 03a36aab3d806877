/**
 * The RPC method table and what a method may ask of the node. Each entry has
 * Core's argument list (names and types, for its error messages) and a
 * handler; the groups live in rpc-blockchain.ts, rpc-transactions.ts and
 * rpc-wallet.ts.
 */
import type {Transaction} from 'bitcoinjs-lib'

import type {Chain} from './chain.js'
import type {Payment, Wallet} from './wallet.js'
import {type ArgSpec, RPC, RpcFailure, normalizeParams} from './rpc-params.js'
import {BLOCKCHAIN_METHODS} from './rpc-blockchain.js'
import {TRANSACTION_METHODS} from './rpc-transactions.js'
import {WALLET_METHODS} from './rpc-wallet.js'

export interface NodeInfo {
  /** getnetworkinfo.version, e.g. 319900 for 31.99 */
  version: number
  subversion: string
  /** getblockchaininfo/getnetworkinfo warnings */
  warnings: string[]
  /** ms since epoch */
  startedAt: number
  /** open P2P connections (getpeerinfo, getnetworkinfo's counts); the simulator has no P2P: tests add them */
  peers: SimPeer[]
  /** -prune=1 (manual pruning): the lowest height whose block data is still kept; undefined for an unpruned node */
  pruneHeight?: number
  /** -txospenderindex: confirmed spenders are indexed (gettxspendingprevout) */
  txospenderindex: boolean
}

/** One connection as getpeerinfo lists it (the fields a status reader needs). */
export interface SimPeer {
  id: number
  addr: string
  inbound: boolean
  /** Core's connection_type: "inbound", "manual" (addnode), "outbound-full-relay", … */
  connectionType: string
  subver: string
  startingHeight: number
}

/** What RPC and REST handlers need from the simulated node. */
export interface NodeState {
  readonly chain: Chain
  readonly wallet: Wallet
  readonly info: NodeInfo
  /** bytes of block files (getblockchaininfo.size_on_disk) */
  sizeOnDisk(): number
  /** mines n blocks (mempool included) paying the coinbase to `to`, returns their hashes */
  mine(n: number, opts?: {to?: string | Uint8Array}): string[]
  /** a wallet transaction paying `payments` (dummy signatures), not broadcast */
  walletSpend(payments: Payment[], opts?: {feeRate?: number}): Transaction
  /** the wallet's fee bump of a mempool transaction (bumpfee), not broadcast */
  bumped(txid: string): Transaction
  /** the `stop` RPC: shut down after answering */
  requestStop(): void
  /** consumes one "wrong block" fault if armed */
  takeWrongBlock(): boolean
  /** the best header height while in initial block download (the initialBlockDownload fault); undefined when synced */
  syncHeaders(): number | undefined
  /** aborted when the node stops, ending long polls */
  readonly stopping: AbortSignal
  /** bytes received and sent over HTTP (getnettotals) */
  traffic(): {received: number; sent: number}
}

export type RpcHandler = (node: NodeState, params: unknown[]) => unknown

export interface RpcMethod {
  args: ArgSpec[]
  run: RpcHandler
}

export const METHODS: Record<string, RpcMethod> = {...BLOCKCHAIN_METHODS, ...TRANSACTION_METHODS, ...WALLET_METHODS}

/** Runs one call as Core's CRPCTable::execute does after the warm-up check. */
export async function execute(node: NodeState, method: string, params: unknown): Promise<unknown> {
  const entry = Object.hasOwn(METHODS, method) ? METHODS[method] : undefined
  if (!entry) throw new RpcFailure(RPC.methodNotFound, 'Method not found')
  const args = normalizeParams(method, entry.args, params)
  return entry.run(node, args)
}
