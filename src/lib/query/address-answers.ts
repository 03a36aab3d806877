import type {NetworkName} from '../chain/networks.js'
import type {StoredTip} from '../store/index-store.js'
import {openStore, readStore} from '../store/open-store.js'
import {type AddressReport, type ReportOptions, addressReport} from './address-report.js'
import {errorAtLine, readTargetLines} from './target-lines.js'
import {type QueryTarget, targetOfLine} from './targets.js'

/**
 * `bix query address` as a library call: the index opened for reading, and
 * every target answered in one read snapshot, so that all the answers
 * reflect one tip while `bix index` commits. Targets come from the command
 * line and, with `file`, one a line from a file (- for stdin). With `each`,
 * answers are handed over as they are ready (memory stays flat whatever the
 * count); without, they are returned together.
 */

export interface AddressAnswersOptions {
  /** the index: a file or a PostgreSQL URL */
  db: string
  /** the network the index must hold; undefined: the index says */
  network?: NetworkName
  /** the targets given on the command line, for the index's network */
  targets: (network: NetworkName) => QueryTarget[]
  /** also the targets in this file, one a line (a bad line stops the run, named by its number) */
  file?: string
  report: Omit<ReportOptions, 'reader'>
  /** each answer as it is ready; the caller may wait (stdout draining) */
  each?: (report: AddressReport, network: NetworkName) => Promise<void>
  signal: AbortSignal
}

export interface AddressAnswers {
  /** the answers, when no `each` took them */
  reports: AddressReport[]
  /** the tip every answer reflects */
  tip: StoredTip | undefined
  network: NetworkName
}

export async function addressAnswers(o: AddressAnswersOptions): Promise<AddressAnswers> {
  if (!o.each && o.file === undefined) {
    // all at once, in one read transaction
    return readStore(o.db, {network: o.network}, (db) => {
      const options = {...o.report, reader: db.addressReader()}
      return {reports: o.targets(db.network).map((target) => addressReport(db, target, options)), tip: db.tip(), network: db.network}
    })
  }
  const db = openStore(o.db, {mode: 'read', network: o.network})
  try {
    const options = {...o.report, reader: db.addressReader()}
    const reports: AddressReport[] = []
    const answer = async (target: QueryTarget) => {
      if (o.signal.aborted) throw o.signal.reason
      const report = addressReport(db, target, options)
      if (o.each) await o.each(report, db.network)
      else reports.push(report)
    }
    // one read snapshot for the whole run, across the awaits
    const tip = await db.readSnapshot(async () => {
      const tip = db.tip()
      for (const target of o.targets(db.network)) await answer(target)
      if (o.file !== undefined) {
        for await (const line of readTargetLines(o.file)) {
          let target: QueryTarget
          try {
            target = targetOfLine(line.text, db.network)
          } catch (err) {
            throw errorAtLine(o.file, line, err)
          }
          await answer(target)
        }
      }
      return tip
    })
    return {reports, tip, network: db.network}
  } finally {
    db.close()
  }
}
