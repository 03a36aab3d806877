// first: a command on a PostgreSQL index starts its connection's thread before the rest loads
import './lib/store/postgres/early-start.js'

import type {Command} from '@oclif/core'

import Broadcast from './commands/broadcast.js'
import Index from './commands/index/index.js'
import QueryAddress from './commands/query/address.js'
import QueryDescriptor from './commands/query/descriptor.js'
import QueryOutpoint from './commands/query/outpoint.js'
import QueryTx from './commands/query/tx.js'
import Status from './commands/status.js'
import SyncMempool from './commands/sync-mempool.js'
import WaitSync from './commands/wait-sync.js'

// bin/run.js runs oclif from this module, so that the built CLI is one bundled file (scripts/bundle.js)
// and oclif, the commands and their libraries share one copy of @oclif/core.
export {execute} from '@oclif/core'

/**
 * Every bix command by id (package.json oclif.commands, strategy "explicit"):
 * oclif finds them here instead of globbing dist/commands, so a bundler can see them.
 */
export const COMMANDS: Record<string, Command.Class> = {
  broadcast: Broadcast,
  index: Index,
  'query:address': QueryAddress,
  'query:descriptor': QueryDescriptor,
  'query:outpoint': QueryOutpoint,
  'query:tx': QueryTx,
  status: Status,
  'sync-mempool': SyncMempool,
  'wait-sync': WaitSync,
}
