/**
 * The preflight gate run before an ingest is created: the source URL parses, the cluster answers and
 * accepts the key (`GET /ingests`), and, where the caller has credentials for the source, the `check`
 * of that source passes. When the source can be listed, the number of objects and bytes the cluster
 * will read is counted. A failing step refuses the start (unless --no-preflight).
 */
import type {AppContext} from '../context.js'
import {AppError, ExitCode} from '../errors.js'
import type {CheckRow, CheckResult} from '../core/verdict.js'
import type {Provider, SourceObject} from '../providers/types.js'
import type {SiteFile} from '../site.js'
import {compileFilter} from '../core/glob.js'
import {directoryPrefix, parseSource, type Source} from '../source.js'
import {hrsize} from './format.js'
import type {ClusterClient} from './http.js'

export interface PreflightStep {
  name: 'source' | 'cluster' | 'check' | 'listing'
  status: 'pass' | 'fail' | 'skip'
  detail: string
  /** The failing (or notable) rows of the check, one line each. */
  rows?: string[]
}

export interface PreflightResult {
  passed: boolean
  steps: PreflightStep[]
  /** From the listing, when the source could be listed. */
  objects?: number
  bytes?: number
  /** Objects (and their bytes) whose names match the include/exclude patterns. */
  matching?: {objects: number; bytes: number}
  /** The listing stopped at its page limit: the counts are lower bounds. */
  truncated?: boolean
}

/** The outcome of checking the source's access as the ingest principal would use it. */
export interface SourceCheckOutcome {
  status: 'pass' | 'fail' | 'skip'
  detail: string
  rows?: string[]
}

/** What the preflight needs to read the source and check its access: the cloud flags given, the site file, the principal. */
export interface SourceAccessInput {
  cloudFlags: Record<string, unknown>
  site?: SiteFile
  live: boolean
  principal?: string
}

/** The seam where `ingestgate check` plugs into the gate (tests replace it). */
export type SourceCheck = (ctx: AppContext, source: Source, opts: SourceAccessInput) => Promise<SourceCheckOutcome>

export type SourceLister = (
  ctx: AppContext,
  source: Source,
  opts: SourceAccessInput,
  maxPages: number,
) => Promise<{objects: SourceObject[]; truncated: boolean}>

export interface PreflightInput extends SourceAccessInput {
  ctx: AppContext
  src: string
  client: ClusterClient
  /** The ingest config's filters, applied as the cluster applies them. */
  filter: {include?: string[]; exclude?: string[]; include_dirs?: string[]; exclude_dirs?: string[]}
  check?: SourceCheck
  lister?: SourceLister
  /** Listing is stopped after this many pages of 1000 keys (default 20). */
  maxPages?: number
}

async function providerFor(ctx: AppContext, source: Source, opts: SourceAccessInput): Promise<{provider: Provider; options: unknown}> {
  const {getProvider} = await import('../providers/index.js')
  const provider = await getProvider(source.provider)
  return {provider, options: provider.readOptions({flags: opts.cloudFlags, site: opts.site, env: ctx.env, purpose: 'preflight', principal: opts.principal})}
}

/**
 * The default check step: the source provider's `check` (static layer; live too with --live), run
 * with the caller's credentials for the ingest principal. Rows that fail block the start; rows the
 * check cannot decide ("unknown") are shown but do not block, since they depend on things no
 * credentials here can see. Without a principal the step is a skip that says why (never a silent pass).
 */
export const defaultSourceCheck: SourceCheck = async (ctx, source, opts) => {
  let resolved
  try {
    resolved = await providerFor(ctx, source, opts)
  } catch (error) {
    return {status: 'skip', detail: (error as Error).message}
  }
  if (!opts.principal) {
    return {status: 'skip', detail: `no ingest principal given (--principal or --site), so the access check was not run`}
  }
  const {provider, options} = resolved
  const result = await provider.check(ctx, {source, principal: opts.principal, options}, {static: true, live: opts.live, sample: 3, waitMs: 0})
  return checkOutcome(result)
}

/** Map a check result to the gate: failing rows block; unknown rows are shown, not blocking. */
export function checkOutcome(result: CheckResult): SourceCheckOutcome {
  const row = (r: CheckRow) => `${r.outcome.toUpperCase()}  ${r.layer} ${r.operation} ${r.resource}: ${r.cause}${r.remedy ? ` Fix: ${r.remedy}` : ''}`
  const failing = result.operations.filter((r) => r.outcome === 'fail')
  const unknown = result.operations.filter((r) => r.outcome === 'unknown')
  const s = result.summary
  const counts = `${s.pass} pass, ${s.fail} fail, ${s.unknown} unknown, ${s.skip} skip (${result.layers.join(' + ')})`
  if (failing.length) return {status: 'fail', detail: `access is not as the ingest cluster needs it: ${counts}`, rows: [...failing, ...unknown].map(row)}
  return {status: 'pass', detail: `the ingest principal can do what the cluster does: ${counts}`, rows: unknown.map(row)}
}

