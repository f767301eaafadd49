/**
 * The preflight gate run before an ingest is created: the source URL parses, the cluster answers and
 * accepts the key (`GET /ingests`), and, where the caller has credentials for the source, the `check`
 * of that source passes. When the source can be listed, the number of objects and bytes the cluster
 * will read is counted, where the data lives is asked of the provider, and the cost of moving those
 * bytes out of the cloud is estimated (egress.ts). With --max-bytes, an ingest larger than the limit,
 * or one whose size could not be verified, is refused. A failing step refuses the start.
 */
import type {AppContext} from '../context.js'
import {AppError, ExitCode} from '../errors.js'
import type {CheckRow, CheckResult} from '../core/verdict.js'
import type {Provider, SourceLocation, SourceObject} from '../providers/types.js'
import type {SiteFile} from '../site.js'
import {compileFilter} from '../core/glob.js'
import {formatSize} from '../core/size.js'
import {directoryPrefix, parseSource, type Source} from '../source.js'
import {estimateEgress, estimateText, type EgressEstimate} from './egress.js'
import {hrsize} from './format.js'
import type {ClusterClient} from './http.js'

export interface PreflightStep {
  name: 'source' | 'cluster' | 'check' | 'listing' | 'estimate' | 'size-limit'
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
  /** The egress estimate, when the source could be listed. */
  estimate?: EgressEstimate
  /** --max-bytes and what the listing says about it. */
  limit?: {maxBytes: number; verdict: 'within' | 'exceeded' | 'unverified'}
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

/**
 * List the source, at most `maxPages` pages of 1000. `stop`, when given, sees each page and ends the
 * listing early by returning true (the result is then `truncated`: its counts are lower bounds).
 */
export type SourceLister = (
  ctx: AppContext,
  source: Source,
  opts: SourceAccessInput,
  maxPages: number,
  stop?: (page: SourceObject[]) => boolean,
) => Promise<{objects: SourceObject[]; truncated: boolean}>

/** Where the source's data lives (the seam tests replace; the default asks the provider). */
export type SourceLocator = (ctx: AppContext, source: Source, opts: SourceAccessInput) => Promise<SourceLocation>

/** What the user asked of the estimate and the size gate. */
export interface PreflightLimits {
  /** --max-bytes: refuse an ingest whose matching bytes exceed this, or cannot be shown not to. */
  maxBytes?: number
  /** --egress-price-per-gb: replaces the price table's price. */
  egressPricePerGb?: number
}

/** Pages listed by default (20,000 objects), and with --max-bytes, where the size must be known (200,000). */
export const LISTING_PAGES = 20
export const LISTING_PAGES_WITH_LIMIT = 200

export interface PreflightInput extends SourceAccessInput, PreflightLimits {
  ctx: AppContext
  src: string
  client: ClusterClient
  /** The ingest config's filters, applied as the cluster applies them. */
  filter: {include?: string[]; exclude?: string[]; include_dirs?: string[]; exclude_dirs?: string[]}
  check?: SourceCheck
  lister?: SourceLister
  locator?: SourceLocator
  /** Listing is stopped after this many pages of 1000 keys (default 20; 200 with --max-bytes). */
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
export const defaultSourceLister: SourceLister = async (ctx, source, opts, maxPages, stop) => {
  const {provider, options} = await providerFor(ctx, source, opts)
  const reader = await provider.openReader(ctx, source, options, 'operator')
  const objects: SourceObject[] = []
  let token: string | undefined
  for (let page = 0; page < maxPages; page++) {
    const res = await reader.listPage(token)
    objects.push(...res.objects)
    token = res.nextToken
    if (!token) return {objects, truncated: false}
    if (stop?.(res.objects)) break
  }
  return {objects, truncated: true}
}

/** The source's location through the provider, with the operator's credentials; never throws. */
export const defaultSourceLocator: SourceLocator = async (ctx, source, opts) => {
  try {
    const {provider, options} = await providerFor(ctx, source, opts)
    return await provider.locate(ctx, source, options)
  } catch (error) {
    return {known: false, reason: (error as Error).message}
  }
}

const bytesText = (n: number) => `${formatSize(n)} (${n.toLocaleString('en-US')} bytes)`

/** The --max-bytes verdict on a listing (or on no listing). Pure. */
export function sizeLimitStep(maxBytes: number, listed: {bytes: number; objects: number; truncated: boolean} | undefined): {step: PreflightStep; verdict: 'within' | 'exceeded' | 'unverified'} {
  const limit = `--max-bytes ${bytesText(maxBytes)}`
  if (!listed) return {verdict: 'unverified', step: {name: 'size-limit', status: 'fail', detail: `the source could not be listed, so ${limit} could not be verified`}}
  const atLeast = listed.truncated ? 'at least ' : ''
  if (listed.bytes > maxBytes) return {verdict: 'exceeded', step: {name: 'size-limit', status: 'fail', detail: `${atLeast}${bytesText(listed.bytes)} match, more than ${limit}`}}
  if (listed.truncated) {
    return {verdict: 'unverified', step: {name: 'size-limit', status: 'fail', detail: `the listing stopped after ${listed.objects.toLocaleString('en-US')} objects with ${bytesText(listed.bytes)} matching so far, so ${limit} could not be verified`}}
  }
  return {verdict: 'within', step: {name: 'size-limit', status: 'pass', detail: `${bytesText(listed.bytes)} match, within ${limit}`}}
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

    const matches = compileFilter(input.filter)
    const dir = directoryPrefix(source)
    const relative = (key: string) => (key.startsWith(dir) ? key.slice(dir.length) : key)
    // Where the data lives is asked while the listing runs.
    const locating = (input.locator ?? defaultSourceLocator)(input.ctx, source, input).catch((error: Error): SourceLocation => ({known: false, reason: error.message}))
    // With --max-bytes the listing goes on longer, and stops as soon as the limit is passed.
    let matchingSoFar = 0
    const maxBytes = input.maxBytes
    const stop = maxBytes === undefined ? undefined : (page: SourceObject[]) => (matchingSoFar += page.filter((o) => matches(relative(o.key))).reduce((n, o) => n + o.size, 0)) > maxBytes
    let listedOk = false
    try {
      const listed = await (input.lister ?? defaultSourceLister)(input.ctx, source, input, input.maxPages ?? (maxBytes === undefined ? LISTING_PAGES : LISTING_PAGES_WITH_LIMIT), stop)
      result.objects = listed.objects.length
      result.bytes = listed.objects.reduce((s, o) => s + o.size, 0)
      const matching = listed.objects.filter((o) => matches(relative(o.key)))
      result.matching = {objects: matching.length, bytes: matching.reduce((s, o) => s + o.size, 0)}
      result.truncated = listed.truncated
      const atLeast = listed.truncated ? 'at least ' : ''
      steps.push({
        name: 'listing',
        status: 'pass',
        detail:
          `${atLeast}${result.objects} objects (${hrsize(result.bytes)}) under ${source.url}; ${atLeast}${result.matching.objects} match the include/exclude patterns: ` +
          `the cluster will read about ${hrsize(result.matching.bytes)} from the bucket`,
      })
      listedOk = true
    } catch (error) {
      steps.push({name: 'listing', status: 'skip', detail: `cannot list the source with your credentials: ${(error as Error).message}`})
    }
    const location = await locating
    if (listedOk && result.matching) {
      result.estimate = estimateEgress({provider: source.provider, location, bytes: result.matching.bytes, truncated: Boolean(result.truncated), pricePerGb: input.egressPricePerGb})
      steps.push({name: 'estimate', status: 'pass', ...estimateText(result.estimate)})
    } else {
      steps.push({name: 'estimate', status: 'skip', detail: `no egress estimate: the source could not be listed${location.known ? ` (it is in ${location.location})` : ''}`})
    }
    if (maxBytes !== undefined) {
      const {step, verdict} = sizeLimitStep(maxBytes, listedOk && result.matching ? {bytes: result.matching.bytes, objects: result.objects ?? 0, truncated: Boolean(result.truncated)} : undefined)
      steps.push(step)
      result.limit = {maxBytes, verdict}
      if (step.status === 'fail') result.passed = false
    }
  } else {
    steps.push({name: 'check', status: 'skip', detail: 'not a bucket'})
  }

