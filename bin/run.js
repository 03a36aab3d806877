#!/usr/bin/env node
import module from 'node:module'

// Most of a quick command's time is starting up; Node 22.1+ can keep the compiled code between runs.
module.enableCompileCache?.()
// On import, @oclif/core checks Node against its own engines (>=18) with semver, ~30 ms of every
// start; bix's engines ask for more, so on a Node that runs bix the check has nothing to say.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
// dist/cli.js is the whole CLI in one file, @oclif/core included (scripts/bundle.js)
const {execute} = await import('../dist/cli.js')

await execute({dir: import.meta.url})
