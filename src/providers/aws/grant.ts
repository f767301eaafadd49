/**
 * AWS apply and revoke: read what is there, merge or remove only the tool's statements and grants,
 * refuse what is unsafe or certain to fail, and return a plan whose execute() writes after a backup
 * and verifies by re-reading. All policy logic is the pure core's; this module is the I/O around it.
 */
import type {AwsClients, KmsPort} from '../../clients/aws/index.js'
import type {AppContext} from '../../context.js'
import {
  BUCKET_POLICY_MAX_BYTES,
  diffPolicies,
  mergeStatements,
  parsePolicyDocument,
  policySizeBytes,
  removeStatements,
  semanticallyEqual,
  serialisePolicy,
  type PolicyChange,
} from './policy/policy.js'
import {findPublicStatements, findStaleUniqueIds} from './policy/lint.js'
import type {IamPolicy} from './policy/types.js'
import {ConfigError, RemoteError} from '../../errors.js'
import {fingerprint} from '../../core/fingerprint.js'
import {recordSuccessor, writeBackup, type BackupInfo} from '../../state.js'
import type {GrantChange, GrantPlan, RestoreRequest} from '../types.js'
import type {AwsOptions, AwsRequest} from './options.js'
import {bucketOwnerView} from './bucket-owner.js'
import {grantStatements, kmsGrantName, legacySids, ownedSids, parseKmsKeyArn, parsePrincipalArn} from './grant-spec.js'
import {discoverKmsKeys} from './kms-keys.js'
import {restorePlan} from '../grant-flow.js'
import {parseSource} from '../../source.js'

/** How many objects apply samples to find the KMS keys in use. */
export const KMS_DISCOVERY_SAMPLE = 20

export interface BucketState {
  aws: AwsClients
  owner: string
  region?: string
  policyText: string | null
  policy: IamPolicy | null
}

/** The bucket's owner, region and policy, read with the operator's credentials. */
export async function readBucket(ctx: AppContext, req: Pick<AwsRequest, 'source' | 'options'>): Promise<BucketState> {
  const aws = await ctx.clients.aws(req.options.cloud)
  const bucket = req.source.bucket
  const {owner, region} = await bucketOwnerView(aws, bucket)
  const policyText = await aws.s3.getBucketPolicy(bucket, owner)
  const policy = policyText === null ? null : parsePolicyDocument(policyText, `the bucket policy of ${bucket}`)
  return {aws, owner, region, policyText, policy}
}