  show(result)
  if (!result.passed) throw refusal(input, result)
  return result
}

/** The gate's refusal (exit 5): the access check's when it failed, else the size limit's. */
function refusal(input: PreflightInput, result: PreflightResult): AppError {
  const steps = result.steps
  const rows = steps.flatMap((s) => (s.status === 'fail' ? (s.rows?.length ? s.rows : [`${s.name}: ${s.detail}`]) : []))
  const checkFailed = steps.some((s) => s.status === 'fail' && s.name !== 'size-limit')
  const limited = input.maxBytes !== undefined
  const sizeFix =
    result.limit?.verdict === 'exceeded'
      ? 'Ingest less at a time (a deeper prefix in SRC, --include/--exclude patterns), or raise --max-bytes if this size is intended.'
      : `Narrow SRC to a prefix that lists in fewer than ${(LISTING_PAGES_WITH_LIMIT * 1000).toLocaleString('en-US')} objects so its size can be counted, or start without --max-bytes.`
  if (checkFailed) {
    return new AppError('PREFLIGHT_FAILED', `Preflight failed: the ingest was not started.\n  ${rows.join('\n  ')}`, ExitCode.CHECK_FAILED, {
      suggestions: [
        `See the details with \`ingestgate check ${input.src}\`, fix the grant (\`ingestgate grant apply\`), and start again.`,
        ...(result.limit && result.limit.verdict !== 'within' ? [sizeFix] : []),
        limited ? 'To start without the gate, re-run with --no-preflight and without --max-bytes (the limit needs the preflight\'s listing).' : 'To start anyway, re-run with --no-preflight.',
      ],
      data: {preflight: result},
    })
  }
  const code = result.limit?.verdict === 'exceeded' ? 'MAX_BYTES_EXCEEDED' : 'MAX_BYTES_UNVERIFIED'
  const what = result.limit?.verdict === 'exceeded' ? 'the ingest is larger than --max-bytes' : 'its size could not be shown to be within --max-bytes'
  return new AppError(code, `Preflight refused the start: ${what}; the ingest was not started.\n  ${rows.join('\n  ')}`, ExitCode.CHECK_FAILED, {suggestions: [sizeFix], data: {preflight: result}})
}
