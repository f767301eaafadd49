/**
 * The static verdicts of `check` for AWS: what the evaluator's answer means for each operation the
 * ingest cluster performs on an S3 source (list, region, get, get-attributes) and for kms:Decrypt
 * of each key in use, with what decided it and the fix. The service quirks live here: S3's
 * same-account/cross-account rules and Block Public Access, KMS key policies that must enable IAM
 * policies, grants, key state and region. Pure: the AWS provider gathers the documents.
 */
import type {Outcome} from '../../../core/verdict.js'
import {
  evaluate,
  evaluateStatement,
  type ContextValue,
  type DecidingStatement,
  type EvalRequest,
  type NamedPolicy,
  type Verdict,
} from './evaluate.js'
import {statementList} from './policy.js'
import type {IamPolicy, IamStatement} from './types.js'

/** A policy document as the gatherer found it. */
export type DocState =
  | {state: 'ok'; policy: IamPolicy}
  | {state: 'absent'}
  /** Access denied or another failure to read it; `reason` says which. */
  | {state: 'unreadable'; reason: string}
  /** Stored but not a policy this evaluator can trust its reading of; `reason` names the problem. */
  | {state: 'malformed'; reason: string}

export interface Principal {
  /** IAM role (or user) ARN. */
  arn: string
  accountId: string
}

/** The principal's own (identity-based) side. */
export interface IdentitySide {
  /** false when it cannot be read from here (another account, or no permission). */
  visible: boolean
  policies: NamedPolicy[]
  /** The permissions boundary, when the role has one. */
  boundary?: NamedPolicy
  /** Why it is not visible. */
  reason?: string
}

/** What the operation's remedies point to. */
export interface RemedyContext {
  /** The exact `ingestgate grant apply ...` for this source and principal. */
  grantApply: string
  /** The exact `ingestgate check ... --live ...` that proves it as the principal. */
  checkLive: string
}

export interface StaticDecision {
  outcome: Outcome
  code: string
  cause: string
  decidedBy: string[]
  remedy: string
  /** True when only the resource owner's side was evaluated (the principal's side is in another account). */
  customerSideOnly: boolean
}

/** A statement with Sid, as shown to people: `"Sid"`, or `#index` without one. */
export function statementLabel(index: number, sid?: string): string {
  return sid ? `"${sid}" (#${index})` : `#${index}`
}

/** `bucket policy "Sid" (#0)`, `role inline policy read "Sid" (#1)`. */
export function refLabel(ref: DecidingStatement): string {
  return `${ref.policy} ${statementLabel(ref.index, ref.sid)}`
}

const ASSUMED_VENDOR_SIDE = '(the principal\'s own side, assumed to allow)'
const ALLOW_ALL: NamedPolicy = {name: ASSUMED_VENDOR_SIDE, policy: {Version: '2012-10-17', Statement: [{Effect: 'Allow', Action: '*', Resource: '*'}]}}

/** Condition keys whose Deny blocks callers outside the customer's network or organisation. */
export const NETWORK_ORG_KEYS: readonly string[] = [
  'aws:SourceVpce',
  'aws:SourceVpc',
  'aws:SourceVpcArn',
  'aws:SourceIp',
  'aws:VpcSourceIp',
  'aws:PrincipalOrgID',
  'aws:PrincipalOrgPaths',
  'aws:PrincipalAccount',
  'aws:SecureTransport',
]
const NETWORK_ORG_LOWER = new Set(NETWORK_ORG_KEYS.map((k) => k.toLowerCase()))

function networkKeysOf(st: IamStatement): string[] {
  const out: string[] = []
  for (const keys of Object.values(st.Condition ?? {})) for (const k of Object.keys(keys)) if (NETWORK_ORG_LOWER.has(k.toLowerCase())) out.push(k)
  return [...new Set(out)]
}

function conditionSummary(st: IamStatement, onlyKeys?: string[]): string {
  const parts: string[] = []
  const want = onlyKeys ? new Set(onlyKeys.map((k) => k.toLowerCase())) : undefined
  for (const [op, keys] of Object.entries(st.Condition ?? {})) {
    for (const [k, v] of Object.entries(keys)) {
      if (want && !want.has(k.toLowerCase())) continue
      parts.push(`${op} ${k} ${Array.isArray(v) ? v.join(', ') : String(v)}`)
    }
  }
  return parts.join('; ')
}

