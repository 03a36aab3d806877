import {Flags} from '@oclif/core'
import path from 'node:path'

import {BaseCommand, dbFlags, nodeFlags, retryForFlag} from '../cli/base-command.js'
import type {MempoolSyncResult} from '../lib/mempool/mempool-sync.js'
import {formatCount, formatDuration} from '../lib/format.js'
import {type MempoolSyncJson, mempoolSyncJson} from '../lib/ui/json.js'
import type {Progress} from '../lib/ui/progress.js'

/** index's defaults, for --index */
const INDEX_MAX_MEMORY_MIB = 512
/** fewer new transactions than this take a moment: no bar */
const PROGRESS_FROM_TXS = 1000

export default class SyncMempool extends BaseCommand<typeof SyncMempool> {
  static override summary = 'Make the index\'s copy of the mempool equal to the node\'s.'
  static override description = `Lists the node's mempool, removes from the index's copy what has left it (confirmed, replaced, evicted, expired) and fetches only what is new, in batches, with when the node first saw each transaction, its size and fee, and the script and value of every output each one spends.

The copy belongs to the index's tip, so the index must be at the node's tip: otherwise this exits 6, or with --index first brings the index up to date. If a block arrives during the sync, the sync does not complete (exit 6), or with --index indexes it and goes again. It waits for the node to finish loading mempool.dat.

Safe to run from cron every minute: a run with nothing to do finishes in a few calls, and with --quiet prints nothing unless something changed or went wrong. Stopped or killed at any moment, the copy is either the previous one or marked incomplete, and the next run repairs it. It shares the writer lock with bix index (exit 5 while one runs, or wait with --wait-lock).`

  static override examples = [
    {description: 'Sync the mempool of the node from bitcoin.conf.', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'From cron: index new blocks first, print only changes.', command: '<%= config.bin %> <%= command.id %> --index --quiet'},
    {description: 'A regtest node, the result as JSON.', command: '<%= config.bin %> <%= command.id %> --network regtest --json'},
  ]

  static override flags = {
    ...nodeFlags,
    'retry-for': retryForFlag(30_000, 'short by default so that a run from cron every minute gives up before the next one starts'),
    ...dbFlags,
    index: Flags.boolean({description: 'bring the index to the node\'s tip first (and again if a block arrives meanwhile) instead of exiting 6', helpGroup: 'MEMPOOL'}),
    'wait-lock': Flags.boolean({description: 'wait for a bix index writing this database to finish instead of exiting 5', helpGroup: 'MEMPOOL'}),
  }

  public async run(): Promise<MempoolSyncJson> {
    const {flags} = this
    const config = this.resolveNode(flags)
    const dbPath = this.databasePath(flags.db, config.network)
    const client = this.connectNode(config, flags, {retryForMs: flags['retry-for']})
    // loaded here, not with the command list: every other command's start would pay for them
    const [{syncMempool}, {Progress}] = await Promise.all([import('../lib/mempool/mempool-sync.js'), import('../lib/ui/progress.js')])
    let progress: Progress | undefined
    try {
      const result = await syncMempool({
        client,
        network: config.network,
        dbPath,
        index: flags.index
          ? {
              blocksDir: path.join(config.netDatadir, 'blocks'),
              source: 'auto',
              maxMemoryBytes: INDEX_MAX_MEMORY_MIB * 1024 * 1024,
              parallelism: flags['rpc-parallelism'],
            }
          : undefined,
        parallelism: flags['rpc-parallelism'],
        waitLock: flags['wait-lock'],
        signal: this.interrupt.signal,
        events: {
          onWaitLoaded: () => this.note('waiting for the node to finish loading its mempool…'),
          onWaitLock: (holder) => this.note(`waiting for the index run ${holder} to finish…`),
          onIndexing: (why) => this.note(`${why}: indexing…`),
          onIndexed: (s) => this.note(`indexed ${formatCount(s.blocks)} block${s.blocks === 1 ? '' : 's'}: height ${formatCount(s.height)}`),
          onFetchStart: (total) => {
            progress?.stop()
            progress = total >= PROGRESS_FROM_TXS ? new Progress({silent: this.silent, unit: 'transactions'}) : undefined
            progress?.start(total, 0, 'fetching')
          },
          onFetchProgress: (done, total) => progress?.update(done, {}, total),
        },
      })
      progress?.stop()
      if (!this.jsonEnabled()) this.render(result)
      return mempoolSyncJson(result)
    } finally {
      progress?.stop()
    }
  }

  private render(r: MempoolSyncResult): void {
    const changed = r.added > 0 || r.removed > 0 || r.indexedBlocks > 0
    if (!changed && this.flags.quiet) return
    const what = changed ? `+${formatCount(r.added)} -${formatCount(r.removed)}` : 'unchanged'
    const vanished = r.vanished > 0 ? `, ${formatCount(r.vanished)} gone before fetched` : ''
    this.log(
      `mempool ${what}: ${formatCount(r.total)} transaction${r.total === 1 ? '' : 's'} at height ${formatCount(r.tip.height)} (${r.tip.hash}) in ${formatDuration(r.elapsedMs)}${vanished}`,
    )
  }
}
