/**
 * What the ingest commands do, one function per command, so the commands stay thin: resolve the
 * cluster and key, talk to the cluster through the one client, follow, and return the data that is
 * the command's --json result. The exit code each outcome means is decided here too.
 */
import type {AppContext} from '../context.js'
import {shellWord} from '../core/shell.js'
import {ConfigError, ExitCode, type ExitCodeValue} from '../errors.js'
import {registerSecret} from '../output/redact.js'
import type {CreateBody} from './body.js'
import {rememberIngest, resolveApiKey, resolveIngestRef, type IngestRef} from './config.js'
import {finishedCleanly, followIngest, isTerminal, saveRequestedStreams, type FollowResult, type SaveKind} from './follow.js'
import {reportTitle} from './format.js'
import {ClusterClient, RequestAborted, type RetryInfo} from './http.js'
import {preflight, type PreflightLimits, type PreflightResult, type SourceAccessInput, type SourceCheck, type SourceLister, type SourceLocator} from './preflight.js'
import {createStdinPrompter, type StdinPrompter} from './prompt.js'
import type {Ingest, Report} from './protocol.js'
import {checkSavePaths, saveStreamToFile} from './save.js'
import {createJsonView, createTextView, type IngestView} from './view.js'

/**
 * Tuning knobs (also how the tests run follow fast): milliseconds, from the environment. A one-shot
 * call retries an unavailable cluster for 1 s at most (a refused connection there is a wrong URL or
 * a stopped cluster, and the user is waiting); a follower, for which a restart is plausible, rides
 * it out for up to 10 minutes (`ingest follow --retry-for`).
 */
export function followTimings(env: NodeJS.ProcessEnv): {pollIntervalMs: number; progressIntervalMs: number; retryBudgetMs: number; oneShotRetryBudgetMs: number} {
  const ms = (name: string, fallback: number) => {
    const v = Number(env[name])
    return Number.isFinite(v) && v >= 0 && env[name] !== '' && env[name] !== undefined ? v : fallback
  }
  return {
    pollIntervalMs: ms('INGESTGATE_POLL_INTERVAL_MS', 1000),
    progressIntervalMs: ms('INGESTGATE_PROGRESS_INTERVAL_MS', 10_000),
    retryBudgetMs: ms('INGESTGATE_RETRY_BUDGET_MS', 10 * 60_000),
    oneShotRetryBudgetMs: Math.min(1000, ms('INGESTGATE_RETRY_BUDGET_MS', 1000)),
  }
}

/** Everything one command run needs around the client: the view, Ctrl-C, the prompt. */
export class IngestSession {
  readonly view: IngestView
  readonly controller = new AbortController()
  private prompter?: StdinPrompter
  private sigintInstalled = false
  private readonly onSigint = () => this.controller.abort()

