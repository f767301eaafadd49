/**
 * The static verdicts of `check` for AWS: what the evaluator's answer means for each operation the
 * ingest cluster performs on an S3 source (list, region, get, get-attributes), with what decided it
 * and the fix: S3's same-account/cross-account rules and Block Public Access. The shared pieces
 * (document states, evaluation for a principal, remedies) are here too; kms:Decrypt is in
 * kms-access.ts, the bucket-policy lint in lint.ts. Pure: the AWS provider gathers the documents.
 */
import type {Outcome} from '../../../core/verdict.js'
import {
  evaluate,
  NETWORK_KEYS,
  ORG_KEYS,
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

export const ASSUMED_VENDOR_SIDE = '(the principal\'s own side, assumed to allow)'
const ALLOW_ALL: NamedPolicy = {name: ASSUMED_VENDOR_SIDE, policy: {Version: '2012-10-17', Statement: [{Effect: 'Allow', Action: '*', Resource: '*'}]}}

/** Condition keys whose Deny blocks callers outside the customer's network or organisation. */
export const NETWORK_ORG_KEYS: readonly string[] = [...NETWORK_KEYS, ...ORG_KEYS, 'aws:PrincipalAccount', 'aws:SecureTransport']
export const NETWORK_ORG_LOWER = new Set(NETWORK_ORG_KEYS.map((k) => k.toLowerCase()))

export function networkKeysOf(st: IamStatement): string[] {
  const out: string[] = []
  for (const keys of Object.values(st.Condition ?? {})) for (const k of Object.keys(keys)) if (NETWORK_ORG_LOWER.has(k.toLowerCase())) out.push(k)
  return [...new Set(out)]
}

export function conditionSummary(st: IamStatement, onlyKeys?: string[]): string {
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

export function statementAt(policies: NamedPolicy[], ref: DecidingStatement): IamStatement | undefined {
  const np = policies.find((p) => p.name === ref.policy)
  return np ? statementList(np.policy)[ref.index] : undefined
}

export function docPolicies(name: string, doc: DocState): NamedPolicy[] {
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
export function evaluateFor(req: EvalRequest, resource: NamedPolicy[], identity: IdentitySide): Evaluation {
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
export function applyBoundary(req: EvalRequest, v: Verdict, boundary: NamedPolicy): Verdict {
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
export function baseContext(region?: string): Record<string, ContextValue> {
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

export interface DecideTarget {
  kind: 's3' | 'kms'
  bucket?: string
  op?: S3OperationId
  keyArn?: string
}

export function decideOne(req: EvalRequest, resource: NamedPolicy[], identity: IdentitySide, remedies: RemedyContext, target: DecideTarget): StaticDecision {
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

export function denyRemedy(refs: DecidingStatement[], all: NamedPolicy[], req: EvalRequest): string {
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

export function implicitRemedy(v: Verdict, req: EvalRequest, remedies: RemedyContext, target: DecideTarget, identity: IdentitySide): string {
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
export function combine(decisions: StaticDecision[], actions: string[]): StaticDecision {
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
