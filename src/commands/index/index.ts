import {Flags} from '@oclif/core'
import path from 'node:path'

import {BaseCommand, dbFlags, nodeFlags, retryForFlag} from '../../cli/base-command.js'
import type {IndexRunSummary} from '../../lib/index/index-node.js'
import {SOURCE_KINDS} from '../../lib/sources/block-source.js'
import type {SourceChoice} from '../../lib/sources/choose-source.js'
import {isInteractive} from '../../lib/ui/colour.js'
import {formatBytes, formatCount, formatDuration} from '../../lib/format.js'
import {type IndexRunJson, indexRunJson} from '../../lib/ui/json.js'

export default class Index extends BaseCommand<typeof Index> {
  static override summary = 'Build the address index, or bring it up to the node\'s tip.'
  static override description = `Reads every block of the node's active chain that the index does not have yet and records each output and spend by script, a batch of blocks per transaction.

Safe to stop at any moment: Ctrl-C (or SIGTERM) writes the batch in hand and exits 130 (143); a crash or kill -9 loses at most that batch, and the next run continues where the index stands. Every run first compares the index with the node's chain and undoes blocks the node has abandoned (a reorg of any depth), and notices a reorg that happens while it runs.

Blocks come from the node's blk*.dat files when bix can read them and has many blocks to index (fastest), else from REST (bitcoind -rest=1), else over RPC; --source picks one. Each block is checked (its hash is the one asked for, its merkle root matches its transactions) before anything is written.

When the node goes away mid-run (a restart, warm-up), the run waits for it up to --retry-for, with a line on stderr when the wait starts and every 15 s, then exits 3 keeping every block indexed so far.

One index run at a time per database (a second one exits 5 naming the first one's PID, or waits with --wait-lock); queries and status keep working meanwhile.

The first run on an empty index sorts its script index once at the end, in temporary files about a quarter of the index's size: beside the database, or in $SQLITE_TMPDIR if set.`

  static override examples = [
    {description: 'Index the node from bitcoin.conf up to its tip.', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'A regtest node, over RPC only, stopping at height 1000.', command: '<%= config.bin %> <%= command.id %> --network regtest --source rpc --to-height 1000'},
    {description: 'From cron: wait for a running index to finish, no progress, a JSON summary.', command: '<%= config.bin %> <%= command.id %> --wait-lock --json'},
    {description: 'Block files on another disk.', command: '<%= config.bin %> <%= command.id %> --blocksdir /mnt/ssd/bitcoin/blocks'},
  ]

  static override flags = {
    ...nodeFlags,
    'retry-for': retryForFlag(30_000, 'short by default so that a run from cron every minute gives up before the next one starts (which would exit 5)'),
    ...dbFlags,
    'to-height': Flags.integer({description: 'stop at this height (default: the node\'s tip)', min: 0, helpGroup: 'INDEX'}),
    source: Flags.string({
      description: 'where blocks come from: the node\'s block files, REST, RPC, or the best available',
      options: ['auto', ...SOURCE_KINDS],
      default: 'auto',
      env: 'BIX_SOURCE',
      helpGroup: 'INDEX',
    }),
    blocksdir: Flags.string({description: 'the node\'s blocks directory (default <datadir>/<network dir>/blocks)', env: 'BIX_BLOCKSDIR', helpGroup: 'INDEX'}),
    'max-memory': Flags.integer({
      description: 'memory budget in MiB for blocks read ahead, write batches and the database cache',
      default: 512,
      min: 64,
      env: 'BIX_MAX_MEMORY',
      helpGroup: 'INDEX',
    }),
    'wait-lock': Flags.boolean({description: 'wait for another bix index on this database to finish instead of exiting 5', helpGroup: 'INDEX'}),
    'batch-blocks': Flags.integer({description: 'blocks per write transaction (tests)', min: 1, hidden: true, env: 'BIX_BATCH_BLOCKS'}),
  }

