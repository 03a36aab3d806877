/**
 * The block tree a node keeps: every block it has seen (active and stale) as
 * raw bytes with a parsed header, the active chain by height, chain selection
 * by most work, invalidate/reconsider, and the coins and mempool that follow
 * the tip. Serving a block is a map lookup returning the stored Buffer.
 */
import {EventEmitter} from 'node:events'
import type {Transaction} from 'bitcoinjs-lib'

import {merkleRoot, witnessCommitmentScript} from './block-builder.js'
import {genesisBlock} from './genesis.js'
import {type AddressPrefixes, type NetworkName, NETWORKS} from '../../../src/lib/chain/networks.js'
import {type HeaderFields, type ParsedBlock, POW_LIMIT, bitsToTarget, blockWork, meetsTarget, parseBlock, readHeader, txCount, txHashes, txHashesAt} from './block-codec.js'
import {toDisplayHex} from '../../../src/lib/chain/hashes.js'
import {type Coin, Ledger, MissingInputsError, inputTxid, outpointKey} from './ledger.js'
import {Mempool, type MempoolEntry} from './mempool.js'
import {type AcceptContext, type PolicySettings, type Verdict, DEFAULT_POLICY, checkAccept, COINBASE_MATURITY} from './policy.js'

export type BlockStatus = 'valid' | 'failed' | 'failed-child'

export interface BlockEntry extends HeaderFields {
  height: number
  prev: BlockEntry | undefined
  raw: Buffer
  nTx: number
  chainWork: bigint
  /** arrival order; breaks ties between branches of equal work (Core's nSequenceId) */
  sequenceId: number
  status: BlockStatus
  /** was connected to the active chain at least once (Core's BLOCK_VALID_SCRIPTS) */
  connected: boolean
  children: number
}

export interface ChainTip {
  height: number
  hash: string
  branchlen: number
  status: 'active' | 'valid-fork' | 'valid-headers' | 'headers-only' | 'invalid'
}

export interface ChainOptions {
  /** 'lazy' builds the UTXO set and tx index only when first needed (big generated chains) */
  ledger?: 'eager' | 'lazy'
  policy?: Partial<PolicySettings>
  /** wall clock in ms, for mempool entry times */
  now?: () => number
  /** called once for every block stored, in arrival order (the blk file writer) */
  onBlockStored?: (entry: BlockEntry) => void
  /** whose genesis block it starts from and whose address forms it writes (default regtest) */
  network?: NetworkName
}

export interface FoundTx {
  tx: Transaction
  raw: Buffer
  /** set when found through the tx index */
  block?: BlockEntry
  mempool?: MempoolEntry
}

const PARSED_CACHE_SIZE = 64

export class Chain extends EventEmitter {
  readonly blocks = new Map<string, BlockEntry>()
  readonly active: BlockEntry[] = []
  readonly mempool = new Mempool()
  readonly policy: PolicySettings
  readonly network: NetworkName
  /** false: transactions of disconnected blocks vanish instead of returning to the mempool */
  resurrectOnReorg = true
  private ledgerState: Ledger | undefined
  /** blocks without children: the only places a better chain can end */
  private readonly leaves = new Set<BlockEntry>()
  private nextSequenceId = 0
  private readonly parsedCache = new Map<string, ParsedBlock>()
  private readonly now: () => number
  private readonly onBlockStored?: (entry: BlockEntry) => void

  constructor(opts: ChainOptions = {}) {
    super()
    this.setMaxListeners(0)
    this.policy = {...DEFAULT_POLICY, ...opts.policy}
    this.now = opts.now ?? Date.now
    this.onBlockStored = opts.onBlockStored
    if (opts.ledger !== 'lazy') this.ledgerState = new Ledger()
    this.network = opts.network ?? 'regtest'
    const result = this.submitBlock(genesisBlock(this.network), {trusted: true})
    if (result !== null) throw new Error(`genesis rejected: ${result}`)
  }

  get addressPrefixes(): AddressPrefixes {
    return NETWORKS[this.network].address
  }

