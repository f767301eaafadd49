/**
 * The static layer of the AWS check: with the admin's credentials, read everything that decides the
 * ingest principal's access (bucket policy, Block Public Access, Object Ownership, default
 * encryption, a spread sample of objects' encryption, the key policy and grants of every key in
 * use, and the principal's identity policies when it is in the same account), then let the pure
 * core decide each operation. A document that cannot be read makes its rows unknown, never a crash.
 */
import type {AwsClients, ObjectEncryption, PublicAccessBlock} from '../../clients/aws/index.js'
import type {AppContext} from '../../context.js'
import {decideS3, s3BucketArn, s3Requests, type DocState, type IdentitySide, type RemedyContext, type S3Facts, type StaticDecision} from './policy/access.js'
import {decideDecrypt, isAwsManagedS3Key, type GrantsState, type KmsKeyFacts} from './policy/kms-access.js'
import {lintBucketPolicy} from './policy/lint.js'
import type {NamedPolicy} from './policy/evaluate.js'
import {findPublicStatements, findStaleUniqueIds} from './policy/lint.js'
import {parsePolicyDocument} from './policy/policy.js'
import type {IamPolicy} from './policy/types.js'
import {mapBounded, spreadSample} from '../../core/sample.js'
import type {CheckRow, Finding} from '../../core/verdict.js'
import {AppError, RemoteError} from '../../errors.js'
import type {CheckOptions} from '../types.js'
import type {AwsRequest} from './options.js'
import {bucketOwnerView} from './bucket-owner.js'
import type {AwsOperationId, CheckPrincipal} from './check-common.js'

/** An object the static layer sampled, with its encryption, for the live layer to probe too. */
export interface SampledObject {
  key: string
  size: number
  encryption?: ObjectEncryption
}

export interface StaticOutcome {
  rows: CheckRow[]
  findings: Finding[]
  /** Who the static layer ran as. */
  identity: string
  ownerAccount: string
  region?: string
  sample: SampledObject[]
  /** KMS keys in use: key ARN (or reference) -> an object of the sample encrypted with it, if any. */
  keys: Array<{key: string; object?: string}>
}

function why(error: unknown): string {
  return error instanceof AppError ? error.message : String((error as Error)?.message ?? error)
}

function isDenied(error: unknown): boolean {
  return error instanceof RemoteError && error.code === 'ACCESS_DENIED'
}

/** Run a read; an access denial (or any failure) becomes data instead of an exception. */
type Settled<T> = {ok: true; value: T} | {ok: false; error: unknown}

async function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  try {
    return {ok: true, value: await p}
  } catch (error) {
    return {ok: false, error}
  }
}

/** Rethrow what means the check cannot run at all (credentials, network), keep the rest as data. */
function fatal(error: unknown): boolean {
  return error instanceof AppError && (error.exitCode === 3 || error.code === 'NETWORK' || error.code === 'NO_SUCH_BUCKET')
}

function parseIdentityDocument(text: string): IamPolicy | undefined {
  try {
    const data = JSON.parse(text) as IamPolicy
    return data && typeof data === 'object' && data.Statement !== undefined ? data : undefined
  } catch {
    return undefined
  }
}

