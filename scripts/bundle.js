#!/usr/bin/env node
// Bundles the built CLI into dist/cli.js (with @oclif/core and every library; only the native
// addon of better-sqlite3 stays in node_modules) and each worker thread into a file of its own
// beside it. A cold start then reads and compiles one file instead of resolving and loading ~200
// modules one by one, which was most of the time of a quick command such as `bix query address`.
//
// The bundle is CommonJS (dist/package.json says so) because bin/run.js compiles it with V8's
// code cache through vm.Script, which Node 20 offers for scripts and not for ES modules.
import * as esbuild from 'esbuild'
import fs from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const result = await esbuild.build({
  absWorkingDir: root,
  // src/lib/worker-thread.ts starts a worker as `./<name>.js` beside its caller, which is now dist/cli.js
  entryPoints: {
    cli: 'src/cli.ts',
    'decode-worker': 'src/lib/index/decode-worker.ts',
    'checkpoint-worker': 'src/lib/store/sqlite/checkpoint-worker.ts',
    'prefetch-worker': 'src/lib/store/sqlite/prefetch-worker.ts',
    // the PostgreSQL client (pg) is bundled into this thread's file only, not into cli.js's cold start
    'connection-worker': 'src/lib/store/postgres/connection-worker.ts',
  },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: true,
  // typescript is read by @oclif/core only in development (bin/dev.js), which runs the sources, not
  // this bundle. better-sqlite3's JavaScript is bundled (loading its 13 files cost ~6 ms of every
  // start); its native addon stays in node_modules, named to it by src/lib/store/sqlite/sqlite-addon.ts.
  external: ['typescript'],
  // the sources are ES modules: where they ask for their own URL, give them the bundle's
  define: {'import.meta.url': 'bixModuleUrl'},
  banner: {
    js: [
      "const bixModuleUrl = require('node:url').pathToFileURL(__filename).href;",
      // see below: import() of ES modules (oclif plugins) by bin/run.js's hand when it runs this file
      "const bixImport = typeof bixRunImport === 'function' ? bixRunImport : (specifier) => import(specifier);",
    ].join(' '),
  },
  metafile: true,
  write: false,
  logLevel: 'error',
})

// oclif loads ES-module plugins and hooks (@oclif/plugin-help...) with import(). Code compiled
// from V8's code cache by vm.Script (bin/run.js) loses what import() needs (Node reports
// ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so each import() of the bundle calls bixImport,
// which bin/run.js provides with its own import().
const DYNAMIC_IMPORT = /\bawait import\(/g
for (const file of result.outputFiles) {
  let text = file.text
  if (file.path.endsWith(`${path.sep}cli.js`)) {
    const sites = text.match(DYNAMIC_IMPORT)?.length ?? 0
    // today 5: @oclif/core's module loader (3), its tsx registration, lilconfig's config loader
    if (sites === 0) throw new Error('bundle: no dynamic import found in dist/cli.js where @oclif/core has some: check what changed')
    text = text.replaceAll(DYNAMIC_IMPORT, 'await bixImport(')
    const left = text.match(/[^\w$.]import\(/g)?.length ?? 0
    // the banner's own, an error message of oclif's, and two in the source of src/lib/worker-thread.ts's eval worker
    if (left !== 4) throw new Error(`bundle: an import() left in dist/cli.js (${left} where 4 are expected): check what changed`)
  }
  fs.mkdirSync(path.dirname(file.path), {recursive: true})
  fs.writeFileSync(file.path, text)
}
fs.writeFileSync(path.join(root, 'dist', 'package.json'), `${JSON.stringify({type: 'commonjs'})}\n`)
// tiny-secp256k1 (query descriptor's curve) reads its WebAssembly from beside its module, which is now the bundle
const require = createRequire(import.meta.url)
// (its exports name no subpath: the CommonJS entry is lib/cjs/index.cjs, the WebAssembly in lib/)
const secp256k1Lib = path.resolve(path.dirname(require.resolve('tiny-secp256k1')), '..')
fs.copyFileSync(path.join(secp256k1Lib, 'secp256k1.wasm'), path.join(root, 'dist', 'secp256k1.wasm'))
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith('.map')) console.log(`${file}: ${(output.bytes / 1024).toFixed(0)} KiB`)
}
