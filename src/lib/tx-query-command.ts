import type {Command} from '@oclif/core'

import {BaseCommand, type NodeFlagValues} from './base-command.js'
import {toDisplayHex} from './chain/hashes.js'
import {type NetworkName, networkFromChainName} from './chain/networks.js'
import {BixError} from './errors.js'
import {getBlockchainInfo} from './node/node-api.js'
import {BlockReads} from './query/block-reads.js'
import type {TxLookup} from './query/tx-report.js'
import {chooseQuerySource} from './sources/choose-source.js'
import {openIndex} from './store/database.js'
import {TxReader} from './store/tx-reader.js'

/** Blocks fetched at once while a query reads prevouts and spenders from them. */
const READ_AHEAD = {concurrency: 4, maxBytes: 64 * 1024 * 1024}

/**
 * What `bix query tx` and `bix query outpoint` share: the index (read in one
 * read transaction, so every answer reflects one tip while `bix index`
 * writes) and the node, for blocks and the mempool.
 */
export abstract class TxQueryCommand<T extends typeof Command> extends BaseCommand<T> {
  protected async withLookup<R>(flags: NodeFlagValues & {db?: string}, ask: (lookup: TxLookup) => Promise<R>): Promise<R> {
    const config = this.resolveNode(flags)
    const network = (flags.network as NetworkName | undefined) ?? config.network
    const db = openIndex(this.databasePath(flags.db, network), {mode: 'read', network: flags.db ? (flags.network as NetworkName | undefined) : network})
    try {
      const client = this.connectNode(config, flags)
      const signal = this.interrupt.signal
      const info = await getBlockchainInfo(client, {signal})
      const nodeNetwork = networkFromChainName(info.chain)
      if (nodeNetwork !== db.network) {
        throw new BixError('WrongNetwork', `the index ${db.path} holds ${db.network}, the node runs ${info.chain}`)
      }
      db.sqlite.exec('BEGIN')
      try {
        const tip = db.tip()
        if (tip && info.blocks > tip.height) {
          this.warnLine(`the index is ${info.blocks - tip.height} blocks behind the node (index ${tip.height}, node ${info.blocks}); run bix index`)
        } else if (tip && info.blocks === tip.height && info.bestBlockHash !== toDisplayHex(tip.hash)) {
          this.warnLine(`the index's tip at height ${tip.height} is not the node's (a reorg); run bix index`)
        }
        const blocks = new BlockReads(await chooseQuerySource(client, READ_AHEAD, signal), signal)
        return await ask({reader: new TxReader(db), client, blocks, network: db.network, tipHeight: tip?.height ?? -1, signal})
      } finally {
        db.sqlite.exec('COMMIT')
      }
    } finally {
      db.close()
    }
  }
}