  get tip(): BlockEntry {
    return this.active[this.active.length - 1]
  }

  get height(): number {
    return this.active.length - 1
  }

  /** The UTXO set, undo data and tx index, built on first use when the chain is lazy. */
  get ledger(): Ledger {
    if (!this.ledgerState) {
      const ledger = new Ledger()
      for (const entry of this.active) this.connectToLedger(ledger, entry)
      this.ledgerState = ledger
    }
    return this.ledgerState
  }

  get(hash: string): BlockEntry | undefined {
    return this.blocks.get(hash)
  }

  at(height: number): BlockEntry | undefined {
    return this.active[height]
  }

  isActive(entry: BlockEntry): boolean {
    return this.active[entry.height] === entry
  }

  /** the next block in the active chain */
  next(entry: BlockEntry): BlockEntry | undefined {
    return this.isActive(entry) ? this.active[entry.height + 1] : undefined
  }

  /** Core's GetMedianTimePast: the median time of the last 11 blocks. */
  medianTimePast(entry: BlockEntry): number {
    const times: number[] = []
    for (let e: BlockEntry | undefined = entry; e && times.length < 11; e = e.prev) times.push(e.time)
    times.sort((a, b) => a - b)
    return times[Math.floor(times.length / 2)]
  }

  parsed(entry: BlockEntry): ParsedBlock {
    const parsed = this.parsedCache.get(entry.hash) ?? parseBlock(entry.raw)
    this.cacheParsed(entry.hash, parsed)
    return parsed
  }

  /** keeps the most recently used parses */
  private cacheParsed(hash: string, parsed: ParsedBlock): void {
    this.parsedCache.delete(hash)
    if (this.parsedCache.size >= PARSED_CACHE_SIZE) this.parsedCache.delete(this.parsedCache.keys().next().value!)
    this.parsedCache.set(hash, parsed)
  }

  /**
   * Stores a block and switches to the most-work chain. Returns null when
   * accepted, otherwise Core's submitblock answer ("duplicate",
   * "prev-blk-not-found", "high-hash", "bad-txnmrklroot", ...).
   * `trusted` skips the merkle and proof-of-work checks (bulk loads of known-good blocks).
   */
  submitBlock(raw: Buffer, opts: {trusted?: boolean} = {}): string | null {
    if (raw.length < 81) return 'bad-blk-length'
    const header = readHeader(raw)
    if (this.blocks.has(header.hash)) return 'duplicate'
    const isGenesis = this.blocks.size === 0
    const prev = isGenesis ? undefined : this.blocks.get(header.prevHash)
    if (!isGenesis && !prev) return 'prev-blk-not-found'
    if (!opts.trusted) {
      const checked = checkBlock(raw, header)
      if (typeof checked === 'string') return checked
      this.cacheParsed(header.hash, checked)
    }
    const entry: BlockEntry = {
      ...header,
      height: prev ? prev.height + 1 : 0,
      prev,
      raw,
      nTx: txCount(raw),
      chainWork: (prev?.chainWork ?? 0n) + blockWork(header.bits),
      sequenceId: this.nextSequenceId++,
      status: prev && prev.status !== 'valid' ? 'failed-child' : 'valid',
      connected: false,
      children: 0,
    }
    this.blocks.set(entry.hash, entry)
    this.leaves.add(entry)
    if (prev && ++prev.children === 1) this.leaves.delete(prev)
    this.onBlockStored?.(entry)
    if (entry.status !== 'valid') return 'bad-prevblk'
    this.activateBestChain()
    // connecting may have found the block invalid
    return this.blocks.get(entry.hash)!.status === 'failed' ? 'bad-txns-inputs-missingorspent' : null
  }

  /** Marks a block and its descendants invalid and moves to the best remaining chain (invalidateblock). */
  invalidate(hash: string): void {
    const entry = this.blocks.get(hash)
    if (!entry) throw new Error('Block not found')
    if (entry.height === 0) throw new Error('genesis cannot be invalidated')
    entry.status = 'failed'
    for (const e of this.blocks.values()) if (e !== entry && e.status === 'valid' && descendsFrom(e, entry)) e.status = 'failed-child'
    if (this.isActive(entry)) {
      const disconnected = this.disconnectTo(entry.prev!)
      this.activateBestChain(disconnected)
    } else {
      this.activateBestChain()
    }
  }

