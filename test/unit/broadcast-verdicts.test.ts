import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {parseFeeRateLimit} from '../../src/lib/broadcast/fee-limits.js'
import {verdictOfReason, verdictOfRpcError} from '../../src/lib/broadcast/node-verdicts.js'
import {ExitCode, RpcError} from '../../src/lib/errors.js'
import {exitCodeOf, worstExitCode} from '../../src/lib/broadcast/result.js'
import {FIXTURES} from '../support/chain-fixtures.js'

/** The node's error from a recorded exchange, as the client hands it over. */
function recordedError(name: string): RpcError {
  const {request, body} = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'regtest-core/rpc', name), 'utf8'))
  return new RpcError(request.method, body.error.code, body.error.message)
}

describe("the node's answers become plain outcomes", () => {
  test('-27 (recorded: "Transaction outputs already in utxo set") and the pre-28 text mean already confirmed', () => {
    assert.deepEqual(verdictOfRpcError(recordedError('err-sendraw-already-in-chain.json'), {}), {kind: 'already-confirmed'})
    assert.deepEqual(verdictOfRpcError(new RpcError('sendrawtransaction', -27, 'Transaction already in block chain'), {}), {kind: 'already-confirmed'})
  })

  test('-22 (recorded) is a rejection saying the node could not decode it', () => {
    const verdict = verdictOfRpcError(recordedError('err-sendraw-decode.json'), {})
    assert.equal(verdict.kind, 'rejected')
    assert.match((verdict as {reason: string}).reason, /could not decode it: TX decode failed/)
  })

  test('testmempoolaccept "txn-already-in-mempool" (recorded) is already in the mempool', () => {
    const {body} = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'regtest-core/rpc/testmempoolaccept-ok-already.json'), 'utf8'))
    assert.deepEqual(verdictOfReason(body.result[0]['reject-details'], {}), {kind: 'already-in-mempool'})
  })

  test('-26 policy reasons keep the reason and its details', () => {
    const verdict = verdictOfRpcError(new RpcError('sendrawtransaction', -26, 'min relay fee not met, 0 < 141'), {})
    assert.deepEqual(verdict, {kind: 'rejected', reason: "rejected by the node's policy: min relay fee not met (0 < 141)", nodeCode: -26})
    assert.deepEqual(verdictOfRpcError(new RpcError('sendrawtransaction', -26, 'txn-mempool-conflict'), {}), {
      kind: 'rejected',
      reason: "rejected by the node's policy: txn-mempool-conflict",
      nodeCode: -26,
    })
  })

  test('-25 missing or spent inputs, in each of the three dialects', () => {
    for (const text of ['bad-txns-inputs-missingorspent', 'missing-inputs']) {
      const verdict = verdictOfReason(text, {}, -25)
      assert.equal(verdict.kind, 'missing-inputs', text)
      assert.match((verdict as {reason: string}).reason, /missing or spent inputs/)
    }
  })

  test('a fee above the limit names the rate and the limit', () => {
    const limit = parseFeeRateLimit('25')
    const fromSend = verdictOfRpcError(new RpcError('sendrawtransaction', -25, 'Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)'), {feerate: 52.5, maxFeeRate: limit})
    assert.deepEqual(fromSend, {kind: 'rejected', reason: 'fee rate 52.5 sat/vB exceeds --max-fee-rate 25 sat/vB', nodeCode: -25})
    const fromTest = verdictOfReason('max-fee-exceeded', {feerate: 20000})
    assert.match((fromTest as {reason: string}).reason, /^fee rate 20000 sat\/vB exceeds the node's default limit of 10,000 sat\/vB; pass a higher --max-fee-rate/)
    assert.match((verdictOfReason('max feerate exceeded', {maxFeeRate: limit}) as {reason: string}).reason, /^the fee rate exceeds --max-fee-rate 25/)
  })

  test('value sent to OP_RETURN above --max-burn says so', () => {
    const verdict = verdictOfRpcError(new RpcError('sendrawtransaction', -25, 'Unspendable output exceeds maximum configured by user (maxburnamount)'), {})
    assert.match((verdict as {reason: string}).reason, /unspendable \(OP_RETURN\) output .* more than --max-burn 0 sat \(the default\)/)
  })

  test('errors that are not about the transaction stay errors (exit 1)', () => {
    const verdict = verdictOfRpcError(new RpcError('sendrawtransaction', -8, 'Fee rates larger than or equal to 1BTC/kvB are not accepted'), {})
    assert.equal(verdict.kind, 'error')
  })
})

describe('the exit code is the worst outcome', () => {
  test('success < rejected (8) < unexpected (1) < unreachable (3) < unknown fate (4)', () => {
    assert.equal(worstExitCode([]), ExitCode.ok)
    assert.equal(worstExitCode([exitCodeOf({status: 'sent'}), exitCodeOf({status: 'already-confirmed'})]), 0)
    assert.equal(worstExitCode([0, exitCodeOf({status: 'rejected'}), 0]), 8)
    assert.equal(worstExitCode([8, exitCodeOf({status: 'error'})]), 1)
    assert.equal(worstExitCode([8, 1, exitCodeOf({status: 'error', exitCode: ExitCode.nodeUnreachable})]), 3)
    assert.equal(worstExitCode([3, exitCodeOf({status: 'error', exitCode: ExitCode.timedOut}), 8, 0]), 4)
  })
})