function statementAt(policies: NamedPolicy[], ref: DecidingStatement): IamStatement | undefined {
  const np = policies.find((p) => p.name === ref.policy)
  return np ? statementList(np.policy)[ref.index] : undefined
}

function docPolicies(name: string, doc: DocState): NamedPolicy[] {
  return doc.state === 'ok' ? [{name, policy: doc.policy}] : []
}

interface Evaluation {
  verdict: Verdict
  /** Only the resource side counts (the principal's side is assumed). */
  customerSideOnly: boolean
}

/**
 * Evaluate one request. Across accounts, when the principal's side cannot be seen, the principal's
 * side is assumed to allow and the answer is about the resource owner's side alone (and says so):
 * the customer can only vouch for what is theirs, and the live layer proves the rest.
 */
function evaluateFor(req: EvalRequest, resource: NamedPolicy[], identity: IdentitySide): Evaluation {
  const crossAccount = req.resourceAccountId !== undefined && req.resourceAccountId !== req.principal.accountId
  if (!identity.visible && crossAccount) {
    const verdict = evaluate(req, {resource, identity: [ALLOW_ALL], identityVisible: true})
    verdict.decidedBy = verdict.decidedBy.filter((r) => r.policy !== ASSUMED_VENDOR_SIDE)
    return {verdict, customerSideOnly: true}
  }
  let verdict = evaluate(req, {resource, identity: identity.policies, identityVisible: identity.visible})
  if (identity.visible && identity.boundary) verdict = applyBoundary(req, verdict, identity.boundary)
  return {verdict, customerSideOnly: false}
}

/**
 * A permissions boundary caps what identity policies grant. Denied or undecided by the boundary, an
 * allow that rests on identity statements is gone; one that rests on a resource statement naming the
 * role may be capped too (AWS caps grants to a role ARN by its boundary), so it becomes unknown.
 */
function applyBoundary(req: EvalRequest, v: Verdict, boundary: NamedPolicy): Verdict {
  if (v.decision !== 'allowed') return v
  const b = evaluate(req, {identity: [boundary], identityVisible: true})
  if (b.decision === 'allowed') return v
  if (b.decision === 'explicit-deny') return {...v, decision: 'explicit-deny', decidedBy: b.decidedBy, reason: `explicitly denied by the permissions boundary ${b.decidedBy.map(refLabel).join(', ')}`}
  const viaIdentityOnly = v.decidedBy.every((r) => r.kind === 'identity')
  if (b.decision === 'implicit-deny' && viaIdentityOnly) {
    return {...v, decision: 'implicit-deny', decidedBy: [], reason: `the role's identity policies allow it, but its permissions boundary "${boundary.name}" does not`}
  }
  return {
    ...v,
    decision: 'unknown',
    unknownKeys: b.unknownKeys,
    reason: `allowed by ${v.decidedBy.map(refLabel).join(', ')}, but the role's permissions boundary "${boundary.name}" ${b.decision === 'unknown' ? `may not allow it (${b.reason})` : 'does not allow it, and may cap this grant'}`,
  }
}

/** The plain S3/KMS context every request of the ingest cluster carries. */
function baseContext(region?: string): Record<string, ContextValue> {
  const ctx: Record<string, ContextValue> = {
    'aws:SecureTransport': true,
    'aws:ViaAWSService': false,
    'aws:PrincipalIsAWSService': false,
    'aws:SourceArn': null,
    'aws:SourceAccount': null,
    'aws:CalledVia': null,
  }
  if (region) ctx['aws:RequestedRegion'] = region
  return ctx
}

// ---------------------------------------------------------------------------------------------
// S3
// ---------------------------------------------------------------------------------------------

export type S3OperationId = 'list' | 'region' | 'get' | 'get-attributes'

export interface S3Facts {
  partition: string
  bucket: string
  /** The source prefix ('' for the whole bucket). */
  prefix: string
  ownerAccount: string
  region?: string
  bucketPolicy: DocState
  /** Set when RestrictPublicBuckets is on and these statements are public: S3 then refuses all cross-account access. */
  restrictPublicBuckets?: {statements: string[]}
  principal: Principal
  identity: IdentitySide
}

