import {createHash, hash as oneShotHash} from 'node:crypto'

import {scriptToAddress} from '../../src/lib/chain/address.js'
import {merkleRoot} from '../../src/lib/chain/merkle.js'
import {REGTEST_GENESIS_HEX, blockSubsidy, coinbaseHeightScript} from '../../test/support/simnode/block-builder.js'
import {CoinSchedule, NEVER, SPEND_AGES, spendAge} from './coin-schedule.js'
import {ByteStream, Prng, Zipf} from './random.js'
import {KIND_NAMES, Kind, type Payment, type Spend, Writer, outputScript, sha256d, writeOutputScript, writeTx} from './tx-writer.js'

/**
 * Builds a regtest chain shaped like mainnet traffic, block after block, and
 * hands each serialized block to a callback: headers chained by prev-hash,
 * merkle roots over the txids, a BIP34 coinbase with the witness commitment,
 * proof of work at regtest difficulty. 100 coinbase-only blocks come first so
 * that every spend of a coinbase is mature, as consensus requires.
 */

export interface ChainShape {
  /** total transactions, coinbases included; the last block is cut to fit */
  txs: number
  seed: string
  minBlockTxs: number
  maxBlockTxs: number
  /** share of transactions with many outputs (payouts, batched withdrawals) */
  largeTxShare: number
  largeMinOutputs: number
  largeMaxOutputs: number
  /** share of outputs paid to a reused address (the rest go to fresh ones) */
  reuseShare: number
  /** reused addresses, ranked by Zipf–Mandelbrot popularity */
  addresses: number
  zipfS: number
  zipfQ: number
  /** blocks after the last of `txs`, each of catchUpBlockTxs transactions with about catchUpBlockInputs inputs (the scale benchmark's catch-up) */
  catchUpBlocks: number
  catchUpBlockTxs: number
  catchUpBlockInputs: number
  /** share of a catch-up block's inputs spending dormant outputs of any age (the rest spend what is due, like any block) */
  catchUpDormantShare: number
}

export const DEFAULT_SHAPE: Omit<ChainShape, 'txs'> = {
  seed: 'bix-bench-1',
  minBlockTxs: 2000,
  maxBlockTxs: 3000,
  // with one or two payments and change, 2.2–2.4 outputs a transaction as generated (mainnet ~2.7: ~3B outputs in ~1.1B transactions)
  largeTxShare: 0.002,
  largeMinOutputs: 50,
  largeMaxOutputs: 500,
  reuseShare: 0.25,
  addresses: 500_000,
  zipfS: 1,
  zipfQ: 10,
  catchUpBlocks: 0,
  catchUpBlockTxs: 3000,
  catchUpBlockInputs: 7000,
  catchUpDormantShare: 0.4,
}

/** an output below this is worth less than the fee to spend it at a busy time: DUST_DORMANT of them are never spent (mainnet's UTXO set is largely such dust) */
const DUST_KEPT = 3000
const DUST_DORMANT = 0.5
/** most inputs one transaction spends (a consolidation) */
const MAX_INPUTS = 50
/** dormant outputs sampled for the catch-up blocks to spend */
const DORMANT_SAMPLE = 200_000
/** coinbase outputs may be spent 100 blocks later at the earliest (COINBASE_MATURITY) */
const COINBASE_MATURITY = 100

/** Fresh outputs by type, roughly mainnet's mix in 2024. */
const KIND_MIX: Array<[Kind, number]> = [
  [Kind.p2wpkh, 0.5],
  [Kind.p2tr, 0.2],
  [Kind.p2pkh, 0.12],
  [Kind.p2sh, 0.12],
  [Kind.p2wsh, 0.06],
]
const BOOTSTRAP_BLOCKS = 100
const BOOTSTRAP_FANOUT = 50
const MINERS = 8
const REGTEST_BITS = 0x207fffff
const BLOCK_VERSION = 0x20000000
const GENESIS_TIME = 1296688602
/** outputs below this are dust to Core's relay policy (P2PKH's limit, the largest) */
const DUST = 546
/** a payment the inputs cannot cover at this much per output is dropped */
const MIN_PAYMENT = 1000
const COMMITMENT_HEADER = Buffer.from('6a24aa21a9ed', 'hex')
const ZERO32 = Buffer.alloc(32)

export interface GeneratedBlock {
  height: number
  /** internal byte order */
  hash: Buffer
  raw: Buffer
  txs: number
}

