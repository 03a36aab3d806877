import {Args} from '@oclif/core'

import {dbFlags, nodeFlags} from '../../cli/base-command.js'
import {badInput} from '../../lib/errors.js'
import {type OutpointReport, outpointReport} from '../../lib/query/outpoint-report.js'
import {TxQueryCommand, txQueryFlags} from '../../cli/tx-query-command.js'
import {formatBtc, formatCount} from '../../lib/format.js'

export default class QueryOutpoint extends TxQueryCommand<typeof QueryOutpoint> {
  static override summary = 'Whether outputs are spent, and by which transaction and input, confirmed or in the mempool.'
  static override description = `Needs no -txindex: the output and a confirmed spender come from the index (the spending input from the spender's block), a mempool spender from the node (gettxspendingprevout). Outputs of mempool transactions are answered too.

--json: {txid, vout, value, status, spent, spender: {txid, vin, status} | null}, status as in Esplora; an array, one element per outpoint in the order given, even for one. An outpoint that does not exist exits 9.

--file FILE (- for stdin) answers many outpoints in one process, one TXID:VOUT a line (# comments and blank lines skipped), written as they are ready (--json: one array; --jsonl: one object per line), all at one index tip. The first bad or unknown outpoint stops the run (exit 2 or 9) and names its line.`

  static override examples = [
    {description: 'Is this output spent?', command: '<%= config.bin %> <%= command.id %> 4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b:0'},
    {description: 'Many outputs from stdin, one JSON object per line.', command: 'cut -f1 outpoints.tsv | <%= config.bin %> <%= command.id %> --file - --jsonl'},
  ]

  static override strict = false
  static override args = {
    // oclif would otherwise take piped stdin as the outpoint, racing --file - for it
    outpoint: Args.string({description: 'outputs as TXID:VOUT (several allowed)', ignoreStdin: true}),
  }

  static override flags = {
    ...nodeFlags,
    ...dbFlags,
    ...txQueryFlags('outpoints'),
  }

  public async run(): Promise<OutpointReport[] | undefined> {
    if (this.positionalArgs.length === 0 && !this.flags.file) throw badInput('nothing to look up: give an outpoint TXID:VOUT or --file FILE')
    return this.answerAll(this.flags, outpointReport, (r) => {
      const funded = r.status.confirmed ? `height ${formatCount(r.status.block_height!)}` : 'unconfirmed'
      const spender = r.spender
      const state = spender
        ? `spent by ${spender.txid}:${spender.vin ?? '?'} ${spender.status.confirmed ? `at height ${formatCount(spender.status.block_height!)}` : '(unconfirmed, in the mempool)'}`
        : 'unspent'
      this.log(`${r.txid}:${r.vout}  ${formatBtc(r.value)} BTC  ${funded}  ${state}`)
    })
  }
}
