import fs from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

let found: string | undefined

/**
 * The file of better-sqlite3's native addon, in better-sqlite3's own build
 * directory, where its install puts it (build/Release; build/Debug for a
 * debug build). Every Database is given it (the nativeBinding option) because
 * the built CLI bundles better-sqlite3's JavaScript (scripts/bundle.js): there
 * the `bindings` package it otherwise uses cannot tell, from the call stack,
 * which package asked. The addon itself stays in node_modules.
 */
export function sqliteAddon(): string {
  if (found) return found
  const root = path.dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json'))
  for (const build of ['Release', 'Debug']) {
    const file = path.join(root, 'build', build, 'better_sqlite3.node')
    if (fs.existsSync(file)) return (found = file)
  }
  throw new Error(`better-sqlite3's native addon is missing from ${path.join(root, 'build')}: install bix's dependencies again`)
}
