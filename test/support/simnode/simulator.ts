/**
 * A simulated Bitcoin Core regtest node for tests: a real HTTP server on
 * 127.0.0.1 speaking JSON-RPC and REST, a datadir with the .cookie and blk
 * files, a chain built from real blocks, a wallet, and the test controls —
 * mine, send, reorg, invalidate, replace or drop mempool transactions,
 * rotate the cookie, restart, and the fault switches in `faults`.
 *
 * `network` makes it another chain's node as far as a client can see: that
 * chain's genesis block, getblockchaininfo's name, datadir sub-directory,
 * blk file magic and address forms. Blocks on top are still mined at
 * regtest's difficulty and subsidy schedule, which no client here checks.
 */
import {randomBytes, timingSafeEqual} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {Transaction} from 'bitcoinjs-lib'

import {sha256} from '../../../src/lib/chain/hashes.js'
import {type NetworkName, NETWORKS} from '../../../src/lib/chain/networks.js'
import {buildBlock} from './block-builder.js'
import {REGTEST_BITS, bitsForWorkAbove, blockWork, readHeader} from './block-codec.js'
import {BlkWriter, type BlkWriterOptions} from './blk-writer.js'
import {readXorKey, scanBlkFiles} from './blk-reader.js'
import {Chain, type BlockEntry} from './chain.js'
import {type Coin, inputTxid, outpointKey} from './ledger.js'
import {Faults, type WarmupOptions} from './faults.js'
import {type FixtureStage, fixtureXorKey, loadFixtureChain} from './fixture-chain.js'
import type {PolicySettings, Verdict} from './policy.js'
import type {NodeInfo, NodeState} from './rpc-methods.js'
import {RpcHttpServer} from './server.js'
import {type AddressType, type Payment, type SpendableCoin, Wallet, toScript} from './wallet.js'

export interface SimulatorOptions {
  /** the chain it serves (default regtest; the recorded fixture is regtest's) */
  network?: NetworkName
  /** base datadir (cookie and blocks go under <datadir>/regtest); default: a new temp dir, removed by stop() */
  datadir?: string
  /** serve /rest/ (bitcoind -rest); default true */
  rest?: boolean
  /** fixed -rpcuser/-rpcpassword instead of the cookie */
  auth?: {user: string; password: string}
  /** listen on this port; default a free one */
  port?: number
  /** getnetworkinfo.version; below 280000 JSON-RPC 2.0 requests are answered 1.x-style, as old Core does */
  version?: number
  /** write blk*.dat + xor.dat as blocks arrive (default on, Core's file sizes, a fixed non-zero key); false for none */
  blockFiles?: false | Omit<BlkWriterOptions, 'dir'>
  /** wall clock in ms (block times, mempool entry times) */
  clock?: () => number
  /** 'lazy' defers the UTXO set and tx index until something needs them (large generated chains) */
  ledger?: 'eager' | 'lazy'
  policy?: Partial<PolicySettings>
  walletSeed?: string
  /** Core waits 250 ms before answering bad credentials */
  authFailureDelayMs?: number
  /** start in warm-up */
  warmup?: WarmupOptions
  /** load the recorded Core chain (blk files then use the recorded node's xor key) */
  fixture?: FixtureStage
  /** start from the blk files already in the datadir, as a restarted node does (mempool and wallet start empty) */
  resume?: boolean
  /** -prune=1: a pruned node (manual pruning with pruneblockchain), nothing pruned yet */
  prune?: boolean
  /** -txospenderindex: gettxspendingprevout also names confirmed spenders */
  txospenderindex?: boolean
}

export interface MineOptions {
  /** address or output script for the coinbase; default the wallet's mining address */
  to?: string | Uint8Array
  /** transactions for the first block, after the mempool's (hex or objects; need not have been in the mempool) */
  txs?: (Transaction | string)[]
  /** include mempool transactions (default true, like generatetoaddress) */
  includeMempool?: boolean
  /** compact target for the new blocks (any bits up to regtest's powLimit; real Core insists on 0x207fffff) */
  bits?: number
  /** return the hash even if the chain rejects the block (e.g. it spends missing coins) */
  allowInvalid?: boolean
}