/** The role's inline and managed policies and its boundary, when the admin may read them. */
async function readIdentity(aws: AwsClients, principal: CheckPrincipal, sameAccount: boolean, findings: Finding[]): Promise<IdentitySide> {
  if (!sameAccount) {
    return {visible: false, policies: [], reason: `the principal is in account ${principal.accountId}, not this one`}
  }
  if (principal.kind === 'user') {
    return {visible: false, policies: [], reason: 'identity policies of IAM users (and their groups) are not read by check'}
  }
  try {
    const iam = await aws.iam()
    const role = await iam.getRole(principal.name)
    const [inline, attached] = await Promise.all([iam.listRolePolicies(principal.name), iam.listAttachedRolePolicies(principal.name)])
    const policies: NamedPolicy[] = []
    const docs = await Promise.all([
      ...inline.map(async (name) => ({name: `role inline policy ${name}`, text: await iam.getRolePolicy(principal.name, name)})),
      ...attached.map(async (p) => ({name: `managed policy ${p.name}`, text: await iam.getPolicyDocument(p.arn)})),
    ])
    for (const d of docs) {
      const policy = parseIdentityDocument(d.text)
      if (policy) policies.push({name: d.name, policy})
      else findings.push({code: 'identity-policy-unreadable', severity: 'warning', message: `The ${d.name} of ${principal.grantArn} is not a policy document that can be evaluated; it was left out.`})
    }
    let boundary: NamedPolicy | undefined
    if (role.permissionsBoundaryArn) {
      const text = await iam.getPolicyDocument(role.permissionsBoundaryArn)
      const policy = parseIdentityDocument(text)
      const name = `permissions boundary ${role.permissionsBoundaryArn.slice(role.permissionsBoundaryArn.lastIndexOf('/') + 1)}`
      if (policy) boundary = {name, policy}
      findings.push({code: 'permissions-boundary', severity: 'info', message: `${principal.grantArn} has a permissions boundary (${role.permissionsBoundaryArn}); identity grants are capped by it.`})
    }
    return {visible: true, policies, boundary}
  } catch (error) {
    if (error instanceof RemoteError && error.code === 'NO_SUCH_ENTITY') {
      findings.push({
        code: 'principal-not-found',
        severity: 'error',
        message: `The role ${principal.grantArn} does not exist in account ${principal.accountId}.`,
        remedy: 'Check the principal ARN with support; a role that was deleted and recreated must be granted again (grant apply).',
      })
      return {visible: true, policies: []}
    }
    if (fatal(error)) throw error
    findings.push({
      code: 'identity-policies-unreadable',
      severity: 'warning',
      message: `The identity policies of ${principal.grantArn} cannot be read (${why(error)}); verdicts that need them are unknown.`,
      remedy: 'Run as an admin who may read IAM roles (iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicy, iam:GetPolicyVersion).',
    })
    return {visible: false, policies: [], reason: `cannot be read: ${why(error)}`}
  }
}

function keyRegionOf(ref: string): string | undefined {
  return /^arn:[^:]+:kms:([^:]+):/.exec(ref)?.[1]
}

function keyAccountOf(ref: string): string | undefined {
  return /^arn:[^:]+:kms:[^:]+:(\d{12}):/.exec(ref)?.[1]
}

async function readKey(aws: AwsClients, ref: string, region: string, owner: string, context: Record<string, string> | undefined): Promise<KmsKeyFacts> {
  const kms = aws.kms(keyRegionOf(ref) ?? region)
  const facts: KmsKeyFacts = {
    ref,
    // The aws/s3 alias names the key of the bucket owner's account.
    accountId: keyAccountOf(ref) ?? (/(^|:)alias\/aws\/s3$/.test(ref) ? owner : undefined),
    region: keyRegionOf(ref),
    keyPolicy: {state: 'unreadable', reason: 'not read'},
    grants: {state: 'unreadable', reason: 'not read'},
    encryptionContext: context,
  }
  const described = await settle(kms.describeKey(ref))
  if (described.ok) {
    facts.arn = described.value.arn
    facts.manager = described.value.keyManager
    facts.state = described.value.keyState
    facts.region = keyRegionOf(described.value.arn) ?? facts.region ?? region
    facts.accountId = keyAccountOf(described.value.arn) ?? facts.accountId
  } else {
    if (fatal(described.error) && !isDenied(described.error)) throw described.error
    facts.describeError = why(described.error)
    if (ref.startsWith('arn:')) facts.arn = ref
  }
  if (!facts.arn || isAwsManagedS3Key(facts)) return facts
  const [policy, grants] = await Promise.all([settle(kms.getKeyPolicy(facts.arn)), settle(kms.listGrants(facts.arn))])
  if (policy.ok) {
    try {
      const parsed = JSON.parse(policy.value) as IamPolicy
      facts.keyPolicy = parsed && typeof parsed === 'object' && parsed.Statement !== undefined ? {state: 'ok', policy: parsed} : {state: 'malformed', reason: 'it has no Statement'}
    } catch (error) {
      facts.keyPolicy = {state: 'malformed', reason: `not valid JSON (${(error as Error).message})`}
    }
  } else {
    if (fatal(policy.error)) throw policy.error
    facts.keyPolicy = {state: 'unreadable', reason: why(policy.error)}
  }
  facts.grants = grants.ok ? ({state: 'ok', grants: grants.value} satisfies GrantsState) : {state: 'unreadable', reason: why(grants.error)}
  if (!grants.ok && fatal(grants.error)) throw grants.error
  return facts
}

