import {Args, Flags} from '@oclif/core'
import type {ChalkInstance} from 'chalk'

import {BaseCommand, dbFlags, nodeFlags, retryForFlag} from '../cli/base-command.js'
import type {TxReport} from '../lib/broadcast/broadcast.js'
import {parseBurnLimit, parseFeeRateLimit} from '../lib/broadcast/fee-limits.js'
import {openIndexPrevouts} from '../lib/broadcast/index-prevouts.js'
import {readRawTransactions} from '../lib/broadcast/raw-input.js'
import {type BroadcastResult, type BroadcastStatus, succeeded} from '../lib/broadcast/result.js'
import {checkNode} from '../lib/node/preflight.js'
import {formatBtc, formatCount} from '../lib/format.js'

export default class Broadcast extends BaseCommand<typeof Broadcast> {
  static override summary = 'Check raw transactions locally, then send them; safe to repeat.'
  static override description = `Each transaction is decoded first: malformed hex or a transaction that does not parse stops everything with exit code 2 before the node hears of any of them. Then each is shown (txid, wtxid, size, vsize, inputs and outputs with addresses, and the fee and fee rate when the outputs it spends can be found: among the other transactions given, in bix's index for the network, or from the node: in its mempool or UTXO set, or in a block with -txindex).

Transactions spending each other go to the node together with submitpackage (Bitcoin Core 28 and newer), so a child can pay for its parent; otherwise one by one, parents first.

Sending again is safe: a transaction already in the mempool or already confirmed counts as success. When the node's answer is lost (timeout, dropped connection), bix asks the node whether the transaction arrived before calling it a failure.

--json prints an array, one object per transaction in the order given, even for one: {txid, wtxid, size, vsize, fee?, feerate?, status, reason?, node_code?, note?, exit_code}; status is sent, already-in-mempool, already-confirmed, accepted (--dry-run), rejected or error.

Exit codes (the worst outcome wins, in this order): 4 a transaction's fate stayed unknown after a timeout (send it again), 3 node unreachable, 1 an error bix did not expect, 8 the node rejected a transaction, 0 every transaction is sent, accepted or already there. 2: bad input, nothing was sent.`

  static override examples = [
    {description: 'Send one transaction.', command: '<%= config.bin %> <%= command.id %> 0200000001…'},
    {description: 'Ask the node whether it would take them, sending nothing.', command: '<%= config.bin %> <%= command.id %> --dry-run --file txs.txt'},
    {description: 'From a pipe, refusing fee rates above 50 sat/vB.', command: 'cat signed.hex | <%= config.bin %> <%= command.id %> - --max-fee-rate 50'},
    {description: 'A parent and the child that pays for it, as JSON.', command: '<%= config.bin %> <%= command.id %> $PARENT $CHILD --json'},
  ]

  static override strict = false
  static override args = {
    transaction: Args.string({description: 'raw transaction hex; several may be given; - reads standard input (one per line)'}),
  }

  static override flags = {
    file: Flags.string({char: 'f', description: 'read transactions from a file, one hex per line (blank lines and # comments are skipped); - for standard input'}),
    'dry-run': Flags.boolean({description: "only ask the node's testmempoolaccept; send nothing"}),
    'max-fee-rate': Flags.string({description: "refuse to send above this fee rate, sat/vB (up to 3 decimals; 0 = no limit; default: the node's limit, 10,000 sat/vB)"}),
    'max-burn': Flags.string({description: "allow up to this many sats in each OP_RETURN or other unspendable output (the node's maxburnamount; default 0)"}),
    ...nodeFlags,
    'retry-for': retryForFlag(
      30_000,
      'rides out a node restart; a transaction is sent again only when the node certainly did not get it (refused, 503, warm-up)',
    ),
    ...dbFlags,
  }