export interface SendOptions {
  /** address or script to pay; or use `outputs` */
  to?: string | Uint8Array
  /** satoshis */
  value?: bigint | number
  outputs?: {to: string | Uint8Array; value: bigint | number}[]
  /** adds an OP_RETURN output carrying these bytes (or this UTF-8 text), value 0 */
  opReturn?: Uint8Array | string
  /** sat/vB, default 20 (bitcoind -fallbackfee=0.0002) */
  feeRate?: number
  /** spend only coins paying this address, or exactly these outpoints */
  from?: string | {txid: string; vout: number}[]
}

export interface SentTx {
  txid: string
  tx: Transaction
  hex: string
  fee: bigint
}

export interface ReorgOptions {
  /** how many blocks of the active chain to replace */
  depth: number
  /** how many blocks the new branch has (default depth + 1); fewer than depth get a harder target so they carry more work */
  blocks?: number
  /** confirm the disconnected transactions again in the first new block */
  keepTxs?: boolean
  /** let the disconnected transactions vanish instead of returning to the mempool */
  dropTxs?: boolean
  /** extra transactions for the first new block (e.g. a double spend) */
  txs?: (Transaction | string)[]
  to?: string | Uint8Array
}

export interface ReorgResult {
  disconnected: string[]
  connected: string[]
}

const DEFAULT_XOR_KEY = sha256(Buffer.from('simnode blocksdir xor key')).subarray(0, 8)

export class Simulator implements NodeState {
  readonly chain: Chain
  readonly wallet: Wallet
  readonly faults = new Faults()
  readonly info: NodeInfo
  readonly datadir: string
  /** <datadir>/<the network's sub-directory> (<datadir> itself for main) */
  readonly netDatadir: string
  readonly cookiePath: string
  readonly blocksDir: string
  readonly blk: BlkWriter | undefined
  readonly rest: boolean
  private readonly server: RpcHttpServer
  private readonly ownsDatadir: boolean
  private readonly fixedAuth: {user: string; password: string} | undefined
  private readonly clock: () => number
  private readonly minerScript: Buffer
  private cookieSecret = ''
  private lastBlockTime = 0
  private stopController = new AbortController()
  private listeningPort = 0
  private stopped = false

  private constructor(opts: SimulatorOptions) {
    this.ownsDatadir = opts.datadir === undefined
    this.datadir = opts.datadir ?? mkdtempSync(join(tmpdir(), 'simnode-'))
    const network = opts.network ?? 'regtest'
    if (opts.fixture && network !== 'regtest') throw new Error('the recorded fixture chain is regtest\'s')
    this.netDatadir = join(this.datadir, NETWORKS[network].dataSubdir)
    this.cookiePath = join(this.netDatadir, '.cookie')
    this.blocksDir = join(this.netDatadir, 'blocks')
    mkdirSync(this.netDatadir, {recursive: true})
    this.rest = opts.rest ?? true
    this.fixedAuth = opts.auth
    this.clock = opts.clock ?? Date.now
    this.info = {
      version: opts.version ?? 319900,
      subversion: '/Satoshi:31.99.0/',
      warnings: ['This is a pre-release test build - use at your own risk - do not use for mining or merchant applications'],
      startedAt: Date.now(),
      peers: [],
      pruneHeight: opts.prune ? 0 : undefined,
      txospenderindex: opts.txospenderindex ?? false,
    }
    const xorKey = opts.fixture ? fixtureXorKey() : DEFAULT_XOR_KEY
    const stored = opts.resume && existsSync(join(this.blocksDir, 'blk00000.dat')) ? scanBlkFiles(this.blocksDir, NETWORKS[network].magic) : undefined
    const resume = stored && {key: readXorKey(this.blocksDir), records: stored.records.map((r) => ({...r, hash: readHeader(r.raw).hash}))}
    this.blk = opts.blockFiles === false ? undefined : new BlkWriter({xorKey, magic: NETWORKS[network].magic, ...opts.blockFiles, dir: this.blocksDir, resume})
    this.chain = new Chain({
      network,
      ledger: opts.ledger,
      policy: opts.policy,
      now: this.clock,
      onBlockStored: (entry) => {
        if (!this.blk?.locations.has(entry.hash)) this.blk?.append(entry.hash, entry.raw)
        this.lastBlockTime = Math.max(this.lastBlockTime, entry.time)
      },
    })
    this.wallet = new Wallet(opts.walletSeed, this.chain.addressPrefixes)
    this.minerScript = this.wallet.newKey('bech32').script
    this.server = new RpcHttpServer({
      node: this,
      faults: this.faults,
      rest: this.rest,
      authorize: (header) => this.authorize(header),
      authFailureDelayMs: opts.authFailureDelayMs ?? 250,
      jsonRpc2: this.info.version >= 280000,
    })
    if (opts.warmup) this.faults.warmup(opts.warmup)
    if (opts.fixture) loadFixtureChain(this.chain, opts.fixture)
    if (stored) {
      // a restarted node loads its chain state; it does not replay reorgs into the mempool
      this.chain.resurrectOnReorg = false
      this.loadBlocks(stored.records.map((r) => r.raw), {trusted: true})
      this.chain.resurrectOnReorg = true
    }
  }

