import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {NETWORKS, type NetworkName} from '../chain/networks.js'
import {BixError, badInput} from '../errors.js'
import {type ConfSettings, loadConf} from './bitcoin-conf.js'
import type {NodeConfig, NodeCredentials, NodeEndpoint} from './types.js'

/**
 * Finding the node the way bitcoin-cli does: datadir, bitcoin.conf (sections,
 * includes, datadir=), host and port, then credentials (rpcuser/rpcpassword or
 * the cookie file). Flags (and their BIX_* environment variables) beat the conf.
 */

export interface NodeConfigInput {
  datadir?: string
  conf?: string
  network?: NetworkName
  rpcconnect?: string[]
  rpcport?: number
  rpcuser?: string
  rpcpassword?: string
  rpccookiefile?: string
  /** http://[user:pass@]host[:port], in failover order; replaces rpcconnect */
  rpcUrls?: string[]
  /** default os.homedir(); tests point it elsewhere */
  home?: string
  /** default process.platform; decides the default datadir */
  platform?: NodeJS.Platform
}

const DEFAULT_HOST = '127.0.0.1'

/** Core's GetDefaultDataDir(). */
export function defaultDatadir(home: string, platform: NodeJS.Platform = process.platform): string {
  const base = home || '/'
  if (platform === 'darwin') return path.join(base, 'Library', 'Application Support', 'Bitcoin')
  if (platform === 'win32') {
    // Core 28 moved fresh installs to Local AppData but keeps a Roaming one that exists
    const roaming = path.join(process.env.APPDATA ?? path.join(base, 'AppData', 'Roaming'), 'Bitcoin')
    if (isDirectory(roaming)) return roaming
    return path.join(process.env.LOCALAPPDATA ?? path.join(base, 'AppData', 'Local'), 'Bitcoin')
  }
  return path.join(base, '.bitcoin')
}

export function resolveNodeConfig(input: NodeConfigInput = {}): NodeConfig {
  let datadir: string
  if (input.datadir !== undefined && input.datadir !== '') {
    datadir = path.resolve(input.datadir)
    if (!isDirectory(datadir)) throw badInput(`data directory "${datadir}" does not exist`)
  } else {
    datadir = defaultDatadir(input.home ?? os.homedir(), input.platform)
  }

  const explicitConf = input.conf !== undefined && input.conf !== ''
  // a relative -conf is inside the datadir given on the command line, as in Core
  const confPath = path.resolve(datadir, explicitConf ? (input.conf as string) : 'bitcoin.conf')
  const conf = loadConf(confPath, explicitConf, datadir, input.network)
  const confNetwork = conf.settings.chain()
  const network = input.network ?? confNetwork ?? 'main'

  // datadir= inside bitcoin.conf moves the cookie (and everything else) but not the conf
  if (input.datadir === undefined || input.datadir === '') {
    const moved = conf.settings.get('datadir', network)
    if (moved && !moved.negated && moved.value !== '') {
      datadir = path.resolve(moved.value)
      if (!isDirectory(datadir)) throw badInput(`data directory "${datadir}" (datadir= in ${moved.file}) does not exist`)
    }
  }
  const netDatadir = path.join(datadir, NETWORKS[network].dataSubdir)
  const baseCredentials = resolveCredentials(input, conf.settings, network, netDatadir)
  const endpoints =
    input.rpcUrls && input.rpcUrls.filter(Boolean).length > 0
      ? input.rpcUrls.filter(Boolean).map((url) => parseRpcUrl(url, input.rpcport ?? confPort(conf.settings, network) ?? NETWORKS[network].rpcPort))
      : connectEndpoints(input, conf.settings, network)

  return {
    network,
    networkExplicit: input.network !== undefined || confNetwork !== undefined,
    datadir,
    netDatadir,
    confPath: conf.path,
    endpoints,
    credentials: endpoints[0].credentials ?? baseCredentials,
  }
}

function resolveCredentials(input: NodeConfigInput, settings: ConfSettings, network: NetworkName, netDatadir: string): NodeCredentials {
  const confUser = settings.get('rpcuser', network)
  const confPassword = settings.get('rpcpassword', network)
  const password = input.rpcpassword ?? confPassword?.value ?? ''
  // bitcoin-cli uses the cookie whenever rpcpassword is empty, whatever rpcuser says
  if (password !== '') {
    const source = input.rpcpassword === undefined ? `bitcoin.conf ${confPassword?.file}` : 'flags'
    return {kind: 'password', user: input.rpcuser ?? confUser?.value ?? '', password, source}
  }
  const confCookie = settings.get('rpccookiefile', network)
  if (input.rpccookiefile === undefined && confCookie?.negated) {
    throw new BixError(
      'AuthFailed',
      `no credentials: ${confCookie.file} disables the cookie file (norpccookiefile) and sets no rpcpassword; pass --rpcuser and --rpcpassword`,
    )
  }
  const cookieFile = input.rpccookiefile || confCookie?.value || '.cookie'
  return {kind: 'cookie', path: path.resolve(netDatadir, cookieFile)}
}

function confPort(settings: ConfSettings, network: NetworkName): number | undefined {
  const entry = settings.get('rpcport', network)
  if (!entry || entry.negated) return undefined
  return parsePort(entry.value, `rpcport in ${entry.file} line ${entry.line}`)
}

/**
 * rpcconnect entries with their ports: --rpcport beats a port written in
 * rpcconnect, which beats rpcport from bitcoin.conf, which beats the network's
 * default. (When rpcconnect itself comes from bitcoin.conf, the conf's rpcport
 * wins over its port, as bitcoin-cli decides between the two.)
 */