export function s3BucketArn(partition: string, bucket: string): string {
  return `arn:${partition}:s3:::${bucket}`
}

/** The requests one operation makes: action, resource ARN and context as the cluster sends them. */
export function s3Requests(op: S3OperationId, facts: S3Facts, key?: string): EvalRequest[] {
  const bucketArn = s3BucketArn(facts.partition, facts.bucket)
  const principal = {arn: facts.principal.arn, accountId: facts.principal.accountId}
  const base = {principal, resourceAccountId: facts.ownerAccount}
  const ctx = {...baseContext(facts.region), 's3:authType': 'REST-HEADER', 's3:signatureversion': 'AWS4-HMAC-SHA256', 's3:ResourceAccount': facts.ownerAccount}
  // The TLS version and the object's tags are real request keys this side does not see.
  const unknownKeys = ['s3:TlsVersion', 's3:ExistingObjectTag/*']
  switch (op) {
    case 'list':
      return [
        {
          ...base,
          action: 's3:ListBucket',
          resource: bucketArn,
          context: {...ctx, 's3:prefix': facts.prefix === '' ? null : facts.prefix, 's3:delimiter': null, 's3:max-keys': '1000'},
          unknownKeys,
        },
      ]
    case 'region':
      return [{...base, action: 's3:GetBucketLocation', resource: bucketArn, context: ctx, unknownKeys}]
    case 'get':
    case 'get-attributes': {
      const objectArn = `${bucketArn}/${key ?? ''}`
      const actions = op === 'get' ? ['s3:GetObject'] : ['s3:GetObject', 's3:GetObjectAttributes']
      return actions.map((action) => ({...base, action, resource: objectArn, context: ctx, unknownKeys}))
    }
  }
}

/**
 * Decide one S3 operation statically: the bucket policy and (when visible) the principal's identity
 * policies, Block Public Access, and the hand-written mistakes that match nothing.
 */
export function decideS3(op: S3OperationId, facts: S3Facts, remedies: RemedyContext, key?: string): StaticDecision {
  const reqs = s3Requests(op, facts, key)
  const crossAccount = facts.ownerAccount !== facts.principal.accountId
  const bp = facts.bucketPolicy
  if (bp.state === 'malformed' || bp.state === 'unreadable') {
    return {
      outcome: 'unknown',
      code: bp.state === 'malformed' ? 'bucket-policy-malformed' : 'bucket-policy-unreadable',
      cause: `the bucket policy ${bp.state === 'malformed' ? 'cannot be evaluated' : 'cannot be read'}: ${bp.reason}`,
      decidedBy: ['bucket policy'],
      remedy:
        bp.state === 'malformed'
          ? `Fix the bucket policy of ${facts.bucket} (S3 console: Permissions > Bucket policy), then re-run; meanwhile prove access as the principal: ${remedies.checkLive}`
          : `Run as an admin of the bucket's account who may read its policy (s3:GetBucketPolicy), or prove access as the principal: ${remedies.checkLive}`,
      customerSideOnly: false,
    }
  }
  if (crossAccount && facts.restrictPublicBuckets && facts.restrictPublicBuckets.statements.length > 0) {
    const sts = facts.restrictPublicBuckets.statements.join(', ')
    return {
      outcome: 'fail',
      code: 'restrict-public-buckets',
      cause: `RestrictPublicBuckets is on and the bucket policy has public statements (${sts}): S3 refuses every cross-account request while they exist`,
      decidedBy: ['setting PublicAccessBlock.RestrictPublicBuckets', ...facts.restrictPublicBuckets.statements.map((s) => `bucket policy ${s}`)],
      remedy: `Remove or restrict the public statements ${sts} of the bucket policy of ${facts.bucket} (e.g. a condition on aws:SourceVpce), or turn RestrictPublicBuckets off`,
      customerSideOnly: false,
    }
  }
  const resource = docPolicies('bucket policy', bp)
  const decisions = reqs.map((req) => decideOne(req, resource, facts.identity, remedies, {kind: 's3', bucket: facts.bucket, op}))
  return combine(decisions, reqs.map((r) => r.action))
}