export interface ChainStats {
  blocks: number
  /** transactions of the chain up to mainTip (the catch-up blocks are counted in catchUp) */
  txs: number
  /** height of the last block of `txs`; catch-up blocks follow it */
  mainTip: number
  mainTipHash: string
  /** transactions in each block, by height (catch-up blocks included) */
  txsByHeight: number[]
  /** outputs made up to mainTip that are unspent there (the genesis coinbase included) */
  unspentShare: number
  /** inputs by the age of the output they spend, per SPEND_AGES band ("0", "1-6", …), up to mainTip */
  inputAges: Record<string, number>
  catchUp: {blocks: number; txs: number; inputs: number; inputAges: Record<string, number>}
  inputs: number
  outputs: number
  bytes: number
  tipHash: string
  outputsByKind: Record<string, number>
  /** the most popular reused address: the one `bix query address` is timed on */
  busiest: {address: string; script: string; received: number; spent: number; txs: number}
}

export function buildChain(shape: ChainShape, onBlock: (block: GeneratedBlock) => void): ChainStats {
  return new ChainBuilder(shape).run(onBlock)
}

class ChainBuilder {
  private readonly prng: Prng
  private readonly rand: ByteStream
  private readonly zipf: Zipf
  private readonly schedule: CoinSchedule
  /** hash material of each reused address, 32 bytes a rank */
  private readonly addressHashes: Buffer
  private readonly addressKinds: Uint8Array
  private readonly minerHashes: Buffer[]
  private readonly body = new Writer(8 * 1024 * 1024)
  private readonly stats = {blocks: 0, txs: 0, inputs: 0, outputs: 0, bytes: 0, byKind: [0, 0, 0, 0, 0], received: 0, spent: 0, busiestTxs: 0}
  private readonly txsByHeight: number[] = []
  /** inputs by age band (AGE_BANDS), of the main chain and of the catch-up blocks */
  private ages = new Array<number>(AGE_BANDS.length).fill(0)
  /** in the block being built: coins due now not yet spent, and the share of inputs taken from the dormant sample */
  private due = 0
  private dormantShare = 0
  private prevHash: Buffer = ZERO32

  constructor(private readonly shape: ChainShape) {
    this.prng = new Prng(shape.seed)
    this.rand = new ByteStream(shape.seed)
    this.zipf = new Zipf(shape.addresses, shape.zipfS, shape.zipfQ)
    // no block can be higher: the smallest blocks, then the catch-up blocks
    const lastHeight = BOOTSTRAP_BLOCKS + Math.ceil(shape.txs / shape.minBlockTxs) + shape.catchUpBlocks + 1
    this.schedule = new CoinSchedule(lastHeight, DORMANT_SAMPLE)
    this.addressHashes = Buffer.alloc(shape.addresses * 32)
    for (let at = 0; at < this.addressHashes.length; at += 1 << 20) {
      const n = Math.min(1 << 20, this.addressHashes.length - at)
      this.addressHashes.set(this.rand.take(n), at)
    }
    this.addressKinds = new Uint8Array(shape.addresses)
    for (let k = 0; k < shape.addresses; k++) this.addressKinds[k] = this.freshKind()
    // the busiest address is a P2WPKH one, the kind an operator most often looks up
    this.addressKinds[0] = Kind.p2wpkh
    this.minerHashes = Array.from({length: MINERS}, (_, i) => createHash('sha256').update(`${shape.seed}:miner:${i}`).digest())
  }

  run(onBlock: (block: GeneratedBlock) => void): ChainStats {
    const genesis = Buffer.from(REGTEST_GENESIS_HEX, 'hex')
    this.emit(onBlock, 0, genesis, 1)
    let height = 1
    for (; this.stats.txs < this.shape.txs; height++) {
      const left = this.shape.txs - this.stats.txs
      const txs = height <= BOOTSTRAP_BLOCKS ? 1 : Math.min(left, this.prng.between(this.shape.minBlockTxs, this.shape.maxBlockTxs))
      this.emit(onBlock, height, this.block(height, txs), txs)
    }
    const main = {...this.stats, tip: height - 1, tipHash: this.tipHash(), ages: this.ages}
    this.ages = new Array<number>(AGE_BANDS.length).fill(0)
    for (let i = 0; i < this.shape.catchUpBlocks; i++, height++) {
      const txs = this.shape.catchUpBlockTxs
      this.emit(onBlock, height, this.block(height, txs, {inputs: this.shape.catchUpBlockInputs, dormantShare: this.shape.catchUpDormantShare}), txs)
    }
    const busiestScript = outputScript(Kind.p2wpkh, this.addressHashes.subarray(0, 32))
    return {
      blocks: this.stats.blocks,
      txs: main.txs,
      mainTip: main.tip,
      mainTipHash: main.tipHash,
      inputs: main.inputs,
      outputs: main.outputs,
      bytes: this.stats.bytes,
      tipHash: this.tipHash(),
      txsByHeight: this.txsByHeight,
      unspentShare: (main.outputs - main.inputs) / main.outputs,
      inputAges: Object.fromEntries(AGE_BANDS.map((band, i) => [band.label, main.ages[i]])),
      catchUp: {
        blocks: this.shape.catchUpBlocks,
        txs: this.stats.txs - main.txs,
        inputs: this.stats.inputs - main.inputs,
        inputAges: Object.fromEntries(AGE_BANDS.map((band, i) => [band.label, this.ages[i]])),
      },
      outputsByKind: Object.fromEntries(KIND_NAMES.map((name, i) => [name, this.stats.byKind[i]])),
      busiest: {
        address: scriptToAddress(busiestScript, 'regtest')!,
        script: busiestScript.toString('hex'),
        received: this.stats.received,
        spent: this.stats.spent,
        txs: this.stats.busiestTxs,
      },
    }
  }

