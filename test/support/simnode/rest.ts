/**
 * Bitcoin Core's REST interface (-rest): the same handlers, prefixes, formats
 * (.bin/.hex/.json), status codes and text/plain `\r\n` error messages as
 * src/rest.cpp. Blocks are served from their stored bytes, never re-serialized.
 */
import {Amount, writeJson} from './core-json.js'
import {blockJson, headerJson, txJson} from './render.js'
import type {NodeState} from './rpc-methods.js'
import {blockchainInfo} from './rpc-blockchain.js'
import {mempoolInfo, rawMempool} from './rpc-transactions.js'
import {scriptPubKeyJson} from './scripts.js'
import {writeVarInt} from './block-codec.js'
import {fromDisplayHex} from '../../../src/lib/chain/hashes.js'

export interface RestReply {
  status: number
  contentType?: string
  body: Buffer | string
}

type Format = 'bin' | 'hex' | 'json' | undefined
type Handler = (node: NodeState, part: string, query: URLSearchParams) => RestReply

const MAX_HEADERS = 2000
const ALL_FORMATS = 'output format not found (available: .bin, .hex, .json)'
const JSON_ONLY = 'output format not found (available: json)'

const error = (status: number, message: string): RestReply => ({status, contentType: 'text/plain', body: `${message}\r\n`})
const json = (value: unknown): RestReply => ({status: 200, contentType: 'application/json', body: writeJson(value) + '\n'})
const bin = (bytes: Buffer): RestReply => ({status: 200, contentType: 'application/octet-stream', body: bytes})
const hexText = (bytes: Buffer): RestReply => ({status: 200, contentType: 'text/plain', body: bytes.toString('hex') + '\n'})

/** Core's ParseDataFormat: strip the query, then a known extension. */
function parseFormat(part: string): {param: string; format: Format} {
  const param = part.split('?')[0]
  const dot = param.lastIndexOf('.')
  if (dot < 0) return {param, format: undefined}
  const suffix = param.slice(dot + 1)
  if (suffix === 'bin' || suffix === 'hex' || suffix === 'json') return {param: param.slice(0, dot), format: suffix}
  return {param, format: undefined}
}

const isHash = (s: string): boolean => /^[0-9a-fA-F]{64}$/.test(s)

function block(node: NodeState, part: string, verbosity: 'txid' | 'prevout'): RestReply {
  const {param, format} = parseFormat(part)
  if (!isHash(param)) return error(400, `Invalid hash: ${param}`)
  let entry = node.chain.get(param.toLowerCase())
  if (!entry) return error(404, `${param} not found`)
  if (node.takeWrongBlock()) entry = entry.prev ?? node.chain.tip
  switch (format) {
    case 'bin':
      return bin(entry.raw)
    case 'hex':
      return hexText(entry.raw)
    case 'json':
      return json(blockJson(node.chain, entry, verbosity))
    default:
      return error(404, ALL_FORMATS)
  }
}

const headers: Handler = (node, part, query) => {
  const {param, format} = parseFormat(part)
  const path = param.split('/')
  let hash: string
  let rawCount: string
  if (path.length === 2) {
    ;[rawCount, hash] = path
  } else if (path.length === 1) {
    hash = path[0]
    rawCount = query.get('count') ?? '5'
  } else {
    return error(400, 'Invalid URI format. Expected /rest/headers/<hash>.<ext>?count=<count>')
  }
  const count = /^\d+$/.test(rawCount) ? Number(rawCount) : NaN
  if (!(count >= 1 && count <= MAX_HEADERS)) return error(400, `Header count is invalid or out of acceptable range (1-${MAX_HEADERS}): ${rawCount}`)
  if (!isHash(hash)) return error(400, `Invalid hash: ${hash}`)
  const chain = node.chain
  const found = chain.get(hash.toLowerCase())
  const list = []
  // walks up the active chain; an unknown or stale hash gives an empty answer
  for (let e = found && chain.isActive(found) ? found : undefined; e && list.length < count; e = chain.next(e)) list.push(e)
  switch (format) {
    case 'bin':
      return bin(Buffer.concat(list.map((e) => e.raw.subarray(0, 80))))
    case 'hex':
      return hexText(Buffer.concat(list.map((e) => e.raw.subarray(0, 80))))
    case 'json':
      return json(list.map((e) => headerJson(chain, e)))
    default:
      return error(404, ALL_FORMATS)
  }
}

const blockHashByHeight: Handler = (node, part) => {
  const {param, format} = parseFormat(part)
  const height = /^\d+$/.test(param) && param.length < 11 ? Number(param) : NaN
  if (!(height >= 0 && height <= 0x7fffffff)) return error(400, `Invalid height: ${param.replace(/[^A-Za-z0-9 .,;\-_/:?@()]/g, '')}`)
  const entry = node.chain.at(height)
  if (!entry) return error(404, 'Block height out of range')
  switch (format) {
    case 'bin':
      return bin(fromDisplayHex(entry.hash))
    case 'hex':
      return {status: 200, contentType: 'text/plain', body: entry.hash + '\n'}
    case 'json':
      return json({blockhash: entry.hash})
    default:
      return error(404, ALL_FORMATS)
  }
}