interface DecideTarget {
  kind: 's3' | 'kms'
  bucket?: string
  op?: S3OperationId
  keyArn?: string
}

function decideOne(req: EvalRequest, resource: NamedPolicy[], identity: IdentitySide, remedies: RemedyContext, target: DecideTarget): StaticDecision {
  const {verdict: v, customerSideOnly} = evaluateFor(req, resource, identity)
  const all = [...resource, ...identity.policies, ...(identity.boundary ? [identity.boundary] : [])]
  const labels = v.decidedBy.map(refLabel)
  const notVisible = customerSideOnly
    ? `; the principal's own identity policies (account ${req.principal.accountId}) cannot be seen from here and must allow ${req.action} too`
    : ''
  switch (v.decision) {
    case 'allowed':
      return {
        outcome: 'pass',
        code: customerSideOnly ? 'allowed-resource-side' : 'allowed',
        cause: `allowed by ${labels.join(', ')}${notVisible}`,
        decidedBy: labels,
        remedy: '',
        customerSideOnly,
      }
    case 'explicit-deny':
      return {
        outcome: 'fail',
        code: 'explicit-deny',
        cause: `${req.action} is explicitly denied by ${labels.join(', ') || v.reason}`,
        decidedBy: labels,
        remedy: denyRemedy(v.decidedBy, all, req),
        customerSideOnly,
      }
    case 'implicit-deny':
      return {
        outcome: 'fail',
        code: 'implicit-deny',
        cause: v.reason.startsWith('implicitly denied across accounts')
          ? `${req.action} is not allowed across accounts${v.reason.slice('implicitly denied across accounts'.length)}`
          : `${req.action} is not allowed: ${v.reason.replace(/^implicitly denied:\s*/, '') || 'no statement allows it'}`,
        decidedBy: [],
        remedy: implicitRemedy(v, req, remedies, target, identity),
        customerSideOnly,
      }
    case 'unknown': {
      const denies = v.decidedBy.filter((r) => r.effect === 'Deny')
      const keys = v.unknownKeys
      const networkDeny = denies.some((r) => networkKeysOf(statementAt(all, r) ?? ({} as IamStatement)).length > 0)
      let remedy = `Prove it as the principal: ${remedies.checkLive}`
      if (networkDeny) {
        remedy = `${denies.map(refLabel).join(', ')} denies requests from outside your network or organisation (${keys.join(', ')}); the ingest cluster calls from outside both: add an exception for the ingest role (a StringNotEquals aws:PrincipalArn condition) or remove the statement. Then prove it: ${remedies.checkLive}`
      } else if (!identity.visible && !customerSideOnly) {
        remedy = `Run as an admin who may read the role's policies (iam:GetRole, iam:ListRolePolicies, ...), or prove it as the principal: ${remedies.checkLive}`
      }
      return {
        outcome: 'unknown',
        code: keys.length > 0 ? 'unknown-condition' : 'identity-not-visible',
        cause: `${req.action} ${v.reason.replace(/^cannot be decided: /, 'cannot be decided here: ')}`,
        decidedBy: labels,
        remedy,
        customerSideOnly,
      }
    }
  }
}

function denyRemedy(refs: DecidingStatement[], all: NamedPolicy[], req: EvalRequest): string {
  return refs
    .map((r) => {
      const st = statementAt(all, r)
      const net = st ? networkKeysOf(st) : []
      const where = `statement ${statementLabel(r.index, r.sid)} of the ${r.policy}`
      if (st && net.length > 0) {
        return `Narrow ${where}: it denies ${req.action} unless ${conditionSummary(st, net)}, which the ingest cluster (outside your network and organisation) does not meet; add an exception for the ingest role (StringNotEquals aws:PrincipalArn) or remove it`
      }
      return `Remove or narrow ${where}, which denies ${req.action} to the ingest role`
    })
    .join('. ')
}

