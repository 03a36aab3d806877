/**
 * The node integration tests talk to: the simulator by default, or a real
 * Bitcoin Core regtest node when BITCOIND=/path/to/bitcoind is set. Both are
 * driven through the same RPCs (generatetoaddress, getnewaddress,
 * sendtoaddress, bumpfee, invalidateblock...), so one test body runs against
 * either. A test that injects a fault Core cannot produce on demand (warm-up,
 * 503, dropped connections, slow or damaged answers, cookie rotation, restarts
 * at exact points) asks for the simulator whatever BITCOIND says, and says so:
 *
 *   // simulator: fault injection (a 503 storm)
 *   const node = await startFaultSimulator()   // or startTestNode({simulator: true}) where the node's type matters
 *   t.after(() => node.stop())
 *   node.sim.faults.workQueueFull(3)
 */
import {execFileSync} from 'node:child_process'
import fs from 'node:fs'
import {Transaction} from 'bitcoinjs-lib'

import {Bitcoind} from './bitcoind.js'
import {RpcCallError, TestRpcClient} from './simnode/client.js'
import {type FixtureStage, applyFixtureReorg, readFixtureChain, fixtureForkHeight} from './simnode/fixture-chain.js'
import {Simulator, type SimulatorOptions} from './simnode/simulator.js'

export type AddressType = 'legacy' | 'p2sh-segwit' | 'bech32' | 'bech32m'

export interface TestNodeOptions {
  /** serve REST (-rest); default true */
  rest?: boolean
  /** load the recorded Core chain; true means after its reorg */
  fixtureChain?: boolean | FixtureStage
  /** mine this many blocks to the wallet at start (101 makes the first coinbase spendable) */
  matureBlocks?: number
  /** fixed -rpcuser/-rpcpassword instead of the cookie */
  auth?: {user: string; password: string}
  /** extra simulator settings (ignored for bitcoind) */
  sim?: Omit<SimulatorOptions, 'rest' | 'fixture' | 'auth'>
  /** a bitcoind binary to run instead of the simulator; default $BITCOIND ('': the simulator even when BITCOIND is set) */
  bitcoind?: string
  /** bitcoind only: -txindex (default on; a pruned node cannot have it), listening for peers, more arguments (e.g. -prune=1) */
  bitcoindOptions?: {txindex?: boolean; listen?: boolean; args?: string[]}
  /** the simulator even when BITCOIND is set: for what Core cannot do on demand (faults, an old version; the test says which) */
  simulator?: boolean
  /** -txospenderindex: gettxspendingprevout names confirmed spenders too (Core and simulator) */
  txospenderindex?: boolean
}

export interface TestNode {
  readonly kind: 'sim' | 'bitcoind'
  /** base datadir, as given to --datadir */
  readonly datadir: string
  /** <datadir>/regtest */
  readonly netDatadir: string
  readonly network: 'regtest'
  readonly rpcPort: number
  /** bitcoind's P2P port (127.0.0.1); the simulator has none */
  readonly p2pPort?: number
  /** http://127.0.0.1:<port> */
  readonly rpcUrl: string
  readonly cookiePath: string
  readonly rest: boolean
  /** the bix flags that reach this node */
  cliArgs(): string[]
  /** a raw call; rejects with RpcCallError (code, message) on an error reply */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>
  /** mines n blocks (mempool included) to an address (default: the wallet's); returns their hashes */
  mine(n: number, toAddress?: string): Promise<string[]>
  newAddress(type?: AddressType): Promise<string>
  /** pays an address from the wallet; returns the txid (the transaction waits in the mempool) */
  send(address: string, sats: bigint | number): Promise<string>
  /** replace-by-fee with a higher fee; returns the new txid */
  bumpFee(txid: string): Promise<string>
  invalidate(hash: string): Promise<void>
  reconsider(hash: string): Promise<void>
  tipHeight(): Promise<number>
  tipHash(): Promise<string>
  /** with fixtureChain 'before-reorg': delivers the recorded reorg and mempool */
  applyFixtureReorg(): Promise<void>
  /** stops and starts again on the same port (new cookie) */
  restart(): Promise<void>
  /** stops the node and deletes its datadir */
  stop(): Promise<void>
  readonly supportsFaults: boolean
  /** the simulator itself, for faults and direct chain control; undefined for bitcoind */
  readonly sim?: Simulator
}

/** "0.00012345" for 12345 sats (RPC amounts as exact decimal strings) */
export const satsToBtcString = (sats: bigint | number): string => {
  const v = BigInt(sats)
  return `${v / 100_000_000n}.${(v % 100_000_000n).toString().padStart(8, '0')}`
}