  private tipHash(): string {
    return Buffer.from(this.prevHash).reverse().toString('hex')
  }

  private emit(onBlock: (block: GeneratedBlock) => void, height: number, raw: Buffer, txs: number): void {
    const hash = sha256d(raw.subarray(0, 80))
    this.prevHash = hash
    this.stats.blocks++
    this.stats.txs += txs
    this.stats.bytes += raw.length
    this.txsByHeight.push(txs)
    onBlock({height, hash, raw, txs})
  }

  /**
   * A block of `txCount` transactions (coinbase included). Its inputs spend
   * the coins due by its height — as many as are due, spread over its
   * transactions (borrowing coins due soon when too few are due); a
   * catch-up block instead has a fixed number of inputs, some of them
   * spending dormant outputs of any age.
   */
  private block(height: number, txCount: number, catchUp?: {inputs: number; dormantShare: number}): Buffer {
    const body = this.body
    body.pos = 0
    const txids: Buffer[] = [ZERO32]
    const wtxids: Buffer[] = [ZERO32]
    let fees = 0
    let segwit = false
    this.due = catchUp ? catchUp.inputs : this.schedule.dueBy(height)
    this.dormantShare = catchUp ? catchUp.dormantShare : 0
    for (let i = 1; i < txCount; i++) {
      const tx = this.transaction(height, txCount - i)
      if (!tx) break // nothing left to spend (cannot happen once the bootstrap coins matured)
      txids.push(tx.txid)
      wtxids.push(tx.wtxid)
      fees += tx.fee
      if (!tx.txid.equals(tx.wtxid)) segwit = true
    }

    const coinbase = new Writer(4096)
    const coinbaseIds = this.coinbase(coinbase, height, blockSubsidy(height) + BigInt(fees), segwit ? witnessCommitment(wtxids) : undefined)
    txids[0] = coinbaseIds.txid

    const header = Buffer.alloc(80)
    header.writeUInt32LE(BLOCK_VERSION, 0)
    this.prevHash.copy(header, 4)
    merkleRoot(txids).root.copy(header, 36)
    header.writeUInt32LE(GENESIS_TIME + height * 600, 68)
    header.writeUInt32LE(REGTEST_BITS, 72)
    grindNonce(header)

    const count = new Writer(9)
    count.varint(txids.length)
    return Buffer.concat([header, count.buf.subarray(0, count.pos), coinbase.buf.subarray(0, coinbase.pos), body.buf.subarray(0, body.pos)])
  }

