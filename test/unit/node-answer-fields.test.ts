import assert from 'node:assert/strict'
import {test} from 'node:test'

import {hexBytes} from '../../src/lib/node/answer-fields.js'

test('hexBytes decodes hex of either case, and refuses anything else whole', () => {
  assert.deepEqual(hexBytes('00ff10Ab', 'getblock'), Buffer.from([0x00, 0xff, 0x10, 0xab]))
  assert.deepEqual(hexBytes('', 'getblock'), Buffer.alloc(0))
  for (const bad of ['0', '00f', 'zz00', '00zz', '0g00', '00 0', ' 000', '0x00', 'é0', 42, null, ['00']]) {
    assert.throws(() => hexBytes(bad, 'getblock'), {name: 'NodeError', message: 'getblock: the node did not send hex'}, JSON.stringify(bad))
  }
})