  static async start(opts: SimulatorOptions = {}): Promise<Simulator> {
    const sim = new Simulator(opts)
    sim.writeCookie()
    sim.listeningPort = await sim.server.listen(opts.port ?? 0)
    return sim
  }

  get port(): number {
    return this.listeningPort
  }

  get url(): string {
    return `http://127.0.0.1:${this.listeningPort}`
  }

  /** the credentials a client should send now */
  get credentials(): {user: string; password: string} {
    return this.fixedAuth ?? {user: '__cookie__', password: this.cookieSecret}
  }

  get stopping(): AbortSignal {
    return this.stopController.signal
  }

  /** requests received for an RPC method or a REST path ("rest/block", "rest/headers", ...) */
  calls(name: string): number {
    return this.faults.calls(name)
  }

  // --- NodeState ---

  sizeOnDisk(): number {
    return this.blk?.bytesWritten ?? 0
  }

  traffic(): {received: number; sent: number} {
    return {...this.server.traffic}
  }

  takeWrongBlock(): boolean {
    return this.faults.takeWrongBlock()
  }

  syncHeaders(): number | undefined {
    return this.faults.syncHeaders(this.chain.tip.height)
  }

  requestStop(): void {
    // answer first, then go away like bitcoind does
    setTimeout(() => void this.stop({keepDatadir: true}), 20)
  }

  walletSpend(payments: Payment[], opts: {feeRate?: number} = {}): Transaction {
    const coins = this.walletCoins()
    return this.wallet.buildSpend({coins, payments, changeScript: this.wallet.changeScript(), feeRate: opts.feeRate, locktime: this.chain.height})
  }

  private walletCoins(): SpendableCoin[] {
    return this.chain
      .spendableCoins(this.wallet.scripts())
      .map(({txid, vout, coin}) => ({txid, vout, value: coin.value, script: coin.script, confirmed: !this.chain.mempool.has(txid)}))
  }

  // --- mining ---

  /** Mines n blocks on the tip, like generatetoaddress (mempool included); returns their hashes. */
  mine(n: number, opts: MineOptions = {}): string[] {
    const hashes: string[] = []
    for (let i = 0; i < n; i++) {
      const extra = i === 0 ? (opts.txs ?? []).map(toTx) : []
      const mempoolTxs = opts.includeMempool === false ? [] : this.templateTxs(extra)
      const hash = this.mineOn(this.chain.tip, [...mempoolTxs, ...extra], {to: opts.to, bits: opts.bits})
      const entry = this.chain.get(hash)!
      if (!this.chain.isActive(entry) && !opts.allowInvalid) throw new Error(`the chain refused block ${hash} (${entry.status})`)
      hashes.push(hash)
    }
    return hashes
  }

  /** Builds and submits one block on `prev`; returns its hash whether or not it became the tip. */
  mineOn(prev: BlockEntry, txs: Transaction[], opts: {to?: string | Uint8Array; bits?: number; extraCoins?: Map<string, Coin>} = {}): string {
    const raw = buildBlock({
      prevHash: prev.hash,
      height: prev.height + 1,
      time: this.nextBlockTime(prev),
      bits: opts.bits,
      payoutScript: opts.to === undefined ? this.minerScript : toScript(opts.to, this.chain.addressPrefixes),
      txs,
      fees: this.blockFees(txs, opts.extraCoins),
    })
    const result = this.chain.submitBlock(raw)
    const hash = readHeader(raw).hash
    if (result !== null && !this.chain.get(hash)) throw new Error(`the chain refused a simulator block: ${result}`)
    return hash
  }