  /**
   * One ordinary transaction appended to the block body. Shaped like a
   * wallet's: one or two payments plus change, or a batch payout of
   * 50–500 outputs. Its inputs are the coins due (geometric, mean what is
   * due over the transactions left, so most spend one or two and a few
   * consolidate many); payments are cut to what they cover. Each output
   * gets its spend age when made (SPEND_AGES).
   */
  private transaction(height: number, txsLeft: number) {
    const {prng, schedule} = this
    const mean = Math.max(1, this.due / txsLeft)
    const inputs = Math.min(MAX_INPUTS, geometric(prng, mean))
    const spends: Array<Spend & {rank: number}> = []
    let spent = 0
    while (spends.length < inputs) {
      // nothing waiting at all (a short chain's end): a dormant coin
      const coin =
        this.dormantShare > 0 && prng.chance(this.dormantShare)
          ? (schedule.takeDormant(prng) ?? schedule.take(height, prng))
          : (schedule.take(height, prng) ?? schedule.takeDormant(prng))
      if (!coin) break
      spends.push(coin)
      spent += coin.value
      this.ages[ageBand(height - coin.born)]++
    }
    if (spends.length === 0) return undefined
    this.due = Math.max(0, this.due - spends.length)

    // a payment is a share of what the wallet spends (20–80 %), split over its outputs; a batch payout pays small
    // amounts to many; either way cut to what the inputs cover. Amounts drawn apart from the coins would grind
    // the coins into dust: a small coin would pay a typical payment's worth.
    const large = prng.chance(this.shape.largeTxShare)
    const payouts = large ? logUniform(prng, this.shape.largeMinOutputs, this.shape.largeMaxOutputs) - 1 : prng.chance(0.7) ? 1 : 2
    const share = (0.2 + 0.6 * prng.float()) * spent
    const amounts = fitPayments(
      Array.from({length: payouts}, () => (large ? paymentValue(prng, true) : Math.max(DUST, Math.floor(share / payouts)))),
      Math.floor(spent * 0.7),
    )

    const payments: Payment[] = []
    const ranks: number[] = []
    for (const value of amounts) {
      if (prng.chance(this.shape.reuseShare)) {
        const rank = this.zipf.sample(prng)
        payments.push({kind: this.addressKinds[rank] as Kind, hash: this.addressHashes.subarray(rank * 32, rank * 32 + 32), value})
        ranks.push(rank)
      } else {
        payments.push({kind: this.freshKind(), hash: this.rand.take(32), value})
        ranks.push(-1)
      }
    }
    // change goes back to a fresh address of the wallet's own kind
    payments.push({kind: spends[0].kind, hash: this.rand.take(32)})
    ranks.push(-1)

    // sat/vB, most transactions paying little and a few a lot
    const feeRate = Math.exp(prng.float() * Math.log(50))
    const tx = writeTx(this.body, spends, payments, feeRate, this.rand)
    const change = tx.values.length - 1
    tx.values.forEach((value, vout) => {
      // a wallet's own change is always spent in the end (and so value stays in play); payments may go dormant for good
      const age = vout === change ? spentAge(prng) : value < DUST_KEPT && prng.chance(DUST_DORMANT) ? NEVER : spendAge(prng)
      if (age === 0) this.due++
      schedule.add(tx.txid, vout, value, payments[vout].kind, ranks[vout], height, age, prng)
      this.stats.byKind[payments[vout].kind]++
    })
    const spentBusiest = spends.filter((s) => s.rank === 0).length
    const paidBusiest = ranks.filter((r) => r === 0).length
    this.stats.spent += spentBusiest
    this.stats.received += paidBusiest
    if (spentBusiest + paidBusiest > 0) this.stats.busiestTxs++
    this.stats.inputs += spends.length
    this.stats.outputs += payments.length
    return tx
  }

  /**
   * The coinbase: BIP34 height, an extra nonce, the reward to one of a few
   * miners (or, in the bootstrap blocks, spread over 50 outputs that seed
   * the coin pool), and the witness commitment when the block has witnesses.
   */
  private coinbase(w: Writer, height: number, reward: bigint, commitment: Buffer | undefined): {txid: Buffer} {
    const start = w.pos
    w.u32(2)
    if (commitment) w.u8(0), w.u8(1)
    const inputsStart = w.pos
    w.varint(1)
    w.bytes(ZERO32)
    w.u32(0xffff_ffff)
    const heightPush = coinbaseHeightScript(height)
    const extraNonce = this.rand.take(8)
    w.u8(heightPush.length + 9)
    w.bytes(heightPush)
    w.u8(8)
    w.bytes(extraNonce)
    w.u32(0xffff_ffff)

    const bootstrap = height <= BOOTSTRAP_BLOCKS
    const payouts = bootstrap ? BOOTSTRAP_FANOUT : 1
    w.varint(payouts + (commitment ? 1 : 0))
    const each = reward / BigInt(payouts)
    const values: number[] = []
    for (let i = 0; i < payouts; i++) {
      const value = Number(i === payouts - 1 ? reward - each * BigInt(payouts - 1) : each)
      const hash = bootstrap ? Buffer.from(this.rand.take(32)) : this.minerHashes[this.prng.int(MINERS)]
      w.u64(value)
      writeOutputScript(w, Kind.p2wpkh, hash)
      values.push(value)
    }
    if (commitment) {
      w.u64(0)
      w.u8(38)
      w.bytes(COMMITMENT_HEADER)
      w.bytes(commitment)
    }
    const outputsEnd = w.pos
    // the witness reserved value, which the commitment hashes with the witness root
    if (commitment) w.u8(1), w.u8(32), w.bytes(ZERO32)
    w.u32(0)
    const txid = commitment
      ? sha256d(Buffer.concat([w.buf.subarray(start, start + 4), w.buf.subarray(inputsStart, outputsEnd), w.buf.subarray(w.pos - 4, w.pos)]))
      : sha256d(w.buf.subarray(start, w.pos))
    // mature after 100 blocks; miners and the bootstrap coins are always spent in the end
    values.forEach((value, vout) => this.schedule.add(txid, vout, value, Kind.p2wpkh, -1, height, Math.max(COINBASE_MATURITY, spentAge(this.prng)), this.prng))
    this.stats.outputs += payouts
    this.stats.byKind[Kind.p2wpkh] += payouts
    return {txid}
  }