const tx: Handler = (node, part) => {
  const {param, format} = parseFormat(part)
  if (!isHash(param)) return error(400, `Invalid hash: ${param}`)
  const found = node.chain.findTx(param.toLowerCase())
  if (!found) return error(404, `${param} not found`)
  switch (format) {
    case 'bin':
      return bin(found.raw)
    case 'hex':
      return hexText(found.raw)
    case 'json':
      return json(txJson(found.tx, {includeHex: true, blockHash: found.block?.hash, prefixes: node.chain.addressPrefixes}))
    default:
      return error(404, ALL_FORMATS)
  }
}

const chainInfo: Handler = (node, part) => (parseFormat(part).format === 'json' ? json(blockchainInfo(node)) : error(404, JSON_ONLY))

const mempool: Handler = (node, part, query) => {
  const {param, format} = parseFormat(part)
  if (param !== 'contents' && param !== 'info') return error(400, 'Invalid URI format. Expected /rest/mempool/<info|contents>.json')
  if (format !== 'json') return error(404, JSON_ONLY)
  if (param === 'info') return json(mempoolInfo(node.chain))
  const verbose = query.get('verbose') ?? 'true'
  if (verbose !== 'true' && verbose !== 'false') return error(400, 'The "verbose" query parameter must be either "true" or "false".')
  const sequence = query.get('mempool_sequence') ?? 'false'
  if (sequence !== 'true' && sequence !== 'false') return error(400, 'The "mempool_sequence" query parameter must be either "true" or "false".')
  if (verbose === 'true' && sequence === 'true') return error(400, 'Verbose results cannot contain mempool sequence values. (hint: set "verbose=false")')
  return json(rawMempool(node.chain, verbose === 'true', sequence === 'true'))
}

/** Core 30+: the coins each transaction of a block spent, from undo data. */
const spentTxOuts: Handler = (node, part) => {
  const {param, format} = parseFormat(part)
  if (param.includes('/')) return error(400, 'Invalid URI format. Expected /rest/spenttxouts/<hash>.<ext>')
  if (!isHash(param)) return error(400, `Invalid hash: ${param}`)
  const entry = node.chain.get(param.toLowerCase())
  if (!entry) return error(404, `${param} not found`)
  const undo = entry.height === 0 ? [] : node.chain.spentCoins(entry)
  if (!undo) return error(404, `${param} undo not available`)
  const serialize = () => {
    const parts: Buffer[] = [writeVarInt(undo.length + 1), writeVarInt(0)]
    for (const coins of undo) {
      parts.push(writeVarInt(coins.length))
      for (const coin of coins) {
        const value = Buffer.alloc(8)
        value.writeBigInt64LE(coin.value)
        parts.push(value, writeVarInt(coin.script.length), coin.script)
      }
    }
    return Buffer.concat(parts)
  }
  switch (format) {
    case 'bin':
      return bin(serialize())
    case 'hex':
      return hexText(serialize())
    case 'json':
      return json([[], ...undo.map((coins) => coins.map((c) => ({value: new Amount(c.value), scriptPubKey: scriptPubKeyJson(c.script, node.chain.addressPrefixes)})))])
    default:
      return error(404, ALL_FORMATS)
  }
}

/** Core's uri_prefixes, in its order (first match wins). */
const PREFIXES: [string, Handler][] = [
  ['/rest/tx/', tx],
  ['/rest/block/notxdetails/', (node, part) => block(node, part, 'txid')],
  ['/rest/block/', (node, part) => block(node, part, 'prevout')],
  ['/rest/chaininfo', chainInfo],
  ['/rest/mempool/', mempool],
  ['/rest/headers/', headers],
  ['/rest/spenttxouts/', spentTxOuts],
  ['/rest/blockhashbyheight/', blockHashByHeight],
]

/** The counter name for a REST path, e.g. "rest/block" (first segment after /rest/). */
export function restCounterName(path: string): string {
  const segment = path.slice('/rest/'.length).split(/[/.?]/)[0]
  return `rest/${segment}`
}

/**
 * Answers a REST request, or undefined when no handler owns the path (the
 * HTTP server then answers 404 with an empty body). During warm-up every
 * handler answers 503 with the warm-up status.
 */
export function handleRest(node: NodeState, url: string, warmup: string | undefined): RestReply | undefined {
  const path = url.split('?')[0]
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '')
  for (const [prefix, handler] of PREFIXES) {
    if (!path.startsWith(prefix)) continue
    if (warmup !== undefined) return error(503, `Service temporarily unavailable: ${warmup}`)
    return handler(node, url.slice(prefix.length), query)
  }
  return undefined
}
