/**
 * The node for the benchmark: the regtest simulator (test/support/simnode)
 * serving a generated chain over JSON-RPC and REST, in a process of its own
 * so that it takes a core the way bitcoind would, not the measured
 * process's event loop. Blocks are kept as the raw bytes read from the blk
 * files, so `getblock <hash> 0` and `/rest/block/<hash>.bin` answer from a
 * map lookup.
 *
 *   node --import tsx bench/serve-chain.ts <datadir>
 *
 * Prints one JSON line when ready ({port, height, blocks, loadMs}) and
 * serves until stdin closes or it gets SIGTERM/SIGINT; the cookie goes to
 * <datadir>/regtest/.cookie as bitcoind's does.
 */
import path from 'node:path'

import {NETWORKS} from '../src/lib/chain/networks.js'
import {listBlockFiles, readXorKey, scanBlockFile} from '../src/lib/sources/blk-files.js'
import {Simulator} from '../test/support/simnode/simulator.js'

export interface ServerReady {
  port: number
  height: number
  blocks: number
  loadMs: number
}

async function main(): Promise<void> {
  const datadir = process.argv[2]
  if (!datadir) throw new Error('usage: serve-chain.ts <datadir>')
  const started = performance.now()
  const blocksDir = path.join(datadir, 'regtest', 'blocks')
  const xorKey = await readXorKey(blocksDir)
  const raws: Buffer[] = []
  for (const file of await listBlockFiles(blocksDir)) {
    for await (const record of scanBlockFile(file, {magic: NETWORKS.regtest.magic, xorKey})) raws.push(record.bytes)
  }
  const sim = await Simulator.start({datadir, blockFiles: false, ledger: 'lazy', rest: true})
  // the generator already checked these blocks; the simulator only links them
  sim.loadBlocks(raws, {trusted: true})
  const ready: ServerReady = {port: sim.port, height: sim.chain.height, blocks: raws.length, loadMs: Math.round(performance.now() - started)}
  process.stdout.write(JSON.stringify(ready) + '\n')

  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    void sim.stop({keepDatadir: true}).then(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.stdin.on('end', stop)
  process.stdin.resume()
}

main().catch((err: unknown) => {
  process.stderr.write(`serve-chain: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