  public async run(): Promise<BroadcastResult[]> {
    const {flags} = this
    const {argv} = await this.parse(Broadcast)
    const maxFeeRate = flags['max-fee-rate'] === undefined ? undefined : parseFeeRateLimit(flags['max-fee-rate'])
    const maxBurn = flags['max-burn'] === undefined ? undefined : parseBurnLimit(flags['max-burn'])
    const config = this.resolveNode(flags)

    // loaded here, not with the command list: decoding transactions (bitcoinjs-lib) would weigh on every command's start
    const [{broadcast}, {prepareTransactions}] = await Promise.all([import('../lib/broadcast/broadcast.js'), import('../lib/broadcast/prepare.js')])
    const raws = await readRawTransactions({args: argv as string[], file: flags.file, readStdin})
    const txs = prepareTransactions(raws, config.network)

    const client = this.connectNode(config, flags, {retryForMs: flags['retry-for']})
    const node = await checkNode(client, {network: config.network})
    const index = openIndexPrevouts(this.databasePath(flags.db, config.network), config.network)
    const verb = flags['dry-run'] ? 'testing' : 'sending'
    this.note(`${verb} ${txs.length} transaction${txs.length === 1 ? '' : 's'} on ${client.describe()} (${node.subversion})`)

    let report
    try {
      report = await broadcast(txs, {
        client,
        network: config.network,
        nodeVersion: node.version,
        index: index.reader,
        dryRun: flags['dry-run'],
        maxFeeRate,
        maxBurn,
        signal: this.interrupt.signal,
      })
    } finally {
      index.close()
      for (const warning of index.warnings) this.warnLine(warning)
    }

    if (!this.jsonEnabled()) {
      const colour = this.stdoutColour
      report.reports.forEach((r, i) => {
        if (i > 0) this.log('')
        this.log(renderTx(r, colour, Boolean(flags.quiet), report.reports.length))
      })
    }
    process.exitCode = report.exitCode
    return report.reports.map((r) => r.result)
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const STATUS_TEXT: Record<BroadcastStatus, string> = {
  sent: 'sent',
  'already-in-mempool': 'already in the mempool',
  'already-confirmed': 'already confirmed',
  accepted: 'accepted (dry run: the node would take it; nothing was sent)',
  rejected: 'rejected',
  error: 'error',
}

/** One block per transaction: what it is, what it costs, what became of it; inputs and outputs unless --quiet. */
function renderTx(report: TxReport, c: ChalkInstance, quiet: boolean, count: number): string {
  const {result, tx} = report
  const lines: string[] = []
  const heading = count > 1 ? `tx ${report.number} (${report.origin})` : 'tx'
  lines.push(`${c.bold(heading)}  ${result.txid}`)
  lines.push(`  wtxid    ${tx.wtxid}`)
  lines.push(`  size     ${formatCount(tx.size)} B, ${formatCount(tx.vsize)} vB (weight ${formatCount(tx.weight)})`)
  lines.push(
    result.fee === undefined
      ? `  fee      ${c.dim(report.feeUnknownBecause ?? 'unknown')}`
      : `  fee      ${formatCount(result.fee)} sat, ${result.feerate} sat/vB`,
  )
  const ok = succeeded(result.status)
  let status = STATUS_TEXT[result.status]
  if (result.note) status += ` (${result.note})`
  // "rejected by the node's policy: …" says it all without a "rejected: " in front
  if (result.reason) status = result.status === 'rejected' && result.reason.startsWith('rejected ') ? result.reason : `${status}: ${result.reason}`
  if (result.node_code !== undefined) status += ` [node code ${result.node_code}]`
  lines.push(`  status   ${ok ? c.green(status) : c.red(status)}`)
  if (!quiet) {
    lines.push(`  inputs   ${report.inputs.length}`)
    for (const input of report.inputs) {
      const value = input.prevout ? `${formatBtc(input.prevout.value).padStart(16)} BTC` : c.dim('           value unknown')
      const address = input.prevout?.address ? `  ${input.prevout.address}` : ''
      lines.push(`    ${input.txid}:${input.vout}  ${value}${address}`)
    }
    lines.push(`  outputs  ${tx.outputs.length}`)
    for (const output of tx.outputs) {
      const to = output.address ?? (output.type === 'op_return' ? 'OP_RETURN' : `${output.type} script ${output.script.slice(0, 40)}${output.script.length > 40 ? '…' : ''}`)
      lines.push(`    #${String(output.vout).padEnd(4)} ${formatBtc(output.value).padStart(16)} BTC  ${to}`)
    }
  }
  return lines.join('\n')
}
