import {serveSync} from '../../src/lib/sync-worker.js'

/** A worker for test/unit/sync-worker.test.ts: answers, throws, or dies in the ways a real one could. */
type Request = 'echo' | 'reject' | 'throw-later' | 'exit'

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
    }
  },
  (error) => ({message: (error as Error).message}),
)
