import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {sleep} from '../../abortable.js'
import {BixError} from '../../errors.js'
import type {AcquireOptions, LockHolder, WriterLock} from '../index-store.js'

/**
 * One writer per index: `<db>.lock`, created exclusively (0600) and holding
 * the writer's PID. A lock whose process is gone (a crash, kill -9) is
 * stale and taken over. On Linux the process's start time is recorded too,
 * so a PID reused by an unrelated process after a reboot is not mistaken
 * for the writer. Readers never take the lock: SQLite's WAL lets them read
 * while the writer writes.
 */

const POLL_MS = 250
/** a lock file created but not yet written is a writer between its create and its write for this long; after it, one that died there */
const BEING_WRITTEN_MS = 5000
const BEING_WRITTEN_POLL_MS = 10

export const lockPathOf = (dbPath: string) => `${dbPath}.lock`

export async function acquireWriterLock(dbPath: string, options: AcquireOptions): Promise<WriterLock> {
  const file = lockPathOf(dbPath)
  try {
    fs.mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  } catch {
    // tryCreate names the problem
  }
  let told = false
  for (;;) {
    if (options.signal?.aborted) throw options.signal.reason
    const taken = tryCreate(file, options.command)
    if (taken) return taken
    const holder = readLockHolder(dbPath)
    if (holder === undefined) {
      // a writer that has created the file and not yet written it is not gone: give it a moment
      if (justCreated(file)) {
        await sleep(BEING_WRITTEN_POLL_MS, options.signal)
        continue
      }
      // stale (or vanished between our create and read): clear it and try again
      removeStale(file)
      continue
    }
    if (!options.wait) {
      throw new BixError(
        'IndexBusy',
        `another bix ${holder.command ?? 'writer'} (pid ${holder.pid} on ${holder.host}, since ${holder.since}) is writing ${dbPath}; wait for it, or use --wait-lock`,
      )
    }
    if (!told) {
      told = true
      options.onWait?.(holder)
    }
    await sleep(POLL_MS, options.signal)
  }
}

/**
 * The live process holding the lock on `dbPath`, or undefined when there is
 * none (no lock file, or one left by a process that is gone).
 */
export function readLockHolder(dbPath: string): LockHolder | undefined {
  let text: string
  try {
    text = fs.readFileSync(lockPathOf(dbPath), 'utf8')
  } catch {
    return undefined
  }
  let holder: LockHolder
  try {
    holder = JSON.parse(text) as LockHolder
  } catch {
    // a writer that died between creating the file and writing it
    return undefined
  }
  if (!Number.isInteger(holder?.pid) || holder.pid <= 0) return undefined
  // a lock from another machine (a shared filesystem) cannot be checked: trust it
  if (holder.host !== os.hostname()) return holder
  return isAlive(holder) ? holder : undefined
}

function tryCreate(file: string, command: string): WriterLock | undefined {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return undefined
    if (code === 'ENOENT') throw new BixError('DatabaseError', `cannot create ${file}: its directory does not exist`, {cause: err})
    if (code === 'ENOTDIR') throw new BixError('DatabaseError', `cannot create ${file}: part of its path is a file, not a directory`, {cause: err})
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new BixError('DatabaseError', `cannot create the lock ${file}: the directory is read-only or not yours (${code})`, {cause: err})
    }
    if (code === 'ENOSPC') throw new BixError('DatabaseError', `disk full while creating ${file}`, {cause: err})
    throw err
  }
  const me: LockHolder = {pid: process.pid, command, host: os.hostname(), startTicks: startTicksOf(process.pid), since: new Date().toISOString()}
  try {
    fs.writeSync(fd, JSON.stringify(me))
  } catch (err) {
    fs.closeSync(fd)
    fs.rmSync(file, {force: true})
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new BixError('DatabaseError', `disk full while creating ${file}`, {cause: err})
    throw err
  }
  fs.closeSync(fd)
  let released = false
  return {
    release() {
      if (released) return
      released = true
      // only our own lock: never one a later writer took over after a stale-lock check
      if (readLockHolder(file.slice(0, -'.lock'.length))?.pid === process.pid) fs.rmSync(file, {force: true})
    },
  }
}

/**
 * Renames the stale lock aside before deleting it, so that of two processes
 * clearing the same stale lock at once only one succeeds; the other finds
 * the file gone and simply tries to create it again.
 */
function removeStale(file: string): void {
  const aside = `${file}.stale-${process.pid}`
  try {
    fs.renameSync(file, aside)
  } catch {
    return
  }
  // a live writer's lock renamed in the instant it was created goes back in place
  const moved = readHolderFile(aside)
  if (moved && moved.host === os.hostname() && isAlive(moved)) {
    try {
      fs.linkSync(aside, file)
    } catch {
      // someone else holds it now
    }
  }
  fs.rmSync(aside, {force: true})
}

/** The lock file is new and does not hold a whole holder yet: its writer created it (O_EXCL) and has not written its PID. */
function justCreated(file: string): boolean {
  try {
    if (Date.now() - fs.statSync(file).mtimeMs >= BEING_WRITTEN_MS) return false
  } catch {
    return false
  }
  return readHolderFile(file) === undefined
}

function readHolderFile(file: string): LockHolder | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder
  } catch {
    return undefined
  }
}

function isAlive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0)
  } catch (err) {
    // EPERM: alive, but another user's
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  if (holder.startTicks === undefined) return true
  const now = startTicksOf(holder.pid)
  return now === undefined || now === holder.startTicks
}

/** Field 22 of /proc/<pid>/stat: when the process started, in ticks since boot. */
function startTicksOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may hold spaces and parentheses: count from the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[19])
    return Number.isFinite(ticks) ? ticks : undefined
  } catch {
    return undefined
  }
}

/** Whether a file is at `file`: false only when it is really not there (a file bix may not read is the opener's to explain). */
export function fileExists(file: string): boolean {
  try {
    fs.statSync(file)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return code !== 'ENOENT' && code !== 'ENOTDIR'
  }
}