function implicitRemedy(v: Verdict, req: EvalRequest, remedies: RemedyContext, target: DecideTarget, identity: IdentitySide): string {
  const identityMissing = identity.visible && v.sides.identity === false
  const resourceMissing = v.sides.resource === false
  if (target.kind === 'kms') {
    const grant = `${remedies.grantApply} --kms-key ${target.keyArn}`
    if (!resourceMissing && identityMissing) return `Allow kms:Decrypt on ${target.keyArn} in an identity policy of ${req.principal.arn}, or create a grant: ${grant}`
    return grant
  }
  if (!resourceMissing && identityMissing && !v.crossAccount) {
    // Same account: the bucket statement names only the account, which delegates to IAM.
    return `${remedies.grantApply} (the bucket policy names only the account; this grants the role itself)`
  }
  if (!resourceMissing && identityMissing) return `Allow ${req.action} on ${req.resource} in an identity policy of ${req.principal.arn} (the bucket policy already grants it)`
  if (/permissions boundary/.test(v.reason)) return `Allow ${req.action} on ${req.resource} in the permissions boundary of ${req.principal.arn}`
  return remedies.grantApply
}

/** get-attributes needs two actions: the worse verdict decides, the cause names the action. */
function combine(decisions: StaticDecision[], actions: string[]): StaticDecision {
  if (decisions.length === 1) return decisions[0]
  const rank: Record<Outcome, number> = {fail: 3, unknown: 2, pass: 1, skip: 0}
  const worst = decisions.reduce((a, b) => (rank[b.outcome] > rank[a.outcome] ? b : a))
  if (worst.outcome === 'pass') {
    return {
      ...worst,
      cause: decisions.map((d, i) => `${actions[i]} ${d.cause}`).join('; '),
      decidedBy: [...new Set(decisions.flatMap((d) => d.decidedBy))],
      customerSideOnly: decisions.some((d) => d.customerSideOnly),
    }
  }
  return worst
}

// ---------------------------------------------------------------------------------------------
// KMS
// ---------------------------------------------------------------------------------------------

export interface GrantInfo {
  grantId: string
  name?: string
  granteePrincipal?: string
  operations: string[]
  constraints?: {encryptionContextSubset?: Record<string, string>; encryptionContextEquals?: Record<string, string>}
}

export type GrantsState = {state: 'ok'; grants: GrantInfo[]} | {state: 'unreadable'; reason: string}

export interface KmsKeyFacts {
  /** The key as found: an ARN, id or alias. */
  ref: string
  /** Key ARN, once described. */
  arn?: string
  region?: string
  accountId?: string
  /** 'AWS' for AWS-managed keys such as aws/s3. */
  manager?: string
  /** Enabled, Disabled, PendingDeletion, ... (undefined when not described). */
  state?: string
  keyPolicy: DocState
  grants: GrantsState
  /** What KMS sees as the encryption context when S3 decrypts: aws:s3:arn of a sampled object (or the bucket with a Bucket Key). */
  encryptionContext?: Record<string, string>
  /** Why the key could not be described, if it could not. */
  describeError?: string
}

export interface KmsDecideInput {
  key: KmsKeyFacts
  principal: Principal
  identity: IdentitySide
  bucketRegion?: string
}

/** The alias or key the AWS-managed S3 key goes by. */
export function isAwsManagedS3Key(key: Pick<KmsKeyFacts, 'ref' | 'manager'>): boolean {
  return key.manager === 'AWS' || /(^|:)alias\/aws\/s3$/.test(key.ref)
}

function grantMatch(g: GrantInfo, p: Principal, ctx: Record<string, string> | undefined): 'direct' | 'account' | 'unknown' | 'none' {
  if (!g.operations.includes('Decrypt')) return 'none'
  const grantee = g.granteePrincipal ?? ''
  let who: 'direct' | 'account' | 'none' = 'none'
  if (grantee === p.arn) who = 'direct'
  else if (grantee === p.accountId || grantee === `arn:${p.arn.split(':')[1] ?? 'aws'}:iam::${p.accountId}:root`) who = 'account'
  if (who === 'none') return 'none'
  const c = g.constraints
  if (!c || (!c.encryptionContextEquals && !c.encryptionContextSubset)) return who
  if (!ctx) return 'unknown'
  if (c.encryptionContextEquals) {
    const a = Object.entries(c.encryptionContextEquals)
    if (a.length !== Object.keys(ctx).length || a.some(([k, v]) => ctx[k] !== v)) return 'none'
  }
  if (c.encryptionContextSubset && Object.entries(c.encryptionContextSubset).some(([k, v]) => ctx[k] !== v)) return 'none'
  return who
}

