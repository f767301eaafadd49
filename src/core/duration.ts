/**
 * Durations as people type them on a command line (`30s`, `5m`, `1h30m`, `90` = seconds), and the
 * exponential backoff schedule for retries. Pure.
 */
import {UsageError} from '../errors.js'

const UNIT_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}

/**
 * Parse a duration into milliseconds.
 * @throws UsageError BAD_DURATION (exit 2) for anything else, saying the accepted forms.
 */
export function parseDuration(text: string, flag = '--wait'): number {
  const value = text.trim().toLowerCase()
  const bad = (): never => {
    throw new UsageError('BAD_DURATION', `${flag} "${text}" is not a duration.`, {
      suggestions: [`Give a duration such as 30s, 5m, 1h or 1m30s (a bare number is seconds).`],
    })
  }
  if (value === '') bad()
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000)
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
  let total = 0
  let consumed = 0
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * UNIT_MS[m[2]]
    consumed = re.lastIndex
  }
  if (consumed !== value.length) bad()
  return Math.round(total)
}

/** `1m 30s`, `45s`, `250ms`: for progress lines. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  const rest = s % 60
  if (m < 60) return rest ? `${m}m ${rest}s` : `${m}m`
  const h = Math.floor(m / 60)
  return `${h}h ${m % 60}m`
}

export interface BackoffOptions {
  /** First delay (default 1 s). */
  initialMs?: number
  /** Growth per attempt (default 2). */
  factor?: number
  /** Longest single delay (default 30 s). */
  maxMs?: number
}

/** The delay before retry number `attempt` (1-based): initial * factor^(attempt-1), capped. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initial = opts.initialMs ?? 1000
  const factor = opts.factor ?? 2
  const max = opts.maxMs ?? 30_000
  return Math.min(max, initial * factor ** Math.max(0, attempt - 1))
}

/**
 * --wait: re-run what still fails, with backoff, until nothing does or `waitMs` is up, saying each
 * round and the outcome on `info`. `round` re-runs the pending calls (and may add more, e.g. the
 * object reads a listing that now passes makes possible). Nothing happens when `waitMs` is 0.
 */
export async function retryFailing<T>(
  opts: {waitMs: number; backoff?: BackoffOptions; waitingFor: string},
  info: (line: string) => void,
  failing: () => T[],
  describe: (pending: T[]) => string,
  round: (pending: T[]) => Promise<void>,
): Promise<void> {
  if (opts.waitMs <= 0) return
  const started = Date.now()
  for (let n = 1; ; n++) {
    const pending = failing()
    const elapsed = Date.now() - started
    if (pending.length === 0 || elapsed >= opts.waitMs) break
    const delay = Math.min(backoffDelay(n, opts.backoff), opts.waitMs - elapsed)
    info(`Waiting for ${opts.waitingFor}: ${pending.length} call(s) still failing after ${formatDuration(elapsed)}: ${describe(pending)}; next try in ${formatDuration(delay)} (gives up after ${formatDuration(opts.waitMs)}).`)
    await new Promise((resolve) => setTimeout(resolve, delay))
    await round(pending)
  }
  const still = failing().length
  info(still === 0 ? `All live calls pass after ${formatDuration(Date.now() - started)}.` : `Gave up waiting after ${formatDuration(Date.now() - started)}: ${still} call(s) still failing.`)
}
