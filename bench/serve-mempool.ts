/**
 * The node for the benchmark's mempool parts: the regtest simulator in its
 * own process (as bitcoind would be), with a short chain whose few blocks
 * hold ~1.1 outputs per wanted mempool transaction, and a mempool of
 * `--txs` transactions spending them — wallet-shaped (one P2WPKH input, a
 * payment and a change output, 1–50 sat/vB), one in ten spending the change
 * of another mempool transaction — each accepted through the simulator's
 * mempool policy. Seeded: the same size gives the same mempool.
 *
 *   node --import tsx bench/serve-mempool.ts --txs 100000
 *
 * Prints one JSON line when ready ({port, datadir, height, mempool, buildMs})
 * and then answers commands on stdin, one JSON line each:
 *   change <n>   evicts n/2 transactions that nothing spends and adds n/2 new ones: {removed, added, size}
 * Stops when stdin closes (or on SIGTERM/SIGINT), removing its datadir.
 */
import {createInterface} from 'node:readline'
import {parseArgs} from 'node:util'
import {Transaction} from 'bitcoinjs-lib'

import {fromDisplayHex} from '../src/lib/chain/hashes.js'
import {Simulator} from '../test/support/simnode/simulator.js'
import {ByteStream, Prng} from './gen/random.js'

export interface MempoolServerReady {
  port: number
  datadir: string
  height: number
  mempool: number
  buildMs: number
}

export interface MempoolChange {
  removed: number
  added: number
  size: number
}

const FAN_OUT = 1000
const FAN_OUTS_PER_BLOCK = 20
const COINBASE_MATURITY = 100
const CHAINED_SHARE = 0.1
/** outputs made beyond the mempool's size, for the transactions `change` adds */
const SPARE_SHARE = 0.1

interface Coin {
  txid: string
  vout: number
  value: bigint
}

class MempoolBuilder {
  private readonly prng = new Prng('bix-bench-mempool-1')
  private readonly bytes = new ByteStream('bix-bench-mempool-1')
  private readonly confirmed: Coin[] = []
  /** change outputs of mempool transactions no other mempool transaction spends yet, and which spend a confirmed coin */
  private readonly changes: Coin[] = []

  constructor(private readonly sim: Simulator) {}

  /** Mines coinbases, lets them mature, and fans them out into `outputs` confirmed coins of ~0.05 BTC. */
  fund(outputs: number): void {
    const fanOuts = Math.ceil(outputs / FAN_OUT)
    this.sim.mine(fanOuts + COINBASE_MATURITY)
    const txs: Transaction[] = []
    for (let height = 1; height <= fanOuts; height++) {
      const coinbase = this.sim.chain.parsed(this.sim.chain.at(height)!).txs[0]
      const tx = new Transaction()
      tx.version = 2
      tx.addInput(Buffer.from(coinbase.getHash()), 0)
      const each = (coinbase.outs[0].value - 100_000n) / BigInt(FAN_OUT)
      for (let i = 0; i < FAN_OUT; i++) tx.addOutput(this.p2wpkh(), each)
      this.sign(tx)
      txs.push(tx)
      const txid = tx.getId()
      for (let vout = 0; vout < FAN_OUT; vout++) this.confirmed.push({txid, vout, value: each})
    }
    for (let i = 0; i < txs.length; i += FAN_OUTS_PER_BLOCK) this.sim.mine(1, {txs: txs.slice(i, i + FAN_OUTS_PER_BLOCK), includeMempool: false})
  }

  /** Adds `n` transactions to the mempool through the simulator's policy. */
  add(n: number): void {
    for (let i = 0; i < n; i++) {
      const chained = this.changes.length > 0 && this.prng.chance(CHAINED_SHARE)
      const coin = chained ? this.changes.splice(this.prng.int(this.changes.length), 1)[0] : this.confirmed.pop()
      if (!coin) throw new Error('serve-mempool: out of coins to spend')
      const feeRate = this.prng.between(1, 50)
      const pay = BigInt(this.prng.between(10_000, Number(coin.value / 3n)))
      const build = (fee: bigint) => {
        const tx = new Transaction()
        tx.version = 2
        tx.addInput(fromDisplayHex(coin.txid), coin.vout, 0xfffffffd)
        tx.addOutput(this.prng.chance(0.3) ? this.p2tr() : this.p2wpkh(), pay)
        tx.addOutput(this.p2wpkh(), coin.value - pay - fee)
        this.sign(tx)
        return tx
      }
      const tx = build(BigInt(build(0n).virtualSize() * feeRate))
      this.sim.accept(tx)
      if (!chained) this.changes.push({txid: tx.getId(), vout: 1, value: tx.outs[1].value})
    }
  }

  /** Evicts `n` transactions that nothing in the mempool spends. */
  evict(n: number): number {
    const mempool = this.sim.chain.mempool
    const leaves = [...mempool.entries.keys()].filter((txid) => mempool.children(txid).length === 0)
    let removed = 0
    for (let i = 0; i < n && leaves.length > 0; i++) {
      const txid = leaves.splice(this.prng.int(leaves.length), 1)[0]
      removed += this.sim.dropFromMempool(txid).length
      const at = this.changes.findIndex((c) => c.txid === txid)
      if (at >= 0) this.changes.splice(at, 1)
    }
    return removed
  }

  private p2wpkh(): Buffer {
    return Buffer.concat([Buffer.from([0x00, 0x14]), this.bytes.take(20)])
  }

  private p2tr(): Buffer {
    return Buffer.concat([Buffer.from([0x51, 0x20]), this.bytes.take(32)])
  }

  /** A witness of a P2WPKH spend's real size (71–72-byte signature, 33-byte key); the simulator checks no scripts. */
  private sign(tx: Transaction): void {
    for (let i = 0; i < tx.ins.length; i++) tx.setWitness(i, [this.bytes.take(72), Buffer.concat([Buffer.from([0x02]), this.bytes.take(32)])])
  }
}

async function main(): Promise<void> {
  const {values} = parseArgs({options: {txs: {type: 'string', default: '100000'}}})
  const txs = Number(values.txs)
  if (!Number.isInteger(txs) || txs < 1) throw new Error(`--txs must be a positive integer, not ${values.txs}`)
  const started = performance.now()
  const sim = await Simulator.start({blockFiles: false, rest: true})
  const builder = new MempoolBuilder(sim)
  builder.fund(Math.ceil(txs * (1 + SPARE_SHARE)))
  builder.add(txs)
  const ready: MempoolServerReady = {
    port: sim.port,
    datadir: sim.datadir,
    height: sim.chain.height,
    mempool: sim.chain.mempool.size,
    buildMs: Math.round(performance.now() - started),
  }
  process.stdout.write(JSON.stringify(ready) + '\n')

  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    void sim.stop().then(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  const lines = createInterface({input: process.stdin})
  lines.on('line', (line) => {
    const [command, arg] = line.trim().split(/\s+/)
    if (command !== 'change' || !Number.isInteger(Number(arg))) {
      process.stdout.write(JSON.stringify({error: `unknown command: ${line}`}) + '\n')
      return
    }
    const n = Number(arg)
    const removed = builder.evict(Math.floor(n / 2))
    const before = sim.chain.mempool.size
    builder.add(n - Math.floor(n / 2))
    const change: MempoolChange = {removed, added: sim.chain.mempool.size - before, size: sim.chain.mempool.size}
    process.stdout.write(JSON.stringify(change) + '\n')
  })
  lines.on('close', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`serve-mempool: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