/** The kms:Decrypt request S3 makes on the principal's behalf when it reads an SSE-KMS object. */
export function decryptRequest(input: KmsDecideInput): EvalRequest {
  const {key, principal, bucketRegion} = input
  const region = key.region ?? bucketRegion
  const context: Record<string, ContextValue> = {
    ...baseContext(region),
    'kms:CallerAccount': principal.accountId,
    'kms:GrantIsForAWSResource': null,
    'kms:RequestAlias': null,
  }
  if (region) context['kms:ViaService'] = `s3.${region}.amazonaws.com`
  const unknownKeys: string[] = []
  if (key.encryptionContext) {
    for (const [k, v] of Object.entries(key.encryptionContext)) context[`kms:EncryptionContext:${k}`] = v
    context['kms:EncryptionContextKeys'] = Object.keys(key.encryptionContext)
  } else {
    unknownKeys.push('kms:EncryptionContext:aws:s3:arn', 'kms:EncryptionContextKeys')
  }
  return {principal: {...principal}, action: 'kms:Decrypt', resource: key.arn ?? key.ref, resourceAccountId: key.accountId, context, unknownKeys}
}

/**
 * Decide kms:Decrypt for one key in use: key state, region and AWS-managed keys first (each
 * defeats any policy), then the key policy (which must itself allow, or enable IAM policies for
 * the account, unlike S3), then grants (which can allow but never override a Deny).
 */
