/**
 * How both backends number what they store. Output ids pack a transaction
 * and a position: id = tx_num · 2^20 + vout (a block of 4 MWU holds fewer
 * than 2^17 outputs, and tx_num · 2^20 stays below 2^53 up to 8.5 billion
 * transactions, so the ids are exact JS numbers). Always combine and split
 * them with multiplication and division: bit shifts in JS are 32-bit.
 *
 * Only the store's own code sees ids: everything outside it names an output
 * by (tx_num, vout).
 */
export const TX_SHIFT = 2 ** 20

export const outputId = (txNum: number, vout: number) => txNum * TX_SHIFT + vout
export const txNumOfId = (id: number) => Math.floor(id / TX_SHIFT)
export const voutOfId = (id: number) => id % TX_SHIFT

/**
 * The key a transaction is found by: the txid's (at `at`) first 6 bytes
 * (internal order) as an integer. A 6-byte integer is smaller than an
 * 8-byte blob in every entry, and a batch's keys, sorted, are inserted in
 * one ordered pass instead of at random places of an index. Keys shared by
 * two transactions only cost a look at the second's txid.
 */
export function txidKey(txid: Uint8Array, at = 0): number {
  return txid[at] + txid[at + 1] * 2 ** 8 + txid[at + 2] * 2 ** 16 + txid[at + 3] * 2 ** 24 + txid[at + 4] * 2 ** 32 + txid[at + 5] * 2 ** 40
}