  /** Mempool transactions for a block, leaving out those that conflict with `extra` and their descendants. */
  private templateTxs(extra: Transaction[]): Transaction[] {
    const spentByExtra = new Set(extra.flatMap((tx) => tx.ins.map((i) => outpointKey(inputTxid(i.hash), i.index))))
    const excluded = new Set<string>()
    for (const entry of this.chain.mempool.entries.values()) {
      if (entry.tx.ins.some((i) => spentByExtra.has(outpointKey(inputTxid(i.hash), i.index)))) {
        excluded.add(entry.txid)
        for (const d of this.chain.mempool.descendants(entry.txid)) excluded.add(d)
      }
    }
    return [...this.chain.mempool.entries.values()].filter((e) => !excluded.has(e.txid)).map((e) => e.tx)
  }

  /** Sum of fees, with coins from the UTXO set, the mempool, earlier transactions of the block or `extraCoins`. */
  private blockFees(txs: Transaction[], extraCoins = new Map<string, Coin>()): bigint {
    const inBlock = new Map(extraCoins)
    let fees = 0n
    for (const tx of txs) {
      let input = 0n
      for (const i of tx.ins) {
        const txid = inputTxid(i.hash)
        const coin = inBlock.get(outpointKey(txid, i.index)) ?? this.chain.coinAt(txid, i.index)
        input += coin?.value ?? 0n
      }
      const output = tx.outs.reduce((sum, o) => sum + o.value, 0n)
      if (input > output) fees += input - output
      const txid = tx.getId()
      tx.outs.forEach((o, vout) => inBlock.set(outpointKey(txid, vout), {value: o.value, script: Buffer.from(o.script), height: 0, coinbase: false}))
    }
    return fees
  }

  /** Strictly increasing across every block built, never before the wall clock, above the median time past. */
  private nextBlockTime(prev: BlockEntry): number {
    const time = Math.max(prev.time + 1, this.lastBlockTime + 1, Math.floor(this.clock() / 1000), this.chain.medianTimePast(prev) + 1)
    this.lastBlockTime = time
    return time
  }

  /**
   * Replaces the top `depth` blocks with a new branch. With the defaults the
   * disconnected transactions go back to the mempool, as after a real reorg.
   */
  reorg(opts: ReorgOptions): ReorgResult {
    const chain = this.chain
    if (opts.depth < 1 || opts.depth > chain.height) throw new Error(`cannot reorg ${opts.depth} blocks of a chain of height ${chain.height}`)
    const fork = chain.at(chain.height - opts.depth)!
    const old = chain.active.slice(fork.height + 1)
    const blocks = opts.blocks ?? opts.depth + 1
    if (blocks < 1) throw new Error('a reorg needs at least one new block')
    const oldWork = old.reduce((sum, e) => sum + blockWork(e.bits), 0n)
    const bits = BigInt(blocks) * blockWork(REGTEST_BITS) > oldWork ? REGTEST_BITS : bitsForWorkAbove(oldWork / BigInt(blocks))

    // coins the old branch spent, so re-confirmed transactions can be priced
    const undoCoins = new Map<string, Coin>()
    const oldTxs: Transaction[] = []
    for (const entry of old) {
      const parsed = chain.parsed(entry)
      const undo = chain.spentCoins(entry) ?? []
      parsed.txs.slice(1).forEach((tx, i) => {
        oldTxs.push(tx)
        tx.ins.forEach((input, j) => {
          const coin = undo[i]?.[j]
          if (coin) undoCoins.set(outpointKey(inputTxid(input.hash), input.index), coin)
        })
      })
    }
    const firstTxs = [...(opts.keepTxs ? oldTxs : []), ...(opts.txs ?? []).map(toTx)]
    const previous = chain.resurrectOnReorg
    chain.resurrectOnReorg = !opts.dropTxs
    const connected: string[] = []
    try {
      let prev = fork
      for (let i = 0; i < blocks; i++) {
        const hash = this.mineOn(prev, i === 0 ? firstTxs : [], {to: opts.to, bits, extraCoins: undoCoins})
        connected.push(hash)
        prev = chain.get(hash)!
      }
    } finally {
      chain.resurrectOnReorg = previous
    }
    if (chain.tip.hash !== connected[connected.length - 1]) throw new Error('the new branch did not become the active chain')
    return {disconnected: old.map((e) => e.hash), connected}
  }

