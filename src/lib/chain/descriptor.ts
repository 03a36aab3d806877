import bs58check from 'bs58check'
import {type Network, networks} from 'bitcoinjs-lib'

import {badInput} from '../errors.js'
import type {NetworkName} from './networks.js'

/**
 * Output descriptors as Bitcoin Core writes them (pkh, wpkh, sh(wpkh), tr,
 * wsh(multi|sortedmulti), sh(wsh(…)), addr, raw), ranged (`/*`) or not,
 * with `/<0;1>/*` multipath, and the SLIP-132 extended-key shorthand
 * (xpub/ypub/zpub, tpub/upub/vpub). Parsing and derivation are
 * @bitcoinerlab/descriptors'; this module checks the checksum, splits
 * multipath descriptors into their branches and says which script each
 * index derives to.
 */

/** One chain of scripts a descriptor derives: a multipath descriptor has one per path element. */
export interface DescriptorChain {
  /** the descriptor as given, checksum removed */
  descriptor: string
  /** the multipath element this chain takes (0 receive and 1 change, by convention); null for a descriptor without one */
  branch: number | null
  /** whether it derives one script per index (a `*` in a key) or is one script */
  ranged: boolean
  /** the output script at this index (ranged), or the one script (index ignored) */
  scriptAt(index: number): Buffer
}

/** The wallet conventions behind each extended-key prefix (SLIP-132): its script type and the version bytes descriptors expect. */
const SHORTHAND: Record<string, {wrap: (key: string) => string; version: number; main: boolean}> = {
  xpub: {wrap: (k) => `pkh(${k})`, version: 0x0488b21e, main: true},
  ypub: {wrap: (k) => `sh(wpkh(${k}))`, version: 0x0488b21e, main: true},
  zpub: {wrap: (k) => `wpkh(${k})`, version: 0x0488b21e, main: true},
  tpub: {wrap: (k) => `pkh(${k})`, version: 0x043587cf, main: false},
  upub: {wrap: (k) => `sh(wpkh(${k}))`, version: 0x043587cf, main: false},
  vpub: {wrap: (k) => `wpkh(${k})`, version: 0x043587cf, main: false},
}

const bitcoinjsNetwork = (network: NetworkName): Network =>
  network === 'main' ? networks.bitcoin : network === 'regtest' ? networks.regtest : networks.testnet

type Library = typeof import('@bitcoinerlab/descriptors')
type Factory = ReturnType<Library['DescriptorsFactory']>
let factory: {lib: Library; bound: Factory} | undefined

/**
 * The library is loaded on first use: no other command needs it at start-up.
 * Its curve arithmetic is tiny-secp256k1's WebAssembly build (no native
 * compile): each derived key costs a point multiplication, and the WASM build
 * does one about three times faster than the library's default pure-JS curve.
 */
async function library(): Promise<{lib: Library; bound: Factory}> {
  if (!factory) {
    const [lib, ecc] = await Promise.all([import('@bitcoinerlab/descriptors'), import('tiny-secp256k1')])
    factory = {lib, bound: lib.DescriptorsFactory(ecc)}
  }
  return factory
}

/**
 * The chains of scripts `text` describes: a descriptor (its checksum, when
 * present, must be right), or a bare extended public key, which stands for
 * its receive and change branches (`KEY/<0;1>/*`) in the script type its
 * prefix names.
 */
export async function descriptorChains(text: string, network: NetworkName): Promise<DescriptorChain[]> {
  const {lib, bound} = await library()
  const descriptor = withoutChecksum(text.trim(), lib.checksum)
  const expanded = /^[a-z]pub[1-9A-HJ-NP-Za-km-z]+$/.test(descriptor) ? expandShorthand(descriptor, network) : descriptor
  const ranged = expanded.includes('*')
  const multipath = /<(\d+(?:;\d+)+)>/.exec(expanded)
  const branches = multipath ? multipath[1].split(';').map(Number) : [null]
  const net = bitcoinjsNetwork(network)
  return branches.map((branch) => {
    const output = (index: number) =>
      new bound.Output({descriptor: expanded, network: net, ...(branch === null ? {} : {change: branch}), ...(ranged ? {index} : {})})
    let fixed: Buffer | undefined
    const scriptAt = (index: number): Buffer => {
      if (!ranged && fixed) return fixed
      try {
        const script = Buffer.from(output(index).getScriptPubKey())
        if (!ranged) fixed = script
        return script
      } catch (err) {
        throw badInput(`descriptor ${quote(descriptor)}: ${oneLine(err)}`)
      }
    }
    // the first script now, so that a descriptor the library refuses is refused before anything is looked up
    scriptAt(0)
    return {descriptor, branch, ranged, scriptAt}
  })
}

function withoutChecksum(text: string, checksum: (body: string) => string): string {
  const at = text.lastIndexOf('#')
  if (at < 0) return text
  const body = text.slice(0, at)
  const given = text.slice(at + 1)
  const want = checksum(body)
  if (given !== want) throw badInput(`descriptor ${quote(body)}: checksum ${JSON.stringify(given)} is wrong (Core's checksum of it is ${want})`)
  return body
}

function expandShorthand(key: string, network: NetworkName): string {
  const kind = SHORTHAND[key.slice(0, 4)]
  let payload: Uint8Array
  try {
    payload = bs58check.decode(key)
  } catch {
    throw badInput(`${quote(key)}: not an extended public key (its base58 checksum is wrong)`)
  }
  if (!kind || payload.length !== 78) throw badInput(`${quote(key)}: not an extended public key`)
  if (kind.main !== (network === 'main')) throw badInput(`${quote(key)}: a ${kind.main ? 'mainnet' : 'test-network'} key, and the index is ${network}'s`)
  // descriptors take only the xpub/tpub prefix: the script type moves from the prefix into the descriptor
  const bytes = Buffer.from(payload)
  bytes.writeUInt32BE(kind.version, 0)
  return kind.wrap(`${bs58check.encode(bytes)}/<0;1>/*`)
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/^Error: /, '').replace(/\s*\n\s*/g, '; ')
}

function quote(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text)
}
