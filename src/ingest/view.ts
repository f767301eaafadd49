/**
 * How follow and the start commands show themselves. Three renderings of the same events:
 * - a terminal: the fw-compatible transcript with the progress line rewritten in place, with a bar;
 * - plain (not a terminal: a log file, CI): the same transcript without control characters, a
 *   progress line at most every 30 s while a status lasts, and always its final line;
 * - JSON (--json): one JSON object per line on stdout, `{"event": ...}`; the command's envelope is
 *   the last line.
 * Diagnostics (retries, unknown statuses) go to stderr in every mode.
 */
import type {ChalkInstance} from 'chalk'

import {redact} from '../output/redact.js'
import type {Writer} from '../output/ui.js'
import {finalReportLines, statusHeader, summaryLines} from './format.js'
import type {FollowView, ProgressUpdate, SaveKind} from './follow.js'
import type {Report, Summary} from './protocol.js'
import type {PreflightResult} from './preflight.js'

export interface IngestView extends FollowView {
  /** `following`: the command goes on to follow, so the hint to follow is not printed. */
  started(url: string, id: string, following?: boolean): void
  preflight(result: PreflightResult): void
  detached(resume: string, why: 'interrupted' | 'review-pending' | 'not-following', review?: {approve: string; reject: string}): void
  /** Where a question is written (stdout for text, stderr under --json). */
  promptWriter: Writer
  /** Finish a line left open by an in-place progress line. */
  close(): void
}

export interface ViewOptions {
  out: Writer
  err: Writer
  color: ChalkInstance
  tty: boolean
  now?: () => number
  /** Plain mode: least time between two progress lines of one status. */
  plainEveryMs?: number
  bin?: string
}

const BAR_WIDTH = 24

function bar(finished: number, total: number): string {
  const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round((finished / total) * BAR_WIDTH)))
  return `[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}]`
}

export function createTextView(o: ViewOptions): IngestView {
  const now = o.now ?? Date.now
  const plainEvery = o.plainEveryMs ?? 30_000
  const write = (text: string) => o.out.write(redact(text))
  const bold = o.tty ? (s: string) => o.color.magenta.bold(s) : (s: string) => s
  let open = false
  let lastPlainAt = 0
  let lastPlainText = ''
  const close = () => {
    if (open) write('\n')
    open = false
  }
  const notice = (text: string) => {
    close()
    o.err.write(redact(text) + '\n')
  }
  return {
    promptWriter: o.out,
    close,
    notice,
    started(url, _id, following) {
      write(`Started ingest ${url}\n`)
      if (!following) write(`Use \`${o.bin ?? 'ingestgate'} ingest follow\` to see progress or \`${o.bin ?? 'ingestgate'} ingest abort\` to abort it\n`)
    },
    preflight(result) {
      for (const line of preflightLines(result)) o.err.write(redact(line) + '\n')
    },
    detached(resume, why, review) {
      close()
      if (why === 'interrupted') write(`\nDetached: the ingest keeps running on the cluster. Resume following with:\n  ${resume}\n`)
      else if (why === 'review-pending') {
        write('The ingest waits for review and no answer could be read (no terminal). Nothing was decided.\n')
        if (review) write(`Answer later with:\n  ${review.approve}\n  ${review.reject}\nor follow it on a terminal and answer there:\n  ${resume}\n`)
        else write(`Answer later with:\n  ${resume}\n`)
      } else write(`Follow it with:\n  ${resume}\n`)
    },
    statusHeader(status, at) {
      close()
      const {name, stamp} = statusHeader(status, at)
      write(`${bold(name)}${stamp}\n`)
      lastPlainAt = now()
      lastPlainText = ''
    },
    progress(u: ProgressUpdate) {
      if (o.tty) {
        if (u.last) {
          write(`\r${u.text}\x1b[K\n`)
          open = false
        } else {
          write(`\r${bar(u.finished, u.total)} ${u.text}\x1b[K`)
          open = true
        }
        return
      }
      if (u.last) {
        write(`${u.text}\n`)
        return
      }
      if (now() - lastPlainAt >= plainEvery && u.text !== lastPlainText) {
        write(`${u.text}\n`)
        lastPlainAt = now()
        lastPlainText = u.text
      }
    },
    blank() {
      close()
      write('\n')
    },
    summary(summary: Summary) {
      close()
      write(summaryLines(summary).map((l) => l + '\n').join(''))
    },
    uploadSummary(lines) {
      write(lines.map((l) => l + '\n').join(''))
    },
    reviewDecision() {},
    finalReport(report: Report, title = 'Final report') {
      close()
      write(`${bold(title)}\n${finalReportLines(report).map((l) => l + '\n').join('')}`)
    },
    saved(kind: SaveKind, path, note) {
      if (note) notice(note)
      write(`Saved ${kind.replace('_', ' ')} to ${path}\n`)
    },
  }
}

export function createJsonView(o: ViewOptions): IngestView {
  const emit = (event: Record<string, unknown>) => o.out.write(redact(JSON.stringify(event)) + '\n')
  const notice = (text: string) => o.err.write(redact(text) + '\n')
  return {
    promptWriter: o.err,
    close() {},
    notice,
    started: (url, id) => emit({event: 'started', url, id}),
    preflight: (result) => emit({event: 'preflight', ...result}),
    detached: (resume, why, review) => emit({event: 'detached', reason: why, resume, ...(review ? {review} : {})}),
    statusHeader: (status, at, index, known) =>
      emit({event: 'status', status, index, timestamp: at, at: new Date(at * 1000).toISOString(), ...(known ? {} : {known: false})}),
    progress(u) {
      if (!u.last && !u.fresh) return
      emit({
        event: 'progress',
        status: u.status,
        text: u.text,
        last: u.last,
        finished: u.finished,
        total: u.total,
        elapsed_seconds: Math.round(u.elapsedSeconds),
        ...(u.etaSeconds === undefined ? {} : {eta_seconds: Math.round(u.etaSeconds)}),
      })
    },
    blank() {},
    summary: (summary) => emit({event: 'summary', summary}),
    uploadSummary: (lines) => (lines.length ? emit({event: 'upload_summary', lines}) : undefined),
    reviewDecision: (decision, how) => emit({event: 'review', decision, how}),
    finalReport: (report) => emit({event: 'report', report}),
    saved(kind, path, note) {
      if (note) notice(note)
      emit({event: 'saved', kind, path})
    },
  }
}

/** Text lines for a preflight result (stderr in text mode). */
export function preflightLines(r: PreflightResult): string[] {
  const lines = ['Preflight:']
  for (const step of r.steps) {
    const mark = step.status === 'pass' ? 'PASS' : step.status === 'fail' ? 'FAIL' : 'SKIP'
    lines.push(`  ${mark}  ${step.name}: ${step.detail}`)
    for (const row of step.rows ?? []) lines.push(`          ${row}`)
  }
  return lines
}