  /** Clears failure marks on a block, its ancestors and descendants (reconsiderblock). */
  reconsider(hash: string): void {
    const entry = this.blocks.get(hash)
    if (!entry) throw new Error('Block not found')
    for (const e of this.blocks.values()) {
      if (e.status !== 'valid' && (descendsFrom(e, entry) || descendsFrom(entry, e))) e.status = 'valid'
    }
    this.activateBestChain()
  }

  /** getchaintips: the active tip and every leaf of a side branch, highest first. */
  tips(): ChainTip[] {
    const tips: BlockEntry[] = [this.tip]
    for (const e of this.leaves) if (!this.isActive(e)) tips.push(e)
    tips.sort((a, b) => b.height - a.height || a.sequenceId - b.sequenceId)
    return tips.map((e) => {
      const fork = this.findFork(e)
      let status: ChainTip['status']
      if (this.isActive(e)) status = 'active'
      else if (e.status !== 'valid') status = 'invalid'
      else if (e.connected) status = 'valid-fork'
      else status = 'valid-headers'
      return {height: e.height, hash: e.hash, branchlen: e.height - fork.height, status}
    })
  }

  /** The last block a branch shares with the active chain. */
  findFork(entry: BlockEntry): BlockEntry {
    let e = entry
    while (!this.isActive(e)) e = e.prev!
    return e
  }

  // --- mempool ---

  private acceptContext(packageCoins?: Map<string, Coin>, packageFeerate = false): AcceptContext {
    return {ledger: this.ledger, mempool: this.mempool, tipHeight: this.height, settings: this.policy, packageCoins, packageFeerate}
  }

  /**
   * testmempoolaccept for one transaction (optionally on top of package
   * parents); `packageFeerate` leaves the relay fee floor to the caller, who
   * judges the package's fee rate instead.
   */
  testAccept(tx: Transaction, packageCoins?: Map<string, Coin>, packageFeerate = false): Verdict {
    return checkAccept(this.acceptContext(packageCoins, packageFeerate), tx)
  }

  /** Validates and adds a transaction, evicting what it replaces; `packageFeerate` as for testAccept. */
  acceptToMempool(tx: Transaction, opts: {time?: number; packageFeerate?: boolean; relayed?: boolean} = {}): Verdict {
    const verdict = this.testAccept(tx, undefined, opts.packageFeerate)
    if (!verdict.ok) return verdict
    for (const txid of verdict.replaces) this.mempool.removeWithDescendants(txid, 'replaced')
    this.addToMempool(tx, verdict.fee, opts.time, opts.relayed)
    this.emit('mempool')
    return verdict
  }

  private addToMempool(tx: Transaction, fee: bigint, time?: number, relayed?: boolean): void {
    const {raw, txid, wtxid} = txHashes(tx)
    this.mempool.add({
      tx,
      raw,
      txid: toDisplayHex(txid),
      wtxid: toDisplayHex(wtxid),
      fee,
      vsize: tx.virtualSize(),
      weight: tx.weight(),
      time: time ?? Math.floor(this.now() / 1000),
      height: this.height,
      ...(relayed ? {relayed} : {}),
    })
  }

  /** A transaction from the mempool or, like Core with -txindex, from any block that confirmed it. */
  findTx(txid: string): FoundTx | undefined {
    const entry = this.mempool.get(txid)
    if (entry) return {tx: entry.tx, raw: entry.raw, mempool: entry}
    const location = this.ledger.txIndex.get(txid)
    if (!location) return undefined
    const block = this.blocks.get(location.blockHash)!
    const parsed = this.parsed(block)
    const span = parsed.spans[location.index]
    return {tx: parsed.txs[location.index], raw: block.raw.subarray(span.offset, span.offset + span.length), block}
  }

