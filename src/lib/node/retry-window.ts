import {badInput} from '../errors.js'

/**
 * How long a command keeps waiting for a node that is down, restarting or
 * warming up before it gives up (--retry-for): "90s", "10m", "1h", "1h30m",
 * or plain seconds. 0 keeps the client's own short round of retries.
 */

const UNIT_MS: Record<string, number> = {s: 1000, m: 60_000, h: 3_600_000}
/** a day: longer is a typo, and a cron job that waits for days is a pile-up */
const MAX_MS = 24 * 3_600_000

export function parseRetryWindow(text: string): number {
  const trimmed = text.trim().toLowerCase()
  let ms: number
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    ms = Number(trimmed) * 1000
  } else if (/^(\d+(\.\d+)?[hms])+$/.test(trimmed)) {
    ms = 0
    for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)([hms])/g)) ms += Number(amount) * UNIT_MS[unit]
  } else {
    throw badInput(`--retry-for must be a duration such as 90s, 10m, 1h or a number of seconds (got "${text}")`)
  }
  if (ms > MAX_MS) throw badInput(`--retry-for is at most 24h (got "${text}")`)
  return Math.round(ms)
}

/** 90_000 → "1m30s", 30_000 → "30s": the way the flag is written. */
export function describeRetryWindow(ms: number): string {
  let s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  s -= h * 3600
  const m = Math.floor(s / 60)
  s -= m * 60
  const text = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`
  return text === '' ? '0s' : text
}
