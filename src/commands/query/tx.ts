import {Args, Flags} from '@oclif/core'

import {dbFlags, nodeFlags} from '../../cli/base-command.js'
import {isProvablyUnspendable} from '../../lib/chain/script.js'
import {badInput} from '../../lib/errors.js'
import {type TxReport, txReport} from '../../lib/query/tx-report.js'
import {TxQueryCommand, txQueryFlags} from '../../cli/tx-query-command.js'
import {formatBtc, formatCount, formatTime} from '../../lib/format.js'

export default class QueryTx extends TxQueryCommand<typeof QueryTx> {
  static override summary = 'A transaction: where it is, its inputs with what they spend, its outputs with what spends them.'
  static override description = `Needs no -txindex: a confirmed transaction is found in the index, its bytes and the scripts it spends are read from its blocks (REST when the node serves it, else getblock), values and spenders from the index; an unconfirmed one comes from the node's mempool. Outputs spent by a mempool transaction say so (gettxspendingprevout).

--json follows Esplora's /tx/:txid (amounts in satoshis) with its /tx/:txid/outspends as outspends, plus vsize, confirmations and block_position; an array, one element per txid in the order given, even for one. A txid neither the index nor the mempool holds exits 9.

--file FILE (- for stdin) answers many txids in one process, one a line (# comments and blank lines skipped), written as they are ready (--json: one array; --jsonl: one object per line), all at one index tip. The first bad or unknown txid stops the run (exit 2 or 9) and names its line; the answers before it have been written.`

  static override examples = [
    {description: 'A transaction, its fee, inputs and outputs.', command: '<%= config.bin %> <%= command.id %> 4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b'},
    {description: 'As JSON, with the raw transaction.', command: '<%= config.bin %> <%= command.id %> 4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b --json --hex'},
    {description: 'Many transactions, one JSON object per line.', command: '<%= config.bin %> <%= command.id %> --file txids.txt --jsonl'},
  ]

  static override strict = false
  static override args = {
    // oclif would otherwise take piped stdin as the txid, racing --file - for it
    txid: Args.string({description: 'transaction ids (several allowed)', ignoreStdin: true}),
  }

  static override flags = {
    ...nodeFlags,
    ...dbFlags,
    hex: Flags.boolean({description: 'include the raw transaction, read from its block (or the mempool)'}),
    ...txQueryFlags('txids'),
  }

  public async run(): Promise<TxReport[] | undefined> {
    if (this.positionalArgs.length === 0 && !this.flags.file) throw badInput('nothing to look up: give a txid or --file FILE')
    return this.answerAll(
      this.flags,
      (lookup, txid) => txReport(lookup, txid, {hex: this.flags.hex}),
      (report, separate) => this.render(report, separate),
    )
  }

  private render(r: TxReport, separate: boolean): void {
    const row = (label: string, value: string) => this.log(`${label.padEnd(13)} ${value}`)
    if (separate) this.log('')
    row('txid', r.txid)
    if (r.status.confirmed) {
      row('block', `height ${formatCount(r.status.block_height!)}, position ${r.block_position}, ${r.status.block_hash}`)
      row('time', formatTime(r.status.block_time!))
      row('confirmations', formatCount(r.confirmations))
    } else {
      row('block', 'unconfirmed (in the node\'s mempool)')
    }
    const coinbase = r.vin.some((input) => input.is_coinbase)
    row('fee', coinbase ? 'none (coinbase)' : `${formatBtc(r.fee)} BTC (${(r.fee / r.vsize).toFixed(2)} sat/vB)`)
    row('size', `${formatCount(r.size)} bytes, ${formatCount(r.vsize)} vbytes, ${formatCount(r.weight)} weight units`)
    row('version', `${r.version}, locktime ${r.locktime}`)
    this.log('')
    this.log(`inputs (${r.vin.length})`)
    r.vin.forEach((input, vin) => {
      if (input.is_coinbase) {
        this.log(`  ${String(vin).padStart(3)}  coinbase ${input.scriptsig}`)
        return
      }
      const prev = input.prevout!
      this.log(`  ${String(vin).padStart(3)}  ${input.txid}:${input.vout}  ${formatBtc(prev.value).padStart(17)}  ${prev.scriptpubkey_address ?? `${prev.scriptpubkey_type} ${prev.scriptpubkey}`}`)
    })
    this.log('')
    this.log(`outputs (${r.vout.length})`)
    r.vout.forEach((out, vout) => {
      const spend = r.outspends[vout]
      const unspent = isProvablyUnspendable(Buffer.from(out.scriptpubkey, 'hex')) ? 'unspendable' : 'unspent'
      const where = spend.spent ? `spent by ${spend.txid}:${spend.vin ?? '?'} ${spend.status?.confirmed ? `at height ${spend.status.block_height}` : '(unconfirmed)'}` : unspent
      this.log(`  ${String(vout).padStart(3)}  ${formatBtc(out.value).padStart(17)}  ${out.scriptpubkey_address ?? `${out.scriptpubkey_type} ${out.scriptpubkey}`}`)
      this.log(`       ${where}`)
    })
    if (r.hex !== undefined) {
      this.log('')
      row('hex', r.hex)
    }
  }
}