export function decideDecrypt(input: KmsDecideInput, remedies: RemedyContext): StaticDecision {
  const {key, principal, identity, bucketRegion} = input
  const keyId = key.arn ?? key.ref
  const crossAccount = key.accountId !== undefined && key.accountId !== principal.accountId
  const fail = (code: string, cause: string, decidedBy: string[], remedy: string): StaticDecision => ({outcome: 'fail', code, cause, decidedBy, remedy, customerSideOnly: false})
  const unknown = (code: string, cause: string, decidedBy: string[], remedy: string): StaticDecision => ({outcome: 'unknown', code, cause, decidedBy, remedy, customerSideOnly: false})

  // aws/s3 lives in the bucket owner's account (the gatherer sets accountId for the alias too).
  if (isAwsManagedS3Key(key) && key.accountId !== principal.accountId) {
    return fail(
      'aws-managed-key',
      'the data is encrypted with the AWS-managed key aws/s3, whose key policy cannot be changed: no other account can ever decrypt it',
      ['key aws/s3 (AWS-managed)'],
      'Re-encrypt the data under a customer-managed KMS key (aws s3 cp --recursive with --sse aws:kms --sse-kms-key-id KEY_ARN), make it the bucket default, then run grant apply',
    )
  }
  if (key.describeError && !key.arn) {
    return unknown('kms-key-unreadable', `the key cannot be described: ${key.describeError}`, [], `Run as a key administrator of ${key.ref} (kms:DescribeKey), or prove it as the principal: ${remedies.checkLive}`)
  }
  if (key.state && key.state !== 'Enabled') {
    const remedy = key.state === 'PendingDeletion' ? `aws kms cancel-key-deletion --key-id ${keyId} && aws kms enable-key --key-id ${keyId}` : `aws kms enable-key --key-id ${keyId}`
    return fail('kms-key-state', `the key is ${key.state}: KMS refuses every Decrypt with it`, [`key state ${key.state}`], remedy)
  }
  if (key.region && bucketRegion && key.region !== bucketRegion) {
    return fail(
      'kms-region-mismatch',
      `the key is in ${key.region} but the bucket is in ${bucketRegion}; S3 only uses keys of its own region`,
      [`key region ${key.region}`],
      `Re-encrypt the data under a key in ${bucketRegion}`,
    )
  }
  if (key.keyPolicy.state === 'unreadable' || key.keyPolicy.state === 'malformed') {
    const granted = key.grants.state === 'ok' && key.grants.grants.some((g) => grantMatch(g, principal, key.encryptionContext) !== 'none')
    return unknown(
      key.keyPolicy.state === 'unreadable' ? 'key-policy-unreadable' : 'key-policy-malformed',
      `the key policy ${key.keyPolicy.state === 'unreadable' ? 'cannot be read' : 'cannot be evaluated'}: ${key.keyPolicy.reason}${granted ? ' (a grant gives Decrypt, but the key policy could still deny it)' : ''}`,
      ['key policy'],
      `Run as a key administrator (kms:GetKeyPolicy, kms:ListGrants on ${keyId}), or prove it as the principal: ${remedies.checkLive}`,
    )
  }

  const req = decryptRequest(input)
  const resource = docPolicies('key policy', key.keyPolicy)
  const target: DecideTarget = {kind: 'kms', keyArn: keyId}
  let d = decideOne(req, resource, identity, remedies, target)

  // Same account, KMS differs from S3: IAM policies count only when the key policy enables them
  // (a statement for the account), never by themselves.
  if (d.outcome === 'pass' && !crossAccount && key.keyPolicy.state === 'ok') {
    const {verdict} = evaluateFor(req, resource, identity)
    if (verdict.decidedBy.every((r) => r.kind === 'identity')) {
      const delegation = statementList(key.keyPolicy.policy).map((st) => ({st, r: st.Effect === 'Allow' ? evaluateStatement(st, req, 'resource') : undefined}))
      const enabled = delegation.some(({r}) => r?.result === 'match' && r.grantee === 'account')
      const maybe = delegation.some(({r}) => r?.result === 'unknown' && r.grantee === 'account')
      if (!enabled) {
        d = maybe
          ? unknown('unknown-condition', 'the role\'s identity policy allows kms:Decrypt, but whether the key policy enables IAM policies depends on a condition', d.decidedBy, `Prove it as the principal: ${remedies.checkLive}`)
          : fail(
              'implicit-deny',
              `kms:Decrypt is not allowed: the role's identity policy allows it, but the key policy does not enable IAM policies for account ${principal.accountId} (no statement for arn:aws:iam::${principal.accountId}:root)`,
              [],
              `${remedies.grantApply} --kms-key ${keyId}`,
            )
      }
    }
  }

  if (d.outcome === 'pass' || d.code === 'explicit-deny') return d
  if (d.outcome === 'unknown' && d.decidedBy.length > 0 && d.code === 'unknown-condition') {
    // An undecided Deny stays undecided whatever the grants say.
    const {verdict} = evaluateFor(req, resource, identity)
    if (verdict.decidedBy.some((r) => r.effect === 'Deny')) return d
  }
  if (key.grants.state === 'unreadable') {
    return unknown('grants-unreadable', `${d.cause}; the key's grants cannot be read (${key.grants.reason}) and may allow it`, d.decidedBy, `Run as a key administrator (kms:ListGrants on ${keyId}), or prove it as the principal: ${remedies.checkLive}`)
  }
  const matches = key.grants.grants.map((g) => ({g, m: grantMatch(g, principal, key.encryptionContext)}))
  const direct = matches.find((x) => x.m === 'direct')
  const viaAccount = matches.find((x) => x.m === 'account')
  const undecided = matches.find((x) => x.m === 'unknown')
  const grantLabel = (g: GrantInfo) => `KMS grant ${g.name ?? '(no name)'} (${g.grantId.slice(0, 12)}…)`
  if (direct || (viaAccount && (crossAccount ? !identity.visible : false))) {
    const g = (direct ?? viaAccount)!.g
    const customerSideOnly = crossAccount && !identity.visible
    return {
      outcome: 'pass',
      code: customerSideOnly ? 'allowed-resource-side' : 'allowed',
      cause: `allowed by ${grantLabel(g)}${customerSideOnly ? `; the principal's own identity policies (account ${principal.accountId}) cannot be seen from here` : ''}`,
      decidedBy: [grantLabel(g)],
      remedy: '',
      customerSideOnly,
    }
  }
  if (undecided) {
    return unknown(
      'grant-constraint',
      `${grantLabel(undecided.g)} gives Decrypt only for an encryption context, and no sampled object under this key shows which context S3 will send`,
      [grantLabel(undecided.g)],
      `Prove it as the principal: ${remedies.checkLive}`,
    )
  }
  return d
}

