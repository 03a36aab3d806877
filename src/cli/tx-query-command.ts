import {type Command, Flags} from '@oclif/core'

import {BaseCommand, type NodeFlagValues, retryForFlag} from './base-command.js'
import {toDisplayHex} from '../lib/chain/hashes.js'
import {type NetworkName, networkFromChainName} from '../lib/chain/networks.js'
import {BixError} from '../lib/errors.js'
import {getBlockchainInfo} from '../lib/node/node-api.js'
import {BlockReads} from '../lib/query/block-reads.js'
import {errorAtLine, readTargetLines} from '../lib/query/target-lines.js'
import type {TxLookup} from '../lib/query/tx-report.js'
import {chooseQuerySource} from '../lib/sources/choose-source.js'
import {refuseWhileBuilding} from '../lib/store/first-run.js'
import {openStore} from '../lib/store/open-store.js'
import {Answers} from '../lib/ui/answers.js'

/** Blocks fetched at once while a query reads prevouts and spenders from them. */
const READ_AHEAD = {concurrency: 4, maxBytes: 64 * 1024 * 1024}

/** --retry-for, --file and --jsonl (the last two as `query address` and `query descriptor` have them). */
export const txQueryFlags = (what: string) => ({
  'retry-for': retryForFlag(0, 'none by default: a query answers now, or says at once that the node is down'),
  file: Flags.string({description: `also look up the ${what} in this file (- for stdin), one a line; blank lines and lines starting with # are skipped`}),
  jsonl: Flags.boolean({description: 'JSON Lines: one answer object per line, written as each is ready'}),
})

type TxQueryFlags = NodeFlagValues & {db?: string; file?: string; jsonl: boolean; 'retry-for': number}

/**
 * What `bix query tx` and `bix query outpoint` share: the index (read in one
 * read transaction, so every answer reflects one tip while `bix index`
 * writes), the node, for blocks and the mempool, and the targets from the
 * command line and --file, answered in order and written as they are ready.
 */
export abstract class TxQueryCommand<T extends typeof Command> extends BaseCommand<T> {
  /**
   * Answers every target, in order (ui/answers.ts: an array under --json,
   * even for one; one object per line under --jsonl). The first target that
   * fails stops the run; from a file its line is named.
   */
  protected async answerAll<R>(
    flags: TxQueryFlags,
    answerOne: (lookup: TxLookup, target: string) => Promise<R>,
    render: (report: R, separate: boolean) => void,
  ): Promise<R[] | undefined> {
    const given = this.positionalArgs
    const answers = new Answers<R>({json: this.jsonEnabled(), jsonl: flags.jsonl, stream: Boolean(flags.file), render})
    await this.withLookup(flags, async (lookup) => {
      const answer = async (target: string) => {
        if (this.interrupt.signal.aborted) throw this.interrupt.signal.reason
        const report = await answerOne(lookup, target)
        await answers.add(report)
      }
      for (const target of given) await answer(target)
      if (flags.file) {
        for await (const line of readTargetLines(flags.file)) {
          try {
            await answer(line.text)
          } catch (err) {
            throw errorAtLine(flags.file, line, err)
          }
        }
      }
    })
    return answers.end()
  }

  private async withLookup(flags: TxQueryFlags, ask: (lookup: TxLookup) => Promise<void>): Promise<void> {
    const config = this.resolveNode(flags)
    const network = (flags.network as NetworkName | undefined) ?? config.network
    const db = openStore(this.databasePath(flags.db, network), {mode: 'read', network: flags.db ? (flags.network as NetworkName | undefined) : network})
    try {
      const client = this.connectNode(config, flags, {retryForMs: flags['retry-for']})
      const signal = this.interrupt.signal
      const info = await getBlockchainInfo(client, {signal})
      if (networkFromChainName(info.chain) !== db.network) {
        throw new BixError('WrongNetwork', `the index ${db.location} holds ${db.network}, the node runs ${info.chain}`)
      }
      await db.readSnapshot(async () => {
        refuseWhileBuilding(db)
        const tip = db.tip()
        if (tip && info.blocks > tip.height) {
          this.warnLine(`the index is ${info.blocks - tip.height} blocks behind the node (index ${tip.height}, node ${info.blocks}); run bix index`)
        } else if (tip && info.blocks === tip.height && info.bestBlockHash !== toDisplayHex(tip.hash)) {
          this.warnLine(`the index's tip at height ${tip.height} is not the node's (a reorg); run bix index`)
        }
        const blocks = new BlockReads(await chooseQuerySource(client, READ_AHEAD, signal), signal)
        await ask({reader: db.txReader(), client, blocks, network: db.network, tipHeight: tip?.height ?? -1, signal})
      })
    } finally {
      db.close()
    }
  }
}
