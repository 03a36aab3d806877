import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {DescriptorsFactory} from '@bitcoinerlab/descriptors'
import {Config} from '@oclif/core'
import bs58check from 'bs58check'
import {networks, payments} from 'bitcoinjs-lib'

import {REPO_ROOT, runBix} from '../support/cli.js'
import {type TestNode, satsToBtcString, startTestNode} from '../support/test-node.js'

/**
 * Every example that `bix <command> --help` shows runs as written, in bash,
 * and exits 0 — the commands of bix and of its plugins alike. The one rule
 * for what may differ from the help text (it names a mainnet node and
 * mainnet things; this test has a regtest node):
 *
 * 0. A leading "$ " (the plugins write their examples with the prompt) is
 *    the shell's prompt, not part of the command.
 * 1. The node is found as bitcoin.conf would name it, through the
 *    environment (BIX_DATADIR, BIX_RPCPORT, BIX_NETWORK=regtest): the
 *    command text itself keeps its flags, and a flag it gives wins.
 * 2. The machine is one where `bix index` has run: the default index exists.
 * 3. A value that stands for a mainnet thing is swapped for the regtest
 *    thing of the same kind, each listed in SWAPS with why; an absolute path
 *    is rerooted under a scratch directory that holds what the example
 *    expects there; a file or variable the example reads ($PARENT, txs.txt)
 *    is there with real signed transactions.
 *
 * A new example naming another mainnet value fails here until SWAPS says
 * what it stands for.
 */

interface Example {
  command: string
  description?: string
}

/** the help's templates, as oclif renders them; a leading "$ " is the prompt the help shows, not part of the command */
function render(template: string, bin: string, id: string): string {
  const text = template
    .replace(/^\$ /, '').replaceAll('<%= config.bin %>', bin).replaceAll('<%= command.id %>', id.replaceAll(':', ' '))
  assert.doesNotMatch(text, /<%/, `a template this test does not render: ${template}`)
  return text
}

async function examplesOfEveryCommand(): Promise<Array<{id: string; example: Example}>> {
  const config = await Config.load(REPO_ROOT)
  return config.commands
    .filter((c) => !c.hidden)
    .sort((a, b) => a.id.localeCompare(b.id))
    .flatMap((c) =>
      (c.examples ?? []).map((e) => {
        const example = typeof e === 'string' ? {command: e} : e
        return {id: c.id, example: {...example, command: render(example.command, config.bin, c.id)}}
      }),
    )
}

/** A signed, unsent transaction, made by the node's wallet (Core) or the simulator's. */
interface TxMaker {
  payment(feeSats: bigint): Promise<string>
  /** a payment to the wallet and a child spending it, both unsent */
  parentAndChild(): Promise<{parent: string; child: string}>
}

const sats = (btc: number) => BigInt(Math.round(btc * 1e8))

