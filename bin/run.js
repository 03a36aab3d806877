#!/usr/bin/env node
// Starts the built CLI: dist/cli.js is all of bix and @oclif/core in one file (scripts/bundle.js).
// It is compiled with V8's code cache that the build wrote beside it (dist/cli.js.v8cache), which
// Node 20 cannot do by itself (module.enableCompileCache is Node 22.1+): most of a quick command's
// time was loading and compiling code. A cache V8 rejects (another Node, other V8 flags) is ignored.
//
// This file is CommonJS (bin/package.json): an ES-module entry would start Node's ES module
// loader, ~7 ms of every start, and a command such as bix query address loads no ES module.
'use strict'
const fs = require('node:fs')
const {Module, createRequire} = require('node:module')
const path = require('node:path')
const vm = require('node:vm')

// On import, @oclif/core checks Node against its own engines (>=18) with semver, ~30 ms of every
// start; bix's engines ask for more, so on a Node that runs bix the check has nothing to say.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'

const file = path.join(__dirname, '..', 'dist', 'cli.js')
const cacheFile = `${file}.v8cache`
let cachedData
try {
  cachedData = fs.readFileSync(cacheFile)
} catch {
  // no cache (yet): compile as usual
}

const source = fs.readFileSync(file, 'utf8')
// bixRunImport: code compiled from a code cache cannot import() (scripts/bundle.js), so the bundle
// imports ES modules (oclif plugins) through this file's import()
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, bixRunImport) {${source}\n})`, {filename: file, cachedData})
// a CommonJS module as require() would make it, in require's cache so that oclif, loading its
// command list from this file (package.json oclif.commands), gets this instance and not a second one
const cli = new Module(file)
cli.filename = file
const cliRequire = createRequire(file)
cliRequire.cache[file] = cli
script.runInThisContext().call(cli.exports, cli.exports, cliRequire, cli, file, path.dirname(file), (specifier) => import(specifier))
cli.loaded = true

// the build runs one command with this set, so that the cache holds what a start compiles
if (process.env.BIX_WRITE_CODE_CACHE) process.on('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()))

// bin/package.json only says CommonJS: oclif finds bix's own package.json from the directory above
cli.exports.execute({dir: path.dirname(__dirname)})
