import {type ChildProcess, spawn} from 'node:child_process'
import path from 'node:path'
import {createInterface} from 'node:readline'

import {REPO_ROOT} from './generate-chain.js'
import type {ServerReady} from './serve-chain.js'

export interface RunningNode {
  ready: ServerReady
  stop(): Promise<void>
}

/** bench/serve-chain.ts serving the chain in `datadir`, in a child process; stopped by closing its stdin. */
export async function startNode(datadir: string, extraArgs: string[] = []): Promise<RunningNode> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench', 'serve-chain.ts'), datadir, ...extraArgs], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({input: child.stdout!}).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}) before serving`)))
  })
  return {
    ready: JSON.parse(line) as ServerReady,
    async stop() {
      child.stdin!.end()
      await exited
    },
  }
}