  /** Coins spent by a block's transactions (undo data), if the block was ever connected. */
  spentCoins(entry: BlockEntry): Coin[][] | undefined {
    return this.ledger.undo.get(entry.hash)
  }

  // --- chain selection ---

  /** The most-work valid block; ties keep the current tip, then the earliest arrival wins. */
  private bestCandidate(): BlockEntry {
    let best = this.tip
    for (const leaf of this.leaves) {
      let candidate: BlockEntry | undefined = leaf
      while (candidate && candidate.status !== 'valid') candidate = candidate.prev
      if (!candidate || candidate === best) continue
      if (best.status !== 'valid' || candidate.chainWork > best.chainWork || (candidate.chainWork === best.chainWork && best !== this.tip && candidate.sequenceId < best.sequenceId)) {
        best = candidate
      }
    }
    return best
  }

  private activateBestChain(alreadyDisconnected?: Transaction[]): void {
    if (this.active.length === 0) {
      // the genesis block: nothing to choose from yet
      this.connect(this.blocks.values().next().value!)
      return
    }
    const disconnected = [...(alreadyDisconnected ?? [])]
    // any disconnected block (even one holding only a coinbase) can invalidate mempool spends
    let reorged = alreadyDisconnected !== undefined
    const oldTip = this.tip
    for (;;) {
      const best = this.bestCandidate()
      if (best === this.tip) break
      const fork = this.findFork(best)
      if (fork !== this.tip) reorged = true
      disconnected.push(...this.disconnectTo(fork))
      const path: BlockEntry[] = []
      for (let e: BlockEntry = best; e !== fork; e = e.prev!) path.push(e)
      path.reverse()
      let failed = false
      for (const entry of path) {
        try {
          this.connect(entry)
        } catch (err) {
          if (!(err instanceof MissingInputsError)) throw err
          entry.status = 'failed'
          for (const e of this.blocks.values()) if (e !== entry && e.status === 'valid' && descendsFrom(e, entry)) e.status = 'failed-child'
          failed = true
          break
        }
      }
      if (!failed) break
    }
    if (reorged) this.updateMempoolForReorg(disconnected)
    if (this.tip !== oldTip) this.emit('tip', this.tip)
  }

  /** Disconnects blocks until `fork` is the tip; returns their non-coinbase transactions, oldest first. */
  private disconnectTo(fork: BlockEntry): Transaction[] {
    const blocks: Transaction[][] = []
    while (this.tip !== fork) {
      const entry = this.tip
      const parsed = this.parsed(entry)
      if (this.ledgerState) this.ledgerState.disconnect(entry.hash, entry.height, parsed)
      this.active.pop()
      blocks.unshift(parsed.txs.slice(1))
    }
    return blocks.flat()
  }

  private connect(entry: BlockEntry): void {
    if (this.ledgerState) this.connectToLedger(this.ledgerState, entry)
    this.active.push(entry)
    entry.connected = true
    if (this.mempool.size > 0) this.removeForBlock(entry)
  }

  private connectToLedger(ledger: Ledger, entry: BlockEntry): void {
    if (entry.height === 0) {
      // Core never adds the genesis coinbase to the UTXO set or the tx index
      ledger.undo.set(entry.hash, [])
      ledger.height = 0
      return
    }
    ledger.connect(entry.hash, entry.height, this.parsed(entry))
  }

  /** Drops confirmed transactions and anything that now conflicts with the block. */
  private removeForBlock(entry: BlockEntry): void {
    const parsed = this.parsed(entry)
    parsed.txs.forEach((tx, i) => {
      this.mempool.remove(parsed.txids[i], 'block')
      if (i === 0) return
      for (const input of tx.ins) {
        const spender = this.mempool.spenderOf(inputTxid(input.hash), input.index)
        if (spender) this.mempool.removeWithDescendants(spender, 'conflict')
      }
    })
  }

