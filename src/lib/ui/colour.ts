import {Chalk, type ChalkInstance} from 'chalk'

/**
 * Colours for stderr and stdout. chalk 5 ignores NO_COLOR, so it is honoured
 * here: any value of NO_COLOR (even empty, as no-color.org says) turns colour off.
 */
export function colourFor(stream: NodeJS.WriteStream): ChalkInstance {
  const enabled = !('NO_COLOR' in process.env) && stream.isTTY === true && process.env.TERM !== 'dumb'
  return new Chalk({level: enabled ? 1 : 0})
}

/**
 * Whether to draw bars and spinners: a terminal that is not dumb, reports its
 * width (one that reports none, as `script` or `docker run -t` may, would get
 * cleared lines for ever), and no NO_COLOR (README: no colours or bars).
 */
export function isInteractive(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && process.env.TERM !== 'dumb' && !('NO_COLOR' in process.env) && (stream.columns ?? 0) > 0
}