  constructor(
    readonly ctx: AppContext,
    readonly json: boolean,
    readonly bin: string,
    readonly version: string,
  ) {
    const viewOpts = {out: process.stdout, err: process.stderr, color: ctx.ui.color, tty: Boolean(process.stdout.isTTY), now: () => ctx.now().getTime(), bin}
    this.view = json ? createJsonView(viewOpts) : createTextView(viewOpts)
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Ctrl-C detaches instead of killing the process (only while following). */
  catchSigint(): void {
    if (this.sigintInstalled) return
    // once: a second Ctrl-C gets the default behaviour (the process ends) should detaching hang
    process.once('SIGINT', this.onSigint)
    this.sigintInstalled = true
  }

  ask(question: string): Promise<boolean | undefined> {
    this.prompter ??= createStdinPrompter(this.view.promptWriter, process.stdin, this.signal)
    return this.prompter.ask(question)
  }

  client(cluster: string, apiKey: string): ClusterClient {
    const timings = followTimings(this.ctx.env)
    // One-shot: a brief, silent retry; following widens it (followWithSession).
    return new ClusterClient(cluster, apiKey, {signal: this.signal, retryBudgetMs: timings.oneShotRetryBudgetMs})
  }

  /** Save a stream (--save-*) where the vendor CLI would; never overwrites. */
  saveStream(kind: SaveKind, lines: string[], path: string): Promise<{path: string; note?: string}> {
    return saveStreamToFile(kind, lines, path, {now: this.ctx.now(), version: `ingestgate-${this.version}`})
  }

  dispose(): void {
    if (this.sigintInstalled) process.removeListener('SIGINT', this.onSigint)
    this.sigintInstalled = false
    this.prompter?.close()
    this.view.close()
  }
}

function retryNotice(info: RetryInfo): string {
  return `Cluster not available (${info.reason} on ${info.method} ${info.path}); retrying in ${(info.delayMs / 1000).toFixed(1)} s (attempt ${info.attempt}).`
}

export interface FollowFlags {
  yes?: boolean
  'save-audit-logs'?: string
  'save-deid-logs'?: string
  'save-subjects'?: string
  /** How long a call retries through a cluster outage while following (default: the tuning knob). */
  retryForMs?: number
}

function savePaths(flags: FollowFlags): Partial<Record<SaveKind, string>> {
  return {audit_logs: flags['save-audit-logs'], deid_logs: flags['save-deid-logs'], subjects: flags['save-subjects']}
}

/** The commands that answer a pending review without a terminal. */
export function reviewCommands(bin: string, url: string): {approve: string; reject: string} {
  return {approve: [bin, 'ingest', 'review', url, '--approve'].map(shellWord).join(' '), reject: [bin, 'ingest', 'review', url, '--reject'].map(shellWord).join(' ')}
}

/** The exact command that resumes following (never with the API key in it). */
export function resumeCommand(bin: string, url: string, flags: FollowFlags): string {
  const parts = [bin, 'ingest', 'follow', url]
  if (flags['save-audit-logs']) parts.push('--save-audit-logs', flags['save-audit-logs'])
  if (flags['save-deid-logs']) parts.push('--save-deid-logs', flags['save-deid-logs'])
  if (flags['save-subjects']) parts.push('--save-subjects', flags['save-subjects'])
  if (flags.yes) parts.push('-y')
  return parts.map(shellWord).join(' ')
}

export interface FollowSummary {
  url: string
  id: string
  status: string
  outcome: FollowResult['outcome']
  report?: Report
  saved: Partial<Record<SaveKind, string>>
  resume?: string
  /** When the review could not be answered: the commands that answer it. */
  review?: {approve: string; reject: string}
}

const OUTCOME_EXIT: Record<FollowResult['outcome'], ExitCodeValue> = {
  finished: ExitCode.OK,
  'finished-badly': ExitCode.INGEST_FAILED,
  detached: ExitCode.STILL_RUNNING,
  'review-pending': ExitCode.STILL_RUNNING,
}

/** Follow one ingest with the session's view; returns the result and the exit code it means. */
export async function followWithSession(
  s: IngestSession,
  client: ClusterClient,
  ref: IngestRef,
  flags: FollowFlags,
): Promise<{summary: FollowSummary; exit: ExitCodeValue}> {
  checkSavePaths(savePaths(flags))
  s.catchSigint()
  const timings = followTimings(s.ctx.env)
  client.setRetryPolicy({budgetMs: flags.retryForMs ?? timings.retryBudgetMs, onRetry: (info: RetryInfo) => s.view.notice(retryNotice(info))})
  const save = savePaths(flags)
  const result = await followIngest({
    client,
    id: ref.id,
    view: s.view,
    ask: (q) => s.ask(q),
    assumeYes: Boolean(flags.yes),
    save,
    saveStream: (kind, lines, path) => s.saveStream(kind, lines, path),
    signal: s.signal,
    now: () => s.ctx.now().getTime(),
    pollIntervalMs: timings.pollIntervalMs,
    progressIntervalMs: timings.progressIntervalMs,
  })
  const summary: FollowSummary = {url: ref.url, id: ref.id, status: result.status, outcome: result.outcome, report: result.report, saved: result.saved}
  if (result.outcome === 'detached') {
    summary.resume = resumeCommand(s.bin, ref.url, flags)
    s.view.detached(summary.resume, 'interrupted')
  } else if (result.outcome === 'review-pending') {
    summary.resume = resumeCommand(s.bin, ref.url, {...flags, yes: false})
    summary.review = reviewCommands(s.bin, ref.url)
    s.view.detached(summary.resume, 'review-pending', summary.review)
  }
  return {summary, exit: OUTCOME_EXIT[result.outcome]}
}

/** A client for an ingest URL (or the remembered one). */
export async function connectToIngest(s: IngestSession, url: string | undefined, apiKeyFlag: string | undefined): Promise<{client: ClusterClient; ref: IngestRef}> {
  const ref = await resolveIngestRef(url, s.ctx.env)
  const {key} = await resolveApiKey(apiKeyFlag, s.ctx.env)
  return {client: s.client(ref.cluster, key), ref}
}

export interface StartParams {
  cluster: string
  apiKey?: string
  body: CreateBody
  loadSubjects?: string
  follow: boolean
  followFlags: FollowFlags
  preflight?: SourceAccessInput & PreflightLimits & {check?: SourceCheck; lister?: SourceLister; locator?: SourceLocator}
  /** Secrets inside the body (the project strategy's source key) to keep out of every output. */
  secrets?: string[]
}

export interface StartSummary extends Partial<FollowSummary> {
  url: string
  id: string
  status: string
  preflight?: PreflightResult
  remembered: string
}

/**
 * Create, (load subjects), remember, start, and (with --follow) follow an ingest, after the preflight
 * gate unless it was skipped. The order is the vendor CLI's; the gate comes first so that a failing
 * check leaves no half-made ingest on the cluster.
 */
export async function startIngest(s: IngestSession, p: StartParams): Promise<{summary: StartSummary; exit: ExitCodeValue}> {
  for (const secret of p.secrets ?? []) registerSecret(secret)
  // A --save-* path that cannot be written is known now: say so before anything is created.
  if (p.follow) checkSavePaths(savePaths(p.followFlags))
  const {key} = await resolveApiKey(p.apiKey, s.ctx.env)
  const client = s.client(p.cluster, key)
  let pre: PreflightResult | undefined
  if (p.preflight) {
    pre = await preflight(
      {
        ctx: s.ctx,
        src: p.body.config.src_fs,
        client,
        filter: p.body.config,
        ...p.preflight,
      },
      (r) => s.view.preflight(r),
    )
  }
  const created = await client.createIngest(p.body)
  if (p.loadSubjects) await client.uploadSubjects(created.id, p.loadSubjects)
  const url = client.ingestUrl(created.id)
  const remembered = await rememberIngest(url, s.ctx.env)
  const started = await client.start(created.id)
  s.view.started(url, created.id, p.follow)
  const base: StartSummary = {url, id: created.id, status: started.status ?? created.status, preflight: pre, remembered}
  if (!p.follow) return {summary: base, exit: ExitCode.OK}
  try {
    const {summary, exit} = await followWithSession(s, client, {cluster: p.cluster, id: created.id, url}, p.followFlags)
    return {summary: {...base, ...summary}, exit}
  } catch (error) {
    if (error instanceof RequestAborted) {
      const resume = resumeCommand(s.bin, url, p.followFlags)
      s.view.detached(resume, 'interrupted')
      return {summary: {...base, outcome: 'detached', resume}, exit: ExitCode.STILL_RUNNING}
    }
    throw error
  }
}

/** `ingest abort`: nothing to do when already terminal; else confirm (unless -y) and POST /abort. */
export async function abortIngest(
  s: IngestSession,
  url: string | undefined,
  opts: {apiKey?: string; yes?: boolean},
): Promise<{result: {url: string; id: string; status: string; aborted: boolean; message: string}; exit: ExitCodeValue}> {
  const {client, ref} = await connectToIngest(s, url, opts.apiKey)
  const ingest = await client.getIngest(ref.id)
  if (isTerminal(ingest.status)) {
    const message = `Ingest already ${ingest.status}`
    // The vendor's line on stdout; under --json the result carries it (stdout is JSON only).
    if (!s.json) s.ctx.ui.out(message)
    return {result: {url: ref.url, id: ref.id, status: ingest.status, aborted: false, message}, exit: ExitCode.OK}
  }
  if (!opts.yes) {
    const answer = await s.ask('Are you sure you want to abort the ingest?')
    if (answer === undefined) {
      throw new ConfigError('CONFIRMATION_REQUIRED', 'Aborting an ingest needs confirmation, and no answer could be read (stdin is closed, or not a terminal). Nothing was aborted.', {
        suggestions: [`Re-run with -y to abort without asking: ${[s.bin, 'ingest', 'abort', ref.url, '-y'].map(shellWord).join(' ')}`],
      })
    }
    if (answer === false) {
      const message = 'Not aborted.'
      s.ctx.ui.info(message)
      return {result: {url: ref.url, id: ref.id, status: ingest.status, aborted: false, message}, exit: ExitCode.OK}
    }
  }
  const after = await client.abort(ref.id)
  const message = `Abort requested: the ingest is ${after.status ?? 'aborting'}.`
  s.ctx.ui.info(message)
  return {result: {url: ref.url, id: ref.id, status: after.status ?? 'aborting', aborted: true, message}, exit: ExitCode.OK}
}

/**
 * `ingest list`: the ingests the cluster knows, with their URLs, newest first (by `created`; the
 * cluster's order among those without), only those in `statuses` when given, at most `limit`.
 */
export async function listIngests(
  s: IngestSession,
  cluster: string,
  apiKey: string | undefined,
  filter: {statuses?: string[]; limit?: number} = {},
): Promise<Array<Ingest & {url: string}>> {
  const {key} = await resolveApiKey(apiKey, s.ctx.env)
  const client = s.client(cluster, key)
  const ingests = await client.listIngests()
  const created = (i: Ingest) => {
    const t = Date.parse(String(i.created ?? ''))
    return Number.isNaN(t) ? -Infinity : t
  }
  const wanted = filter.statuses?.length ? new Set(filter.statuses) : undefined
  return ingests
    .map((i, order) => ({i, order}))
    .filter(({i}) => !wanted || wanted.has(i.status))
    .sort((a, b) => created(b.i) - created(a.i) || a.order - b.order)
    .slice(0, filter.limit ?? Infinity)
    .map(({i}) => ({...i, url: client.ingestUrl(i.id)}))
}

/** `ingest status`: the ingest and its progress. */
export async function ingestStatus(
  s: IngestSession,
  url: string | undefined,
  apiKey: string | undefined,
): Promise<{url: string; ingest: Ingest; progress: unknown}> {
  const {client, ref} = await connectToIngest(s, url, apiKey)
  const ingest = await client.getIngest(ref.id)
  const progress = await client.progress(ref.id)
  return {url: ref.url, ingest, progress}
}

/** `ingest report`: the report of an ingest (and the saved streams); exit 6 when it ended badly. */
export async function ingestReport(
  s: IngestSession,
  url: string | undefined,
  opts: {apiKey?: string} & FollowFlags,
): Promise<{result: {url: string; status: string; finished: boolean; report: Report; saved: Partial<Record<SaveKind, string>>}; exit: ExitCodeValue}> {
  checkSavePaths(savePaths(opts))
  const {client, ref} = await connectToIngest(s, url, opts.apiKey)
  const ingest = await client.getIngest(ref.id)
  const report = await client.report(ref.id)
  // Not "Final report" for an ingest that is still running, and an aborted one says so.
  if (!s.json) s.view.finalReport(report, reportTitle(ingest.status))
  const saved = await saveRequestedStreams(client, ref.id, savePaths(opts), (kind, lines, path) => s.saveStream(kind, lines, path), (kind, w) => {
    if (!s.json) s.view.saved(kind, w.path, w.note)
    else if (w.note) s.view.notice(w.note)
  })
  const exit = !isTerminal(ingest.status) ? ExitCode.STILL_RUNNING : finishedCleanly(ingest.status, report) ? ExitCode.OK : ExitCode.INGEST_FAILED
  return {result: {url: ref.url, status: ingest.status, finished: isTerminal(ingest.status), report, saved}, exit}
}

export interface ReviewResult {
  url: string
  id: string
  decision: 'approve' | 'reject'
  /** The status after the answer. */
  status: string
  message: string
}

/**
 * `ingest review`: answer an ingest that waits for review, as `Confirm upload?` would (approve:
 * POST /review; reject: POST /abort). An ingest that is not in review is refused (exit 3): there
 * is nothing to answer, and approving later would surprise.
 */
export async function reviewIngest(
  s: IngestSession,
  url: string | undefined,
  opts: {apiKey?: string; decision: 'approve' | 'reject'},
): Promise<{result: ReviewResult; exit: ExitCodeValue}> {
  const {client, ref} = await connectToIngest(s, url, opts.apiKey)
  const ingest = await client.getIngest(ref.id)
  if (ingest.status !== 'in_review') {
    throw new ConfigError('NOT_IN_REVIEW', `The ingest ${ref.url} is not waiting for review (it is ${ingest.status}); nothing was changed.`, {
      suggestions: [
        isTerminal(ingest.status)
          ? `It has ended: see its report with \`${s.bin} ingest report ${ref.url}\`.`
          : `Follow it with \`${s.bin} ingest follow ${ref.url}\`, and answer when it reaches review.`,
      ],
      data: {status: ingest.status},
    })
  }
  const after = opts.decision === 'approve' ? await client.review(ref.id) : await client.abort(ref.id)
  const status = after.status ?? (opts.decision === 'approve' ? 'preparing' : 'aborting')
  const message = opts.decision === 'approve' ? `Review approved: the ingest is ${status}.` : `Review rejected: the ingest is ${status}.`
  s.ctx.ui.info(message)
  return {result: {url: ref.url, id: ref.id, decision: opts.decision, status, message}, exit: ExitCode.OK}
}
