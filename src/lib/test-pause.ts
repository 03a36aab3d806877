import fs from 'node:fs'

/**
 * A test hook, so that a crash test can SIGKILL bix at an exact point rather
 * than at a guessed time: with BIX_TEST_PAUSE_IN=<place>[:<n>] the process,
 * the n-th time (default the first) it reaches <place>, writes one line
 *
 *   bix test pause: <place> <n>: <what is written and not committed>
 *
 * to stderr and then blocks for good on the thread doing the work, with the
 * SQLite transaction open, until it is killed (test/reliability/kill-resume).
 * The places:
 *
 *   write-transaction    bix index: a batch's rows written, not committed
 *   bulk-spends          the first run's spends of old outputs marked at its end, not committed
 *   script-index         the first run's script index built by its sort, not committed
 *   mempool-transaction  bix sync-mempool: a change to the snapshot written, not committed
 *
 * Unset (as for every user) or naming no place, it does nothing: the variable
 * is read once, and each call costs one comparison.
 */

export type PausePlace = 'write-transaction' | 'bulk-spends' | 'script-index' | 'merge-recent' | 'mempool-transaction'

const PLACES: readonly string[] = ['write-transaction', 'bulk-spends', 'script-index', 'merge-recent', 'mempool-transaction'] satisfies PausePlace[]

const wanted = parse(process.env.BIX_TEST_PAUSE_IN)
let reached = 0

function parse(value: string | undefined): {place: PausePlace; nth: number} | undefined {
  const match = value?.match(/^([a-z-]+)(?::([1-9]\d*))?$/)
  if (!match || !PLACES.includes(match[1])) return undefined
  return {place: match[1] as PausePlace, nth: Number(match[2] ?? 1)}
}

/** Blocks the thread for good if BIX_TEST_PAUSE_IN names this place and this is its n-th time; `detail` says what is uncommitted. */
export function pauseHere(place: PausePlace, detail: () => string): void {
  if (wanted?.place !== place || ++reached !== wanted.nth) return
  // written straight to the file descriptor: the line must be out before the thread stops
  fs.writeSync(2, `bix test pause: ${place} ${reached}: ${detail()}\n`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)
}
