import {type TransferListItem, Worker} from 'node:worker_threads'

/**
 * A worker thread running the module `name` (without extension) beside the
 * caller's module. Run from the TypeScript sources (tests, bin/dev.js) that
 * is a .ts file, and Node 20 does not carry `--import tsx` into workers, so
 * the worker registers tsx itself. `workerData` (with the ports in it named in
 * `transferList`) is handed to the worker as node:worker_threads' workerData.
 */
export function startWorker(callerUrl: string, name: string, workerData?: unknown, transferList?: TransferListItem[]): Worker {
  const options = {workerData, transferList}
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), options)
  const entry = new URL(`./${name}.ts`, callerUrl).href
  const tsx = import.meta.resolve('tsx/esm/api')
  return new Worker(`import(${JSON.stringify(tsx)}).then(({register}) => { register(); return import(${JSON.stringify(entry)}) })`, {eval: true, ...options})
}
