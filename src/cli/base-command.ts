import {Command, Flags, Interfaces} from '@oclif/core'
import fs from 'node:fs'
import path from 'node:path'
import {performance} from 'node:perf_hooks'

import {NETWORK_NAMES, type NetworkName} from '../lib/chain/networks.js'
import {BixError, ExitCode, isBixError} from '../lib/errors.js'
import {resolveNodeConfig} from '../lib/node/config.js'
import {describeRetryWindow, parseRetryWindow} from '../lib/node/retry-window.js'
import {createNodeClient} from '../lib/node/rpc-client.js'
import type {NodeClient, NodeConfig} from '../lib/node/types.js'
import {lastRunsPath, recordLastRun} from '../lib/store/last-runs.js'
import {isPostgresUrl, storeTransportWarning} from '../lib/store/open-store.js'
import {colourFor} from '../lib/ui/colour.js'
import {formatBytes} from '../lib/format.js'
import {type ErrorJson, errorJson} from '../lib/ui/json.js'
import {OutageNotice} from '../lib/ui/outage-notice.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** Flags named as in bitcoin.conf, shared by every command that talks to the node. */
export const nodeFlags = {
  datadir: Flags.string({description: 'bitcoind data directory (default ~/.bitcoin)', env: 'BIX_DATADIR', helpGroup: 'NODE'}),
  conf: Flags.string({description: 'bitcoin.conf to read (relative paths are inside the datadir)', env: 'BIX_CONF', helpGroup: 'NODE'}),
  network: Flags.string({
    description: 'chain the node runs (default: from bitcoin.conf, else main)',
    env: 'BIX_NETWORK',
    options: [...NETWORK_NAMES],
    helpGroup: 'NODE',
  }),
  rpcconnect: Flags.string({
    description: 'node host[:port]; repeat for failover',
    env: 'BIX_RPCCONNECT',
    multiple: true,
    delimiter: ',',
    helpGroup: 'NODE',
  }),
  rpcport: Flags.integer({description: 'RPC port (default: the network\'s)', env: 'BIX_RPCPORT', min: 1, max: 65535, helpGroup: 'NODE'}),
  rpcuser: Flags.string({description: 'RPC user (default: cookie authentication)', env: 'BIX_RPCUSER', helpGroup: 'NODE'}),
  rpcpassword: Flags.string({description: 'RPC password', env: 'BIX_RPCPASSWORD', helpGroup: 'NODE'}),
  rpccookiefile: Flags.string({description: 'cookie file (default <datadir>/<network>/.cookie)', env: 'BIX_RPCCOOKIEFILE', helpGroup: 'NODE'}),
  'rpc-url': Flags.string({
    description: 'node URL(s) http://[user:password@]host:port, comma-separated, in failover order',
    env: 'BIX_RPC_URL',
    multiple: true,
    delimiter: ',',
    helpGroup: 'NODE',
  }),
  'rpc-parallelism': Flags.integer({description: 'connections to the node', env: 'BIX_RPC_PARALLELISM', default: 4, min: 1, max: 64, helpGroup: 'NODE'}),
  'rpc-timeout': Flags.integer({description: 'seconds to wait for one answer', env: 'BIX_RPC_TIMEOUT', default: 60, min: 1, helpGroup: 'NODE'}),
  'connect-timeout': Flags.integer({description: 'seconds to wait for a connection', env: 'BIX_CONNECT_TIMEOUT', default: 5, min: 1, helpGroup: 'NODE'}),
}

/**
 * --retry-for (BIX_RETRY_FOR): how long to wait through a node that refuses,
 * restarts or warms up before exit 3. Each command picks its default and
 * says why in its help. In milliseconds once parsed.
 */
export function retryForFlag(defaultMs: number, why: string) {
  return Flags.custom<number>({parse: async (input) => parseRetryWindow(input)})({
    description: `wait this long for a node that is down, restarting or warming up (90s, 10m, 1h, or seconds; 0: at most a few seconds) before exit 3; ${why}`,
    env: 'BIX_RETRY_FOR',
    default: defaultMs,
    defaultHelp: async () => describeRetryWindow(defaultMs),
    multiple: false,
    helpGroup: 'NODE',
  })
}

export const dbFlags = {
  db: Flags.string({description: 'the index: an SQLite file (default: <bix data dir>/<network>/index.db) or a PostgreSQL URL (postgres://user@host/dbname; PG* variables and ~/.pgpass fill in the rest)', env: 'BIX_DB', helpGroup: 'INDEX'}),
}

export type NodeFlagValues = Interfaces.InferredFlags<typeof nodeFlags>

