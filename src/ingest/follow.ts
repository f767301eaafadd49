/**
 * Follow an ingest as the vendor CLI's reporter does: poll `GET /ingests/{id}` about once a second,
 * fetch `/progress` every 10 s or when the status changes, print each new history entry with its
 * progress line, stop at `in_review` for the review, and at a terminal status print the final report
 * and save the requested logs. What it prints goes through a FollowView (text on a terminal, plain
 * text, or JSON events); the decisions (what to print when, the exit code) are made here.
 */
import type {Progress, Report, Summary} from './protocol.js'
import {TERMINAL_STATUSES, INGEST_STATUSES} from './protocol.js'
import {abortableSleep, ClusterHttpError, RequestAborted, type ClusterClient, type StreamKind} from './http.js'
import {progressBody, progressCounts, progressLine, uploadSummaryLines} from './format.js'
import type {Ingest} from './protocol.js'

export type SaveKind = 'audit_logs' | 'deid_logs' | 'subjects'

export interface ProgressUpdate {
  status: string
  /** The exact text of the progress line (`50.0% (elapsed: 3s|ETA: 3s)` / `50.0% (5s)`). */
  text: string
  last: boolean
  finished: number
  total: number
  elapsedSeconds: number
  etaSeconds?: number
  /** The progress data was fetched from the cluster since the previous line. */
  fresh: boolean
}

/** Where follow's output goes; implementations in view.ts. */
export interface FollowView {
  statusHeader(status: string, at: number, index: number, known: boolean): void
  progress(update: ProgressUpdate): void
  /** End of one status block (the vendor prints an empty line). */
  blank(): void
  summary(summary: Summary): void
  uploadSummary(lines: string[]): void
  reviewDecision(decision: 'approve' | 'abort', how: 'assume-yes' | 'answer'): void
  /** The report; `title` replaces `Final report` (ingest report of an unfinished or aborted ingest). */
  finalReport(report: Report, title?: string): void
  saved(kind: SaveKind, path: string, note?: string): void
  /** Diagnostics (retries, unknown statuses): never part of the fw-compatible transcript. */
  notice(text: string): void
}

/** Ask a yes/no question; `undefined` when no answer can be had (stdin closed). */
export type Ask = (question: string) => Promise<boolean | undefined>

export interface FollowOptions {
  client: ClusterClient
  id: string
  view: FollowView
  ask: Ask
  /** -y: approve the review without asking. */
  assumeYes: boolean
  save?: Partial<Record<SaveKind, string>>
  /** Writes one stream to a file and returns the path it used (see save.ts). */
  saveStream?: (kind: SaveKind, lines: string[], path: string) => Promise<{path: string; note?: string}>
  /** Ctrl-C: stop following (the ingest keeps running). */
  signal?: AbortSignal
  now?: () => number
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  pollIntervalMs?: number
  progressIntervalMs?: number
}

export type FollowOutcome = 'finished' | 'finished-badly' | 'detached' | 'review-pending'

export interface FollowResult {
  id: string
  status: string
  outcome: FollowOutcome
  report?: Report
  saved: Partial<Record<SaveKind, string>>
}

/** The cluster stream each --save-* flag saves. */
export const STREAM_OF: Record<SaveKind, StreamKind> = {audit_logs: 'audit', deid_logs: 'deid', subjects: 'subjects'}

/**
 * Fetch and save each stream a --save-* flag asked for (audit log, de-identification log,
 * subjects), in that order; `onSaved` shows where each went. Returns the paths written.
 */
export async function saveRequestedStreams(
  client: Pick<ClusterClient, 'streamLines'>,
  id: string,
  paths: Partial<Record<SaveKind, string | undefined>>,
  save: (kind: SaveKind, lines: string[], path: string) => Promise<{path: string; note?: string}>,
  onSaved: (kind: SaveKind, written: {path: string; note?: string}) => void,
): Promise<Partial<Record<SaveKind, string>>> {
  const saved: Partial<Record<SaveKind, string>> = {}
  for (const kind of ['audit_logs', 'deid_logs', 'subjects'] as const) {
    const path = paths[kind]
    if (!path) continue
    const written = await save(kind, await client.streamLines(id, STREAM_OF[kind]), path)
    saved[kind] = written.path
    onSaved(kind, written)
  }
  return saved
}

export function isTerminal(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status)
}

/** The exit rule of the vendor CLI: only `finished` with no errors in the report is a success. */
export function finishedCleanly(status: string, report: Report | undefined): boolean {
  return status === 'finished' && (report?.errors?.length ?? 0) === 0
}

class ReviewPending extends Error {}

/** Follow one ingest to its end (or until detached). */
export async function followIngest(opts: FollowOptions): Promise<FollowResult> {
  const f = new Follower(opts)
  try {
    return await f.run()
  } catch (error) {
    if (error instanceof RequestAborted) return {id: opts.id, status: f.currentStatus, outcome: 'detached', saved: {}}
    if (error instanceof ReviewPending) return {id: opts.id, status: 'in_review', outcome: 'review-pending', saved: {}}
    throw error
  }
}

class Follower {
  private ingest!: Ingest
  private progress?: Progress
  private lastIdx = -1
  private lastStatusName?: string
  private lastProgressAt = 0
  private progressFresh = false
  private eta?: {eta: number; at: number; finished: number; total: number}
  private readonly warnedUnknown = new Set<string>()
  private readonly now: () => number
  private readonly sleepFn: (ms: number, signal?: AbortSignal) => Promise<void>
  private readonly poll: number
  private readonly refresh: number