function row(operation: AwsOperationId, resource: string, d: StaticDecision): CheckRow {
  return {operation, resource, layer: 'static', outcome: d.outcome, code: d.code, cause: d.cause, decidedBy: d.decidedBy, remedy: d.remedy}
}

/** The bucket policy as the evaluator sees it (unreadable and malformed are findings, never "no policy"). */
function bucketPolicyState(policyRead: Settled<string | null>, bucket: string, findings: Finding[]): DocState {
  const bucketUrl = `s3://${bucket}`
  if (!policyRead.ok) {
    findings.push({code: 'bucket-policy-unreadable', severity: 'warning', message: `The bucket policy of ${bucket} cannot be read: ${why(policyRead.error)}`, resource: bucketUrl})
    return {state: 'unreadable', reason: why(policyRead.error)}
  }
  if (policyRead.value === null) return {state: 'absent'}
  try {
    return {state: 'ok', policy: parsePolicyDocument(policyRead.value, `the bucket policy of ${bucket}`)}
  } catch (error) {
    const reason = why(error).replace(/^the bucket policy of [^:]+: /, '').replace(/\.$/, '')
    findings.push({
      code: 'malformed-bucket-policy',
      severity: 'error',
      message: `The bucket policy of ${bucket} is stored but cannot be evaluated: ${reason}.`,
      resource: bucketUrl,
      remedy: `Fix the bucket policy of ${bucket} (S3 console: Permissions > Bucket policy); AWS reads it in ways this check cannot be sure of.`,
    })
    return {state: 'malformed', reason}
  }
}

/** Block Public Access: RestrictPublicBuckets with a public statement cuts off every cross-account call. */
function publicAccessFacts(
  pabRead: Settled<PublicAccessBlock | null>,
  bucketPolicy: DocState,
  bucket: string,
  sameAccount: boolean,
  findings: Finding[],
): S3Facts['restrictPublicBuckets'] {
  const bucketUrl = `s3://${bucket}`
  if (!pabRead.ok) {
    findings.push({code: 'public-access-block-unreadable', severity: 'warning', message: `Block Public Access of ${bucket} cannot be read: ${why(pabRead.error)}`, resource: bucketUrl})
    return undefined
  }
  if (bucketPolicy.state !== 'ok') return undefined
  const publicOnes = findPublicStatements(bucketPolicy.policy).map((s) => (s.sid ? `"${s.sid}" (#${s.index})` : `#${s.index}`))
  if (!pabRead.value?.RestrictPublicBuckets || publicOnes.length === 0) return undefined
  findings.push({
    code: 'restrict-public-buckets',
    severity: sameAccount ? 'info' : 'error',
    message: `RestrictPublicBuckets is on and the bucket policy has public statements (${publicOnes.join(', ')}): while they exist S3 refuses every cross-account request${sameAccount ? ' (the principal is in the bucket\'s account, so it is not affected)' : ', the ingest role\'s included'}.`,
    resource: bucketUrl,
    remedy: 'Restrict or remove the public statements, or turn RestrictPublicBuckets off.',
  })
  return {statements: publicOnes}
}

