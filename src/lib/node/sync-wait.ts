import {BixError} from '../errors.js'
import {formatDuration} from '../format.js'
import {sleep} from '../abortable.js'
import {type WaitReason, transientReason} from './failures.js'
import {getBlockchainInfo} from './node-api.js'
import {checkNode} from './preflight.js'
import type {CallOptions, NodeClient} from './types.js'

/**
 * Waiting for a node to be ready: answering (through refused connections,
 * warm-up and restarts) and done with initial block download. Polls with one
 * attempt per call so that every poll can say why it is still waiting.
 */

export interface SyncInfo {
  chain: string
  blocks: number
  headers: number
  verificationProgress: number
  initialBlockDownload: boolean
}

export type SyncState =
  | {phase: 'waiting'; reason: WaitReason}
  | {phase: 'syncing'; info: SyncInfo}
  | {phase: 'synced'; info: SyncInfo}

export interface WaitForSyncOptions {
  intervalMs: number
  /** give up with TimedOut after this long; undefined waits for ever */
  timeoutMs?: number
  /** the longest one poll may take (the deadline shortens it further) */
  callTimeoutMs: number
  signal?: AbortSignal
  /** every poll's outcome, for progress displays */
  onState?: (state: SyncState) => void
}

/** Core's own criterion, and electrs': out of initial block download, every known header's block validated. */
export function isSynced(info: SyncInfo): boolean {
  return !info.initialBlockDownload && info.headers >= 0 && info.blocks === info.headers
}

export async function waitForSync(client: NodeClient, options: WaitForSyncOptions): Promise<{info: SyncInfo; waitedMs: number}> {
  const started = Date.now()
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : started + options.timeoutMs
  // the first answer also proves the network and version; after that a cheap poll suffices
  let checked = false
  for (;;) {
    const call: CallOptions = {
      retry: false,
      signal: options.signal,
      timeoutMs: Math.max(100, Math.min(options.callTimeoutMs, deadline - Date.now())),
    }
    let state: SyncState
    try {
      const info: SyncInfo = checked ? await getBlockchainInfo(client, call) : await checkNode(client, {call})
      checked = true
      state = isSynced(info) ? {phase: 'synced', info} : {phase: 'syncing', info}
    } catch (err) {
      const reason = transientReason(err)
      if (!reason) throw err
      state = {phase: 'waiting', reason}
    }
    options.onState?.(state)
    if (state.phase === 'synced') return {info: state.info, waitedMs: Date.now() - started}
    if (Date.now() >= deadline) {
      throw new BixError(
        'TimedOut',
        `timed out after ${formatDuration(Date.now() - started)} waiting for bitcoind at ${client.describe()} to sync; last: ${describeSyncState(state)}`,
      )
    }
    await sleep(Math.min(options.intervalMs, deadline - Date.now()), options.signal)
  }
}

/** One line on what the node is doing, e.g. "syncing 1234/5678 blocks (12.3%)". */
export function describeSyncState(state: SyncState): string {
  if (state.phase === 'waiting') return state.reason.text
  const {blocks, headers, verificationProgress, initialBlockDownload} = state.info
  if (state.phase === 'synced') return `synced at height ${blocks}`
  const pct = `${(verificationProgress * 100).toFixed(1)}%`
  if (headers < 0) return 'waiting for headers from peers'
  if (blocks === headers) return `syncing ${blocks}/${headers} blocks (${pct}), ${initialBlockDownload ? 'still in initial block download' : 'waiting for more headers'}`
  return `syncing ${blocks}/${headers} blocks (${pct})`
}