/**
 * What every bix command shares: --json/--quiet/--verbose, one-line errors
 * with documented exit codes (also under --json), NO_COLOR, and Ctrl-C that
 * ends whatever the command waits on.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    quiet: Flags.boolean({char: 'q', description: 'no progress output', helpGroup: 'GLOBAL'}),
    verbose: Flags.boolean({char: 'v', description: 'per-method RPC counts, latency and bytes on stderr at exit', helpGroup: 'GLOBAL'}),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>
  /** every positional argument, for commands with strict = false */
  protected positionalArgs!: string[]
  /** aborted on the first SIGINT/SIGTERM */
  protected readonly interrupt = new AbortController()
  protected interruptSignalName?: 'SIGINT' | 'SIGTERM'
  protected readonly stderrColour = colourFor(process.stderr)
  protected readonly stdoutColour = colourFor(process.stdout)
  private node?: NodeClient
  private readonly startedAt = performance.now()
  /** the index this run used, for its entry in `<db>.runs.json` */
  private databaseUsed?: string
  private warnedTransport = false
  private readonly onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (this.interrupt.signal.aborted) {
      // a second Ctrl-C: the user means it
      process.exit(signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated)
    }
    this.interruptSignalName = signal
    this.interrupt.abort(new BixError('Interrupted', `interrupted by ${signal}`, {exitCode: signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated}))
  }

  public override async init(): Promise<void> {
    await super.init()
    const {args, argv, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
    this.positionalArgs = argv as string[]
    process.on('SIGINT', this.onSignal)
    process.on('SIGTERM', this.onSignal)
  }

  /** Progress and logs are silent under --quiet and --json. */
  protected get silent(): boolean {
    return Boolean(this.flags.quiet) || this.jsonEnabled()
  }

  /** A line on stderr unless --quiet/--json. */
  protected note(line: string): void {
    if (!this.silent) process.stderr.write(line + '\n')
  }

  /** A warning on stderr, shown even with --quiet (but not mixed into --json stdout). */
  protected warnLine(line: string): void {
    process.stderr.write(this.stderrColour.yellow(`warning: ${line}`) + '\n')
  }

  protected resolveNode(flags: NodeFlagValues): NodeConfig {
    return resolveNodeConfig({
      datadir: flags.datadir,
      conf: flags.conf,
      network: flags.network as NetworkName | undefined,
      rpcconnect: flags.rpcconnect,
      rpcport: flags.rpcport,
      rpcuser: flags.rpcuser,
      rpcpassword: flags.rpcpassword,
      rpccookiefile: flags.rpccookiefile,
      rpcUrls: flags['rpc-url'],
    })
  }

  /**
   * The shared RPC core, closed when the command ends. With a retry window
   * (--retry-for) a wait for the node is told on stderr, except under --quiet
   * or --json: a cron job that rode out a restart stays silent, and one that
   * gave up says how long it waited in its error line.
   */
  protected connectNode(config: NodeConfig, flags: NodeFlagValues, options: {retryForMs?: number; onNotice?: (line: string) => void} = {}): NodeClient {
    const notice = this.silent ? undefined : new OutageNotice(options.retryForMs ?? 0, options.onNotice ?? ((line) => this.note(line)))
    this.node = createNodeClient(config, {
      parallelism: flags['rpc-parallelism'],
      connectTimeoutMs: flags['connect-timeout'] * 1000,
      requestTimeoutMs: flags['rpc-timeout'] * 1000,
      signal: this.interrupt.signal,
      retryForMs: options.retryForMs,
      onRetry: (event) => {
        if (this.flags.verbose) process.stderr.write(`retry ${event.method} on ${event.endpoint} in ${event.delayMs} ms: ${event.reason}\n`)
        notice?.retrying(event)
      },
      onRecovered: (event) => notice?.recovered(event),
      onWarning: (line) => this.warnLine(line),
    })
    return this.node
  }

  /** <bix data dir>/<network>/index.db unless --db says otherwise. */
  protected databasePath(dbFlag: string | undefined, network: NetworkName): string {
    this.databaseUsed = dbFlag ? resolveDb(dbFlag) : path.join(this.config.dataDir, network, 'index.db')
    const warning = storeTransportWarning(this.databaseUsed)
    if (warning && !this.warnedTransport) {
      this.warnedTransport = true
      this.warnLine(warning)
    }
    return this.databaseUsed
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (isBixError(err)) {
      // one line, no stack: the error is expected and its message says what was tried
      process.exitCode = err.exitCode
      if (this.jsonEnabled()) {
        this.logJson(this.toErrorJson(err))
      } else {
        // a BixError thrown by a flag's own parser comes back with oclif's "Parsing --flag" lines around it
        process.stderr.write(this.stderrColour.red(`error: ${oneLine(err.message)}`) + '\n')
      }
      // returning (not throwing) lets oclif run finally() and exit with our code
      return undefined
    }
    // what oclif could not parse (unknown flag, bad value, missing argument): the same one line, exit 2;
    // oclif's own report spans several lines (and the whole usage), and loses the exit code under --json
    if (typeof err.oclif?.exit === 'number' && (err as {code?: string}).code !== 'EEXIT') {
      process.exitCode = err.oclif.exit
      const message = oneLine(err.message)
      if (this.jsonEnabled()) this.logJson(errorJson(this.toErrorJson(err).error.kind, message, err.oclif.exit))
      else process.stderr.write(this.stderrColour.red(`error: ${message}`) + '\n')
      return undefined
    }
    return super.catch(err)
  }

  /**
   * Every --json error has the one documented shape. oclif's own would print
   * the whole error object: for a bad flag that is the parse context, the
   * command line (and so any --rpcpassword) included.
   */
  protected override toErrorJson(err: unknown): ErrorJson {
    if (isBixError(err)) return errorJson(err.kind, err.message, err.exitCode)
    const exit = (err as {oclif?: {exit?: unknown}} | undefined)?.oclif?.exit
    const exitCode = typeof exit === 'number' ? exit : ExitCode.unexpected
    // oclif exits 2 for what it could not parse: unknown flags, bad values, missing arguments
    return errorJson(exitCode === ExitCode.badInput ? 'BadInput' : 'Unexpected', err instanceof Error ? err.message : String(err), exitCode)
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
    if (this.node) {
      const node = this.node
      this.node = undefined
      if (this.flags?.verbose) this.printStats(node)
      await node.close()
    }
    this.recordRun(err)
    return super.finally(err)
  }

  /**
   * The last run of each command, beside the index, for `status --prometheus`.
   * Only beside an index file that exists, and not for the first time after a
   * database failure: bix leaves nothing beside a file that is not its index.
   * A file that cannot be written costs the record, never the command.
   */
  private recordRun(err: Error | undefined): void {
    const database = this.databaseUsed ?? dbFlagOf(this.flags)
    // a PostgreSQL index's record is in bix's own data directory, which bix may always write
    if (!database || !this.id || (!isPostgresUrl(database) && !fs.existsSync(database))) return
    const file = lastRunsPath(database, this.config.dataDir)
    // catch() has set the code by now, for our errors and oclif's alike
    const exitCode = process.exitCode === undefined || process.exitCode === null ? (err ? ExitCode.unexpected : ExitCode.ok) : Number(process.exitCode)
    if (exitCode === ExitCode.database && !fs.existsSync(file)) return
    try {
      recordLastRun(file, this.id.replaceAll(':', ' '), {
        endedAt: Date.now() / 1000,
        exitCode,
        durationSeconds: Math.round(performance.now() - this.startedAt) / 1000,
      })
    } catch {
      // a read-only or missing directory: the command's own outcome stands
    }
  }

  private printStats(node: NodeClient): void {
    const rows = [...node.stats().entries()].sort((a, b) => b[1].totalMs - a[1].totalMs)
    if (rows.length === 0) return
    process.stderr.write('rpc method                calls  errors   avg ms   total ms      in       out\n')
    for (const [method, s] of rows) {
      const avg = s.calls ? s.totalMs / s.calls : 0
      process.stderr.write(
        `${method.padEnd(24)} ${String(s.calls).padStart(6)} ${String(s.errors).padStart(7)} ${avg.toFixed(1).padStart(8)} ${s.totalMs
          .toFixed(0)
          .padStart(10)} ${formatBytes(s.bytesIn).padStart(9)} ${formatBytes(s.bytesOut).padStart(9)}\n`,
      )
    }
  }
}

/** --db as given, for a run that failed before it resolved its index (undefined when parsing failed) */
function dbFlagOf(flags: unknown): string | undefined {
  const db = (flags as {db?: unknown} | undefined)?.db
  return typeof db === 'string' ? resolveDb(db) : undefined
}

/** A file is named by its absolute path; a PostgreSQL URL stays as it is. */
function resolveDb(db: string): string {
  return isPostgresUrl(db) ? db : path.resolve(db)
}

/** oclif's parse messages, one line: "Parsing --rpcport\n\tExpected an integer…\nSee more help with --help" → "Parsing --rpcport: Expected an integer…" */
function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^See more help with/.test(line))
  return lines.length > 1 && /^Parsing /.test(lines[0]) ? `${lines[0]}: ${lines.slice(1).join('; ')}` : lines.join('; ')
}
