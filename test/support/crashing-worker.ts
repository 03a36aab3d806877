import {setTimeout as sleep} from 'node:timers/promises'
import {workerData} from 'node:worker_threads'

import {serveSync} from '../../src/lib/sync-worker.js'

/** A worker for test/unit/sync-worker.test.ts: answers, throws, or dies in the ways a real one could. */
type Request = 'echo' | 'reject' | 'throw-later' | 'exit' | 'late-notify' | 'slow'

serveSync<Request, string>(
  async (request) => {
    switch (request) {
      case 'echo':
        return 'echo'
      case 'reject':
        throw new Error('rejected as asked')
      case 'throw-later':
        // an exception nothing catches, as a bug in a client library's callback would be
        setImmediate(() => {
          throw new Error('boom in a callback')
        })
        return new Promise<string>(() => {})
      case 'exit':
        process.exit(3)
      case 'late-notify':
        // what a worker preempted between storing its answer's state and notifying does: a notify that
        // arrives once the caller already waits on its next call (word 0 is the state sync-worker.ts waits on)
        setTimeout(() => Atomics.notify(new Int32Array((workerData as {shared: SharedArrayBuffer}).shared), 0), 200)
        return 'late-notify'
      case 'slow':
        await sleep(800)
        return 'slow'
    }
  },
  (error) => ({message: (error as Error).message}),
)
