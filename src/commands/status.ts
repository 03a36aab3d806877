import {Flags} from '@oclif/core'
import type {ChalkInstance} from 'chalk'
import path from 'node:path'

import {writeFileAtomic} from '../lib/atomic-file.js'
import {BaseCommand, dbFlags, nodeFlags, retryForFlag} from '../cli/base-command.js'
import type {NetworkName} from '../lib/chain/networks.js'
import {BixError} from '../lib/errors.js'
import {renderExposition} from '../lib/metrics/exposition.js'
import {statusMetrics} from '../lib/metrics/status-metrics.js'
import {lastRunsPath, readLastRuns} from '../lib/store/last-runs.js'
import {type StatusResult, statusReport} from '../lib/status-report.js'
import type {IndexSummary} from '../lib/store/summary.js'
import {formatBytes, formatCount, formatDuration, formatTime} from '../lib/format.js'
import {type StatusJson, statusJson} from '../lib/ui/json.js'

/** status must not hang on a dead node: a short connect timeout unless the user set a shorter one */
const STATUS_CONNECT_TIMEOUT_S = 2

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Show the node and the index on one screen.'
  static override description = `The node: network, version, blocks and headers, verification progress, initial block download, pruning, mempool, peers, warnings and the RPC round trip. The index: its file, tip, how far it lags behind the node, size on disk, whether a \`bix index\` run is writing to it, and whether its first run has finished (queries wait for that).

Fails fast when the node is down (unless --retry-for gives it time): it says which endpoints and which credential source it tried (never a password or cookie), still shows the index, and exits 3. Exits 2 when the node runs another network than the one configured.

--prometheus prints the same as Prometheus metrics (and how each bix command last ended, from <db>.runs.json); --textfile writes them to a file for node_exporter's textfile collector, replacing it in one step. Both exit 0 whenever the metrics were produced, the node down or not: bix_node_up and bix_index_up say what is wrong. A --textfile that cannot be written exits 2.`

  static override examples = [
    {description: 'The node from bitcoin.conf and its index.', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'A regtest node, as JSON for monitoring.', command: '<%= config.bin %> <%= command.id %> --network regtest --json'},
    {description: 'An index file elsewhere.', command: '<%= config.bin %> <%= command.id %> --db /srv/bix/index.db'},
    {description: 'Prometheus metrics on stdout.', command: '<%= config.bin %> <%= command.id %> --prometheus'},
    {
      description: 'For node_exporter --collector.textfile.directory, from cron every minute.',
      command: '<%= config.bin %> <%= command.id %> --textfile /var/lib/prometheus/node-exporter/bix.prom',
    },
  ]

  static override flags = {
    ...nodeFlags,
    'retry-for': retryForFlag(0, 'none by default: status tells how the node is now; a monitoring script that would rather wait through a restart gives a window'),
    ...dbFlags,
    prometheus: Flags.boolean({description: 'print Prometheus metrics (text exposition format) instead of the report', exclusive: ['json']}),
    textfile: Flags.string({description: 'write Prometheus metrics to this file, atomically (for node_exporter\'s textfile collector)', exclusive: ['json']}),
  }

  public async run(): Promise<StatusJson> {
    const {flags} = this
    const config = this.resolveNode(flags)

    // the client is made first: it names where it looked even when the node is down
    const client = this.connectNode(
      config,
      {...flags, 'connect-timeout': Math.min(flags['connect-timeout'], STATUS_CONNECT_TIMEOUT_S)},
      {retryForMs: flags['retry-for']},
    )
    const {result, nodeError, indexError} = await statusReport({config, client, db: this.databasePath(flags.db, config.network), retry: flags['retry-for'] > 0})
    const index = result.index
    if (flags.prometheus || flags.textfile) {
      this.exportMetrics(result, indexError ? null : index, config.network, {print: flags.prometheus, file: flags.textfile})
      // the exporter's job was done: what is wrong is in the metrics, and a cron line must not fail on it
      return statusJson(result)
    }
    if (!this.jsonEnabled()) this.render(result, config.network)
    // the report stands; the exit code says what is wrong, the node first
    const failure = nodeError ?? indexError
    if (failure) process.exitCode = failure.exitCode
    return statusJson(result)
  }

  private exportMetrics(result: StatusResult, index: IndexSummary | null, network: string, to: {print: boolean; file?: string}): void {
    const node = result.node && !result.nodeError ? result.node : null
    const text = renderExposition(
      statusMetrics({
        network,
        node,
        index,
        lag: node && index ? result.lag : null,
        lastRuns: readLastRuns(lastRunsPath(this.databasePath(this.flags.db, network as NetworkName), this.config.dataDir)),
        now: Date.now() / 1000,
      }),
    )
    if (to.print) process.stdout.write(text)
    if (to.file) {
      const file = path.resolve(to.file)
      try {
        // readable by node_exporter's own user: metrics hold no secret
        writeFileAtomic(file, text, 0o644)
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
        throw new BixError('BadInput', `cannot write the metrics to ${file} (${reason}); --textfile wants a file in a directory bix may write to`)
      }
    }
  }

  private render(result: StatusResult, network: string): void {
    const c = this.stdoutColour
    const row = (label: string, value: string) => this.log(`${label.padEnd(11)} ${value}`)
    const {node} = result

    if (node) {
      row('node', `${node.endpoint} (${node.chain})`)
      row('version', `${node.versionText} ${node.subversion}`)
      const synced = !node.initialBlockDownload && node.blocks === node.headers
      row('blocks', `${formatCount(node.blocks)} of ${formatCount(node.headers)} headers, ${synced ? c.green('synced') : c.yellow('syncing')}`)
      row('verified', `${(node.verificationProgress * 100).toFixed(2)}%${node.initialBlockDownload ? ', initial block download' : ''}`)
      row('pruned', node.pruned ? `yes, blocks from ${node.pruneHeight ?? '?'} on` : 'no')
      row('disk', formatBytes(node.sizeOnDisk))
      row('mempool', node.mempool.loaded ? `${formatCount(node.mempool.txCount)} tx, ${formatBytes(node.mempool.bytes)}` : 'still loading')
      row('peers', `${node.peers.inbound} in, ${node.peers.outbound} out`)
      row('uptime', formatDuration(node.uptimeSeconds * 1000))
      row('rpc', `${node.rpcRoundTripMs} ms round trip`)
      for (const warning of node.warnings) row('warning', c.yellow(warning))
    }
    if (node && result.nodeError) row('error', c.red(result.nodeError))
    if (!node && result.nodeError) {
      row('node', c.red(`unavailable: ${result.nodeError}`))
      row('tried', `${result.tried.endpoints.join(', ')} (${network}) with ${result.tried.credentials.join(', ')}`)
    }

    this.log('')
    const {index} = result
    if (!index) {
      row('index', result.indexError ? c.red(result.indexError) : `none yet for ${network} (bix index builds it)`)
    } else {
      row('index', `${index.path} (${index.network}, schema ${index.schemaVersion})`)
      const tip = index.tipHeight === null ? 'empty' : `${formatCount(index.tipHeight)} ${index.tipHash ?? ''}`.trim()
      row('tip', tip)
      if (index.building) row('building', c.yellow('the first bix index run has not finished; queries answer once it has'))
      if (result.lag !== null) row('lag', describeLag(result.lag, c))
      row('size', formatBytes(index.sizeBytes))
      row('writer', index.writerPid === null ? 'none' : `bix index running (pid ${index.writerPid})`)
      if (index.mempool) {
        const when = index.mempool.syncedAt === null ? 'never synced' : `synced ${formatTime(index.mempool.syncedAt)}`
        row('mempool', `${formatCount(index.mempool.txCount)} tx, ${when}`)
      }
      if (result.indexError) row('error', c.red(result.indexError))
    }
  }
}

function describeLag(lag: number, c: ChalkInstance): string {
  if (lag === 0) return c.green('up to date with the node')
  if (lag > 0) return c.yellow(`${formatCount(lag)} blocks behind the node`)
  // after a reorg to a shorter chain, or while the node itself resyncs
  return c.yellow(`${formatCount(-lag)} blocks ahead of the node (is the node still syncing?)`)
}