/** Object Ownership other than BucketOwnerEnforced: objects of other accounts stay theirs. */
function ownershipFinding(ownershipRead: Settled<string | null>, bucket: string, findings: Finding[]): void {
  const bucketUrl = `s3://${bucket}`
  if (!ownershipRead.ok) {
    findings.push({code: 'ownership-unreadable', severity: 'info', message: `Object Ownership of ${bucket} cannot be read: ${why(ownershipRead.error)}`, resource: bucketUrl})
    return
  }
  const ownership = ownershipRead.value
  if (ownership === 'BucketOwnerEnforced') return
  findings.push({
    code: 'object-ownership',
    severity: 'warning',
    message: `Object Ownership of ${bucket} is ${ownership ?? 'not set (ObjectWriter)'}: objects uploaded by other accounts stay theirs, and the bucket policy cannot grant them.`,
    resource: bucketUrl,
    remedy: `aws s3api put-bucket-ownership-controls --bucket ${bucket} --ownership-controls 'Rules=[{ObjectOwnership=BucketOwnerEnforced}]' (the live layer's sampled reads confirm access object by object)`,
  })
}

/**
 * Gather and evaluate. Throws only when the check cannot run: no credentials, a bucket that does
 * not exist or is not in the admin's account.
 */
export async function runStaticLayer(
  ctx: AppContext,
  req: AwsRequest,
  opts: CheckOptions,
  principal: CheckPrincipal,
  remedies: RemedyContext,
): Promise<StaticOutcome> {
  const {bucket, prefix} = req.source
  const aws = await ctx.clients.aws(req.options.cloud)
  const me = await bucketOwnerView(aws, bucket, ['The static layer needs the bucket owner\'s view; as the ingest principal (vendor support), run only the live layer: --live --no-static.'])
  const {owner, region} = me
  const findings: Finding[] = []
  const sourceUrl = req.source.url
  const bucketUrl = `s3://${bucket}`
  const sameAccount = principal.accountId === owner

  const [policyRead, pabRead, ownershipRead, defaultKeysRead, listingRead, identity] = await Promise.all([
    settle(aws.s3.getBucketPolicy(bucket, owner)),
    settle(aws.s3.getPublicAccessBlock(bucket, owner)),
    settle(aws.s3.getOwnershipControls(bucket, owner)),
    settle(aws.s3.getDefaultKmsKeys(bucket, owner)),
    settle(aws.s3.listKeys(bucket, prefix, 1000)),
    readIdentity(aws, principal, sameAccount, findings),
  ])
  for (const r of [policyRead, pabRead, ownershipRead, defaultKeysRead, listingRead]) if (!r.ok && fatal(r.error)) throw r.error

  const bucketPolicy = bucketPolicyState(policyRead, bucket, findings)
  const restrictPublicBuckets = publicAccessFacts(pabRead, bucketPolicy, bucket, sameAccount, findings)
  ownershipFinding(ownershipRead, bucket, findings)

  // The stale ids and hand-written mistakes.
  const facts: S3Facts = {
    partition: principal.partition,
    bucket,
    prefix,
    ownerAccount: owner,
    region,
    bucketPolicy,
    restrictPublicBuckets,
    principal: {arn: principal.arn, accountId: principal.accountId},
    identity,
  }
  const listing = listingRead.ok ? listingRead.value : []
  const sample: SampledObject[] = spreadSample(listing, opts.sample).map((o) => ({key: o.key, size: o.size}))
  if (bucketPolicy.state === 'ok') {
    for (const s of findStaleUniqueIds(bucketPolicy.policy)) {
      findings.push({
        code: 'stale-principal-id',
        severity: 'warning',
        message: `Statement ${s.sid ? `"${s.sid}" (#${s.index})` : `#${s.index}`} of the bucket policy names ${s.id}, the unique id of a deleted IAM role or user: it grants nobody, and AWS rejects any rewrite of the policy while it is there.`,
        resource: bucketUrl,
        remedy: 'Remove or replace that principal in the bucket policy; if it was the ingest role (deleted and recreated), run grant apply afterwards.',
      })
    }
    // Every request the cluster would make on the sample: a Deny on a network condition matters if it reaches any.
    const keys = sample.length > 0 ? sample.map((o) => o.key) : [`${prefix}x`]
    const requests = [...s3Requests('list', facts), ...s3Requests('region', facts), ...keys.flatMap((k) => s3Requests('get-attributes', facts, k))]
    for (const f of lintBucketPolicy(bucketPolicy.policy, facts, requests)) findings.push({...f, resource: bucketUrl})
  }
  if (!identity.visible && !sameAccount) {
    findings.push({
      code: 'cross-account-identity-not-visible',
      severity: 'info',
      message: `The principal is in account ${principal.accountId} and the bucket in ${owner}: AWS needs both sides to allow each call, and the principal's own side (its identity policies, its organisation's SCPs) cannot be seen from here. Static verdicts cover this account's side only.`,
      remedy: `The principal's side is proven by the live layer, run as the principal (vendor support): ${remedies.checkLive}`,
    })
  }

  // Encryption of the sample.
  const heads = await mapBounded(sample, 8, async (o) => ({o, r: await settle(aws.s3.headObject(bucket, o.key, owner))}))
  const unreadableHeads = heads.filter((h) => !h.r.ok)
  for (const h of heads) if (h.r.ok) h.o.encryption = h.r.value
  if (unreadableHeads.length > 0) {
    const first = unreadableHeads[0]
    if (!first.r.ok && fatal(first.r.error)) throw first.r.error
    findings.push({
      code: 'object-encryption-unreadable',
      severity: 'warning',
      message: `The encryption of ${unreadableHeads.length} sampled object(s) cannot be read (e.g. s3://${bucket}/${first.o.key}: ${first.r.ok ? '' : why(first.r.error)}); KMS keys they use may be missing below.`,
      resource: sourceUrl,
    })
  }

  // KMS keys in use: --kms-key, default encryption, the sample.
  const keyObjects = new Map<string, SampledObject | undefined>()
  for (const k of req.options.kmsKeys) keyObjects.set(k, undefined)
  if (defaultKeysRead.ok) {
    for (const k of defaultKeysRead.value) if (!keyObjects.has(k)) keyObjects.set(k, undefined)
  } else {
    findings.push({code: 'default-encryption-unreadable', severity: 'warning', message: `The default encryption of ${bucket} cannot be read: ${why(defaultKeysRead.error)}`, resource: bucketUrl})
  }
  for (const o of sample) {
    const e = o.encryption
    if (!e?.serverSideEncryption?.startsWith('aws:kms')) continue
    if (!e.kmsKeyId) {
      findings.push({code: 'sse-kms-without-key-id', severity: 'warning', message: `s3://${bucket}/${o.key} reports SSE-KMS without a key id; if its key is not among the keys below, name it with --kms-key.`, resource: `s3://${bucket}/${o.key}`})
      continue
    }
    if (keyObjects.get(e.kmsKeyId) === undefined) keyObjects.set(e.kmsKeyId, o)
  }
  const bucketArn = s3BucketArn(principal.partition, bucket)
  const keyFacts = await Promise.all(
    [...keyObjects].map(([ref, o]) =>
      readKey(aws, ref, region ?? req.options.cloud.region ?? aws.options.region ?? 'us-east-1', owner, o ? {'aws:s3:arn': o.encryption?.bucketKeyEnabled ? bucketArn : `${bucketArn}/${o.key}`} : undefined),
    ),
  )
  // One key may be reached by several references (alias, id, ARN): one row per key.
  const byArn = new Map<string, {facts: KmsKeyFacts; object?: SampledObject}>()
  for (const [i, f] of keyFacts.entries()) {
    const id = f.arn ?? f.ref
    const object = [...keyObjects.values()][i]
    const seen = byArn.get(id)
    if (!seen) byArn.set(id, {facts: f, object})
    else if (!seen.object && object) byArn.set(id, {facts: f, object})
  }

  // Rows.
  const rows: CheckRow[] = []
  rows.push(row('list', sourceUrl, decideS3('list', facts, remedies)))
  rows.push(row('region', bucketUrl, decideS3('region', facts, remedies)))
  if (!listingRead.ok) {
    for (const op of ['get', 'get-attributes'] as const) {
      rows.push({operation: op, resource: sourceUrl, layer: 'static', outcome: 'unknown', code: 'listing-unreadable', cause: `the objects cannot be listed to sample them: ${why(listingRead.error)}`, decidedBy: [], remedy: `Run as an admin who may list the bucket, or prove it as the principal: ${remedies.checkLive}`})
    }
  } else if (sample.length === 0) {
    for (const op of ['get', 'get-attributes'] as const) {
      rows.push({operation: op, resource: sourceUrl, layer: 'static', outcome: 'skip', code: 'empty-source', cause: 'no objects under the source: nothing to read yet', decidedBy: [], remedy: ''})
    }
    findings.push({code: 'empty-source', severity: 'warning', message: `There are no objects under ${sourceUrl}: object reads were not checked.`, resource: sourceUrl, remedy: 'Check the prefix; re-run check once data is there.'})
  } else {
    for (const o of sample) {
      const resource = `s3://${bucket}/${o.key}`
      rows.push(row('get', resource, decideS3('get', facts, remedies, o.key)))
      rows.push(row('get-attributes', resource, decideS3('get-attributes', facts, remedies, o.key)))
    }
  }
  // Decrypt can only be said "not needed" when every sampled object's encryption was seen.
  if (unreadableHeads.length > 0) {
    const first = unreadableHeads[0]
    rows.push({
      operation: 'decrypt',
      resource: sourceUrl,
      layer: 'static',
      outcome: 'unknown',
      code: 'encryption-unreadable',
      cause: `the encryption of ${unreadableHeads.length} of ${sample.length} sampled object(s) cannot be read (${first.r.ok ? '' : why(first.r.error)}), so the KMS keys they use, if any, are not known`,
      decidedBy: [`HeadObject s3://${bucket}/${first.o.key}`],
      remedy: `Name their keys with --kms-key ARN, or prove decryption as the principal: ${remedies.checkLive}`,
    })
  } else if (byArn.size === 0 && !defaultKeysRead.ok) {
    rows.push({operation: 'decrypt', resource: sourceUrl, layer: 'static', outcome: 'unknown', code: 'encryption-unreadable', cause: `no sampled object is SSE-KMS, but the default encryption cannot be read (${why(defaultKeysRead.error)})`, decidedBy: ['GetBucketEncryption'], remedy: `Name the default key with --kms-key ARN, or prove decryption as the principal: ${remedies.checkLive}`})
  } else if (byArn.size === 0) {
    rows.push({operation: 'decrypt', resource: sourceUrl, layer: 'static', outcome: 'skip', code: 'no-kms', cause: 'no KMS key in use: no sampled object is SSE-KMS and the default encryption uses no KMS key', decidedBy: [], remedy: ''})
  }
  for (const [id, {facts: kf}] of byArn) {
    const d = decideDecrypt({key: kf, principal: facts.principal, identity, bucketRegion: region}, remedies)
    rows.push(row('decrypt', id, d))
    if (d.code === 'aws-managed-key') {
      findings.push({code: 'aws-managed-key', severity: 'error', message: `Data under ${sourceUrl} is encrypted with the AWS-managed key aws/s3 (${id}), which no other account can use.`, resource: id, remedy: d.remedy})
    }
    if (kf.keyPolicy.state === 'unreadable' && !isAwsManagedS3Key(kf)) {
      findings.push({code: 'key-policy-unreadable', severity: 'warning', message: `The key policy of ${id} cannot be read: ${kf.keyPolicy.reason}`, resource: id})
    }
  }
  return {
    rows,
    findings,
    identity: me.arn,
    ownerAccount: owner,
    region,
    sample,
    keys: [...byArn].map(([key, v]) => ({key, object: v.object?.key})),
  }
}