  invalidate(hash: string): void {
    this.chain.invalidate(hash)
  }

  reconsider(hash: string): void {
    this.chain.reconsider(hash)
  }

  /** Feeds blocks in any order (parents are waited for), e.g. from blk files; `trusted` skips PoW and merkle checks. */
  loadBlocks(raws: Iterable<Buffer>, opts: {trusted?: boolean} = {}): void {
    const waiting = new Map<string, Buffer[]>()
    const submit = (raw: Buffer) => {
      const queue = [raw]
      while (queue.length > 0) {
        const next = queue.shift()!
        const header = readHeader(next)
        const result = this.chain.submitBlock(next, opts)
        if (result === 'prev-blk-not-found') {
          waiting.set(header.prevHash, [...(waiting.get(header.prevHash) ?? []), next])
          continue
        }
        if (result !== null && result !== 'duplicate' && result !== 'bad-prevblk') throw new Error(`block ${header.hash} refused: ${result}`)
        const children = waiting.get(header.hash)
        if (children) {
          waiting.delete(header.hash)
          queue.push(...children)
        }
      }
    }
    for (const raw of raws) submit(raw)
    if (waiting.size > 0) throw new Error(`${waiting.size} block(s) never found their parent`)
  }

  // --- wallet and mempool ---

  newAddress(type: AddressType = 'bech32'): string {
    return this.wallet.newAddress(type)
  }

  /** A wallet transaction, not broadcast (for sendrawtransaction/testmempoolaccept tests). */
  createTransaction(opts: SendOptions): Transaction {
    const payments: Payment[] = []
    if (opts.to !== undefined) payments.push({script: toScript(opts.to, this.chain.addressPrefixes), value: BigInt(opts.value ?? 0)})
    for (const out of opts.outputs ?? []) payments.push({script: toScript(out.to, this.chain.addressPrefixes), value: BigInt(out.value)})
    if (opts.opReturn !== undefined) {
      const data = typeof opts.opReturn === 'string' ? Buffer.from(opts.opReturn, 'utf8') : Buffer.from(opts.opReturn)
      if (data.length > 75) throw new Error('OP_RETURN data over 75 bytes: build the script yourself and pass it in outputs')
      payments.push({script: Buffer.concat([Buffer.from([0x6a, data.length]), data]), value: 0n})
    }
    if (payments.length === 0) throw new Error('nothing to pay: give to/value, outputs or opReturn')
    let coins = this.walletCoins()
    if (typeof opts.from === 'string') {
      const script = toScript(opts.from, this.chain.addressPrefixes).toString('hex')
      coins = coins.filter((c) => c.script.toString('hex') === script)
    } else if (opts.from) {
      coins = opts.from.map(({txid, vout}) => {
        const coin = this.chain.coinAt(txid, vout)
        if (!coin) throw new Error(`no such unspent output ${txid}:${vout}`)
        return {txid, vout, value: coin.value, script: coin.script}
      })
    }
    return this.wallet.buildSpend({coins, payments, changeScript: this.wallet.changeScript(), feeRate: opts.feeRate, locktime: this.chain.height})
  }

  /** Creates a wallet transaction and puts it in the mempool (throws with Core's reject reason if refused). */
  send(opts: SendOptions): SentTx {
    const tx = this.createTransaction(opts)
    const verdict = this.accept(tx)
    return {txid: tx.getId(), tx, hex: tx.toHex(), fee: verdict.fee}
  }

  /** Puts any transaction through mempool acceptance; throws with Core's reason when refused. */
  accept(tx: Transaction | string): Extract<Verdict, {ok: true}> {
    const verdict = this.chain.acceptToMempool(toTx(tx))
    if (!verdict.ok) throw new Error(`mempool refused the transaction: ${verdict.details ? `${verdict.reason}, ${verdict.details}` : verdict.reason}`)
    return verdict
  }

  /**
   * Replace-by-fee: puts `replacement` (or, if omitted, the same payment with
   * 5 sat/vB more fee) in place of `txid`. Returns the new txid.
   */
  replaceInMempool(txid: string, replacement?: Transaction | string): string {
    const entry = this.chain.mempool.get(txid)
    if (!entry) throw new Error(`${txid} is not in the mempool`)
    const tx = replacement === undefined ? this.bumped(txid) : toTx(replacement)
    const verdict = this.accept(tx)
    if (!verdict.replaces.includes(txid)) throw new Error(`the replacement does not conflict with ${txid}`)
    return tx.getId()
  }

