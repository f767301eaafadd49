/**
 * The provider interface, the same shape for every cloud. A provider owns everything that is
 * particular to its cloud: its flags (declared in its own `flags.ts`, which imports nothing but
 * oclif so the manifest and --help stay cheap), how those flags and the site file become its own
 * options, its render formats, apply/revoke planning, the check, and reading a source. Commands,
 * the ingest client and the reference cluster only ever see this interface.
 *
 * A grant request turns into a plan (reads only) whose execute() makes the writes; the flow around
 * it (show the plan, ask, dry-run, report) is shared in grant-flow.ts so every cloud behaves the same.
 */
import type {FlagInput} from '@oclif/core/interfaces'

import type {AppContext} from '../context.js'
import type {BackoffOptions} from '../core/duration.js'
import type {CheckResult} from '../core/verdict.js'
import type {SiteFile} from '../site.js'
import type {BackupEntry} from '../state.js'
import type {ProviderId, Source} from '../source.js'

/**
 * A cloud's flags, by the commands that take them. Every flag carries `helpGroup` set to the
 * cloud's heading (AWS, GCP, AZURE) so --help shows each cloud's flags under its own heading.
 * A flag name may be declared by several clouds only when it means the same thing on each
 * (`--endpoint-url`, the storage endpoint); the registry merges those into one definition.
 */
export interface ProviderFlagSet {
  /** The heading the flags appear under in --help, e.g. 'AWS'. */
  heading: string
  /** The operator's credentials and endpoints: grant render/apply/revoke, check, the ingest preflight. */
  cloud: FlagInput
  /** Extra resources to grant and check (AWS: --kms-key): grant render/apply/revoke and check. */
  grant?: FlagInput
  /** How the live layer acts as the principal: check, the ingest preflight. */
  live?: FlagInput
  /** How the reference cluster acts as the principal: cluster serve. */
  cluster?: FlagInput
}

/** What a provider reads its options from: the parsed flags (all clouds'), the site file, the environment. */
export interface OptionInput {
  flags: Record<string, unknown>
  site?: SiteFile
  env: NodeJS.ProcessEnv
  /** Which command asks: render must stay pure (no network, no SDK), the cluster acts as the principal. */
  purpose: 'render' | 'grant' | 'check' | 'preflight' | 'cluster'
  /** The ingest principal, when known (the preflight's live layer may act as it). */
  principal?: string
}

/**
 * A grant or check request. `options` is the provider's own options object, made by its
 * `readOptions` from the flags and the site file; only that provider looks inside.
 */
export interface GrantRequest<O = unknown> {
  source: Source
  /** Cloud-specific principal: AWS role ARN, GCP member, Azure object id (as given, trimmed). */
  principal: string
  options: O
}

export interface GrantChange {
  /** What is changed, e.g. 'bucket-policy-statement', 'kms-grant', 'iam-binding', 'role-assignment'. */
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
  /** Things the user must act on although the plan can go ahead (they go to the envelope's warnings). */
  warnings?: string[]
  /** Make the writes. Only called after the plan was shown and confirmed. */
  execute(): Promise<{backup?: string; notes: string[]}>
}

/** One thing ingestgate grants on a source, as it is now compared with what apply would write today. */
export interface GrantStatusItem {
  principal: string
  /** As in GrantChange: 'bucket-policy-statement', 'kms-grant', 'iam-binding', 'role-assignment'. */
  kind: string
  /** Sid, grant name, role and member, assignment name. */
  id: string
  target?: string
  /** in-place: exactly what apply writes; drifted: there but different; missing: not there. */
  state: 'in-place' | 'drifted' | 'missing'
  /** What is there, or what differs and how apply would change it. */
  detail: string
}

export interface GrantStatus {
  source: string
  /** The principals ingestgate has granted on the source (or the one asked about). */
  principals: string[]
  items: GrantStatusItem[]
  notes: string[]
}

/** A grant status request: the principal is optional (without it, ingestgate's own grants name them). */
export interface StatusRequest<O = unknown> {
  source: Source
  principal?: string
  options: O
}

/** A backup to write back, as `grant restore` read and validated it. */
export interface RestoreRequest<O = unknown> {
  backup: BackupEntry & {content: string}
  options: O
  /** Write even when the document changed after the backed-up change. */
  force: boolean
}

export interface RenderResult {
  format: string
  documents: unknown
  text: string
  /** What the rendered grant cannot narrow or needs the user to do (also in `text`). */
  notes?: string[]
}

/** How `check` runs; the same for every cloud. Credentials for each layer live in the provider's options. */
export interface CheckOptions {
  /** Evaluate the access documents with the operator's (admin's) credentials. */
  static: boolean
  /** Make the cluster's real calls as the principal. */
  live: boolean
  /** How many objects to sample, spread across the listing. */
  sample: number
  /** Keep retrying failing live probes, with backoff, for this long (ms); 0 = no retry. */
  waitMs: number
  /** The --wait retry schedule (tests shorten it). */
  backoff?: BackoffOptions
}