export async function startTestNode(opts: TestNodeOptions = {}): Promise<TestNode> {
  const stage = fixtureStage(opts)
  const binary = opts.simulator ? undefined : (opts.bitcoind ?? process.env.BITCOIND)
  const node = binary ? await startBitcoindNode(binary, opts, stage) : await startSimNode(opts, stage)
  if (opts.matureBlocks) await node.mine(opts.matureBlocks)
  return node
}

/** A simulator node even when BITCOIND is set, for a fault real Core cannot produce on demand. */
export type FaultTestNode = TestNode & {readonly kind: 'sim'; readonly sim: Simulator}

/**
 * The one way to ask for the simulator whatever BITCOIND says: the test injects
 * a fault (warm-up, 503, dropped connections, slow or damaged answers, cookie
 * rotation, a restart at an exact point) that a real node cannot give on demand.
 */
export async function startFaultSimulator(opts: Omit<TestNodeOptions, 'bitcoind'> = {}): Promise<FaultTestNode> {
  const node = await startSimNode(opts, fixtureStage(opts))
  if (opts.matureBlocks) await node.mine(opts.matureBlocks)
  return node
}

export interface CountedCookie {
  /** how many times the new cookie has been read so far */
  reads(): number
  /** puts the cookie back as a plain file; call it before the node stops (which deletes the file) */
  stop(): Promise<void>
}

/**
 * Rotates the simulator's cookie, as a restarted bitcoind would, and serves
 * the new one through a named pipe that counts every read: how a test sees
 * that bix read the new cookie exactly once. The pipe's mtime is held still,
 * so that bix's look at the file's stamp sees no change after its read.
 * The test's own client reads the cookie too, and would wait on the pipe with
 * nobody to serve it: stop() before the test calls the node itself.
 */
export function rotateCookieCountingReads(node: FaultTestNode): CountedCookie {
  node.sim.rotateCookie()
  const file = node.cookiePath
  const content = fs.readFileSync(file)
  const stamp = fs.statSync(file).mtime
  fs.rmSync(file)
  execFileSync('mkfifo', ['-m', '600', file])
  fs.utimesSync(file, stamp, stamp)
  let reads = 0
  let stopped = false
  // polled without blocking (a blocked open would hold a thread of this process for good): it succeeds once a reader waits
  const serve = (): void => {
    if (stopped) return
    let pipe: number
    try {
      pipe = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
    } catch {
      setTimeout(serve, 2).unref()
      return
    }
    fs.writeSync(pipe, content)
    fs.closeSync(pipe)
    fs.utimesSync(file, stamp, stamp)
    reads++
    // a reader still open when the next look came would get the cookie twice: let it see the end and go
    setTimeout(serve, 200).unref()
  }
  serve()
  return {
    reads: () => reads,
    async stop() {
      stopped = true
      if (!fs.existsSync(file)) return
      fs.rmSync(file)
      fs.writeFileSync(file, content, {mode: 0o600})
    },
  }
}

const fixtureStage = (opts: TestNodeOptions): FixtureStage | undefined => (opts.fixtureChain === true ? 'after-reorg' : opts.fixtureChain || undefined)

/** The parts both kinds share: everything goes through RPC. */
abstract class RpcTestNode implements Partial<TestNode> {
  readonly network = 'regtest' as const
  private miningAddress: string | undefined

  abstract readonly datadir: string
  abstract readonly rpcPort: number
  abstract readonly client: TestRpcClient

  get rpcUrl(): string {
    return `http://127.0.0.1:${this.rpcPort}`
  }

  cliArgs(): string[] {
    return ['--datadir', this.datadir, '--network', 'regtest', '--rpcport', String(this.rpcPort)]
  }

  rpc<T = unknown>(method: string, params: unknown[] = []): Promise<T> {
    return this.client.call<T>(method, params)
  }

  async mine(n: number, toAddress?: string): Promise<string[]> {
    this.miningAddress ??= await this.newAddress('bech32')
    return this.rpc<string[]>('generatetoaddress', [n, toAddress ?? this.miningAddress])
  }

  newAddress(type: AddressType = 'bech32'): Promise<string> {
    return this.rpc<string>('getnewaddress', ['', type])
  }

  send(address: string, sats: bigint | number): Promise<string> {
    return this.rpc<string>('sendtoaddress', [address, satsToBtcString(sats)])
  }

  async bumpFee(txid: string): Promise<string> {
    return (await this.rpc<{txid: string}>('bumpfee', [txid])).txid
  }

  async invalidate(hash: string): Promise<void> {
    await this.rpc('invalidateblock', [hash])
  }

