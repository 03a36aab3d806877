import {BixError, RpcCode, RpcError} from '../errors.js'
import {TransientFailure} from './failures.js'
import type {HttpReply} from './http-exchange.js'

/**
 * JSON-RPC as bitcoind speaks it. We send 2.0 requests; Core 28+ answers them
 * in 2.0 style (errors with HTTP 200, no `result` key; successes without an
 * `error` key) while older nodes answer 1.x style (errors as HTTP 500/404/400
 * with a JSON body `{result: null, error, id}`). Both are accepted.
 */

export interface RpcRequest {
  jsonrpc: '2.0'
  id: number
  method: string
  params: unknown[]
}

export type RpcOutcome = {ok: true; result: unknown} | {ok: false; code: number; message: string}

/**
 * The JSON inside an answer, whatever its HTTP status. Answers that are not
 * JSON (the 503 text of a full work queue, an HTML error page, a proxy's 404)
 * become errors saying what came back; JSON that does not parse (cut short,
 * garbled) is a transient failure, retried like a dropped connection.
 */
export function replyJson(reply: HttpReply, endpoint: string): unknown {
  if (reply.status === 503) throw serviceUnavailable(reply.body)
  const text = reply.body.toString('utf8')
  if (/json/i.test(reply.contentType) || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text)
    } catch {
      // bitcoind never sends this: the answer was damaged on the way, so the node may have run the call
      throw new TransientFailure('garbled', `HTTP ${reply.status} with malformed JSON`, {mayHaveRun: true})
    }
  }
  if (reply.status === 404) {
    throw new BixError('NodeUnreachable', `${endpoint} answered HTTP 404 to JSON-RPC; is this bitcoind's RPC port, and does it run with server=1?`)
  }
  const preview = previewText(reply.body)
  throw new BixError('NodeError', `${endpoint} answered HTTP ${reply.status} ${preview ? `"${preview}"` : 'with an empty body'} instead of JSON-RPC`)
}

const QUOTE = 0x22
/** what may follow a successful answer's result: its other members, as bitcoind writes them */
const RESULT_TAIL = /^(?:\s*,\s*"(?:error"\s*:\s*null|id"\s*:\s*(?:-?\d+|"[^"\\]*")|jsonrpc"\s*:\s*"2\.0")\s*)*\}\s*$/
const RESULT_HEAD = /^\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"result"\s*:\s*"$/

/**
 * The bytes of the hex string a successful answer holds as its result, read
 * in place: `{"result":"<hex>","error":null,"id":1}` (1.x) or
 * `{"jsonrpc":"2.0","result":"<hex>","id":1}` (2.0), without making a
 * string of megabytes of block and parsing it as JSON. The hex itself is
 * not checked here: whoever decodes it does. Undefined for any other answer
 * (an error, another layout), which the caller reads as JSON.
 */
export function hexResultOf(body: Buffer): Buffer | undefined {
  const open = body.indexOf('"result"')
  if (open < 0 || open > 64) return undefined
  const start = body.indexOf(QUOTE, open + 8) + 1
  if (start <= 0 || !RESULT_HEAD.test(body.toString('latin1', 0, start))) return undefined
  const end = body.indexOf(QUOTE, start)
  if (end < 0 || body.length - end > 256 || !RESULT_TAIL.test(body.toString('latin1', end + 1))) return undefined
  return body.subarray(start, end)
}

/**
 * HTTP 503 from bitcoind (RPC or REST): a full work queue, a shutdown, or REST
 * during warm-up ("Service temporarily unavailable: Loading block index…").
 */
export function serviceUnavailable(body: Buffer): TransientFailure {
  const text = previewText(body)
  if (/work queue depth exceeded/i.test(text)) return new TransientFailure('overloaded', 'HTTP 503 Work queue depth exceeded')
  const warmup = /^Service temporarily unavailable:\s*(.*)$/i.exec(text)
  if (warmup) return new TransientFailure('warmup', warmup[1] || 'starting')
  return new TransientFailure('stopping', text ? `HTTP 503 ${text}` : 'HTTP 503 (shutting down)')
}

/** One reply object in either style. */
export function outcomeOf(reply: unknown, endpoint: string): RpcOutcome {
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) {
    throw new BixError('NodeError', `${endpoint} sent a JSON-RPC reply that is not an object`)
  }
  const {error} = reply as {error?: unknown}
  if (error !== undefined && error !== null) {
    const {code, message} = error as {code?: unknown; message?: unknown}
    return {
      ok: false,
      code: typeof code === 'number' ? code : -32_603,
      message: typeof message === 'string' ? message : JSON.stringify(error),
    }
  }
  if (!('result' in reply)) throw new BixError('NodeError', `${endpoint} sent a JSON-RPC reply with neither result nor error`)
  return {ok: true, result: (reply as {result: unknown}).result}
}

/**
 * An error object from the node, sorted: -28 (warm-up) is worth waiting for,
 * -1 for a block whose data is not on disk yet is worth a short retry, -1 for
 * pruned data needs a clear word, everything else is the caller's RpcError.
 */
export function rpcFailure(method: string, code: number, message: string): TransientFailure | BixError {
  if (code === RpcCode.inWarmup) return new TransientFailure('warmup', message || 'starting')
  if (code === RpcCode.miscError) {
    if (/not found on disk|not fully downloaded/i.test(message)) {
      return new TransientFailure('not-ready', message, {final: new RpcError(method, code, message)})
    }
    if (/pruned data/i.test(message)) {
      return new BixError('NodeUnsupported', `${method}: ${message}; the node has pruned this block and bix needs its data (run bitcoind with prune=0)`)
    }
  }
  return new RpcError(method, code, message)
}

/** The start of a text answer, on one line, for error messages. */
function previewText(body: Buffer): string {
  return body
    .subarray(0, 200)
    .toString('utf8')
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7e\u00a0-\uffff]/g, '')
    .trim()
}
