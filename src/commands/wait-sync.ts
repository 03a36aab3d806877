import {Flags} from '@oclif/core'
import type {Ora} from 'ora'

import {BaseCommand, nodeFlags} from '../cli/base-command.js'
import {badInput} from '../lib/errors.js'
import {type SyncState, describeSyncState, waitForSync} from '../lib/node/sync-wait.js'
import {isInteractive} from '../lib/ui/colour.js'
import {formatDuration} from '../lib/format.js'
import type {WaitSyncJson} from '../lib/ui/json.js'
import type {Progress} from '../lib/ui/progress.js'

const seconds = Flags.custom<number>({
  parse: async (input) => {
    const value = Number(input)
    if (!Number.isFinite(value) || value < 0.1) throw badInput(`--interval must be a number of seconds, at least 0.1 (got "${input}")`)
    return value
  },
})

export default class WaitSync extends BaseCommand<typeof WaitSync> {
  static override summary = 'Wait until bitcoind answers and has finished initial block download.'
  static override description = `Waits through refused connections, warm-up (RPC -28) and restarts until the node is out of initial block download and has validated every header it knows (blocks = headers). Meant for scripts and service units that must not start before the node is ready.

On a terminal it shows a progress bar (verification progress, blocks/headers, rate, ETA); otherwise a line on stderr every few seconds saying what it waits for. It has no --retry-for: waiting through outages is what it does, for as long as --timeout allows.

Exits 0 once synced, 4 when --timeout runs out (the message says what it was still waiting for), 2 if the node runs another network, 130 on Ctrl-C.`

  static override examples = [
    {description: 'Wait for the node in bitcoin.conf, however long it takes.', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Give a regtest node ten minutes, then run the indexer.', command: '<%= config.bin %> <%= command.id %> --network regtest --timeout 600 && <%= config.bin %> index'},
    {description: 'Poll every 10 s and print the final state as JSON.', command: '<%= config.bin %> <%= command.id %> --interval 10 --json'},
  ]

  static override flags = {
    ...nodeFlags,
    timeout: Flags.integer({description: 'give up after this many seconds (exit code 4)', min: 1}),
    interval: seconds({description: 'seconds between polls (at least 0.1)', default: 2}),
  }

  public async run(): Promise<WaitSyncJson> {
    const {flags} = this
    const config = this.resolveNode(flags)
    // each poll makes one attempt, so it can report why it is still waiting
    const client = this.connectNode(config, flags, {retryForMs: 0})
    const display = new SyncDisplay(this.silent, await loadTerminalUi(this.silent))
    let outcome
    try {
      outcome = await waitForSync(client, {
        intervalMs: flags.interval * 1000,
        timeoutMs: flags.timeout === undefined ? undefined : flags.timeout * 1000,
        callTimeoutMs: flags['rpc-timeout'] * 1000,
        signal: this.interrupt.signal,
        onState: (state) => display.show(state),
      })
    } finally {
      display.stop()
    }
    const {info, waitedMs} = outcome
    const result: WaitSyncJson = {
      synced: true,
      // the node that answered last (with several --rpc-url, the one failover settled on)
      endpoint: client.describe(),
      chain: info.chain,
      blocks: info.blocks,
      headers: info.headers,
      verification_progress: info.verificationProgress,
      initial_block_download: info.initialBlockDownload,
      waited_seconds: Math.round(waitedMs / 100) / 10,
    }
    if (!this.jsonEnabled()) this.log(`synced: ${info.chain} at height ${info.blocks} (waited ${formatDuration(waitedMs)})`)
    return result
  }
}

/** How often a non-terminal gets a line while nothing changes. */
const PLAIN_EVERY_MS = 5000
/**
 * The spinner (ora) and the bar (cli-progress) of a terminal, loaded only when
 * stderr is one: off a terminal, and for every other command, they are not needed.
 */
interface TerminalUi {
  ora: (typeof import('ora'))['default']
  Progress: typeof Progress
}

async function loadTerminalUi(silent: boolean): Promise<TerminalUi | undefined> {
  if (silent || !isInteractive(process.stderr)) return undefined
  const [{default: ora}, {Progress}] = await Promise.all([import('ora'), import('../lib/ui/progress.js')])
  return {ora, Progress}
}

/** The sync rate is measured over this window. */
const RATE_WINDOW_MS = 60_000

/**
 * Progress on stderr: a spinner while the node cannot answer, a bar while it
 * syncs (terminal); a line every few seconds, and at once on a change of
 * phase, otherwise (cron, pipes, service logs).
 */
class SyncDisplay {
  private readonly interactive: boolean
  private progress?: Progress
  private spinner?: Ora
  private lastKey = ''
  private lastLineAt = 0
  private lastText = ''
  private readonly samples: Array<{at: number; blocks: number}> = []

  constructor(
    private readonly silent: boolean,
    private readonly ui: TerminalUi | undefined,
  ) {
    this.interactive = ui !== undefined
  }

  show(state: SyncState): void {
    if (this.silent) return
    const now = Date.now()
    let text = describeSyncState(state)
    if (state.phase !== 'waiting') {
      this.samples.push({at: now, blocks: state.info.blocks})
      while (this.samples.length > 2 && now - this.samples[0].at > RATE_WINDOW_MS) this.samples.shift()
    }
    const rate = this.rate()
    if (state.phase === 'syncing' && rate !== undefined && state.info.headers > state.info.blocks) {
      const eta = rate > 0 ? `, ETA ${formatDuration(((state.info.headers - state.info.blocks) / rate) * 1000)}` : ''
      text += `, ${rate.toFixed(1)} blocks/s${eta}`
    }
    if (this.interactive) {
      this.showOnTerminal(state, text, rate)
      return
    }
    const key = state.phase === 'waiting' ? `waiting:${state.reason.kind}` : state.phase
    if (key !== this.lastKey || now - this.lastLineAt >= PLAIN_EVERY_MS) {
      this.lastKey = key
      this.lastLineAt = now
      process.stderr.write(text + '\n')
    }
  }

  stop(): void {
    this.spinner?.stop()
    this.progress?.stop()
  }

  private showOnTerminal(state: SyncState, text: string, rate: number | undefined): void {
    if (state.phase === 'waiting') {
      if (this.progress) {
        // the bar stays; what interrupted it goes above it, once
        if (text !== this.lastText) this.progress.log(text)
      } else {
        this.spinner ??= this.ui!.ora({stream: process.stderr, text}).start()
        this.spinner.text = text
      }
      this.lastText = text
      return
    }
    this.spinner?.stop()
    this.spinner = undefined
    this.lastText = ''
    const {blocks, headers, verificationProgress} = state.info
    const detail = `| verified ${(verificationProgress * 100).toFixed(2)}%${rate === undefined ? '' : ` | ${rate.toFixed(1)} blocks/s`}`
    if (!this.progress) {
      this.progress = new this.ui!.Progress({silent: false, unit: 'blocks'})
      this.progress.start(Math.max(headers, blocks), blocks, 'syncing')
    }
    this.progress.update(blocks, {detail}, Math.max(headers, blocks))
  }

  /** blocks per second over the last minute, once there are two samples */
  private rate(): number | undefined {
    if (this.samples.length < 2) return undefined
    const first = this.samples[0]
    const last = this.samples.at(-1)!
    const seconds = (last.at - first.at) / 1000
    return seconds > 0 ? Math.max(0, last.blocks - first.blocks) / seconds : undefined
  }
}