/** The source's listing with the caller's own credentials, through the provider's reader (pages of up to 1000). */
export const defaultSourceLister: SourceLister = async (ctx, source, opts, maxPages) => {
  const {provider, options} = await providerFor(ctx, source, opts)
  const reader = await provider.openReader(ctx, source, options, 'operator')
  const objects: SourceObject[] = []
  let token: string | undefined
  for (let page = 0; page < maxPages; page++) {
    const res = await reader.listPage(token)
    objects.push(...res.objects)
    token = res.nextToken
    if (!token) return {objects, truncated: false}
  }
  return {objects, truncated: true}
}

/**
 * Run the gate. Shows nothing itself; the caller renders the result.
 * @throws the source's ConfigError (exit 3), the cluster's RemoteError (exit 4), or
 *   PREFLIGHT_FAILED (exit 5) when the access check fails.
 */
export async function preflight(input: PreflightInput, show: (r: PreflightResult) => void): Promise<PreflightResult> {
  const steps: PreflightStep[] = []
  const result: PreflightResult = {passed: true, steps}
  let source: Source | undefined
  if (/^fw:\/\//i.test(input.src)) {
    steps.push({name: 'source', status: 'skip', detail: `${input.src} is a project on a Flywheel site, not a bucket`})
  } else {
    source = parseSource(input.src)
    steps.push({name: 'source', status: 'pass', detail: source.url})
  }

  try {
    const ingests = await input.client.listIngests()
    steps.push({name: 'cluster', status: 'pass', detail: `${input.client.baseUrl} answers and accepts the key (${ingests.length} ingest${ingests.length === 1 ? '' : 's'} listed)`})
  } catch (error) {
    steps.push({name: 'cluster', status: 'fail', detail: (error as Error).message})
    result.passed = false
    show(result)
    throw error
  }

  if (source) {
    let check: SourceCheckOutcome
    try {
      check = await (input.check ?? defaultSourceCheck)(input.ctx, source, input)
    } catch (error) {
      check = {status: 'skip', detail: `the check could not run: ${(error as Error).message}`}
    }
    steps.push({name: 'check', ...check})
    if (check.status === 'fail') result.passed = false

    try {
      const listed = await (input.lister ?? defaultSourceLister)(input.ctx, source, input, input.maxPages ?? 20)
      const matches = compileFilter(input.filter)
      const dir = directoryPrefix(source)
      result.objects = listed.objects.length
      result.bytes = listed.objects.reduce((s, o) => s + o.size, 0)
      const matching = listed.objects.filter((o) => matches(o.key.startsWith(dir) ? o.key.slice(dir.length) : o.key))
      result.matching = {objects: matching.length, bytes: matching.reduce((s, o) => s + o.size, 0)}
      result.truncated = listed.truncated
      const atLeast = listed.truncated ? 'at least ' : ''
      steps.push({
        name: 'listing',
        status: 'pass',
        detail:
          `${atLeast}${result.objects} objects (${hrsize(result.bytes)}) under ${source.url}; ${atLeast}${result.matching.objects} match the include/exclude patterns: ` +
          `the cluster will read about ${hrsize(result.matching.bytes)} from the bucket (egress charged to the bucket owner when the cluster is in another region or outside the cloud)`,
      })
    } catch (error) {
      steps.push({name: 'listing', status: 'skip', detail: `cannot list the source with your credentials: ${(error as Error).message}`})
    }
  } else {
    steps.push({name: 'check', status: 'skip', detail: 'not a bucket'})
  }

  show(result)
  if (!result.passed) {
    const rows = steps.flatMap((s) => (s.status === 'fail' ? (s.rows?.length ? s.rows : [s.detail]) : []))
    throw new AppError('PREFLIGHT_FAILED', `Preflight failed: the ingest was not started.\n  ${rows.join('\n  ')}`, ExitCode.CHECK_FAILED, {
      suggestions: [
        `See the details with \`ingestgate check ${input.src}\`, fix the grant (\`ingestgate grant apply\`), and start again.`,
        'To start anyway, re-run with --no-preflight.',
      ],
      data: {preflight: result},
    })
  }
  return result
}
