import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {burnParam, describeFeeLimit, feeRateOf, feeRateParam, parseBurnLimit, parseFeeRateLimit} from '../../src/lib/broadcast/fee-limits.js'
import {BixError} from '../../src/lib/errors.js'

/** What goes over the wire: the JSON text Core parses with 8 decimals. */
const wire = (value: number) => JSON.stringify([value])

describe('fee limits: sat/vB and sats become exactly the BTC/kvB and BTC Core expects', () => {
  test('sat/vB × 1000 / 1e8 is exact for every rate the node can express', () => {
    assert.equal(wire(feeRateParam(parseFeeRateLimit('25'))), '[0.00025]')
    assert.equal(wire(feeRateParam(parseFeeRateLimit('2.5'))), '[0.000025]')
    assert.equal(wire(feeRateParam(parseFeeRateLimit('1.001'))), '[0.00001001]')
    assert.equal(wire(feeRateParam(parseFeeRateLimit('10000'))), '[0.1]')
    assert.equal(wire(feeRateParam(parseFeeRateLimit('99999.999'))), '[0.99999999]')
    assert.equal(feeRateParam(parseFeeRateLimit('0')), 0)
    // the smallest step, 1 sat/kvB: whatever notation JSON picks, it is the same number to 8 decimals
    assert.equal(Math.round(feeRateParam(parseFeeRateLimit('0.001')) * 1e8), 1)
  })

  test('every rate with up to 3 decimals survives the trip to 8-decimal BTC and back', () => {
    for (let satPerKvb = 0; satPerKvb < 200_000; satPerKvb += 7) {
      const text = `${Math.floor(satPerKvb / 1000)}.${String(satPerKvb % 1000).padStart(3, '0')}`
      const btc = Number(JSON.parse(wire(feeRateParam(parseFeeRateLimit(text))))[0])
      assert.equal(Math.round(btc * 1e8), satPerKvb, text)
      assert.equal(btc.toFixed(8).replace(/0+$/, '').replace(/\.$/, ''), (satPerKvb / 1e8).toFixed(8).replace(/0+$/, '').replace(/\.$/, ''))
    }
  })

  test('rates the node would refuse or that mean nothing are bad input (exit 2)', () => {
    for (const bad of ['', 'abc', '-1', '1.2345', '1e3', '100000', '250000', '5 sat/vB']) {
      assert.throws(() => parseFeeRateLimit(bad), (err: unknown) => err instanceof BixError && err.exitCode === 2, bad)
    }
  })

  test('--max-burn is whole satoshis, sent as exact BTC', () => {
    assert.equal(parseBurnLimit('1000'), 1000n)
    assert.equal(wire(burnParam(1000n)), '[0.00001]')
    assert.equal(wire(burnParam(123_456_789n)), '[1.23456789]')
    assert.throws(() => parseBurnLimit('1.5'), BixError)
    assert.throws(() => parseBurnLimit('2100000000000001'), BixError)
  })

  test('fee rates are sat/vB to 3 decimals, and the limit in force is named', () => {
    assert.equal(feeRateOf(2880, 144), 20)
    assert.equal(feeRateOf(2691, 132), 20.386)
    assert.equal(describeFeeLimit(parseFeeRateLimit('25')), '--max-fee-rate 25 sat/vB')
    assert.match(describeFeeLimit(undefined), /10,000 sat\/vB/)
  })
})
