import type {Command} from '@oclif/core'

import {BaseCommand} from './base-command.js'
import {toDisplayHex} from '../lib/chain/hashes.js'
import {type NetworkName, networkFromChainName} from '../lib/chain/networks.js'
import {isBixError} from '../lib/errors.js'
import {getBlockchainInfo} from '../lib/node/node-api.js'
import type {NodeConfig} from '../lib/node/types.js'
import type {IndexStore} from '../lib/store/index-store.js'
import {openStore} from '../lib/store/open-store.js'
import {formatCount} from '../lib/format.js'

/** When the node is asked how fresh the index is, it must not hold the answer up. */
const NODE_CHECK_CONNECT_S = 1
const NODE_CHECK_TIMEOUT_S = 3

/** The flags every query command has: nodeFlags, dbFlags and --offline. */
type QueryFlags = Parameters<BaseCommand<typeof Command>['resolveNode']>[0] & {db?: string; offline: boolean}

/**
 * What the `query` commands share: the index opened for reading (the node's
 * settings, when there are any, only name its default path), and the
 * warning when the index lags the node (--offline skips asking).
 */
export abstract class QueryCommand<T extends typeof Command> extends BaseCommand<T> {
  private nodeConfig?: {config?: NodeConfig; configError?: string}

  private get queryFlags(): QueryFlags {
    return this.flags as unknown as QueryFlags
  }

  /** The index file to read, and the network it must hold (undefined with --db: the file says). */
  protected queryIndex(): {file: string; network?: NetworkName} {
    const flags = this.queryFlags
    const {config} = this.nodeConfigIfAny()
    const network = (flags.network as NetworkName | undefined) ?? (flags.db ? undefined : (config?.network ?? 'main'))
    // with --db the file says which network it holds
    return {file: this.databasePath(flags.db, network ?? 'main'), network}
  }

  protected openQueryIndex(): IndexStore {
    const {file, network} = this.queryIndex()
    return openStore(file, {mode: 'read', network})
  }

  /** Warns when the node is ahead of (or on another branch than) the tip the answers reflect. */
  protected async checkFreshness(network: NetworkName, tip: {height: number; hash: Buffer} | undefined): Promise<void> {
    if (this.queryFlags.offline) return
    const {config, configError} = this.nodeConfigIfAny()
    if (config && config.network === network) await this.warnIfBehind(config, tip)
    else if (configError && this.flags.verbose) this.note(`freshness not checked against the node: ${configError}`)
  }

  /** The node's settings, for the default database path and the freshness check; a query runs without them. */
  private nodeConfigIfAny(): {config?: NodeConfig; configError?: string} {
    if (this.nodeConfig) return this.nodeConfig
    try {
      this.nodeConfig = {config: this.resolveNode(this.queryFlags)}
    } catch (err) {
      if (!isBixError(err)) throw err
      this.nodeConfig = {configError: err.message}
    }
    return this.nodeConfig
  }

  private async warnIfBehind(config: NodeConfig, tip: {height: number; hash: Buffer} | undefined): Promise<void> {
    const flags = this.queryFlags
    const client = this.connectNode(
      config,
      {...flags, 'connect-timeout': NODE_CHECK_CONNECT_S, 'rpc-timeout': Math.min(flags['rpc-timeout'], NODE_CHECK_TIMEOUT_S)},
      {retryForMs: 0},
    )
    let info
    try {
      info = await getBlockchainInfo(client, {retry: false})
    } catch (err) {
      if (!isBixError(err) || err.kind === 'Interrupted') throw err
      // the node is optional here: an answer from the index alone is still an answer
      if (this.flags.verbose) this.note(`freshness not checked against the node: ${err.message}`)
      return
    }
    if (networkFromChainName(info.chain) !== config.network) return
    const indexHeight = tip?.height ?? -1
    if (info.blocks > indexHeight) {
      this.warnLine(`the index is ${formatCount(info.blocks - indexHeight)} blocks behind the node (index ${indexHeight}, node ${info.blocks}); run bix index`)
    } else if (tip && info.blocks === indexHeight && info.bestBlockHash !== toDisplayHex(tip.hash)) {
      this.warnLine(`the index's tip at height ${indexHeight} is not the node's (a reorg); run bix index`)
    }
  }
}
