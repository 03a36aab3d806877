#!/usr/bin/env -S node --import tsx --no-warnings
// CommonJS, as everything in bin/ (bin/package.json); the commands are the TypeScript sources.
// oclif finds bix's package.json from the directory above (bin/package.json only says CommonJS).
require('@oclif/core').execute({development: true, dir: require('node:path').dirname(__dirname)})
