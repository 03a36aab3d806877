import fs from 'node:fs'
import path from 'node:path'

import type {NetworkName} from '../chain/networks.js'
import {isNetworkName} from '../chain/networks.js'
import {BixError, badInput} from '../errors.js'

/**
 * bitcoin.conf read the way Bitcoin Core reads it (src/common/config.cpp,
 * src/common/settings.cpp), so that bix finds the node exactly where
 * bitcoin-cli would.
 */

export interface ConfEntry {
  /** '' for the default (top) section */
  section: string
  key: string
  value: string
  /** `nofoo=1` */
  negated: boolean
  /** the file the line came from (the top file or an included one) */
  file: string
  line: number
}

/**
 * Options that, outside mainnet, are only taken from the network's own section
 * (NETWORK_ONLY in src/common/args.h): a top-level `rpcport=` is mainnet's.
 */
const NETWORK_ONLY_KEYS = new Set(['rpcport', 'rpcbind', 'port', 'bind', 'connect', 'addnode'])

const WHITESPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g

/** Lines of one file, in order. Errors are Core's parse errors, without echoing values (they may be passwords). */
export function parseConf(text: string, file: string): ConfEntry[] {
  const entries: ConfEntry[] = []
  let prefix = ''
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1
    let line = lines[i]
    const hash = line.indexOf('#')
    const usedHash = hash >= 0
    if (usedHash) line = line.slice(0, hash)
    line = line.replace(WHITESPACE, '')
    if (line === '') continue
    if (line.startsWith('[') && line.endsWith(']')) {
      prefix = line.slice(1, -1) + '.'
      continue
    }
    if (line.startsWith('-')) {
      throw badInput(`${file} line ${lineNo}: options in bitcoin.conf are written without a leading "-"`)
    }
    const eq = line.indexOf('=')
    if (eq < 0) throw badInput(`${file} line ${lineNo}: expected key=value`)
    const name = prefix + line.slice(0, eq).replace(WHITESPACE, '')
    const value = line.slice(eq + 1).replace(WHITESPACE, '')
    if (usedHash && name.includes('rpcpassword')) {
      throw badInput(`${file} line ${lineNo}: a "#" on an rpcpassword line is ambiguous (Bitcoin Core refuses it too)`)
    }
    // "regtest.rpcport" → section regtest, key rpcport (Core splits at the first dot)
    const dot = name.indexOf('.')
    const section = dot >= 0 ? name.slice(0, dot) : ''
    let key = dot >= 0 ? name.slice(dot + 1) : name
    let negated = false
    let setting = value
    if (key.startsWith('no')) {
      // `nofoo=1` switches foo off; Core reads the double negative `nofoo=0` as foo=1
      key = key.slice(2)
      negated = interpretBool(value)
      setting = negated ? '' : '1'
    }
    entries.push({section, key, value: setting, negated, file, line: lineNo})
  }
  return entries
}

/** Core's InterpretBool: empty means true, otherwise the integer value is non-zero. */
function interpretBool(value: string): boolean {
  if (value === '') return true
  const n = Number.parseInt(value, 10)
  return !Number.isNaN(n) && n !== 0
}

/** The settings of a bitcoin.conf and the files it included. */
export class ConfSettings {
  constructor(readonly entries: readonly ConfEntry[]) {}

  /**
   * The value Core would use: the network's section beats the default section,
   * and inside each the first assignment wins. Network-only keys ignore the
   * default section off mainnet.
   */
  get(key: string, network: NetworkName): ConfEntry | undefined {
    const inSection = this.entries.find((e) => e.section === network && e.key === key)
    if (inSection) return inSection
    if (network !== 'main' && NETWORK_ONLY_KEYS.has(key)) return undefined
    return this.entries.find((e) => e.section === '' && e.key === key)
  }

  /**
   * The network bitcoin.conf selects with chain=, regtest=1, testnet=1,
   * testnet4=1 or signet=1 (default section only, as in
   * ArgsManager::GetChainArg); more than one is an error there and here.
   */
  chain(): NetworkName | undefined {
    const top = this.entries.filter((e) => e.section === '')
    const chosen: string[] = []
    const flagNames: Array<[string, NetworkName]> = [
      ['regtest', 'regtest'],
      ['signet', 'signet'],
      ['testnet', 'test'],
      ['testnet4', 'testnet4'],
    ]
    let network: NetworkName | undefined
    for (const [key, net] of flagNames) {
      // chain selection flags are the one place where the last assignment wins
      const last = top.filter((e) => e.key === key).at(-1)
      if (last && !last.negated && interpretBool(last.value)) {
        chosen.push(`${key}=${last.value || '1'}`)
        network = net
      }
    }
    const chainEntry = top.find((e) => e.key === 'chain')
    if (chainEntry) {
      if (!isNetworkName(chainEntry.value)) {
        throw badInput(`${chainEntry.file} line ${chainEntry.line}: unknown chain "${chainEntry.value}" (main, test, testnet4, signet or regtest)`)
      }
      chosen.push(`chain=${chainEntry.value}`)
      network = chainEntry.value
    }
    if (chosen.length > 1) {
      throw badInput(`bitcoin.conf selects more than one network (${chosen.join(', ')}); keep only one`)
    }
    return network
  }
}

/** Reads a file as bitcoin.conf; missing → undefined, unreadable → BadInput. */
function readConfText(file: string, what: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'EISDIR') throw badInput(`${what} "${file}" is a directory`)
    throw new BixError('BadInput', `cannot read ${what} "${file}" (${code === 'EACCES' ? 'permission denied' : code ?? 'unknown error'})`, {cause: err})
  }
}

export interface LoadedConf {
  settings: ConfSettings
  /** the top file, when it exists */
  path?: string
}

/**
 * The top file plus one level of `includeconf=`: includes named in the chosen
 * network's section first, then the default section's, paths relative to the
 * datadir; an includeconf inside an included file is ignored (Core warns).
 * `networkFlag` is --network, which picks the section before the conf can.
 */
export function loadConf(confPath: string, explicit: boolean, datadir: string, networkFlag?: NetworkName): LoadedConf {
  const text = readConfText(confPath, 'config file')
  if (text === undefined) {
    if (explicit) throw badInput(`config file "${confPath}" does not exist`)
    return {settings: new ConfSettings([])}
  }
  const top = parseConf(text, confPath)
  const network = networkFlag ?? new ConfSettings(top).chain() ?? 'main'
  const includes = [
    ...top.filter((e) => e.key === 'includeconf' && !e.negated && e.section === network),
    ...top.filter((e) => e.key === 'includeconf' && !e.negated && e.section === ''),
  ]
  const entries = [...top]
  for (const include of includes) {
    const file = path.resolve(datadir, include.value)
    const included = readConfText(file, 'included config file')
    if (included === undefined) {
      throw badInput(`included config file "${file}" does not exist (includeconf= in ${include.file} line ${include.line})`)
    }
    entries.push(...parseConf(included, file).filter((e) => e.key !== 'includeconf'))
  }
  return {settings: new ConfSettings(entries), path: confPath}
}
