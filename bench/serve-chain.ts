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
 * With --headers-through H (the scale benchmark) blocks up to height H are
 * read from the files as their 80-byte header and transaction count only —
 * a 30M-transaction chain would not fit in memory — so they are there for
 * getblockhash, getblockheader and getblockchaininfo (what `bix index
 * --source blk` asks of the node) but not as blocks; the blocks above H
 * (the catch-up blocks) are served in full.
 *
 *   node --import tsx bench/serve-chain.ts <datadir> [--headers-through H]
 *
 * Prints one JSON line when ready ({port, height, blocks, loadMs}) and
 * serves until stdin closes or it gets SIGTERM/SIGINT; the cookie goes to
 * <datadir>/regtest/.cookie as bitcoind's does.
 */
import {closeSync, openSync, readSync} from 'node:fs'
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
  if (!datadir) throw new Error('usage: serve-chain.ts <datadir> [--headers-through H]')
  const flag = process.argv.indexOf('--headers-through')
  const headersThrough = flag > 0 ? Number(process.argv[flag + 1]) : -1
  const started = performance.now()
  const blocksDir = path.join(datadir, 'regtest', 'blocks')
  const xorKey = await readXorKey(blocksDir)
  const raws: Buffer[] = []
  for (const file of await listBlockFiles(blocksDir)) {
    if (headersThrough >= 0) {
      // files hold blocks in height order (the generator writes them so): headers first, then whole blocks
      for (const record of headerRecords(file, xorKey)) {
        raws.push(raws.length <= headersThrough ? record.stub : record.whole())
      }
    } else {
      for await (const record of scanBlockFile(file, {magic: NETWORKS.regtest.magic, xorKey})) raws.push(record.bytes)
    }
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

/**
 * Each block of a blk file as its header and transaction count (read at its
 * offset, a few pages a block, not the whole file), and a way to read the
 * whole block.
 */
function* headerRecords(file: string, xorKey: Buffer | undefined): Generator<{stub: Buffer; whole: () => Buffer}> {
  const fd = openSync(file, 'r')
  const readAt = (pos: number, length: number): Buffer => {
    const buf = Buffer.alloc(length)
    const n = readSync(fd, buf, 0, length, pos)
    if (xorKey) for (let i = 0; i < n; i++) buf[i] ^= xorKey[(pos + i) % xorKey.length]
    return buf.subarray(0, n)
  }
  try {
    for (let pos = 0; ; ) {
      const head = readAt(pos, 8)
      if (head.length < 8 || !head.subarray(0, 4).equals(NETWORKS.regtest.magic)) return
      const size = head.readUInt32LE(4)
      const body = pos + 8
      // header, then the transaction count varint (at most 9 bytes)
      const start = readAt(body, 89)
      const first = start[80]
      const varintBytes = first < 0xfd ? 1 : first === 0xfd ? 3 : first === 0xfe ? 5 : 9
      yield {stub: Buffer.from(start.subarray(0, 80 + varintBytes)), whole: () => readAt(body, size)}
      pos = body + size
    }
  } finally {
    closeSync(fd)
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`serve-chain: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
