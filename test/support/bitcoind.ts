/**
 * A real Bitcoin Core regtest node for the integration suite, used when the
 * environment names a binary (BITCOIND=/path/to/bitcoind): a temporary
 * datadir, free ports found by binding port 0, `-regtest -server -txindex`
 * with or without `-rest`, a descriptor wallet, and a clean stop.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {RpcCallError, TestRpcClient} from './simnode/client.js'

export interface BitcoindOptions {
  /** path to the bitcoind binary */
  binary: string
  rest: boolean
  /** fixed -rpcuser/-rpcpassword instead of the cookie */
  auth?: {user: string; password: string}
  /** -txindex (default on); a pruned node cannot have it */
  txindex?: boolean
  /** accept peers on 127.0.0.1:p2pPort (default off: -listen=0) */
  listen?: boolean
  extraArgs?: string[]
  startTimeoutMs?: number
}

export const WALLET_NAME = 'test'

/** A port nobody listens on right now (bind port 0, read it, let it go). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export class Bitcoind {
  readonly datadir: string
  readonly netDatadir: string
  readonly cookiePath: string
  rpc!: TestRpcClient
  private child: ChildProcess | undefined
  private stderrTail = ''
  private exited: Promise<number | null> = Promise.resolve(null)

  private constructor(
    private readonly opts: BitcoindOptions,
    readonly rpcPort: number,
    readonly p2pPort: number,
  ) {
    this.datadir = mkdtempSync(join(tmpdir(), 'bix-bitcoind-'))
    this.netDatadir = join(this.datadir, 'regtest')
    this.cookiePath = join(this.netDatadir, '.cookie')
  }

  static async start(opts: BitcoindOptions): Promise<Bitcoind> {
    const node = new Bitcoind(opts, await freePort(), await freePort())
    try {
      await node.launch()
      await node.ensureWallet()
    } catch (err) {
      await node.destroy()
      throw err
    }
    return node
  }

  private args(): string[] {
    const auth = this.opts.auth ? [`-rpcuser=${this.opts.auth.user}`, `-rpcpassword=${this.opts.auth.password}`] : []
    return [
      '-regtest',
      '-server',
      `-rest=${this.opts.rest ? 1 : 0}`,
      ...(this.opts.txindex === false ? [] : ['-txindex']),
      '-fallbackfee=0.0002',
      ...(this.opts.listen ? ['-listen=1', '-bind=127.0.0.1'] : ['-listen=0']),
      `-rpcport=${this.rpcPort}`,
      `-port=${this.p2pPort}`,
      `-datadir=${this.datadir}`,
      '-printtoconsole=0',
      // recorded fixture blocks are hours old: never fall back into initial block download
      '-maxtipage=315360000',
      ...auth,
      ...(this.opts.extraArgs ?? []),
    ]
  }

  private async launch(): Promise<void> {
    const child = spawn(this.opts.binary, this.args(), {stdio: ['ignore', 'ignore', 'pipe']})
    this.child = child
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2000)
    })
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    // a test that forgets stop() must neither hang the runner nor leave a node behind
    const killOnExit = () => child.kill('SIGKILL')
    process.once('exit', killOnExit)
    void this.exited.then(() => process.off('exit', killOnExit))
    child.unref()
    ;(child.stderr as unknown as {unref?: () => void})?.unref?.()
    this.rpc = new TestRpcClient(this.rpcPort, this.opts.auth ?? {cookiePath: this.cookiePath})
    await this.waitForRpc()
  }

  /** Polls until RPC answers outside warm-up (or the process dies). */
  private async waitForRpc(): Promise<void> {
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 60_000)
    let exitCode: number | null | undefined
    void this.exited.then((code) => (exitCode = code))
    for (;;) {
      if (exitCode !== undefined) throw new Error(`bitcoind exited with code ${exitCode} while starting: ${this.stderrTail.trim()}`)
      try {
        await this.rpc.call('getblockchaininfo', [], 5_000)
        return
      } catch (err) {
        const transient = (err instanceof RpcCallError && err.code === -28) || !(err instanceof RpcCallError)
        if (!transient || Date.now() > deadline) throw err
      }
      await sleep(100)
    }
  }

  private async ensureWallet(): Promise<void> {
    try {
      await this.rpc.call('createwallet', [WALLET_NAME])
    } catch (err) {
      // after a restart the wallet exists; load it instead
      if (!(err instanceof RpcCallError)) throw err
      await this.rpc.call('loadwallet', [WALLET_NAME]).catch((loadErr: unknown) => {
        if (!(loadErr instanceof RpcCallError && /already loaded/.test(loadErr.message))) throw loadErr
      })
    }
  }

  /** Stops via RPC and waits for the process to exit (SIGKILL after 30 s). */
  async stop(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null) return
    try {
      await this.rpc.call('stop', [], 10_000)
    } catch {
      child.kill('SIGTERM')
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    await this.exited
    clearTimeout(timer)
    this.child = undefined
  }

  /** Stops and starts again on the same ports and datadir; dropMempool forgets the saved mempool.dat. */
  async restart(opts: {dropMempool?: boolean} = {}): Promise<void> {
    await this.stop()
    if (opts.dropMempool) rmSync(join(this.netDatadir, 'mempool.dat'), {force: true})
    await this.launch()
    await this.ensureWallet()
  }

  /** Stops the node and deletes its datadir. */
  async destroy(): Promise<void> {
    await this.stop()
    rmSync(this.datadir, {recursive: true, force: true})
  }
}