/** One object of a listing. `key` is the full object name in the bucket/container. */
export interface SourceObject {
  key: string
  size: number
}

/**
 * Reading a source, the same for every cloud: what the ingest preflight (operator's credentials)
 * and the reference cluster (the principal's) do with it. Errors are AppErrors whose `kind` is the
 * neutral vocabulary (errors.ts SourceErrorKind), so callers never look at a cloud's error codes.
 */
export interface SourceReader {
  /** The source as the cluster is given it: a prefix always ends in `/` (`gs://b/` for a whole bucket). */
  url: string
  /** One page under the source's directory prefix, with sizes. */
  listPage(token?: string): Promise<{objects: SourceObject[]; nextToken?: string}>
  /** Path of an object relative to the source (what the audit log and review paths use). */
  relPath(key: string): string
  /** Bytes [start, end] inclusive; fewer when the object is shorter. */
  readRange(key: string, start: number, end: number): Promise<Uint8Array>
  openStream(key: string): Promise<NodeJS.ReadableStream>
  /** Who the reads run as (an ARN, a service-account e-mail, an object id), never a credential. */
  identity(): Promise<string>
}


/**
 * Where a source's data lives, as the operator's credentials can read it: the S3 bucket's Region,
 * the GCS bucket's location and location type, the Azure storage account's region. When it cannot
 * be read, `known` is false and `reason` says why (never a guess).
 */
export type SourceLocation =
  | {
      known: true
      /** As the cloud spells it: `eu-west-1`, `US-CENTRAL1` / `EU` / `NAM4`, `westeurope`. */
      location: string
      /** GCS: `region`, `dual-region` or `multi-region`; S3 and Azure: `region`. */
      locationType: string
      /** The call that answered, for messages (`HeadBucket x-amz-bucket-region`). */
      via: string
    }
  | {known: false; reason: string}


export interface Provider<O = unknown> {
  id: ProviderId
  /** A cloud name for messages: 'AWS', 'GCP', 'Azure'. */
  cloudName: string
  /** How the principal is named on this cloud, for messages. */
  principalNoun: string
  renderFormats: readonly string[]
  /** The operation ids the check reports (CheckRow.operation), in reading order. */
  operations: readonly string[]
  principalFromSite(site: SiteFile): string | undefined
  /** The principal implied by the options when neither --principal nor the site gives one (AWS: --assume-role). */
  principalFromOptions?(options: O): string | undefined
  /**
   * The provider's options from the flags, the site file and the environment. Validates the flag
   * values (URL schemes, ARNs, e-mails) before any network call.
   * @throws ConfigError / UsageError naming the flag.
   */
  readOptions(input: OptionInput): O
  /**
   * Refuse a principal that is not of this cloud's form before any network call (exit 3), saying
   * what it looks like when it is another cloud's ("this is a GCP service-account member; s3://
   * needs an IAM role ARN").
   */
  validatePrincipal(principal: string): void
  /** Pure: no credentials, no network, no SDK. */
  render(req: GrantRequest<O>, format: string): Promise<RenderResult>
  planApply(ctx: AppContext, req: GrantRequest<O>): Promise<GrantPlan>
  planRevoke(ctx: AppContext, req: GrantRequest<O>): Promise<GrantPlan>
  /** Read-only: what ingestgate has granted on the source, and whether it is still what apply writes. */
  status(ctx: AppContext, req: StatusRequest<O>): Promise<GrantStatus>
  /**
   * Plan writing a backed-up document back. Refuses (CONCURRENT_CHANGE) when the document is no
   * longer what the backed-up change wrote, unless `force`; execute() backs up what it replaces.
   */
  planRestore(ctx: AppContext, req: RestoreRequest<O>): Promise<GrantPlan>
  /**
   * Verify, operation by operation, that the principal can do what the ingest cluster does on the
   * source. A failing operation is a result (ok: false), not an exception; only failing to run the
   * check throws.
   */
  check(ctx: AppContext, req: GrantRequest<O>, opts: CheckOptions): Promise<CheckResult>
  /**
   * Read the source. `as: 'operator'` uses the operator's credentials (the preflight's listing);
   * `as: 'principal'` acts as the ingest principal the way the cluster does (the options' live or
   * cluster credentials). Created lazily; makes no call until used.
   */
  openReader(ctx: AppContext, source: Source, options: O, as: 'operator' | 'principal'): Promise<SourceReader>
  /**
   * Where the source's data lives, read with the operator's credentials (the preflight's egress
   * estimate). A refusal or a missing setting is a result (`known: false` with why), not an exception.
   */
  locate(ctx: AppContext, source: Source, options: O): Promise<SourceLocation>
}
