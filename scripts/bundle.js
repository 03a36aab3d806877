#!/usr/bin/env node
// Bundles the built CLI into dist/cli.js (with @oclif/core and every library but the native
// better-sqlite3) and each worker thread into a file of its own beside it. A cold start then
// reads and compiles one file instead of resolving and loading ~200 modules one by one, which
// was most of the time of a quick command such as `bix query address`.
import * as esbuild from 'esbuild'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const result = await esbuild.build({
  absWorkingDir: root,
  // src/lib/worker-thread.ts starts a worker as `./<name>.js` beside its caller, which is now dist/cli.js
  entryPoints: {
    cli: 'src/cli.ts',
    'decode-worker': 'src/lib/index/decode-worker.ts',
    'checkpoint-worker': 'src/lib/store/checkpoint-worker.ts',
  },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // better-sqlite3 loads its native binding from its own directory; typescript is read by
  // @oclif/core only in development (bin/dev.js), which runs the sources, not this bundle
  external: ['better-sqlite3', 'typescript'],
  // the CommonJS inside (@oclif/core and its dependencies) calls require() for Node's modules
  banner: {js: "import {createRequire as bixCreateRequire} from 'node:module'; const require = bixCreateRequire(import.meta.url);"},
  metafile: true,
  logLevel: 'error',
})
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith('.map')) console.log(`${file}: ${(output.bytes / 1024).toFixed(0)} KiB`)
}