  /**
   * After a reorg, as Core does: transactions of disconnected blocks go back to
   * the mempool when still valid, and mempool transactions that no longer fit
   * the new chain (missing inputs, immature coinbase spends) are removed.
   */
  private updateMempoolForReorg(disconnected: Transaction[]): void {
    const survivors = [...this.mempool.entries.values()]
    this.mempool.clear()
    const candidates: {tx: Transaction; time?: number}[] = [
      ...(this.resurrectOnReorg ? disconnected.map((tx) => ({tx})) : []),
      ...survivors.map((e) => ({tx: e.tx, time: e.time})),
    ]
    for (const {tx, time} of candidates) {
      const verdict = this.testAccept(tx)
      if (verdict.ok || verdict.reason === 'min relay fee not met') this.addToMempool(tx, verdict.ok ? verdict.fee : 0n, time)
    }
  }

  /**
   * Outputs a wallet may spend: unspent, not already spent by a mempool
   * transaction, coinbases only at depth 101 (Core's wallet waits one block
   * longer than consensus); mempool outputs included.
   */
  spendableCoins(scripts: ReadonlySet<string>): {txid: string; vout: number; coin: Coin}[] {
    const coins: {txid: string; vout: number; coin: Coin}[] = []
    for (const [key, coin] of this.ledger.coinsFor(scripts)) {
      if (coin.coinbase && this.height - coin.height + 1 < COINBASE_MATURITY + 1) continue
      const [txid, vout] = splitOutpoint(key)
      if (this.mempool.spenderOf(txid, vout)) continue
      coins.push({txid, vout, coin})
    }
    for (const entry of this.mempool.entries.values()) {
      entry.tx.outs.forEach((out, vout) => {
        const script = Buffer.from(out.script)
        if (!scripts.has(script.toString('hex')) || this.mempool.spenderOf(entry.txid, vout)) return
        coins.push({txid: entry.txid, vout, coin: {value: out.value, script, height: this.height + 1, coinbase: false}})
      })
    }
    return coins
  }

  /** Value and script of an outpoint: confirmed and unspent, or created by a mempool transaction. */
  coinAt(txid: string, vout: number): Coin | undefined {
    const coin = this.ledger.utxos.get(outpointKey(txid, vout))
    if (coin) return coin
    const out = this.mempool.get(txid)?.tx.outs[vout]
    return out ? {value: out.value, script: Buffer.from(out.script), height: this.height + 1, coinbase: false} : undefined
  }
}

const splitOutpoint = (key: string): [string, number] => {
  const i = key.lastIndexOf(':')
  return [key.slice(0, i), Number(key.slice(i + 1))]
}

function descendsFrom(entry: BlockEntry, ancestor: BlockEntry): boolean {
  let e: BlockEntry | undefined = entry
  while (e && e.height > ancestor.height) e = e.prev
  return e === ancestor
}

/** Context-free checks Core's submitblock makes before storing a block: the parsed block, or the reject reason. */
function checkBlock(raw: Buffer, header: HeaderFields): ParsedBlock | string {
  if (bitsToTarget(header.bits) > POW_LIMIT || bitsToTarget(header.bits) <= 0n) return 'bad-diffbits'
  if (!meetsTarget(raw.subarray(0, 80), header.bits)) return 'high-hash'
  let parsed: ParsedBlock
  try {
    parsed = parseBlock(raw)
  } catch {
    return 'bad-blk-length'
  }
  if (parsed.txs.length === 0 || !parsed.txs[0].isCoinbase()) return 'bad-cb-missing'
  const hashes = parsed.spans.map((s) => txHashesAt(raw, s.offset, s.layout))
  if (toDisplayHex(merkleRoot(hashes.map((h) => h.txid))) !== header.merkleRoot) return 'bad-txnmrklroot'
  if (parsed.spans.slice(1).some((s) => s.layout.segwit)) {
    const expected = witnessCommitmentScript(parsed.txs.slice(1), hashes.slice(1).map((h) => h.wtxid))
    const found = parsed.txs[0].outs.some((out) => Buffer.from(out.script).equals(expected))
    if (!found) return 'bad-witness-merkle-match'
  }
  return parsed
}
