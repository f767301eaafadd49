/**
 * The provider interface, the same shape for every cloud. A provider turns a grant request into a
 * plan (reads only) whose execute() makes the writes; the flow around it (show the plan, ask,
 * dry-run, report) is shared in grant-flow.ts so every cloud behaves the same.
 */
import type {AppContext} from '../context.js'
import type {BackoffOptions} from '../core/duration.js'
import type {CheckResult} from '../core/verdict.js'
import type {SiteFile} from '../site.js'
import type {ProviderId, Source} from '../source.js'

/** Cloud flags, each cloud using the ones it knows (AWS: profile/region/endpointUrl). */
export interface CloudOptions {
  profile?: string
  region?: string
  endpointUrl?: string
  credentials?: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
}

export interface GrantRequest {
  source: Source
  /** Cloud-specific principal: AWS role ARN, GCP member, Azure object id. */
  principal: string
  /** AWS: extra KMS key ARNs to grant Decrypt on. */
  kmsKeys: string[]
  cloud: CloudOptions
}

export interface GrantChange {
  /** What is changed, e.g. 'bucket-policy-statement', 'kms-grant'. */
  kind: string
  action: 'add' | 'replace' | 'remove' | 'create' | 'retire' | 'delete'
  /** Sid, grant name, binding, assignment name. */
  id: string
  /** Where: key ARN, scope. */
  target?: string
}

export interface GrantPlan {
  changes: GrantChange[]
  /** A readable diff of the document that changes, if any. */
  diff: Array<{op: ' ' | '+' | '-'; text: string}>
  notes: string[]
  /** Make the writes. Only called after the plan was shown and confirmed. */
  execute(): Promise<{backup?: string; notes: string[]}>
}

export interface RenderResult {
  format: string
  documents: unknown
  text: string
}

/** How `check` runs; the same for every cloud, each using what it knows. */
export interface CheckOptions {
  /** Evaluate the access documents with the operator's (admin's) credentials. */
  static: boolean
  /** Make the cluster's real calls as the principal. */
  live: boolean
  /** How many objects to sample, spread across the listing. */
  sample: number
  /** Keep retrying failing live probes, with backoff, for this long (ms); 0 = no retry. */
  waitMs: number
  /**
   * Where the principal's credentials come from for the live layer (AWS: a role to assume with the
   * operator's or the principal profile's credentials, or a profile that is the principal).
   * Neither: the same credentials as the static layer, which must then be the principal.
   */
  liveCredentials: {assumeRole?: string; externalId?: string; profile?: string}
  /** The --wait retry schedule (tests shorten it). */
  backoff?: BackoffOptions
}

export interface Provider {
  id: ProviderId
  /** How the principal is named on this cloud, for messages. */
  principalNoun: string
  renderFormats: readonly string[]
  principalFromSite(site: SiteFile): string | undefined
  /** Pure: no credentials, no network, no SDK. */
  render(req: GrantRequest, format: string): Promise<RenderResult>
  planApply(ctx: AppContext, req: GrantRequest): Promise<GrantPlan>
  planRevoke(ctx: AppContext, req: GrantRequest): Promise<GrantPlan>
  /**
   * Verify, operation by operation, that the principal can do what the ingest cluster does on the
   * source. A failing operation is a result (ok: false), not an exception; only failing to run the
   * check throws.
   */
  check(ctx: AppContext, req: GrantRequest, opts: CheckOptions): Promise<CheckResult>
}
