/**
 * The static verdict of kms:Decrypt for each key in use: key policies that must enable IAM
 * policies, grants (and their encryption-context constraints), key state and region, the
 * AWS-managed aws/s3 key that no other account can use. Pure.
 */
import {
  baseContext,
  decideOne,
  docPolicies,
  evaluateFor,
  type DecideTarget,
  type DocState,
  type IdentitySide,
  type Principal,
  type RemedyContext,
  type StaticDecision,
} from './access.js'
import {evaluateStatement, type ContextValue, type EvalRequest} from './evaluate.js'
import {statementList} from './policy.js'

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
