/**
 * A stand-in for the bitcoind binary: takes bitcoind's command-line flags
 * (-regtest -datadir= -rpcport= -rest= -rpcuser= -rpcpassword=, others
 * ignored), serves the simulator from that datadir (resuming its blk files,
 * as a restarted node would), and exits when stopped by RPC or a signal.
 * It lets the suite exercise test/support/bitcoind.ts where no Bitcoin Core
 * is installed: `node --import tsx test/support/simnode/fake-bitcoind.ts -regtest ...`.
 */
import {Simulator} from './simulator.js'

const args = process.argv.slice(2)
const value = (name: string): string | undefined => {
  const arg = args.findLast((a) => a.startsWith(`-${name}=`))
  return arg?.slice(name.length + 2)
}
const enabled = (name: string): boolean => args.includes(`-${name}`) || value(name) === '1'

if (!enabled('regtest')) {
  process.stderr.write('Error: this stand-in only runs -regtest\n')
  process.exit(1)
}
const datadir = value('datadir')
const port = Number(value('rpcport') ?? 18443)
const user = value('rpcuser')
const password = value('rpcpassword')

const sim = await Simulator.start({
  datadir,
  port,
  rest: enabled('rest'),
  auth: user !== undefined && password !== undefined ? {user, password} : undefined,
  resume: true,
})

sim.stopping.addEventListener('abort', () => setTimeout(() => process.exit(0), 50))
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    void sim.stop({keepDatadir: true}).then(() => process.exit(0))
  })
}
