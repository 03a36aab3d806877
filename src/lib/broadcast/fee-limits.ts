import {badInput} from '../errors.js'

/**
 * The two safety limits sendrawtransaction takes, converted exactly from the
 * units operators think in (sat/vB, sats) to the ones Core wants (BTC/kvB,
 * BTC). Core parses both with 8 decimals, so a fee rate has a resolution of
 * 1 sat/kvB = 0.001 sat/vB; anything finer would be refused by the node.
 */

/** Core's own default for sendrawtransaction/testmempoolaccept: 0.10 BTC/kvB (DEFAULT_MAX_RAW_TX_FEE_RATE). */
export const NODE_DEFAULT_MAX_FEE_RATE_SAT_PER_KVB = 10_000_000n

/** Core refuses fee-rate limits of 1 BTC/kvB and above. */
const MAX_FEE_RATE_SAT_PER_KVB = 100_000_000n

/** No more than all the bitcoin there will ever be. */
const MAX_MONEY_SATS = 2_100_000_000_000_000n

export interface FeeRateLimit {
  /** the limit in sat/kvB, exact; 0 = no limit */
  satPerKvb: bigint
  /** as the user wrote it, for messages */
  text: string
}

/** "25", "2.5", "0.001" (sat/vB) → a limit; more than 3 decimals cannot be expressed to the node. */
export function parseFeeRateLimit(text: string): FeeRateLimit {
  const match = /^(\d+)(?:\.(\d{1,3}))?$/.exec(text.trim())
  if (!match) {
    throw badInput(`--max-fee-rate ${JSON.stringify(text)} is not a fee rate in sat/vB with at most 3 decimals (e.g. 25 or 2.5; 0 = no limit)`)
  }
  const satPerKvb = BigInt(match[1]) * 1000n + BigInt((match[2] ?? '').padEnd(3, '0'))
  if (satPerKvb >= MAX_FEE_RATE_SAT_PER_KVB) {
    throw badInput(`--max-fee-rate ${text} sat/vB is too high: the node refuses limits of 100,000 sat/vB (1 BTC/kvB) and above; 0 means no limit`)
  }
  return {satPerKvb, text: text.trim()}
}

/** "1000" (sats) → sats; a whole number. */
export function parseBurnLimit(text: string): bigint {
  if (!/^\d+$/.test(text.trim())) throw badInput(`--max-burn ${JSON.stringify(text)} is not a whole number of satoshis`)
  const sats = BigInt(text.trim())
  if (sats > MAX_MONEY_SATS) throw badInput(`--max-burn ${text} is more than 21 million BTC`)
  return sats
}

/**
 * sat/vB × 1000 / 1e8 = BTC/kvB, as the JSON number Core parses: the decimal
 * has at most 8 significant digits, so the shortest double that prints as it
 * is exact.
 */
export function feeRateParam(limit: FeeRateLimit): number {
  return Number(satsAsBtcText(limit.satPerKvb))
}

export function burnParam(sats: bigint): number {
  return Number(satsAsBtcText(sats))
}

function satsAsBtcText(sats: bigint): string {
  const whole = sats / 100_000_000n
  const fraction = (sats % 100_000_000n).toString().padStart(8, '0')
  return `${whole}.${fraction}`
}

/** sat/vB with 3 decimals: what `--json` reports and what a limit is compared with. */
export function feeRateOf(feeSats: number, vsize: number): number {
  return Math.round((feeSats * 1000) / vsize) / 1000
}

/** The limit in effect, in words: "--max-fee-rate 25 sat/vB" or "the node's default limit of 10,000 sat/vB". */
export function describeFeeLimit(limit: FeeRateLimit | undefined): string {
  if (limit) return `--max-fee-rate ${limit.text} sat/vB`
  return `the node's default limit of ${(Number(NODE_DEFAULT_MAX_FEE_RATE_SAT_PER_KVB) / 1000).toLocaleString('en-US')} sat/vB`
}
