import fs from 'node:fs'
import path from 'node:path'

/**
 * Replaces `file` with `content` in one step: a reader (node_exporter, the
 * next bix run) sees the old file or the new one, never half of either. The
 * temporary file sits in the same directory, because rename is only atomic
 * within one filesystem, and its name does not end like the target's, so a
 * collector that reads `*.prom` never picks it up.
 */
export function writeFileAtomic(file: string, content: string, mode: number): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    fs.writeFileSync(temporary, content, {mode})
    // writeFileSync's mode only applies to a file it creates, and the umask trims it
    fs.chmodSync(temporary, mode)
    fs.renameSync(temporary, file)
  } catch (err) {
    fs.rmSync(temporary, {force: true})
    throw err
  }
}
