/**
 * The chain recorded from a real Bitcoin Core regtest node
 * (test/fixtures/regtest-core/chain.json), replayed into the simulator
 * block by block in the node's own arrival order: blocks 1–143, the three
 * blocks that later went stale (144–146), then the replacement branch
 * 144–147 and the six mempool transactions. Tests can stop before the
 * reorg, index, then apply it and index again.
 */
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {Transaction} from 'bitcoinjs-lib'

import {type FixtureBlock, type RegtestChain, regtestChain} from '../chain-fixtures.js'
import type {Chain} from './chain.js'

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'regtest-core')

// one loader and one shape for chain.json, shared with the unit tests
export type {FixtureBlock} from '../chain-fixtures.js'
export type FixtureChain = RegtestChain
export const readFixtureChain: () => FixtureChain = regtestChain

export type FixtureStage = 'before-reorg' | 'after-reorg'

/** The node's blocksdir obfuscation key (blocks/xor.dat). */
export const fixtureXorKey = (): Buffer => readFileSync(join(FIXTURE_DIR, 'blocks', 'xor.dat'))

/** Height of the last block the two branches share (143). */
export const fixtureForkHeight = (): number => readFixtureChain().stale[0].height - 1

function submitAll(chain: Chain, blocks: FixtureBlock[]): void {
  for (const block of blocks) {
    const result = chain.submitBlock(Buffer.from(block.hex, 'hex'))
    if (result !== null) throw new Error(`fixture block ${block.height} ${block.hash} refused: ${result}`)
  }
}

/** Loads the recorded chain onto a fresh simulator chain (genesis only). */
export function loadFixtureChain(chain: Chain, stage: FixtureStage = 'after-reorg'): void {
  if (chain.height !== 0) throw new Error('the fixture chain loads onto a chain holding only genesis')
  const fixture = readFixtureChain()
  submitAll(chain, fixture.blocks.slice(1, fixtureForkHeight() + 1))
  submitAll(chain, fixture.stale)
  if (stage === 'after-reorg') applyFixtureReorg(chain)
}

/**
 * The recorded reorg: the replacement blocks 144–147 arrive and win; the
 * transactions only the stale branch had are gone (as in the recording),
 * and the recorded mempool is restored.
 */
export function applyFixtureReorg(chain: Chain): void {
  const fixture = readFixtureChain()
  if (chain.tip.hash !== fixture.stale[fixture.stale.length - 1].hash) throw new Error('the fixture reorg applies on top of the stale branch')
  const previous = chain.resurrectOnReorg
  chain.resurrectOnReorg = false
  try {
    submitAll(chain, fixture.blocks.slice(fixtureForkHeight() + 1))
  } finally {
    chain.resurrectOnReorg = previous
  }
  for (const {txid, hex} of fixture.mempool) {
    const verdict = chain.acceptToMempool(Transaction.fromHex(hex))
    if (!verdict.ok) throw new Error(`fixture mempool transaction ${txid} refused: ${verdict.reason} ${verdict.details ?? ''}`)
  }
}
