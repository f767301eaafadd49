/**
 * What the ingest commands do, one function per command, so the commands stay thin: resolve the
 * cluster and key, talk to the cluster through the one client, follow, and return the data that is
 * the command's --json result. The exit code each outcome means is decided here too.
 */
import {join} from 'node:path'

import type {AppContext} from '../context.js'
import {ConfigError, ExitCode, type ExitCodeValue} from '../errors.js'
import {registerSecret} from '../output/redact.js'
import type {CreateBody} from './body.js'
import {rememberIngest, resolveApiKey, resolveIngestRef, type IngestRef} from './config.js'
import {finishedCleanly, followIngest, isTerminal, STREAM_OF, type FollowResult, type SaveKind} from './follow.js'
import {ClusterClient, RequestAborted, type RetryInfo} from './http.js'
import {preflight, type PreflightResult, type SourceAccessInput, type SourceCheck, type SourceLister} from './preflight.js'
import {createStdinPrompter, type StdinPrompter} from './prompt.js'
import type {Ingest, Report} from './protocol.js'
import {saveStreamToFile} from './save.js'
import {createJsonView, createTextView, type IngestView} from './view.js'

/**
 * Tuning knobs (also how the tests run follow fast): milliseconds, from the environment. A one-shot
 * call retries an unavailable cluster for 20 s at most; a follower, which already knows the cluster
 * was there, rides out a restart for up to 10 minutes.
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
    oneShotRetryBudgetMs: Math.min(20_000, ms('INGESTGATE_RETRY_BUDGET_MS', 20_000)),
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
    return new ClusterClient(cluster, apiKey, {
      signal: this.signal,
      retryBudgetMs: timings.oneShotRetryBudgetMs,
      onRetry: (info: RetryInfo) => this.view.notice(retryNotice(info)),
    })
  }

  /** Save a stream (--save-*) where the vendor CLI would; never overwrites. */
  saveStream(kind: SaveKind, lines: string[], path: string): Promise<{path: string; note?: string}> {
    return saveStreamToFile(kind, lines, path, {now: this.ctx.now(), version: `ingestgate-${this.version}`, fallbackDir: join(this.ctx.stateDir, 'logs')})
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

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}

export interface FollowFlags {
  yes?: boolean
  'save-audit-logs'?: string
  'save-deid-logs'?: string
  'save-subjects'?: string
}

/** The exact command that resumes following (never with the API key in it). */
export function resumeCommand(bin: string, url: string, flags: FollowFlags): string {
  const parts = [bin, 'ingest', 'follow', url]
  if (flags['save-audit-logs']) parts.push('--save-audit-logs', flags['save-audit-logs'])
  if (flags['save-deid-logs']) parts.push('--save-deid-logs', flags['save-deid-logs'])
  if (flags['save-subjects']) parts.push('--save-subjects', flags['save-subjects'])
  if (flags.yes) parts.push('-y')
  return parts.map(shellQuote).join(' ')
}

export interface FollowSummary {
  url: string
  id: string
  status: string
  outcome: FollowResult['outcome']
  report?: Report
  saved: Partial<Record<SaveKind, string>>
  resume?: string
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
  s.catchSigint()
  const timings = followTimings(s.ctx.env)
  client.setRetryBudget(timings.retryBudgetMs)
  const save: Partial<Record<SaveKind, string>> = {
    audit_logs: flags['save-audit-logs'],
    deid_logs: flags['save-deid-logs'],
    subjects: flags['save-subjects'],
  }
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
  if (result.outcome === 'detached' || result.outcome === 'review-pending') {
    summary.resume = resumeCommand(s.bin, ref.url, result.outcome === 'review-pending' ? {...flags, yes: false} : flags)
    s.view.detached(summary.resume, result.outcome === 'detached' ? 'interrupted' : 'review-pending')
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
  preflight?: SourceAccessInput & {check?: SourceCheck; lister?: SourceLister}
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
  s.view.started(url, created.id)
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
    if (answer !== true) {
      const message = answer === false ? 'Not aborted.' : 'Not aborted: no answer could be read (use -y to abort without asking).'
      s.ctx.ui.info(message)
      if (answer === undefined) {
        throw new ConfigError('CONFIRMATION_REQUIRED', 'Aborting an ingest needs confirmation, and no answer could be read.', {
          suggestions: ['Re-run with -y to abort without asking.'],
        })
      }
      return {result: {url: ref.url, id: ref.id, status: ingest.status, aborted: false, message}, exit: ExitCode.OK}
    }
  }
  const after = await client.abort(ref.id)
  const message = `Abort requested: the ingest is ${after.status ?? 'aborting'}.`
  s.ctx.ui.info(message)
  return {result: {url: ref.url, id: ref.id, status: after.status ?? 'aborting', aborted: true, message}, exit: ExitCode.OK}
}

/** `ingest list`: every ingest the cluster knows, with its URL. */
export async function listIngests(s: IngestSession, cluster: string, apiKey: string | undefined): Promise<Array<Ingest & {url: string}>> {
  const {key} = await resolveApiKey(apiKey, s.ctx.env)
  const client = s.client(cluster, key)
  const ingests = await client.listIngests()
  return ingests.map((i) => ({...i, url: client.ingestUrl(i.id)}))
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
): Promise<{result: {url: string; status: string; report: Report; saved: Partial<Record<SaveKind, string>>}; exit: ExitCodeValue}> {
  const {client, ref} = await connectToIngest(s, url, opts.apiKey)
  const ingest = await client.getIngest(ref.id)
  const report = await client.report(ref.id)
  if (!s.json) s.view.finalReport(report)
  const saved: Partial<Record<SaveKind, string>> = {}
  const wanted: Array<[SaveKind, string | undefined]> = [
    ['audit_logs', opts['save-audit-logs']],
    ['deid_logs', opts['save-deid-logs']],
    ['subjects', opts['save-subjects']],
  ]
  for (const [kind, path] of wanted) {
    if (!path) continue
    const lines = await client.streamLines(ref.id, STREAM_OF[kind])
    const written = await s.saveStream(kind, lines, path)
    saved[kind] = written.path
    if (!s.json) s.view.saved(kind, written.path, written.note)
    else if (written.note) s.view.notice(written.note)
  }
  const exit = !isTerminal(ingest.status) ? ExitCode.STILL_RUNNING : finishedCleanly(ingest.status, report) ? ExitCode.OK : ExitCode.INGEST_FAILED
  return {result: {url: ref.url, status: ingest.status, report, saved}, exit}
}
