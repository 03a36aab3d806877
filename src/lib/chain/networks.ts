/**
 * The five chains Bitcoin Core knows, with what bix needs of each: where the
 * node keeps its files, which port it listens on for RPC, the magic that starts
 * every blk*.dat record, the genesis hash that marks a database as belonging to
 * it, and the address prefixes.
 */
export const NETWORK_NAMES = ['main', 'test', 'testnet4', 'signet', 'regtest'] as const
export type NetworkName = (typeof NETWORK_NAMES)[number]

export interface AddressPrefixes {
  /** bech32/bech32m human-readable part */
  bech32: string
  pubKeyHash: number
  scriptHash: number
}

export interface NetworkParams {
  name: NetworkName
  /** sub-directory of the datadir ('' for main) */
  dataSubdir: string
  rpcPort: number
  /** network magic, as it appears on disk */
  magic: Buffer
  /** genesis block hash in display (RPC) order */
  genesisHash: string
  address: AddressPrefixes
}

const testAddresses: AddressPrefixes = {bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4}

export const NETWORKS: Record<NetworkName, NetworkParams> = {
  main: {
    name: 'main',
    dataSubdir: '',
    rpcPort: 8332,
    magic: Buffer.from('f9beb4d9', 'hex'),
    genesisHash: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
    address: {bech32: 'bc', pubKeyHash: 0x00, scriptHash: 0x05},
  },
  test: {
    name: 'test',
    dataSubdir: 'testnet3',
    rpcPort: 18332,
    magic: Buffer.from('0b110907', 'hex'),
    genesisHash: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
    address: testAddresses,
  },
  testnet4: {
    name: 'testnet4',
    dataSubdir: 'testnet4',
    rpcPort: 48332,
    magic: Buffer.from('1c163f28', 'hex'),
    genesisHash: '00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043',
    address: testAddresses,
  },
  signet: {
    name: 'signet',
    dataSubdir: 'signet',
    rpcPort: 38332,
    magic: Buffer.from('0a03cf40', 'hex'),
    genesisHash: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
    address: testAddresses,
  },
  regtest: {
    name: 'regtest',
    dataSubdir: 'regtest',
    rpcPort: 18443,
    magic: Buffer.from('fabfb5da', 'hex'),
    genesisHash: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
    address: {bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4},
  },
}

export const isNetworkName = (value: string): value is NetworkName =>
  (NETWORK_NAMES as readonly string[]).includes(value)

/**
 * getblockchaininfo's `chain` field uses the same names as -chain=, except
 * that old nodes say "test" for testnet3 (as does -chain=test).
 */
export function networkFromChainName(chain: string): NetworkName | undefined {
  return isNetworkName(chain) ? chain : undefined
}