  public async run(): Promise<IndexRunJson> {
    const {flags} = this
    const config = this.resolveNode(flags)
    const dbPath = this.databasePath(flags.db, config.network)
    // loaded here, not with the command list: every other command's start would pay for them
    const [{indexNode}, {Progress}] = await Promise.all([import('../../lib/index/index-node.js'), import('../../lib/ui/progress.js')])
    const progress = new Progress({silent: this.silent, unit: 'blocks'})
    const client = this.connectNode(config, flags, {retryForMs: flags['retry-for'], onNotice: (line) => progress.log(line)})
    const plain = !isInteractive(process.stderr)
    let started = false
    try {
      const summary = await indexNode({
        client,
        network: config.network,
        dbPath,
        blocksDir: flags.blocksdir ? path.resolve(flags.blocksdir) : path.join(config.netDatadir, 'blocks'),
        source: flags.source as SourceChoice,
        toHeight: flags['to-height'],
        maxMemoryBytes: flags['max-memory'] * 1024 * 1024,
        parallelism: flags['rpc-parallelism'],
        waitLock: flags['wait-lock'],
        batchBlocks: flags['batch-blocks'],
        signal: this.interrupt.signal,
        events: {
          onSource: (kind, reason) => this.note(`source: ${kind} (${reason})`),
          onWaitLock: (holder) => this.note(`waiting for the index run ${holder} to finish…`),
          onRefetch: (height, reason) => {
            if (flags.verbose) process.stderr.write(`refetch block ${height}: ${reason}\n`)
          },
          onReorg: (reorg) =>
            progress.log(`reorg: the node left ${reorg.undone} indexed block${reorg.undone === 1 ? '' : 's'} above height ${reorg.forkHeight}; undone`),
          onMergingRecent: (outputs) => progress.log(`merging the ${formatCount(outputs)} outputs of recent runs into the main tables (sorted passes, once in a while)…`),
          onFinishingFirstRun: () => {
            progress.stop()
            this.note('finishing the first run: the txid index, the old spends and the script index, each by a sort (once)…')
          },
          onProgress: (p, speed) => {
            if (!started) {
              started = true
              progress.start(p.targetHeight, p.height, 'indexing')
            }
            const eta = plain && speed.etaMs !== undefined ? `, ETA ${formatDuration(speed.etaMs)}` : ''
            const detail = `${formatCount(Math.round(speed.blocksPerSecond))} blk/s ${formatCount(Math.round(speed.transactionsPerSecond))} tx/s${eta}`
            progress.update(p.height, {detail}, p.targetHeight)
          },
        },
      })
      progress.stop()
      if (!this.jsonEnabled()) this.render(summary)
      return indexRunJson(summary)
    } finally {
      progress.stop()
    }
  }

  private render(s: IndexRunSummary): void {
    const tip = s.hash === null ? 'the index is empty' : `height ${formatCount(s.height)} (${s.hash})`
    if (s.blocks === 0 && s.reorgs.length === 0) {
      this.log(`up to date at ${tip}`)
    } else {
      const rate = s.elapsedMs > 0 ? `, ${formatCount(Math.round((s.transactions * 1000) / s.elapsedMs))} tx/s` : ''
      this.log(
        `indexed ${formatCount(s.blocks)} block${s.blocks === 1 ? '' : 's'} (${formatCount(s.transactions)} transactions) in ${formatDuration(s.elapsedMs)} from ${s.source}${rate}: ${tip}`,
      )
    }
    for (const reorg of s.reorgs) this.log(`reorg: undid ${reorg.undone} block${reorg.undone === 1 ? '' : 's'} above height ${reorg.forkHeight}`)
    if (s.height < s.nodeHeight) this.log(`the node is at height ${formatCount(s.nodeHeight)}`)
    this.log(`database: ${s.database} (${formatBytes(s.databaseBytes)})`)
  }
}
