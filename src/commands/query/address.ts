import {Args, Flags} from '@oclif/core'

import {dbFlags, nodeFlags} from '../../cli/base-command.js'
import type {NetworkName} from '../../lib/chain/networks.js'
import {badInput} from '../../lib/errors.js'
import {QueryCommand} from '../../cli/query-command.js'
import {formatBtc, formatCount, formatDuration, formatTime} from '../../lib/format.js'
import {addressAnswers} from '../../lib/query/address-answers.js'
import type {AddressReport} from '../../lib/query/address-report.js'
import {type QueryTarget, addressTarget, scriptHashTarget, scriptTarget} from '../../lib/query/targets.js'
import {Answers} from '../../lib/ui/answers.js'

export default class QueryAddress extends QueryCommand<typeof QueryAddress> {
  static override summary = 'Balance, history and UTXOs of addresses, script hashes or scripts, confirmed and unconfirmed.'
  static override description = `Answers from the index alone: no node is needed. Each answer says which index tip it reflects and how old the mempool snapshot is (bix sync-mempool takes it); when the node is reachable, a warning says if the index lags behind it (--offline skips that check).

Accepts every standard address form of the index's network (P2PKH, P2SH, P2WPKH, P2WSH, P2TR and later segwit versions), --scripthash (Electrum's, as Electrum servers and Esplora show it) and --script for any output script. --json follows Esplora's shape (chain_stats, mempool_stats, utxos, history; amounts in satoshis; unconfirmed entries have height null); an array, one element per target in the order given (targets given with --scripthash and --script follow the addresses), even for one.

--file FILE (- for stdin) answers many targets in one process, one a line: an address, scripthash:HEX or script:HEX; blank lines and lines starting with # are skipped. Answers are written as they are ready (--json: one array; --jsonl: one object per line), all at the same index tip. A bad line stops the run with exit 2 and names its line number; the answers before it have been written.

Lists are newest first, unconfirmed before confirmed, --limit entries at a time; --after TXID continues the history after that transaction, --after TXID:VOUT the UTXOs after that output. UTXOs that an unconfirmed transaction spends are listed apart (pending_spends), with that transaction.`

  static override examples = [
    {description: 'Balance and activity of an address.', command: '<%= config.bin %> <%= command.id %> bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'},
    {description: 'Its UTXOs and last 10 transactions, as JSON.', command: '<%= config.bin %> <%= command.id %> bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq --utxos --history --limit 10 --json'},
    {
      description: 'The next page of history.',
      command: '<%= config.bin %> <%= command.id %> bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq --history --after 4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b',
    },
    {description: 'By Electrum script hash, on a regtest index.', command: '<%= config.bin %> <%= command.id %> --network regtest --scripthash 8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161'},
    {description: 'A non-standard script.', command: '<%= config.bin %> <%= command.id %> --script 6a0474657374'},
    {description: 'Balances of many addresses, one JSON object per line.', command: '<%= config.bin %> <%= command.id %> --file addresses.txt --jsonl'},
  ]

  static override strict = false
  static override args = {
    // oclif would otherwise take piped stdin as the address, racing --file - for it
    address: Args.string({description: 'addresses to look up (several allowed)', ignoreStdin: true}),
  }

  static override flags = {
    ...nodeFlags,
    ...dbFlags,
    scripthash: Flags.string({description: 'an Electrum script hash (64 hex digits); repeatable', multiple: true}),
    script: Flags.string({description: 'an output script in hex; repeatable', multiple: true}),
    utxos: Flags.boolean({description: 'list unspent outputs'}),
    history: Flags.boolean({description: 'list transactions'}),
    limit: Flags.integer({description: 'entries per list (0: all)', default: 25, min: 0}),
    after: Flags.string({description: 'continue a list: after TXID (history) or after TXID:VOUT (UTXOs)'}),
    offline: Flags.boolean({description: 'do not ask the node whether the index is behind it'}),
    file: Flags.string({
      description: 'also look up the targets in this file (- for stdin), one a line: an address, scripthash:HEX or script:HEX; blank lines and lines starting with # are skipped',
    }),
    jsonl: Flags.boolean({description: 'JSON Lines: one answer object per line, written as each is ready'}),
  }

