/**
 * The fw-compatible follow texts, as pure functions. These strings are the contract with users who
 * know the vendor CLI's `fw ingest follow` (status headers, progress lines, the review summary, the
 * final report), so every one of them is tested as an exact string.
 */
import {alignColumns} from '../output/table.js'
import type {ErrorSummary, IngestStatus, Progress, Report, Summary} from './protocol.js'

/** Status names are padded to the longest status name (`detecting_duplicates`). */
export const STATUS_NAME_WIDTH = 20

/** Python's `str.capitalize()`: first character upper-cased, the rest lower-cased. */
export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1).toLowerCase()
}

function pad2(n: number): string {
  return String(n).padStart(2, '0')
}

/** `YYYY-mm-dd HH:MM:SS` in local time (TZ is honoured), like the vendor's strftime. */
export function formatTimestamp(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000)
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
}

/** `Detecting duplicates[2024-05-01 10:00:00]`: the header printed for each new history entry. */
export function statusHeader(status: string, epochSeconds: number): {name: string; stamp: string} {
  return {name: capitalize(status.replaceAll('_', ' ')).padEnd(STATUS_NAME_WIDTH), stamp: `[${formatTimestamp(epochSeconds)}]`}
}

/** The vendor's `hrtime`: at most two units out of w/d/h/m/s, e.g. `1h 5m`, `42s`, `0s`. */
export function hrtime(seconds: number): string {
  let remainder = Math.max(0, seconds)
  const parts: string[] = []
  const units: Array<[string, number]> = [
    ['w', 604800],
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ]
  for (const [unit, size] of units) {
    const quotient = Math.floor(remainder / size)
    remainder -= quotient * size
    if ((parts.length > 0 && !quotient) || parts.length === 2) break
    if (quotient || (parts.length === 0 && unit === 's')) parts.push(`${quotient}${unit}`)
  }
  return parts.join(' ')
}

/** printf-style fixed-point with Python's round-half-even on exact ties (`'%.0f' % 2.5 == '2'`). */
function pyFixed(value: number, digits: number): string {
  const scale = 10 ** digits
  const scaled = value * scale
  const floor = Math.floor(scaled)
  if (scaled - floor === 0.5) return ((floor % 2 === 0 ? floor : floor + 1) / scale).toFixed(digits)
  return value.toFixed(digits)
}

/** The vendor's `hrsize`: `999B`, `1.5KB`, `12MB` (powers of 1024, B under 1000). */
export function hrsize(size: number): string {
  if (size < 1000) return `${Math.trunc(size)}B`
  let value = size
  for (const suffix of 'KMGTPEZY') {
    value /= 1024
    if (value < 10) return `${pyFixed(value, 1)}${suffix}B`
    if (value < 1000) return `${pyFixed(value, 0)}${suffix}B`
  }
  return `${pyFixed(value, 0)}YB`
}

/** Python's `str(round(x, 2))`: `50.0`, `33.33`, `100.0`. */
export function percentText(finished: number, total: number): string {
  const scaled = (finished / total) * 100 * 100
  const floor = Math.floor(scaled)
  const rounded = (scaled - floor === 0.5 ? (floor % 2 === 0 ? floor : floor + 1) : Math.round(scaled)) / 100
  return `${Number.isInteger(rounded) ? rounded.toFixed(1) : String(rounded)}%`
}

/** The (finished, total) pair a status's progress line is computed from; total 0 means no line. */
export function progressCounts(status: string, progress: Progress | undefined): {finished: number; total: number} {
  if (!progress) return {finished: 0, total: 0}
  if (status === 'scanning') {
    return {
      finished: (progress.scans?.finished ?? 0) + (progress.stages?.scanning?.completed ?? 0),
      total: (progress.scans?.total ?? 0) + (progress.stages?.scanning?.total ?? 0),
    }
  }
  if (status === 'uploading') {
    return {finished: (progress.items?.finished ?? 0) + (progress.items?.skipped ?? 0), total: progress.items?.total ?? 0}
  }
  const stage = (progress.stages as Record<string, {completed: number; total: number}> | undefined)?.[status]
  if (!stage || !stage.total) return {finished: 0, total: 0}
  return {finished: stage.completed, total: stage.total}
}