function refuseStaleIds(policy: IamPolicy | null, bucket: string): void {
  const stale = policy ? findStaleUniqueIds(policy) : []
  if (stale.length === 0) return
  const where = stale.map((s) => `statement ${s.sid ?? `#${s.index}`} names ${s.id}`).join('; ')
  throw new ConfigError('STALE_PRINCIPAL_IDS', `The bucket policy of ${bucket} names deleted IAM principals by unique id (${where}). AWS rejects any write of a policy containing them, and ingestgate will not drop statements silently.`, {
    suggestions: [
      'Those ids are what is left when a role or user is deleted. Remove or replace those principals in the bucket policy (aws s3api get-bucket-policy / put-bucket-policy), then re-run.',
    ],
  })
}

function statementChanges(changes: PolicyChange[]): GrantChange[] {
  return changes.map((c) => ({kind: 'bucket-policy-statement', action: c.kind, id: c.sid}))
}

/** The fingerprint of a bucket policy as S3 returns it (`absent` when there is none). */
export function policyFingerprint(text: string | null): string {
  return fingerprint(text === null ? null : JSON.parse(text))
}

/**
 * Compare-and-write: refuse if the policy moved since we read it, back it up, write, then re-read
 * and verify; the backup's record gets the fingerprint of what was written.
 */
async function writePolicy(
  ctx: AppContext,
  state: BucketState,
  bucket: string,
  next: IamPolicy | null,
  by: {source: string; verb: BackupInfo['verb']},
): Promise<{backup?: string; notes: string[]}> {
  const {aws, owner} = state
  const current = await aws.s3.getBucketPolicy(bucket, owner)
  if (current !== state.policyText) {
    throw new RemoteError('CONCURRENT_CHANGE', `The bucket policy of ${bucket} changed after ingestgate read it; nothing was written.`, {
      suggestions: ['Someone else is editing this policy. Re-run to plan against the new document.'],
    })
  }
  const info: BackupInfo = {cloud: 's3', source: by.source, verb: by.verb, document: 'bucket-policy', target: {bucket}}
  const backup = state.policyText === null ? undefined : await writeBackup(ctx.stateDir, 's3', `${bucket}-policy`, state.policyText, ctx.now(), info)
  if (next === null) await aws.s3.deleteBucketPolicy(bucket, owner)
  else await aws.s3.putBucketPolicy(bucket, serialisePolicy(next), owner)
  const after = await aws.s3.getBucketPolicy(bucket, owner)
  const afterPolicy = after === null ? null : parsePolicyDocument(after, `the bucket policy of ${bucket}`)
  if (!semanticallyEqual(afterPolicy, next)) {
    throw new RemoteError('CONCURRENT_CHANGE', `The bucket policy of ${bucket} read back differently from what was written: someone else changed it at the same time.${backup ? ` The document before our change is in ${backup}.` : ''}`, {
      suggestions: ['Review the current policy, then re-run apply (it merges into whatever is there now).'],
    })
  }
  const problem = backup ? await recordSuccessor(backup, policyFingerprint(after), ctx.now()) : undefined
  return {backup, notes: problem ? [problem] : []}
}

interface KeyPlan {
  keyArn: string
  kms: KmsPort
  name: string
  existing: Array<{grantId: string; ok: boolean}>
}

export async function planKeys(aws: AwsClients, req: AwsRequest, region: string | undefined, owner: string, purpose: 'apply' | 'revoke'): Promise<{keys: KeyPlan[]; notes: string[]; warnings: string[]}> {
  const principal = req.principal
  const explicit = req.options.kmsKeys.map((k) => parseKmsKeyArn(k).arn)
  const found = await discoverKmsKeys(aws, req.source.bucket, req.source.prefix, {region, owner, sample: KMS_DISCOVERY_SAMPLE, explicit, purpose})
  const keys: KeyPlan[] = []
  for (const keyArn of found.keyArns) {
    const kms = aws.kms(parseKmsKeyArn(keyArn).region)
    const name = kmsGrantName(principal, keyArn)
    const grants = await kms.listGrants(keyArn)
    // Idempotency comes from ListGrants, not from the Name: a grant is "ours" by name, and right
    // only when it gives exactly Decrypt to this principal.
    const existing = grants
      .filter((g) => g.name === name)
      .map((g) => ({grantId: g.grantId, ok: g.granteePrincipal === principal && g.operations.length === 1 && g.operations[0] === 'Decrypt'}))
    keys.push({keyArn, kms, name, existing})
  }
  return {keys, notes: found.notes, warnings: found.warnings}
}

/**
 * Plan an apply: merged bucket policy + missing KMS grants. Reads only. `req.source.prefix` is the
 * directory form; `givenPrefix` is the prefix as typed, whose statements an earlier version may
 * have written under other Sids (they are replaced).
 */
export async function planAwsApply(ctx: AppContext, req: AwsRequest, givenPrefix = req.source.prefix): Promise<GrantPlan> {
  const principal = parsePrincipalArn(req.principal)
  const bucket = req.source.bucket
  const state = await readBucket(ctx, req)
  const owned = grantStatements({bucket, prefix: req.source.prefix, principalArn: principal.arn, kmsKeyArns: []})
  const legacy = removeStatements(state.policy, legacySids(principal.arn, givenPrefix))
  const mergedOwn = mergeStatements(legacy.policy, owned)
  const merged = {policy: mergedOwn.policy, changes: [...legacy.changes, ...mergedOwn.changes]}
  // Any write of a document containing stale ids fails at AWS, so refuse before planning one.
  if (merged.changes.length > 0) refuseStaleIds(state.policy, bucket)
  const size = policySizeBytes(merged.policy)
  if (merged.changes.length > 0 && size > BUCKET_POLICY_MAX_BYTES) {
    throw new ConfigError('POLICY_TOO_LARGE', `The merged bucket policy of ${bucket} would be ${size} bytes; S3 allows ${BUCKET_POLICY_MAX_BYTES}. Nothing was written.`, {
      suggestions: ['Remove unused statements from the bucket policy, or grant a shorter prefix/whole bucket so fewer statements are needed.'],
    })
  }
  const notes: string[] = []
  const warnings: string[] = []
  const bpa = await state.aws.s3.getPublicAccessBlock(bucket, state.owner)
  const publicOnes = findPublicStatements(merged.policy)
  if (publicOnes.length > 0 && bpa?.BlockPublicPolicy && merged.changes.length > 0) {
    throw new ConfigError('BLOCK_PUBLIC_ACCESS_CONFLICT', `Block Public Access (BlockPublicPolicy) on ${bucket} would reject the merged policy, because other statements are public: ${publicOnes.map((p) => p.sid ?? `#${p.index}`).join(', ')}. Nothing was written.`, {
      suggestions: ['Restrict those public statements (a condition on aws:SourceArn, aws:SourceVpce, ...) or remove them, then re-run.'],
    })
  }
  if (publicOnes.length > 0 && bpa?.RestrictPublicBuckets) {
    warnings.push(`RestrictPublicBuckets is on and the policy has public statements (${publicOnes.map((p) => p.sid ?? `#${p.index}`).join(', ')}); while they exist, S3 refuses all cross-account access, including the ingest role's.`)
  }

  const {keys, notes: keyNotes, warnings: keyWarnings} = await planKeys(state.aws, req, state.region, state.owner, 'apply')
  notes.push(...keyNotes)
  warnings.push(...keyWarnings)
  const changes = statementChanges(merged.changes)
  const toCreate = keys.filter((k) => !k.existing.some((g) => g.ok))
  const toRetire = keys.flatMap((k) => k.existing.filter((g) => !g.ok).map((g) => ({k, grantId: g.grantId})))
  for (const k of toCreate) changes.push({kind: 'kms-grant', action: 'create', id: k.name, target: k.keyArn})
  for (const {k, grantId} of toRetire) changes.push({kind: 'kms-grant', action: 'retire', id: `${k.name} (${grantId}, wrong grantee or operations)`, target: k.keyArn})

  return {
    changes,
    diff: merged.changes.length > 0 ? diffPolicies(state.policy, merged.policy) : [],
    notes,
    warnings,
    async execute() {
      const out = merged.changes.length > 0 ? await writePolicy(ctx, state, bucket, merged.policy, {source: req.source.url, verb: 'apply'}) : {notes: []}
      const done: string[] = [...out.notes]
      for (const k of toCreate) {
        const grantId = await k.kms.createGrant({keyArn: k.keyArn, grantee: principal.arn, operations: ['Decrypt'], name: k.name})
        done.push(`Created KMS grant ${k.name} (${grantId}) on ${k.keyArn}; grants take up to about 5 minutes to apply.`)
      }
      for (const {k, grantId} of toRetire) await retire(k.kms, k.keyArn, grantId)
      return {...out, notes: done}
    },
  }
}

async function retire(kms: KmsPort, keyArn: string, grantId: string): Promise<void> {
  try {
    await kms.retireGrant(keyArn, grantId)
  } catch (error) {
    // Retiring needs the grantee/retiring principal or the creating account; a key administrator
    // who is neither can still revoke.
    if (error instanceof RemoteError && error.code === 'ACCESS_DENIED') await kms.revokeGrant(keyArn, grantId)
    else throw error
  }
}

/** Plan a revoke: remove exactly the tool's statements (this version's and an earlier one's) and grants for this principal and source. */
export async function planAwsRevoke(ctx: AppContext, req: AwsRequest, givenPrefix = req.source.prefix): Promise<GrantPlan> {
  const principal = parsePrincipalArn(req.principal)
  const bucket = req.source.bucket
  const state = await readBucket(ctx, req)
  const sids = ownedSids(principal.arn, req.source.prefix)
  const removed = removeStatements(state.policy, [sids.list, sids.location, sids.read, ...legacySids(principal.arn, givenPrefix)])
  // Removing statements rewrites the document, which AWS refuses while stale ids are in it.
  if (removed.changes.length > 0) refuseStaleIds(state.policy, bucket)
  const {keys, notes, warnings} = await planKeys(state.aws, req, state.region, state.owner, 'revoke')
  const changes = statementChanges(removed.changes)
  if (removed.changes.length > 0 && removed.policy === null) changes.push({kind: 'bucket-policy', action: 'delete', id: bucket})
  const grants = keys.flatMap((k) => k.existing.map((g) => ({k, grantId: g.grantId})))
  for (const {k, grantId} of grants) changes.push({kind: 'kms-grant', action: 'retire', id: `${k.name} (${grantId})`, target: k.keyArn})
  return {
    changes,
    diff: removed.changes.length > 0 ? diffPolicies(state.policy, removed.policy) : [],
    notes,
    warnings,
    async execute() {
      const out = removed.changes.length > 0 ? await writePolicy(ctx, state, bucket, removed.policy, {source: req.source.url, verb: 'revoke'}) : {notes: []}
      for (const {k, grantId} of grants) await retire(k.kms, k.keyArn, grantId)
      return out
    },
  }
}

/**
 * Plan writing a backed-up bucket policy back. The policy must still be what the backed-up change
 * wrote (its record's fingerprint), unless --force; the backup must be a policy S3 accepts.
 * KMS grants are not documents and are not restored: apply creates them again.
 */
export async function planAwsRestore(ctx: AppContext, req: RestoreRequest<AwsOptions>): Promise<GrantPlan> {
  const {record, content, path} = req.backup
  const bucket = record.target.bucket
  const where = `the backup ${path}`
  const restored = parsePolicyDocument(content, where)
  if (policySizeBytes(restored) > BUCKET_POLICY_MAX_BYTES) {
    throw new ConfigError('POLICY_TOO_LARGE', `${where} is ${policySizeBytes(restored)} bytes; S3 allows ${BUCKET_POLICY_MAX_BYTES}. Nothing was written.`, {suggestions: ['Restore another backup.']})
  }
  const source = {...parseSource(record.source), bucket}
  refuseStaleIds(restored, bucket)
  const state = await readBucket(ctx, {source, options: req.options})
  return restorePlan(record, req.force, {
    what: `the bucket policy of ${bucket}`,
    same: semanticallyEqual(state.policy, restored),
    current: policyFingerprint(state.policyText),
    change: {kind: 'bucket-policy', action: state.policy ? 'replace' : 'add', id: bucket},
    diff: diffPolicies(state.policy, restored),
    execute: () => writePolicy(ctx, state, bucket, restored, {source: record.source, verb: 'restore'}),
  })
}
