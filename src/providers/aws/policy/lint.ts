/**
 * Findings from the bucket policy itself: the hand-written mistakes, the network/organisation denies
 * that reach the cluster, deleted principals' unique ids and the statements Block Public Access
 * counts as public.
 */
import {conditionSummary, networkKeysOf, s3BucketArn, statementLabel, type Principal, type S3Facts} from './access.js'
import {evaluateStatement, type EvalRequest} from './evaluate.js'
import {parseCidr} from './cidr.js'
import {parseOperator} from './conditions.js'
import {statementList, toList, type StatementRef} from './policy.js'
import type {IamPolicy, IamStatement} from './types.js'
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

const UNIQUE_ID = /^(AROA|AIDA)[A-Z0-9]{12,}$/

/**
 * Principals written as bare IAM unique ids (`AROA…` role, `AIDA…` user). S3 shows these where the
 * role or user was deleted, and PutBucketPolicy then fails for the whole document, so they must be
 * named (and removed by the owner) before any write.
 */
export function findStaleUniqueIds(p: IamPolicy): {index: number; sid?: string; id: string}[] {
  return statementList(p).flatMap((s, index) =>
    [s.Principal, s.NotPrincipal]
      .flatMap((block) => (block && block !== '*' && block.AWS !== undefined ? (toList(block.AWS) as string[]) : []))
      .filter((id) => UNIQUE_ID.test(id))
      .map((id) => ({index, sid: s.Sid, id})),
  )
}

/** Condition keys that make a wildcard-principal statement non-public when held to fixed values. */
const NARROWING_KEYS = new Set([
  'aws:sourcearn',
  'aws:sourceaccount',
  'aws:sourceowner',
  'aws:sourcevpc',
  'aws:sourcevpce',
  'aws:principalarn',
  'aws:principalaccount',
  'aws:principalorgid',
  'aws:userid',
  's3:dataaccesspointarn',
  's3:dataaccesspointaccount',
])

/**
 * Allow statements S3 Block Public Access counts as public ("The meaning of public" in the S3 user
 * guide): a wildcard principal or a NotPrincipal, unless a condition holds aws:SourceIp to non-public
 * CIDRs or one of NARROWING_KEYS to fixed values. Such a statement makes BlockPublicPolicy refuse the
 * whole merged document and RestrictPublicBuckets cut off every cross-account grant, ours included.
 */
export function findPublicStatements(p: IamPolicy): StatementRef[] {
  return statementList(p).flatMap((s, index) => (isPublic(s) ? [{index, sid: s.Sid}] : []))
}

function isPublic(s: IamStatement): boolean {
  if (s.Effect !== 'Allow') return false
  const everyone =
    s.NotPrincipal !== undefined ||
    (s.Principal !== undefined && (s.Principal === '*' || Object.values(s.Principal).some((ids) => toList(ids).some((id) => String(id).includes('*')))))
  return everyone && !Object.entries(s.Condition ?? {}).some(([operator, keys]) => Object.entries(keys).some(([key, values]) => narrows(operator, key.toLowerCase(), toList(values))))
}

function narrows(operator: string, key: string, values: unknown[]): boolean {
  const op = parseOperator(operator)
  // ForAllValues and ...IfExists also match requests without the key, and a negated operator matches
  // every value but a few: none of them holds the request to fixed values.
  if (!op?.base || op.qualifier === 'all' || op.ifExists || op.base.negated || op.base.compare !== 'eq' || values.length === 0) return false
  if (key === 'aws:sourceip') return op.base.family === 'ip' && values.every((v) => typeof v === 'string' && isNonPublicCidr(v))
  // A wildcard or a policy variable is not a fixed value.
  return (
    NARROWING_KEYS.has(key) &&
    ['string', 'string-ci', 'string-like', 'arn'].includes(op.base.family) &&
    values.every((v) => String(v) !== '' && !/[*?]|\$\{/.test(String(v)))
  )
}

/**
 * An address or a CIDR block S3 would not call public. IPv4: /8 or longer (0.0.0.0/0 and anything
 * wider than /8 count as public); IPv6: /32 or longer (judgement: the size of one large allocation).
 */
function isNonPublicCidr(value: string): boolean {
  const cidr = parseCidr(value)
  return cidr !== null && cidr.bits >= (cidr.words.length === 2 ? 8 : 32)
}
