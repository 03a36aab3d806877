import {Args, Flags} from '@oclif/core'

import {dbFlags, nodeFlags} from '../../cli/base-command.js'
import {descriptorChains} from '../../lib/chain/descriptor.js'
import type {NetworkName} from '../../lib/chain/networks.js'
import {badInput} from '../../lib/errors.js'
import {QueryCommand} from '../../cli/query-command.js'
import {errorAtLine, readTargetLines} from '../../lib/query/target-lines.js'
import {type Derivation, type WalletDescriptor, type WalletReport, walletReport} from '../../lib/query/wallet-report.js'
import {Answers} from '../../lib/ui/answers.js'
import {formatBtc, formatCount, formatDuration, formatTime} from '../../lib/format.js'

export default class QueryDescriptor extends QueryCommand<typeof QueryDescriptor> {
  static override summary = 'Balance, UTXOs and one merged history of a wallet given by its output descriptors or extended public key.'
  static override description = `The descriptors given together are one wallet (Core's listdescriptors gives a wallet's). Core's forms: pkh, wpkh, sh(wpkh), tr(KEY), wsh(multi|sortedmulti), sh(wsh(…)), addr, raw; ranged (/*) and multipath (/<0;1>/*: the receive and change branches); the checksum after # is checked when present. A bare xpub/ypub/zpub (tpub/upub/vpub on the test networks) stands for its receive and change branches, KEY/<0;1>/*, in the script type its prefix names (SLIP-132: pkh, sh(wpkh), wpkh).

Each ranged branch is derived from index 0 until --gap consecutive scripts have no activity, as wallets do. The answer lists each used address with its descriptor, branch and index, the wallet's balance (confirmed and unconfirmed), its UTXOs and one history: a transaction once, its value change summed over the wallet's scripts (a payment between two of its own addresses shows as minus the fee). A script two of the descriptors share counts once. Answers come from the index alone, at one index tip.

--file FILE (- for stdin) answers many wallets in one process: one wallet a line, its descriptors separated by spaces; blank lines and lines starting with # are skipped; a bad line stops the run with exit 2 and names its line number (the answers before it have been written). --json gives an array, one element per wallet (the command line's first, then --file's), even for one; --jsonl one object per line as each is ready.`

  static override examples = [
    {description: 'A wallet by its account xpub (zpub: native segwit).', command: '<%= config.bin %> <%= command.id %> zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs'},
    {
      description: "Core's descriptors, with UTXOs and the full history.",
      command: "<%= config.bin %> <%= command.id %> 'wpkh([d34db33f/84h/0h/0h]xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY/<0;1>/*)' --utxos --history --limit 0",
    },
    {description: 'Many wallets, one a line, as JSON Lines.', command: '<%= config.bin %> <%= command.id %> --file wallets.txt --jsonl'},
  ]

  static override strict = false
  static override args = {
    // oclif would otherwise take piped stdin as the descriptor, racing --file - for it
    descriptor: Args.string({description: "the wallet's descriptors, or an extended public key (several: one wallet)", ignoreStdin: true}),
  }

  static override flags = {
    ...nodeFlags,
    ...dbFlags,
    gap: Flags.integer({description: 'unused scripts in a row that end a branch', default: 20, min: 1, max: 10_000}),
    utxos: Flags.boolean({description: 'list unspent outputs'}),
    history: Flags.boolean({description: 'list transactions, one entry each'}),
    limit: Flags.integer({description: 'entries per list (0: all)', default: 25, min: 0}),
    file: Flags.string({description: 'also answer the wallets in this file (- for stdin): one a line, its descriptors separated by spaces; # comments'}),
    jsonl: Flags.boolean({description: 'JSON Lines: one answer object per line, written as each is ready'}),
    offline: Flags.boolean({description: 'do not ask the node whether the index is behind it'}),
  }

