/**
 * Waiting that Ctrl-C can end. Every wait in the node core goes through here so
 * that an aborted signal rejects at once with the signal's reason (the
 * Interrupted BixError the base command puts there).
 */

type MaybeSignal = AbortSignal | undefined

/** A signal that aborts when any of the given ones does; call dispose() when done so no listener lingers. */
export function linkSignals(signals: readonly MaybeSignal[]): {signal: AbortSignal; dispose: () => void} {
  const controller = new AbortController()
  const live = signals.filter((s): s is AbortSignal => s !== undefined)
  const already = live.find((s) => s.aborted)
  if (already) {
    controller.abort(already.reason)
    return {signal: controller.signal, dispose: () => {}}
  }
  // Not AbortSignal.any(): on Node 20 it keeps every derived signal alive on a
  // long-lived parent, and `bix index` makes hundreds of thousands of calls.
  const listeners = live.map((source) => {
    const listener = () => controller.abort(source.reason)
    source.addEventListener('abort', listener, {once: true})
    return () => source.removeEventListener('abort', listener)
  })
  return {signal: controller.signal, dispose: () => listeners.forEach((remove) => remove())}
}

/** setTimeout as a promise that rejects with the signal's reason when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}