  async reconsider(hash: string): Promise<void> {
    await this.rpc('reconsiderblock', [hash])
  }

  tipHeight(): Promise<number> {
    return this.rpc<number>('getblockcount')
  }

  tipHash(): Promise<string> {
    return this.rpc<string>('getbestblockhash')
  }
}

class SimTestNode extends RpcTestNode implements FaultTestNode {
  readonly kind = 'sim' as const
  readonly supportsFaults = true
  readonly client: TestRpcClient

  constructor(readonly sim: Simulator) {
    super()
    this.client = new TestRpcClient(sim.port, sim.credentials.user === '__cookie__' ? {cookiePath: sim.cookiePath} : sim.credentials)
  }

  get datadir(): string {
    return this.sim.datadir
  }
  get netDatadir(): string {
    return this.sim.netDatadir
  }
  get rpcPort(): number {
    return this.sim.port
  }
  get cookiePath(): string {
    return this.sim.cookiePath
  }
  get rest(): boolean {
    return this.sim.rest
  }

  async applyFixtureReorg(): Promise<void> {
    applyFixtureReorg(this.sim.chain)
  }

  restart(): Promise<void> {
    return this.sim.restart()
  }

  stop(): Promise<void> {
    return this.sim.stop()
  }
}

async function startSimNode(opts: TestNodeOptions, stage: FixtureStage | undefined): Promise<SimTestNode> {
  const sim = await Simulator.start({...opts.sim, rest: opts.rest ?? true, fixture: stage, auth: opts.auth, txospenderindex: opts.txospenderindex})
  return new SimTestNode(sim)
}

class BitcoindTestNode extends RpcTestNode implements TestNode {
  readonly kind = 'bitcoind' as const
  readonly supportsFaults = false
  readonly sim = undefined

  constructor(
    private readonly bitcoind: Bitcoind,
    readonly rest: boolean,
  ) {
    super()
  }

  get client(): TestRpcClient {
    return this.bitcoind.rpc
  }
  get datadir(): string {
    return this.bitcoind.datadir
  }
  get netDatadir(): string {
    return this.bitcoind.netDatadir
  }
  get rpcPort(): number {
    return this.bitcoind.rpcPort
  }
  get p2pPort(): number {
    return this.bitcoind.p2pPort
  }
  get cookiePath(): string {
    return this.bitcoind.cookiePath
  }

  /** Submits blocks 1–143 and the branch that later went stale, in the recorded order. */
  async loadFixture(stage: FixtureStage): Promise<void> {
    const fixture = readFixtureChain()
    for (const block of [...fixture.blocks.slice(1, fixtureForkHeight() + 1), ...fixture.stale]) {
      const result = await this.rpc('submitblock', [block.hex])
      if (result !== null) throw new Error(`bitcoind refused fixture block ${block.height}: ${String(result)}`)
    }
    if (stage === 'after-reorg') await this.applyFixtureReorg()
  }

  async applyFixtureReorg(): Promise<void> {
    const fixture = readFixtureChain()
    for (const block of fixture.blocks.slice(fixtureForkHeight() + 1)) {
      const result = await this.rpc('submitblock', [block.hex])
      if (result !== null && result !== 'inconclusive') throw new Error(`bitcoind refused fixture block ${block.height}: ${String(result)}`)
    }
    // the reorg put the stale-only transactions back in the mempool; the recording has them gone
    await this.bitcoind.restart({dropMempool: true})
    for (const {hex} of fixture.mempool) {
      try {
        await this.rpc('sendrawtransaction', [hex])
      } catch (err) {
        if (!(err instanceof RpcCallError)) throw err
        throw new Error(`bitcoind refused fixture mempool transaction ${Transaction.fromHex(hex).getId()}: ${err.message}`)
      }
    }
  }

  restart(): Promise<void> {
    return this.bitcoind.restart()
  }

  stop(): Promise<void> {
    return this.bitcoind.destroy()
  }
}

async function startBitcoindNode(binary: string, opts: TestNodeOptions, stage: FixtureStage | undefined): Promise<TestNode> {
  const rest = opts.rest ?? true
  const {txindex, listen, args: extraArgs} = opts.bitcoindOptions ?? {}
  const args = [...(extraArgs ?? []), ...(opts.txospenderindex ? ['-txospenderindex'] : [])]
  const bitcoind = await Bitcoind.start({binary, rest, auth: opts.auth, txindex, listen, extraArgs: args})
  const node = new BitcoindTestNode(bitcoind, rest)
  if (stage) {
    try {
      await node.loadFixture(stage)
    } catch (err) {
      await node.stop()
      throw err
    }
  }
  return node
}