function txMaker(node: TestNode): TxMaker {
  const sim = node.sim
  if (sim) {
    const coins = sim.chain.spendableCoins(sim.wallet.scripts()).map(({txid, vout}) => ({txid, vout}))
    const take = () => {
      const coin = coins.shift()
      assert.ok(coin, 'the simulator wallet has a coin')
      return coin
    }
    return {
      payment: async () => sim.createTransaction({to: sim.newAddress('bech32'), value: 2_500_000n, feeRate: 5, from: [take()]}).toHex(),
      parentAndChild: async () => {
        const parent = sim.createTransaction({to: sim.newAddress('bech32'), value: 2_500_000n, feeRate: 5, from: [take()]})
        const out = parent.outs[0]
        const child = sim.wallet.buildSpend({
          coins: [{txid: parent.getId(), vout: 0, value: out.value, script: Buffer.from(out.script)}],
          payments: [{script: Buffer.from(sim.wallet.newKey('bech32').script), value: out.value / 2n}],
          changeScript: sim.wallet.newKey('bech32').script,
          feeRate: 5,
          locktime: sim.chain.height,
        })
        return {parent: parent.toHex(), child: child.toHex()}
      },
    }
  }
  const taken = new Set<string>()
  const take = async () => {
    const unspent = await node.rpc<Array<{txid: string; vout: number; amount: number}>>('listunspent', [1])
    const coin = unspent.find((u) => !taken.has(`${u.txid}:${u.vout}`))
    assert.ok(coin, 'the wallet has a free coin')
    taken.add(`${coin.txid}:${coin.vout}`)
    return coin
  }
  const sign = async (inputs: Array<{txid: string; vout: number}>, to: string, value: bigint, prevtxs?: unknown[]) => {
    const raw = await node.rpc<string>('createrawtransaction', [inputs, {[to]: satsToBtcString(value)}])
    const signed = await node.rpc<{hex: string; complete: boolean}>('signrawtransactionwithwallet', prevtxs ? [raw, prevtxs] : [raw])
    assert.ok(signed.complete)
    return signed.hex
  }
  return {
    async payment(feeSats) {
      const coin = await take()
      return sign([coin], await node.newAddress('bech32'), sats(coin.amount) - feeSats)
    },
    async parentAndChild() {
      const coin = await take()
      const parent = await sign([coin], await node.newAddress('bech32'), sats(coin.amount) - 2_000n)
      const decoded = await node.rpc<{txid: string; vout: Array<{value: number; scriptPubKey: {hex: string}}>}>('decoderawtransaction', [parent])
      const out = decoded.vout[0]
      const child = await sign([{txid: decoded.txid, vout: 0}], await node.newAddress('bech32'), sats(out.value) - 2_000n, [
        {txid: decoded.txid, vout: 0, scriptPubKey: out.scriptPubKey.hex, amount: satsToBtcString(sats(out.value))},
      ])
      return {parent, child}
    },
  }
}

/** Runs one example line in bash, asynchronously: the simulator answers from this process. */
function runInBash(command: string, opts: {cwd: string; env: NodeJS.ProcessEnv}): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], {cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    })
  })
}

const examples = await examplesOfEveryCommand()