// ---------------------------------------------------------------------------------------------
// Findings from the documents
// ---------------------------------------------------------------------------------------------

export interface PolicyFinding {
  code: string
  severity: 'error' | 'warning' | 'info'
  message: string
  remedy?: string
}

function list(v: unknown): string[] {
  return v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String)
}

function namesPrincipal(st: IamStatement, p: Principal): boolean {
  if (st.Principal === undefined) return false
  if (st.Principal === '*') return true
  const aws = list((st.Principal as Record<string, unknown>).AWS)
  const role = p.arn
  const roleName = role.slice(role.lastIndexOf('/') + 1)
  return aws.some((e) => e === '*' || e === role || e === p.accountId || e === `arn:aws:iam::${p.accountId}:root` || e.endsWith(`:role/${roleName}`))
}

/** Literal actions (no wildcard) a statement names, lower-cased. */
function literalActions(st: IamStatement): Set<string> {
  return new Set(list(st.Action).filter((a) => !/[*?]/.test(a)).map((a) => a.toLowerCase()))
}

/**
 * The hand-written mistakes that match nothing, for the statements that name the principal (or
 * its account, or everyone): s3:ListBucket on BUCKET/* only, s3:GetObject on the bare bucket only.
 * Also Deny statements on network or organisation conditions that apply to these requests.
 */
export function lintBucketPolicy(policy: IamPolicy, facts: Pick<S3Facts, 'partition' | 'bucket' | 'principal'>, requests: EvalRequest[]): PolicyFinding[] {
  const out: PolicyFinding[] = []
  const bucketArn = s3BucketArn(facts.partition, facts.bucket)
  statementList(policy).forEach((st, index) => {
    const at = `statement ${statementLabel(index, st.Sid)} of the bucket policy`
    if (st.Effect === 'Allow' && namesPrincipal(st, facts.principal)) {
      const actions = literalActions(st)
      const resources = list(st.Resource)
      const onBucket = resources.some((r) => r === bucketArn || r === '*' || r === 'arn:aws:s3:::*')
      const onObjects = resources.some((r) => r.startsWith(`${bucketArn}/`))
      if (actions.has('s3:listbucket') && !onBucket && onObjects) {
        out.push({
          code: 'listbucket-on-objects',
          severity: 'error',
          message: `${at} allows s3:ListBucket on ${resources.filter((r) => r.startsWith(`${bucketArn}/`)).join(', ')}, which matches nothing: ListBucket is authorised against the bucket ARN ${bucketArn}`,
          remedy: `Change its Resource for s3:ListBucket to ${bucketArn}, or run grant apply (which writes it correctly)`,
        })
      }
      const objectActions = ['s3:getobject', 's3:getobjectattributes'].filter((a) => actions.has(a))
      if (objectActions.length > 0 && onBucket && !onObjects && !resources.some((r) => r.includes('/') || r === '*' || r === 'arn:aws:s3:::*')) {
        out.push({
          code: 'getobject-on-bucket',
          severity: 'error',
          message: `${at} allows ${objectActions.map((a) => (a === 's3:getobject' ? 's3:GetObject' : 's3:GetObjectAttributes')).join(' and ')} on the bare bucket ARN ${bucketArn}, which matches nothing: object reads are authorised against ${bucketArn}/KEY`,
          remedy: `Change its Resource for object reads to ${bucketArn}/* (or ${bucketArn}/PREFIX*), or run grant apply`,
        })
      }
    }
    if (st.Effect === 'Deny') {
      const keys = networkKeysOf(st)
      if (keys.length === 0) return
      const results = requests.map((r) => evaluateStatement(st, r, 'resource').result)
      if (results.every((r) => r === 'nomatch')) return
      const certain = results.includes('match')
      out.push({
        code: 'network-deny',
        severity: 'warning',
        message: `${at} denies requests unless ${conditionSummary(st, keys)}; the ingest cluster calls from outside your network and organisation, so it ${certain ? 'denies' : 'will most likely deny'} the ingest role`,
        remedy: 'Add an exception for the ingest role (StringNotEquals aws:PrincipalArn) or remove the statement',
      })
    }
  })
  return out
}
