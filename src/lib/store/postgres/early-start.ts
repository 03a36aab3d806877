import {startPgConnectionEarly} from './connection.js'

/**
 * Imported first by src/cli.ts, so that this runs before @oclif/core and the
 * commands load: a command on a PostgreSQL index starts its connection's
 * thread then, and the thread's start overlaps theirs.
 */
startPgConnectionEarly(process.argv.slice(2), process.env)
