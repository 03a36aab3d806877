/**
 * Transactions given in one call may spend each other's outputs (a parent and
 * its child, a CPFP bump). The node must see a parent before its child, and
 * related transactions are best submitted together as a package.
 */

export interface LinkedTx {
  txid: string
  inputs: ReadonlyArray<{txid: string}>
}

/**
 * The transactions grouped into packages: each group holds transactions linked
 * by spending one another (directly or through others in the group), parents
 * before children, groups and their members otherwise in the order given.
 * A transaction related to no other is a group of one. Txids must be unique.
 */
export function groupPackages(txs: readonly LinkedTx[]): number[][] {
  const position = new Map(txs.map((tx, i) => [tx.txid, i]))
  const parentsOf = txs.map((tx) => unique(tx.inputs.map((input) => position.get(input.txid)).filter((p): p is number => p !== undefined)))

  // union-find over "spends an output of"
  const root = txs.map((_, i) => i)
  const find = (i: number): number => {
    while (root[i] !== i) {
      root[i] = root[root[i]]
      i = root[i]
    }
    return i
  }
  parentsOf.forEach((parents, child) => {
    for (const parent of parents) {
      const a = find(parent)
      const b = find(child)
      if (a !== b) root[Math.max(a, b)] = Math.min(a, b)
    }
  })

  const groups = new Map<number, number[]>()
  txs.forEach((_, i) => {
    const r = find(i)
    const group = groups.get(r)
    if (group) group.push(i)
    else groups.set(r, [i])
  })
  return [...groups.values()].map((members) => parentsFirst(members, parentsOf))
}

/** Kahn's algorithm, taking the earliest given transaction whenever several are ready, so the user's order survives where it can. */
function parentsFirst(members: number[], parentsOf: number[][]): number[] {
  const waitingOn = new Map(members.map((i) => [i, parentsOf[i].length]))
  const childrenOf = new Map<number, number[]>(members.map((i) => [i, []]))
  for (const child of members) for (const parent of parentsOf[child]) childrenOf.get(parent)!.push(child)
  const ready = members.filter((i) => waitingOn.get(i) === 0)
  const order: number[] = []
  while (ready.length > 0) {
    ready.sort((a, b) => a - b)
    const next = ready.shift()!
    order.push(next)
    for (const child of childrenOf.get(next)!) {
      const left = waitingOn.get(child)! - 1
      waitingOn.set(child, left)
      if (left === 0) ready.push(child)
    }
  }
  // A cycle would need a txid to commit to itself through another hash: impossible for real transactions.
  if (order.length !== members.length) throw new Error('transactions spend each other in a cycle')
  return order
}

function unique(values: number[]): number[] {
  return [...new Set(values)]
}