  public async run(): Promise<AddressReport[] | undefined> {
    const {flags} = this
    const addresses = this.positionalArgs
    const given = addresses.length + (flags.scripthash?.length ?? 0) + (flags.script?.length ?? 0)
    if (given === 0 && !flags.file) {
      throw badInput('nothing to look up: give an address, --scripthash HEX, --script HEX or --file FILE')
    }

    const fixed = (network: NetworkName): QueryTarget[] => [
      ...addresses.map((a) => addressTarget(a, network)),
      ...(flags.scripthash ?? []).map((h) => scriptHashTarget(h)),
      ...(flags.script ?? []).map((s) => scriptTarget(s, network)),
    ]
    const now = Math.floor(Date.now() / 1000)
    const {file: db, network: expected} = this.queryIndex()
    const streaming = Boolean(flags.file) || flags.jsonl
    // --file and --jsonl: each answer written as it is ready, so that memory stays flat whatever the count
    let streamNetwork: NetworkName | undefined
    let streamedStale = false
    const answers = streaming
      ? new Answers<AddressReport>({json: this.jsonEnabled(), jsonl: flags.jsonl, stream: true, render: (r, separate) => this.render(r, streamNetwork!, separate)})
      : undefined
    const {reports, tip: indexTip, network} = await addressAnswers({
      db,
      network: expected,
      targets: fixed,
      file: flags.file,
      report: {utxos: flags.utxos, history: flags.history, limit: flags.limit, after: flags.after, now},
      each: answers
        ? async (report, network) => {
            streamNetwork = network
            if (staleMempool(report)) streamedStale = true
            await answers.add(report)
          }
        : undefined,
      signal: this.interrupt.signal,
    })
    await answers?.end()

    await this.checkFreshness(network, indexTip)
    // printed once the node has been asked: an answer interrupted (exit 130) leaves nothing half-said on stdout
    if (!this.jsonEnabled()) reports.forEach((report, i) => this.render(report, network, i > 0))
    if (reports.some(staleMempool) || streamedStale) {
      this.warnLine('the mempool snapshot was taken at another index tip, so unconfirmed activity is left out; run bix sync-mempool')
    }
    if (streaming) return undefined
    // an array even for one target: a script never has to test the shape
    return reports
  }

  private render(r: AddressReport, network: NetworkName, separate: boolean): void {
    const row = (label: string, value: string) => this.log(`${label.padEnd(12)} ${value}`)
    const btc = (sats: number) => `${formatBtc(sats)} BTC`
    const signed = (sats: number) => (sats > 0 ? `+${formatBtc(sats)}` : formatBtc(sats))
    if (separate) this.log('')
    if (r.address) row('address', r.address)
    else if (r.script) row('script', r.script)
    row('scripthash', r.scripthash)
    const pending = r.mempool_stats.tx_count > 0 ? ` (confirmed ${btc(r.balance.confirmed)}, unconfirmed ${signed(r.balance.unconfirmed)})` : ''
    row('balance', `${btc(r.balance.total)}${pending}`)
    const unconfirmedTxs = r.mempool_stats.tx_count > 0 ? ` (${formatCount(r.mempool_stats.tx_count)} unconfirmed)` : ''
    row('transactions', `${formatCount(r.chain_stats.tx_count + r.mempool_stats.tx_count)}${unconfirmedTxs}`)
    const funded = r.chain_stats.funded_txo_count + r.mempool_stats.funded_txo_count
    const spent = r.chain_stats.spent_txo_count + r.mempool_stats.spent_txo_count
    row('funded', `${formatCount(funded)} output${funded === 1 ? '' : 's'}, ${btc(r.chain_stats.funded_txo_sum + r.mempool_stats.funded_txo_sum)}`)
    row('spent', `${formatCount(spent)} output${spent === 1 ? '' : 's'}, ${btc(r.chain_stats.spent_txo_sum + r.mempool_stats.spent_txo_sum)}`)
    if (r.first_activity) row('first seen', describeActivity(r.first_activity))
    if (r.last_activity) row('last seen', describeActivity(r.last_activity))
    const index = r.freshness.index ? `height ${formatCount(r.freshness.index.height)} (${r.freshness.index.hash})` : 'empty'
    row('index', `${index}, ${network}`)
    const m = r.freshness.mempool
    row('mempool', m.synced_at === null ? 'never synced (bix sync-mempool)' : `synced ${formatDuration((m.age_seconds ?? 0) * 1000)} ago${m.used ? '' : ', not used: taken at another index tip'}`)

    if (r.utxos) {
      this.log('')
      this.log(`utxos (${formatCount(r.utxos.length)} shown)`)
      for (const u of r.utxos) this.log(`  ${u.txid}:${u.vout}  ${formatBtc(u.value).padStart(20)}  ${u.height === null ? 'unconfirmed' : `height ${u.height}`}`)
      for (const p of r.pending_spends ?? []) {
        this.log(`  ${p.txid}:${p.vout}  ${formatBtc(p.value).padStart(20)}  spent by unconfirmed ${p.spent_by}`)
      }
      if (r.next_after?.utxos) this.log(`  … more: --after ${r.next_after.utxos}`)
    }
    if (r.history) {
      this.log('')
      this.log(`history (${formatCount(r.history.length)} shown, newest first)`)
      for (const h of r.history) {
        const where = h.height === null ? 'unconfirmed'.padEnd(14) : `height ${String(h.height).padEnd(7)}`
        this.log(`  ${h.txid}  ${where}  ${formatTime(h.time)}  ${signed(h.value_change).padStart(20)}`)
      }
      if (r.next_after?.history) this.log(`  … more: --after ${r.next_after.history}`)
    }
  }
}

const staleMempool = (report: AddressReport) => report.freshness.mempool.synced_at !== null && !report.freshness.mempool.used

function describeActivity(a: {txid: string; height: number | null; time: number}): string {
  return `${a.height === null ? 'unconfirmed' : `height ${formatCount(a.height)}`}, ${formatTime(a.time)}, ${a.txid}`
}
