import {readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'

/**
 * The functions a `node --cpu-prof` profile spent most time in (self time),
 * summed over every profile in a directory (one per thread), so a missed
 * target comes with the reason next to it. Open the .cpuprofile files in
 * Chrome DevTools for the call tree.
 */

interface CpuProfile {
  nodes: Array<{id: number; callFrame: {functionName: string; url: string; lineNumber: number}}>
  samples: number[]
  timeDeltas: number[]
}

export interface HotFunction {
  name: string
  ms: number
  share: number
}

export function hotFunctions(dir: string, top = 15): HotFunction[] {
  const self = new Map<string, number>()
  let total = 0
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile
    const byId = new Map(profile.nodes.map((n) => [n.id, n]))
    profile.samples.forEach((id, i) => {
      const frame = byId.get(id)!.callFrame
      if (frame.functionName === '(idle)') return
      const where = frame.url ? ` ${path.basename(frame.url)}:${frame.lineNumber + 1}` : ''
      const name = `${frame.functionName || '(anonymous)'}${where}`
      const us = profile.timeDeltas[i] ?? 0
      self.set(name, (self.get(name) ?? 0) + us)
      total += us
    })
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({name, ms: us / 1000, share: total > 0 ? us / total : 0}))
}
