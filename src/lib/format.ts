/**
 * Numbers as people read them (BTC, counts, bytes, durations, times): pure
 * text, for the terminal output of commands and for the messages of every
 * layer alike (a node timeout says "no answer within 30 s").
 */

/** Satoshis as BTC with all 8 decimals, exact (no floating point). */
export function formatBtc(sats: number | bigint): string {
  const value = BigInt(sats)
  const negative = value < 0n
  const abs = negative ? -value : value
  const whole = abs / 100_000_000n
  const fraction = (abs % 100_000_000n).toString().padStart(8, '0')
  return `${negative ? '-' : ''}${groupThousands(whole.toString())}.${fraction}`
}

/** 1234567 → "1,234,567", as en-US writes it. */
export function formatCount(n: number): string {
  // Intl for what no count is: fractions, NaN, -0
  return Number.isSafeInteger(n) && !Object.is(n, -0) ? groupThousands(String(n)) : n.toLocaleString('en-US')
}

/** By hand, not with Intl: its first use loads ICU's number data, ~15 ms of a command that prints one answer. */
function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 120) return `${s.toFixed(1)} s`
  const m = Math.floor(s / 60)
  if (m < 120) return `${m} min ${Math.round(s - m * 60)} s`
  const h = Math.floor(m / 60)
  return `${h} h ${m - h * 60} min`
}

/** Unix seconds → "2026-11-22 19:01:00 UTC". */
export function formatTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
}
