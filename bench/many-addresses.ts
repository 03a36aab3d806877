import {writeFileSync} from 'node:fs'
import path from 'node:path'

import {scriptToAddress} from '../src/lib/chain/address.js'
import {parseBlock} from '../src/lib/chain/block-parser.js'
import {NETWORKS} from '../src/lib/chain/networks.js'
import {listBlockFiles, readXorKey, scanBlockFile} from '../src/lib/sources/blk-files.js'
import {runBix} from './bix-cli.js'

/**
 * Part f: `bix query address --file` of many addresses of the chain, in one
 * process, answers streamed as JSON Lines — what a script checking thousands
 * of addresses costs. The addresses are spread over the whole chain (a few
 * from each block), the busiest one among them.
 */

export interface ManyAddressesResult {
  addresses: number
  ms: number
  peakRss?: number
  /** history entries over all answers (chain_stats.tx_count summed) */
  entries: number
}

/** Up to `count` distinct addresses, taken evenly from every block of the chain. */
async function chainAddresses(datadir: string, count: number, blocks: number, first: string): Promise<string[]> {
  const blocksDir = path.join(datadir, 'regtest', 'blocks')
  const xorKey = await readXorKey(blocksDir)
  const perBlock = Math.ceil(count / Math.max(1, blocks)) + 1
  const found = new Set<string>([first])
  for (const file of await listBlockFiles(blocksDir)) {
    for await (const record of scanBlockFile(file, {magic: NETWORKS.regtest.magic, xorKey})) {
      let taken = 0
      for (const tx of parseBlock(record.bytes).txs) {
        for (const out of tx.outputs) {
          const address = scriptToAddress(out.script, 'regtest')
          if (!address || found.has(address)) continue
          found.add(address)
          if (found.size >= count) return [...found]
          if (++taken >= perBlock) break
        }
        if (taken >= perBlock) break
      }
    }
  }
  return [...found]
}

export async function manyAddressesBench(o: {datadir: string; db: string; blocks: number; busiest: string; count: number; workDir: string}): Promise<ManyAddressesResult> {
  const addresses = await chainAddresses(o.datadir, o.count, o.blocks, o.busiest)
  const file = path.join(o.workDir, 'many-addresses.txt')
  writeFileSync(file, `# ${addresses.length} addresses of the bench chain\n${addresses.join('\n')}\n`)
  const run = await runBix(['query', 'address', '--network', 'regtest', '--db', o.db, '--offline', '--file', file, '--jsonl'])
  if (run.exitCode !== 0) throw new Error(`bix query address --file exited ${run.exitCode}: ${run.stderr.trim()}`)
  const lines = run.stdout.trimEnd().split('\n')
  if (lines.length !== addresses.length) throw new Error(`bix query address --file answered ${lines.length} of ${addresses.length} addresses`)
  let entries = 0
  for (const line of lines) entries += (JSON.parse(line) as {chain_stats: {tx_count: number}}).chain_stats.tx_count
  return {addresses: addresses.length, ms: run.wallMs, peakRss: run.peakRss, entries}
}