  private freshKind(): Kind {
    let u = this.prng.float()
    for (const [kind, share] of KIND_MIX) {
      if (u < share) return kind
      u -= share
    }
    return Kind.p2wpkh
  }
}

/** An age from SPEND_AGES for an output that is spent in the end (never NEVER). */
function spentAge(prng: Prng): number {
  for (;;) {
    const age = spendAge(prng)
    if (age !== NEVER) return age
  }
}

/** SPEND_AGES' bands as labels, and the band of an age (the last band holds everything older). */
const AGE_BANDS = SPEND_AGES.map((band) => ({label: band.min === band.max ? `${band.min}` : `${band.min}-${band.max}`, max: band.max}))
function ageBand(age: number): number {
  for (let i = 0; i < AGE_BANDS.length; i++) if (age <= AGE_BANDS[i].max) return i
  return AGE_BANDS.length - 1
}

/** 1, 2, 3… with P(k) = p(1−p)^(k−1), mean 1/p. */
function geometric(prng: Prng, mean: number): number {
  if (mean <= 1) return 1
  return 1 + Math.floor(Math.log(1 - prng.float()) / Math.log(1 - 1 / mean))
}

/** BIP141: sha256d(witness merkle root ‖ witness reserved value), the root over wtxids with the coinbase's as zero. */
function witnessCommitment(wtxids: Buffer[]): Buffer {
  return sha256d(Buffer.concat([merkleRoot(wtxids).root, ZERO32]))
}

/** regtest's target (bits 0x207fffff) is 0x7fffff << 232: the hash, read as a little-endian number, must not exceed it */
function meetsRegtestTarget(hash: Buffer): boolean {
  if (hash[31] !== 0x7f) return hash[31] < 0x7f
  if (hash[30] !== 0xff || hash[29] !== 0xff) return true
  for (let i = 28; i >= 0; i--) if (hash[i] !== 0) return false
  return true
}

/** Tries nonces until the header meets the target: about two hashes at regtest difficulty. */
function grindNonce(header: Buffer): void {
  for (let nonce = 0; nonce <= 0xffff_ffff; nonce++) {
    header.writeUInt32LE(nonce, 76)
    if (meetsRegtestTarget(oneShotHash('sha256', oneShotHash('sha256', header, 'buffer'), 'buffer'))) return
  }
  throw new Error('no nonce meets the target')
}

/** A payment's value in satoshis: log-normal, median 0.0005 BTC for a payment, 0.0002 BTC for one output of a batch payout. */
function paymentValue(prng: Prng, payout: boolean): number {
  const median = payout ? 20_000 : 50_000
  const sigma = payout ? 1 : 1.5
  return Math.max(DUST, Math.round(median * Math.exp(sigma * prng.gaussian())))
}

/**
 * Payments scaled down to what the inputs can cover (`budget`), dropping
 * outputs beyond what the budget can pay at 1000 sat each — the caller still
 * adds a change output, so even an empty list makes a transaction.
 */
function fitPayments(amounts: number[], budget: number): number[] {
  const count = Math.min(amounts.length, Math.floor(budget / MIN_PAYMENT))
  const kept = amounts.slice(0, count)
  const total = kept.reduce((a, b) => a + b, 0)
  if (total <= budget) return kept
  const scaled = kept.map((v) => Math.max(DUST, Math.floor((v * budget) / total)))
  return scaled.reduce((a, b) => a + b, 0) <= budget ? scaled : kept.map(() => Math.floor(budget / count))
}

function logUniform(prng: Prng, min: number, max: number): number {
  return Math.floor(min * Math.pow(max / min, prng.float()))
}