function connectEndpoints(input: NodeConfigInput, settings: ConfSettings, network: NetworkName): NodeEndpoint[] {
  const fromFlags = (input.rpcconnect ?? []).map((s) => s.trim()).filter(Boolean)
  const confConnect = settings.get('rpcconnect', network)
  const targets = fromFlags.length > 0 ? fromFlags : [confConnect && !confConnect.negated && confConnect.value ? confConnect.value : DEFAULT_HOST]
  const portFromConf = confPort(settings, network)
  return targets.map((target) => {
    const {host, port: written} = splitHostPort(target)
    const port =
      input.rpcport ?? (fromFlags.length > 0 ? (written ?? portFromConf) : (portFromConf ?? written)) ?? NETWORKS[network].rpcPort
    return makeEndpoint(host, port)
  })
}

/**
 * Core's SplitHostPort: "host", "host:port", "[v6]:port", "[v6]"; a bare IPv6
 * address (several colons, no brackets) is all host.
 */
export function splitHostPort(target: string): {host: string; port?: number} {
  let rest = target
  let port: number | undefined
  const colon = rest.lastIndexOf(':')
  if (colon >= 0) {
    const bracketed = rest.startsWith('[') && rest[colon - 1] === ']'
    const multiColon = colon > 0 && rest.lastIndexOf(':', colon - 1) >= 0
    if (colon === 0 || bracketed || !multiColon) {
      port = parsePort(rest.slice(colon + 1), `port in rpcconnect "${target}"`)
      rest = rest.slice(0, colon)
    }
  }
  const host = rest.startsWith('[') && rest.endsWith(']') ? rest.slice(1, -1) : rest
  if (host === '') throw badInput(`no host in rpcconnect "${target}"`)
  return {host, port}
}

function parsePort(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN
  if (!(port >= 1 && port <= 65_535)) throw badInput(`invalid ${what}: "${text}" (1-65535)`)
  return port
}

/** --rpc-url http://[user:password@]host[:port]; the credentials never reach NodeEndpoint.url. */
export function parseRpcUrl(text: string, defaultPort: number): NodeEndpoint {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    // the text may hold a password: do not echo it
    throw badInput('invalid --rpc-url: expected http://[user:password@]host[:port]')
  }
  // the scheme as given: "--rpc-url http://node: only http:// is supported" would say nothing
  // "user:pw@host:port" without a scheme parses as the scheme "user:" and no host: say what is expected, echo nothing
  if (url.host === '') throw badInput('invalid --rpc-url: expected http://[user:password@]host[:port]')
  const shown = `${url.protocol}//${url.host}`
  if (url.protocol !== 'http:') throw badInput(`--rpc-url ${shown}: only http:// is supported (bitcoind speaks plain HTTP)`)
  if (url.pathname !== '/' && url.pathname !== '') throw badInput(`--rpc-url ${shown}${url.pathname}: a path is not supported`)
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  const endpoint = makeEndpoint(host, url.port ? Number(url.port) : defaultPort)
  if (url.username !== '' || url.password !== '') {
    endpoint.credentials = {
      kind: 'password',
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      source: 'URL',
    }
  }
  return endpoint
}

export function makeEndpoint(host: string, port: number): NodeEndpoint {
  return {host, port, url: `http://${hostPort(host, port)}`}
}

/** host:port as bitcoin-cli prints it, IPv6 in brackets. */
export function endpointLabel(endpoint: NodeEndpoint): string {
  return hostPort(endpoint.host, endpoint.port)
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * Whether a host is this machine: "localhost" (and names under it), 127.0.0.0/8,
 * ::1 and IPv4-mapped loopback. Any other name counts as another machine: bix
 * does not resolve names to decide.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  const family = net.isIP(h)
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6')
}

/** (BlockList also matches IPv4-mapped IPv6 addresses, ::ffff:127.0.0.1, against the IPv4 range.) */
const LOOPBACK = new net.BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** bitcoind speaks plain HTTP, so RPC credentials reach another machine readable by anyone on the way. */
export function cleartextWarning(endpointLabel: string): string {
  return `sending RPC credentials in clear text to ${endpointLabel}, which is not this machine (bitcoind's RPC is plain HTTP); reach a remote node through an SSH tunnel, a VPN or WireGuard`
}

/** Where the credentials come from, for messages; never the secret itself. */
export function describeCredentials(credentials: NodeCredentials): string {
  return credentials.kind === 'cookie' ? `cookie file ${credentials.path}` : `rpcuser/rpcpassword from ${credentials.source}`
}

/**
 * The cookie bitcoind writes at start: `__cookie__:<64 hex>` on the first line.
 * Errors name the file, never its content.
 */
export function readCookie(cookiePath: string): {user: string; password: string} {
  let text: string
  try {
    text = fs.readFileSync(cookiePath, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code ?? 'unknown error'
    throw new BixError(
      'AuthFailed',
      `cannot read cookie file ${cookiePath} (${reason}); is bitcoind running with this datadir and --network? Otherwise pass --rpcuser/--rpcpassword`,
      {cause: Object.assign(new Error(reason), {code})},
    )
  }
  const firstLine = text.split('\n', 1)[0].replace(/\r$/, '')
  const colon = firstLine.indexOf(':')
  if (colon < 0) throw new BixError('AuthFailed', `cookie file ${cookiePath} is malformed (expected user:password on its first line)`)
  return {user: firstLine.slice(0, colon), password: firstLine.slice(colon + 1)}
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}