/**
 * The body of a progress line before its timing part: `50.0%`, while scanning
 * `12/40 files, 3.1MB`, while uploading `50.0% - (2 failed)`.
 */
export function progressBody(status: string, progress: Progress, finished: number, total: number): string {
  if (status === 'scanning') {
    const bytes = progress.bytes?.total ?? 0
    return `${finished}/${total} files${bytes > 0 ? `, ${hrsize(bytes)}` : ''}`
  }
  const pct = percentText(finished, total)
  if (status === 'uploading') return `${pct} - (${progress.items?.failed ?? 0} failed)`
  return pct
}

/** `<body> (elapsed: <t>|ETA: <t>)` while the status lasts; `<body> (<t>)` once it is over. */
export function progressLine(body: string, elapsedSeconds: number, etaSeconds: number | undefined, last: boolean): string {
  if (last) return `${body} (${hrtime(elapsedSeconds)})`
  return `${body} (elapsed: ${hrtime(elapsedSeconds)}|ETA: ${etaSeconds === undefined ? '~' : hrtime(etaSeconds)})`
}

const SUMMARY_KEYS = ['groups', 'projects', 'subjects', 'sessions', 'acquisitions', 'files', 'packfiles'] as const

function errorSummaryLines(title: string, items: ErrorSummary[] | undefined): string[] {
  if (!items?.length) return []
  return [title, ...items.map((e) => `  ${e.message} (${e.code}): ${e.count}`), '']
}

/** The review summary printed at `in_review` (before the prompt). */
export function summaryLines(summary: Summary): string[] {
  return [
    'Hierarchy:',
    ...SUMMARY_KEYS.map((k) => `  ${capitalize(k)}: ${summary[k] ?? 0}`),
    '',
    ...errorSummaryLines('Warnings summary:', summary.warnings),
    ...errorSummaryLines('Errors summary:', summary.errors),
  ]
}

const ITEM_COUNT_KEYS = ['scanned', 'pending', 'running', 'failed', 'canceled', 'completed', 'skipped', 'finished', 'total'] as const

/** After uploading: every non-zero item count except `finished`, e.g. `Skipped: 2`, `Total: 10`. */
export function uploadSummaryLines(progress: Progress | undefined): string[] {
  if (!progress?.items) return []
  return ITEM_COUNT_KEYS.filter((k) => k !== 'finished' && (progress.items[k] ?? 0) > 0).map((k) => `${capitalize(k)}: ${progress.items[k]}`)
}

/** The final report body (after the `Final report` title). */
export function finalReportLines(report: Report): string[] {
  const lines: string[] = []
  const errors = report.errors ?? []
  const warnings = report.warnings ?? []
  if (errors.length || warnings.length) lines.push('')
  if (errors.length) lines.push('The following errors happened:', ...errors.map((e) => `${e.type}: ${e.message} (${e.code})`), '')
  if (warnings.length) lines.push('The following warnings happened:', ...warnings.map((e) => `${e.type}: ${e.message} (${e.code})`), '')
  const total = Object.values(report.elapsed ?? {}).reduce<number>((sum, v) => sum + (typeof v === 'number' ? v : 0), 0)
  lines.push(`Total elapsed time: ${hrtime(total)}`)
  return lines
}

/**
 * The title over a report: the vendor's `Final report` once the ingest has finished or failed; an
 * aborted one says so; one that is still running is not called final.
 */
export function reportTitle(status: string): string {
  if (status === 'aborted') return 'Final report (the ingest was aborted)'
  if (status === 'finished' || status === 'failed') return 'Final report'
  return `Report so far (the ingest is not finished: it is ${status})`
}

/** The `ingest list` table: a header, then one aligned row per ingest (the URL last: it is the longest). */
export function ingestListLines(ingests: Array<{id: string; status: IngestStatus | string; label?: string; created?: string; url: string}>): string[] {
  return alignColumns([['STATUS', 'CREATED', 'LABEL', 'URL'], ...ingests.map((i) => [i.status, i.created ?? '-', i.label || '-', i.url])])
}