  constructor(private readonly o: FollowOptions) {
    this.now = o.now ?? Date.now
    this.sleepFn = o.sleep ?? abortableSleep
    this.poll = o.pollIntervalMs ?? 1000
    this.refresh = o.progressIntervalMs ?? 10_000
  }

  get currentStatus(): string {
    return this.ingest?.status ?? 'unknown'
  }

  async run(): Promise<FollowResult> {
    await this.update()
    while (!isTerminal(this.ingest.status)) {
      await this.update()
      await this.printHistory(true)
      await this.sleep()
    }
    return this.finalReport()
  }

  private sleep(): Promise<void> {
    return this.sleepFn(this.poll, this.o.signal)
  }

  private async update(): Promise<void> {
    this.ingest = await this.o.client.getIngest(this.o.id)
    if (this.now() - this.lastProgressAt > this.refresh || this.lastStatusName !== this.ingest.status) {
      this.progress = await this.o.client.progress(this.o.id)
      this.lastProgressAt = this.now()
      this.progressFresh = true
    }
  }

  private async printHistory(follow: boolean): Promise<void> {
    const history = this.ingest.history ?? []
    for (let idx = 0; idx < history.length; idx++) {
      this.eta = undefined
      if (this.lastIdx >= idx) continue
      const [status, at] = history[idx]
      this.lastIdx = idx
      this.lastStatusName = status
      const known = (INGEST_STATUSES as readonly string[]).includes(status)
      this.o.view.statusHeader(status, at, idx, known)
      if (!known && !this.warnedUnknown.has(status)) {
        this.warnedUnknown.add(status)
        this.o.view.notice(`The cluster reports a status this client does not know ("${status}"); following it anyway.`)
      }
      if (status === 'in_review') await this.reviewBlock(follow)
      else if (!isTerminal(status)) await this.statusBlock(status, follow)
      this.o.view.blank()
    }
  }

  private async reviewBlock(follow: boolean): Promise<void> {
    const summary = await this.o.client.summary(this.o.id)
    this.o.view.summary(summary)
    if (!follow || this.ingest.status !== 'in_review') return
    let approve: boolean
    if (this.o.assumeYes) {
      approve = true
      this.o.view.reviewDecision('approve', 'assume-yes')
    } else {
      const answer = await this.o.ask('Confirm upload?')
      if (answer === undefined) {
        if (this.o.signal?.aborted) throw new RequestAborted()
        throw new ReviewPending()
      }
      approve = answer
      this.o.view.reviewDecision(approve ? 'approve' : 'abort', 'answer')
    }
    try {
      if (approve) await this.o.client.review(this.o.id)
      else await this.o.client.abort(this.o.id)
    } catch (error) {
      // With assume_yes the cluster approves the review itself; a late /review then meets a 409.
      if (!(error instanceof ClusterHttpError && error.httpStatus === 409)) throw error
    }
  }

  private async statusBlock(status: string, follow: boolean): Promise<void> {
    while (follow && this.ingest.status === status) {
      this.printProgress(status, false)
      await this.update()
      await this.sleep()
    }
    this.printProgress(status, true)
    if (status === 'uploading') {
      this.o.view.uploadSummary(uploadSummaryLines(this.progress))
    }
  }

  private printProgress(status: string, last: boolean): void {
    const {finished, total} = progressCounts(status, this.progress)
    if (!total || !this.progress) return
    const body = progressBody(status, this.progress, finished, total)
    const elapsed = this.statusElapsed(status)
    const eta = last ? undefined : this.computeEta(finished, total, status)
    const fresh = this.progressFresh
    this.progressFresh = false
    this.o.view.progress({status, text: progressLine(body, elapsed, eta, last), last, finished, total, elapsedSeconds: elapsed, etaSeconds: eta, fresh})
  }

  /** Seconds spent in `status`: from history when it is over, else up to now (the vendor's rule). */
  private statusElapsed(status: string): number {
    const h = this.ingest.history ?? []
    for (let i = h.length - 2; i >= 0; i--) {
      if (h[i][0] === status) return h[i + 1][1] - h[i][1]
    }
    const lastEntry = h.at(-1)
    if (lastEntry && lastEntry[0] === status) return this.now() / 1000 - lastEntry[1]
    return 0
  }

  /** Linear ETA from the rate so far; counted down while the counts do not move. */
  private computeEta(finished: number, total: number, status: string): number | undefined {
    const prev = this.eta
    const nowS = this.now() / 1000
    if (prev && prev.finished === finished && prev.total === total) {
      this.eta = {eta: Math.max(prev.eta - (nowS - prev.at), 0), at: nowS, finished, total}
      return this.eta.eta
    }
    const elapsed = this.statusElapsed(status)
    if (!elapsed || !finished) return undefined
    this.eta = {eta: (elapsed / finished) * (total - finished), at: nowS, finished, total}
    return this.eta.eta
  }

  private async finalReport(): Promise<FollowResult> {
    await this.update()
    await this.printHistory(false)
    const report = await this.o.client.report(this.o.id)
    this.o.view.finalReport(report)
    const saved = this.o.saveStream
      ? await saveRequestedStreams(this.o.client, this.o.id, this.o.save ?? {}, this.o.saveStream, (kind, w) => this.o.view.saved(kind, w.path, w.note))
      : {}
    const status = this.ingest.status
    return {id: this.o.id, status, outcome: finishedCleanly(status, report) ? 'finished' : 'finished-badly', report, saved}
  }
}