  /** Same inputs and payments, change reduced for 5 sat/vB more fee (what bumpfee does). */
  bumped(txid: string): Transaction {
    const entry = this.chain.mempool.get(txid)
    if (!entry) throw new Error(`${txid} is not in the mempool`)
    const coins = entry.tx.ins.map((input) => {
      const prevTxid = inputTxid(input.hash)
      const coin = this.chain.coinAt(prevTxid, input.index)
      if (!coin || !this.wallet.owns(coin.script)) throw new Error(`${txid} spends coins the wallet does not own`)
      return {txid: prevTxid, vout: input.index, value: coin.value, script: coin.script}
    })
    const payments = entry.tx.outs.filter((o) => !this.wallet.isChange(o.script)).map((o) => ({script: Buffer.from(o.script), value: o.value}))
    const change = entry.tx.outs.find((o) => this.wallet.isChange(o.script))
    return this.wallet.buildSpend({
      coins,
      payments,
      changeScript: change ? Buffer.from(change.script) : this.wallet.changeScript(),
      feeRate: Number(entry.fee) / entry.vsize + 5,
      locktime: entry.tx.locktime,
    })
  }

  /** Removes a transaction and its descendants from the mempool (expiry, eviction). */
  dropFromMempool(txid: string): string[] {
    return this.chain.mempool.removeWithDescendants(txid, 'evicted').map((e) => e.txid)
  }

  // --- peers ---

  /**
   * What `addnode <other> onetry` does between two real nodes, without P2P:
   * a manual outbound connection here and an inbound one at `other`.
   */
  connectPeer(other: Simulator): void {
    const id = (node: Simulator) => node.info.peers.reduce((max, p) => Math.max(max, p.id + 1), 0)
    this.info.peers.push({id: id(this), addr: `127.0.0.1:${other.port}`, inbound: false, connectionType: 'manual', subver: other.info.subversion, startingHeight: other.chain.height})
    other.info.peers.push({id: id(other), addr: `127.0.0.1:${this.port}`, inbound: true, connectionType: 'inbound', subver: this.info.subversion, startingHeight: this.chain.height})
  }

  // --- auth, restart, stop ---

  /** Writes a fresh cookie (as a restarted bitcoind would); the old one stops working at once. */
  rotateCookie(): void {
    this.writeCookie()
  }

  private writeCookie(): void {
    if (this.fixedAuth) return
    this.cookieSecret = randomBytes(32).toString('hex')
    const tmp = `${this.cookiePath}.tmp`
    writeFileSync(tmp, `__cookie__:${this.cookieSecret}`, {mode: 0o600})
    renameSync(tmp, this.cookiePath)
  }

  private authorize(header: string): boolean {
    if (!header.startsWith('Basic ')) return false
    const given = Buffer.from(Buffer.from(header.slice(6).trim(), 'base64').toString('utf8'))
    const {user, password} = this.credentials
    const expected = Buffer.from(`${user}:${password}`)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  /**
   * Goes away (connections refused) for `downMs`, then listens on the same
   * port again with a new cookie, optionally warming up first.
   */
  async restart(opts: {downMs?: number; warmup?: WarmupOptions} = {}): Promise<void> {
    await this.server.close()
    this.stopController.abort()
    if (!this.fixedAuth) rmSync(this.cookiePath, {force: true})
    await sleep(opts.downMs ?? 100)
    this.stopController = new AbortController()
    if (opts.warmup) this.faults.warmup(opts.warmup)
    this.writeCookie()
    await this.server.listen(this.listeningPort)
  }

  /** Stops serving, deletes the cookie, and removes the datadir if the simulator created it. */
  async stop(opts: {keepDatadir?: boolean} = {}): Promise<void> {
    if (!this.stopped) {
      this.stopped = true
      this.stopController.abort()
      await this.server.close()
      this.blk?.close()
      if (!this.fixedAuth) rmSync(this.cookiePath, {force: true})
    }
    if (this.ownsDatadir && !opts.keepDatadir && existsSync(this.datadir)) rmSync(this.datadir, {recursive: true, force: true})
  }
}

const toTx = (tx: Transaction | string): Transaction => (typeof tx === 'string' ? Transaction.fromHex(tx) : tx)