  public async run(): Promise<WalletReport[] | undefined> {
    const {flags} = this
    const given = this.positionalArgs
    if (given.length === 0 && !flags.file) throw badInput('nothing to look up: give a descriptor or an extended public key, or --file FILE')

    const db = this.openQueryIndex()
    const answers = new Answers<WalletReport>({json: this.jsonEnabled(), jsonl: flags.jsonl, stream: Boolean(flags.file), render: (r, separate) => this.render(r, db.network, separate)})
    let written: WalletReport[] | undefined
    let staleMempool = false
    let indexTip
    try {
      const parse = async (texts: string[]): Promise<WalletDescriptor[]> => {
        const wallet: WalletDescriptor[] = []
        for (const text of texts) wallet.push({text, chains: await descriptorChains(text, db.network)})
        return wallet
      }
      const fromArgs = given.length > 0 ? await parse(given) : undefined
      const now = Math.floor(Date.now() / 1000)
      const answer = async (wallet: WalletDescriptor[]) => {
        const report = walletReport(db, wallet, {gap: flags.gap, utxos: flags.utxos, history: flags.history, limit: flags.limit, now, network: db.network, signal: this.interrupt.signal})
        if (report.freshness.mempool.synced_at !== null && !report.freshness.mempool.used) staleMempool = true
        await answers.add(report)
      }
      // one read transaction: every answer reflects the same index tip while bix index commits batch after batch
      indexTip = await db.readSnapshot(async () => {
        const tip = db.tip()
        if (fromArgs) await answer(fromArgs)
        if (flags.file) {
          for await (const line of readTargetLines(flags.file)) {
            let wallet: WalletDescriptor[]
            try {
              wallet = await parse(line.text.split(/\s+/))
            } catch (err) {
              throw errorAtLine(flags.file, line, err)
            }
            await answer(wallet)
          }
        }
        return tip
      })
      written = await answers.end()
    } finally {
      db.close()
    }

    await this.checkFreshness(db.network, indexTip)
    if (staleMempool) this.warnLine('the mempool snapshot was taken at another index tip, so unconfirmed activity is left out; run bix sync-mempool')
    // under --json an array, one wallet per element, even for the one wallet the command line gives
    return written
  }

  private render(r: WalletReport, network: NetworkName, separate: boolean): void {
    const row = (label: string, value: string) => this.log(`${label.padEnd(12)} ${value}`)
    const btc = (sats: number) => `${formatBtc(sats)} BTC`
    const signed = (sats: number) => (sats > 0 ? `+${formatBtc(sats)}` : formatBtc(sats))
    const where = (d: Derivation) => `${r.descriptors.length > 1 ? `#${d.descriptor} ` : ''}${d.branch === null ? '' : d.branch === 0 ? 'receive ' : d.branch === 1 ? 'change ' : `branch ${d.branch} `}${d.index ?? ''}`.trim()
    if (separate) this.log('')
    r.descriptors.forEach((d, i) => row(i === 0 ? 'descriptor' : '', r.descriptors.length > 1 ? `#${i} ${d}` : d))
    const pending = r.balance.unconfirmed !== 0 ? ` (confirmed ${btc(r.balance.confirmed)}, unconfirmed ${signed(r.balance.unconfirmed)})` : ''
    row('balance', `${btc(r.balance.total)}${pending}`)
    row('transactions', formatCount(r.tx_count))
    row('addresses', `${formatCount(r.addresses.length)} used of ${formatCount(r.scripts_checked)} derived (gap ${r.gap})`)
    const index = r.freshness.index ? `height ${formatCount(r.freshness.index.height)} (${r.freshness.index.hash})` : 'empty'
    row('index', `${index}, ${network}`)
    const m = r.freshness.mempool
    row('mempool', m.synced_at === null ? 'never synced (bix sync-mempool)' : `synced ${formatDuration((m.age_seconds ?? 0) * 1000)} ago${m.used ? '' : ', not used: taken at another index tip'}`)
    if (r.addresses.length > 0) {
      this.log('')
      this.log('used addresses')
      for (const a of r.addresses) this.log(`  ${(a.address ?? a.script).padEnd(64)}  ${where(a).padEnd(14)}  ${formatBtc(a.balance.total).padStart(20)}  ${formatCount(a.tx_count)} tx`)
    }
    if (r.utxos) {
      this.log('')
      this.log(`utxos (${formatCount(r.utxos.length)} shown)`)
      for (const u of r.utxos) this.log(`  ${u.txid}:${u.vout}  ${formatBtc(u.value).padStart(20)}  ${u.height === null ? 'unconfirmed' : `height ${u.height}`}  ${where(u)}`)
      for (const p of r.pending_spends ?? []) this.log(`  ${p.txid}:${p.vout}  ${formatBtc(p.value).padStart(20)}  spent by unconfirmed ${p.spent_by}`)
    }
    if (r.history) {
      this.log('')
      this.log(`history (${formatCount(r.history.length)} shown, newest first)`)
      for (const h of r.history) {
        const when = h.height === null ? 'unconfirmed'.padEnd(14) : `height ${String(h.height).padEnd(7)}`
        this.log(`  ${h.txid}  ${when}  ${formatTime(h.time)}  ${signed(h.value_change).padStart(20)}`)
      }
    }
    if (r.truncated) this.log(`  … more: --limit 0 lists everything`)
  }
}