describe('every --help example runs as written', () => {
  let node: TestNode
  let scratch: string
  let env: NodeJS.ProcessEnv
  /** text in the help → what it stands for on this regtest chain, and why it must be swapped */
  const SWAPS: Array<{text: string; by: () => string; why: string}> = []

  before(async () => {
    node = await startTestNode({matureBlocks: 110})
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bix-examples-'))
    const work = path.join(scratch, 'work')
    const data = path.join(scratch, 'bix-data')
    const home = path.join(scratch, 'home')
    for (const dir of [work, data, home]) fs.mkdirSync(dir)

    // an address outside the wallet (so no later payment spends its coins) with two confirmed payments
    const script = payments.p2wsh({redeem: {output: Buffer.from('51', 'hex')}, network: networks.regtest})
    const address = script.address!
    const history: string[] = []
    for (const value of [40_000, 60_000]) {
      history.push(await node.send(address, value))
      await node.mine(1)
    }
    const electrumHash = Buffer.from(createHash('sha256').update(script.output!).digest()).reverse().toString('hex')

    const indexed = await runBix(['index', ...node.cliArgs(), '--quiet'], {env: {BIX_DATA_DIR: data}})
    assert.equal(indexed.code, 0, indexed.stderr)

    // a wallet's extended keys (BIP32, fixed seed): a tpub, and the vpub form wallets export for native segwit
    const {BIP32} = DescriptorsFactory()
    const account = BIP32.fromSeed(Buffer.alloc(32, 7), networks.regtest).derivePath("m/84'/1'/0'").neutered().toBase58()
    const vpubBytes = Buffer.from(bs58check.decode(account))
    vpubBytes.writeUInt32BE(0x045f1cf6, 0)
    const vpub = bs58check.encode(vpubBytes)
    fs.writeFileSync(path.join(work, 'addresses.txt'), `# addresses to check\n${address}\nscripthash:${electrumHash}\n`)
    fs.writeFileSync(path.join(work, 'txids.txt'), `# payments to check\n${history.join('\n')}\n`)
    fs.writeFileSync(path.join(work, 'outpoints.tsv'), history.map((txid, i) => `${txid}:0\tpayment ${i + 1}\n`).join(''))
    fs.writeFileSync(path.join(work, 'wallets.txt'), `${vpub}\nwpkh([d34db33f/84h/1h/0h]${account}/<0;1>/*)\n`)

    const maker = txMaker(node)
    const single = await maker.payment(1_000n)
    fs.writeFileSync(path.join(work, 'txs.txt'), `${await maker.payment(1_000n)}\n${await maker.payment(1_000n)}\n`)
    // well under the example's 50 sat/vB
    fs.writeFileSync(path.join(work, 'signed.hex'), `${await maker.payment(1_000n)}\n`)
    const family = await maker.parentAndChild()

    // the absolute paths of the examples, rerooted under the scratch directory with what they name
    fs.mkdirSync(path.join(scratch, 'srv', 'bix'), {recursive: true})
    for (const suffix of ['', '-wal']) {
      const from = path.join(data, 'regtest', `index.db${suffix}`)
      if (fs.existsSync(from)) fs.copyFileSync(from, path.join(scratch, 'srv', 'bix', `index.db${suffix}`))
    }
    fs.mkdirSync(path.join(scratch, 'var', 'lib', 'prometheus', 'node-exporter'), {recursive: true})
    fs.mkdirSync(path.join(scratch, 'mnt', 'ssd', 'bitcoin'), {recursive: true})
    fs.symlinkSync(path.join(node.netDatadir, 'blocks'), path.join(scratch, 'mnt', 'ssd', 'bitcoin', 'blocks'))

    SWAPS.push(
      {text: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', by: () => address, why: 'a mainnet segwit v0 address: a regtest index answers for bcrt1 addresses'},
      {text: '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b', by: () => history[1], why: 'a txid in the address\'s history on mainnet'},
      {text: '8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161', by: () => electrumHash, why: 'an Electrum script hash with history on mainnet'},
      {text: '0200000001…', by: () => single, why: 'a signed transaction, elided in the help'},
      {
        text: 'zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs',
        by: () => vpub,
        why: 'a mainnet native-segwit account key (BIP84\'s test vector): a regtest index takes its test-network form, vpub',
      },
      {
        text: 'xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY',
        by: () => account,
        why: 'a mainnet extended public key in a descriptor: a regtest index takes a tpub',
      },
    )

    const bin = path.join(scratch, 'bin')
    fs.mkdirSync(bin)
    fs.writeFileSync(path.join(bin, 'bix'), `#!/bin/sh\nexec '${process.execPath}' '${path.join(REPO_ROOT, 'bin', 'run.js')}' "$@"\n`, {mode: 0o755})
    env = {
      ...process.env,
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      NO_COLOR: '1',
      HOME: home,
      XDG_CACHE_HOME: path.join(home, '.cache'),
      BIX_DATA_DIR: data,
      BIX_DATADIR: node.datadir,
      BIX_RPCPORT: String(node.rpcPort),
      BIX_NETWORK: 'regtest',
      PARENT: family.parent,
      CHILD: family.child,
    }
  })
  after(async () => {
    await node?.stop()
    if (scratch) fs.rmSync(scratch, {recursive: true, force: true})
  })

  test('bix and its plugins have examples to run', () => {
    const ids = new Set(examples.map((e) => e.id))
    for (const id of ['broadcast', 'index', 'query:address', 'status', 'sync-mempool', 'wait-sync', 'autocomplete']) assert.ok(ids.has(id), `${id} has examples`)
  })

  for (const {id, example} of examples) {
    test(`${id}: ${example.description ?? example.command}`, async () => {
      let command = example.command
      for (const swap of SWAPS) command = command.replaceAll(swap.text, swap.by())
      command = command.replace(/(?<=\s)\/(?=(?:srv|var|mnt)\/)/g, `${scratch}/`)
      const outside = command.split(/\s+/).filter((word) => word.startsWith('/') && !word.startsWith(scratch))
      assert.deepEqual(outside, [], `an absolute path this test does not reroot: ${command}`)
      const r = await runInBash(command, {cwd: path.join(scratch, 'work'), env})
      assert.equal(r.code, 0, `${example.command}\nran as: ${command}\n${r.stderr}${r.stdout.slice(0, 2000)}`)
    })
  }
})
