/**
 * GCP apply and revoke: read the bucket IAM policy (version 3), merge or remove only the grant's
 * bindings, and return a plan whose execute() backs the old policy up and writes with its etag.
 * When someone else wrote in between (412, stale etag) it re-reads, re-merges and retries with
 * bounded backoff, so it never writes a policy computed from a stale read and the other writer's
 * change survives. All policy logic is policy.ts's; this module is the I/O around it.
 */
import {gcpError} from '../../clients/gcp-errors.js'
import type {GcpClients} from '../../clients/gcp.js'
import type {AppContext} from '../../context.js'
import {backoffDelay} from '../../core/duration.js'
import {AppError, ConfigError, RemoteError} from '../../errors.js'
import {directoryPrefix} from '../../source.js'
import {parseBackupDocument, recordSuccessor, writeBackup, type BackupInfo} from '../../state.js'
import {restorePlan} from '../grant-flow.js'
import type {GrantChange, GrantPlan, GrantRequest, RestoreRequest} from '../types.js'
import {parseMember} from './member.js'
import type {GcpOptions} from './options.js'
import {type BindingChange, type BucketIamPolicy, diffBucketPolicies, grantBindings, mergeBindings, policyBody, policyFingerprint, removeBindings, samePolicy, type WantedBinding} from './policy.js'
import {grantNotes} from './render.js'
import {SET_IAM_POLICY_ROLE} from './roles.js'

/** Attempts at a compare-and-set write before giving up on a busy policy. */
export const MAX_WRITE_ATTEMPTS = 5
const RETRY_BACKOFF = {initialMs: 200, factor: 2, maxMs: 3000}

/** The client options of the operator (the admin who grants). */
export function operatorClientOptions(o: GcpOptions) {
  return {endpointUrl: o.endpointUrl, impersonate: o.impersonateServiceAccount, project: o.project, iamCredentialsEndpoint: o.iamCredentialsEndpoint, iamEndpoint: o.iamEndpoint, tokenInfoUrl: o.tokenInfoUrl}
}

function toChanges(changes: BindingChange[], bucket: string): GrantChange[] {
  return changes.map((c) => ({
    kind: 'iam-binding',
    action: c.action,
    id: `${c.role} ${c.member}${c.condition ? ` if ${c.condition}` : ''}${c.binding === 'created' ? ' (new binding)' : c.binding === 'dropped' ? ' (binding dropped: no members left)' : ''}`,
    target: `gs://${bucket}`,
  }))
}

/** The operator's refusals, explained: which permission is missing and a role that has it. */
function explainRead(error: unknown, bucket: string, what: 'metadata' | 'policy'): never {
  const e = gcpError(error, what === 'metadata' ? `reading the metadata of gs://${bucket}` : `reading the IAM policy of gs://${bucket}`)
  if (e.code === 'ACCESS_DENIED') {
    const permission = what === 'metadata' ? 'storage.buckets.get' : 'storage.buckets.getIamPolicy'
    throw new RemoteError('ACCESS_DENIED', `Your credentials may not read ${what === 'metadata' ? 'the bucket' : 'the IAM policy'} of gs://${bucket}: they lack ${permission}.`, {
      kind: 'access-denied',
      cause: error,
      suggestions: [`Run as someone with ${SET_IAM_POLICY_ROLE} on the bucket (it has ${permission} and storage.buckets.setIamPolicy), or pass --impersonate-service-account with such a service account.`],
      data: e.data,
    })
  }
  throw e
}

/** A refused write, told apart by cause. */
function explainWrite(error: unknown, bucket: string, member: string): AppError {
  const e = gcpError(error, `writing the IAM policy of gs://${bucket}`)
  const cause = (e.data?.gcp as {cause?: string} | undefined)?.cause
  switch (cause) {
    case 'access-denied':
      return new RemoteError('SET_IAM_POLICY_DENIED', `Your credentials may not change the IAM policy of gs://${bucket}: they lack storage.buckets.setIamPolicy. Nothing was written.`, {
        kind: 'access-denied',
        cause: error,
        suggestions: [`Ask for ${SET_IAM_POLICY_ROLE} on the bucket (or the project), or pass --impersonate-service-account with a service account that has it.`],
      })
    case 'org-domain-restricted':
      return new ConfigError('DOMAIN_RESTRICTED_SHARING', `Your organisation's domain-restricted sharing policy (constraints/iam.allowedPolicyMemberDomains) refuses ${member}: its domain is not a permitted customer. Nothing was written.`, {
        cause: error,
        suggestions: [
          "An organisation policy administrator must allow the vendor's Google Workspace/Cloud Identity customer ID in constraints/iam.allowedPolicyMemberDomains for this project (or an exception for this bucket's project); support can give you the customer ID.",
        ],
      })
    case 'ubla-required':
      return new ConfigError('UBLA_REQUIRED', `gs://${bucket} refused the conditional binding because uniform bucket-level access is off (HTTP 412). Nothing was written.`, {
        cause: error,
        suggestions: [`Enable it: gcloud storage buckets update gs://${bucket} --uniform-bucket-level-access (objects' ACLs stop applying), or grant the whole bucket.`],
      })
    case 'public-access-prevention':
      return new ConfigError('PUBLIC_MEMBERS_WITH_PAP', `gs://${bucket} enforces public access prevention, and its IAM policy already has allUsers or allAuthenticatedUsers bindings, so Cloud Storage refuses every write of that policy (HTTP 412). Nothing was written.`, {
        cause: error,
        suggestions: ['Remove the allUsers/allAuthenticatedUsers members from the bucket policy (they grant nothing while prevention is enforced), then re-run.'],
      })
    case 'org-constraint':
      return new ConfigError('ORG_CONSTRAINT', `An organisation policy constraint refused the change to gs://${bucket} (HTTP 412): ${(e.data?.gcp as {message?: string}).message}. Nothing was written.`, {
        cause: error,
        suggestions: ['Ask your organisation policy administrator about the constraint named above.'],
      })
    default:
      return e
  }
}

interface PolicyState {
  gcp: GcpClients
  policy: BucketIamPolicy
}

export async function readPolicy(gcp: GcpClients, bucket: string): Promise<BucketIamPolicy> {
  try {
    const p = await gcp.getIamPolicy(bucket)
    return {...p, bindings: p.bindings ?? []}
  } catch (error) {
    explainRead(error, bucket, 'policy')
  }
}

function backupPolicy(ctx: AppContext, bucket: string, policy: BucketIamPolicy, by: {source: string; verb: BackupInfo['verb']}): Promise<string> {
  const info: BackupInfo = {cloud: 'gs', source: by.source, verb: by.verb, document: 'iam-policy', target: {bucket}}
  return writeBackup(ctx.stateDir, 'gs', `${bucket}-iam-policy`, `${JSON.stringify(policy, null, 2)}\n`, ctx.now(), info)
}

/**
 * Compare-and-set with retries: back up what is replaced, write with its etag; on a stale etag
 * re-read and recompute from the new policy (which may need nothing any more).
 */
async function writeWithRetry(
  ctx: AppContext,
  state: PolicyState,
  bucket: string,
  member: string,
  compute: (p: BucketIamPolicy) => {policy: BucketIamPolicy; changes: BindingChange[]},
  by: {source: string; verb: BackupInfo['verb']},
): Promise<{backup?: string; notes: string[]; attempts: number}> {
  let current = state.policy
  const notes: string[] = []
  for (let attempt = 1; ; attempt++) {
    const next = compute(current)
    if (next.changes.length === 0) {
      notes.push('Someone else made the same change in the meantime; nothing more to write.')
      return {notes, attempts: attempt}
    }
    // Each attempt backs up the policy it read; the one reported is what the successful write
    // replaced (its record gets the successor, so restore can use it without --force).
    const backup = await backupPolicy(ctx, bucket, current, by)
    try {
      const written = await state.gcp.setIamPolicy(bucket, {...next.policy, etag: current.etag})
      const problem = await recordSuccessor(backup, policyFingerprint(written), ctx.now())
      if (problem) notes.push(problem)
      if (attempt > 1) notes.push(`The policy changed while ingestgate wrote it; re-read and merged again (${attempt} attempts); the other change was kept.`)
      return {backup, notes, attempts: attempt}
    } catch (error) {
      const e = gcpError(error, `writing the IAM policy of gs://${bucket}`)
      const stale = (e.data?.gcp as {cause?: string} | undefined)?.cause === 'stale-etag'
      if (!stale) throw explainWrite(error, bucket, member)
      if (attempt >= MAX_WRITE_ATTEMPTS) {
        throw new RemoteError('CONCURRENT_CHANGE', `The IAM policy of gs://${bucket} kept changing while ingestgate tried to write it (${attempt} attempts); nothing was written.`, {
          suggestions: ['Someone else is editing this policy right now. Re-run when they are done (apply merges into whatever is there then).'],
        })
      }
      ctx.ui.info(`The IAM policy of gs://${bucket} changed since it was read (HTTP 412, stale etag); reading it again and merging (attempt ${attempt + 1} of ${MAX_WRITE_ATTEMPTS}).`)
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, RETRY_BACKOFF)))
      current = await readPolicy(state.gcp, bucket)
    }
  }
}

async function plan(ctx: AppContext, req: GrantRequest<GcpOptions>, verb: 'apply' | 'revoke'): Promise<GrantPlan> {
  const {member} = parseMember(req.principal)
  const bucket = req.source.bucket
  const dirPrefix = directoryPrefix(req.source)
  const gcp = await ctx.clients.gcp(operatorClientOptions(req.options))
  let info
  try {
    info = await gcp.getBucket(bucket)
  } catch (error) {
    explainRead(error, bucket, 'metadata')
  }
  const wanted: WantedBinding[] = grantBindings({bucket, dirPrefix, member})
  if (verb === 'apply' && dirPrefix && !info.uniformBucketLevelAccess) {
    throw new ConfigError('UBLA_REQUIRED', `gs://${bucket} has fine-grained access control (uniform bucket-level access is off), and a grant limited to ${dirPrefix} needs an IAM Condition, which Cloud Storage allows only with uniform bucket-level access. Nothing was changed.`, {
      suggestions: [
        `Enable it (object ACLs then stop applying; check nobody relies on them): gcloud storage buckets update gs://${bucket} --uniform-bucket-level-access`,
        `Or grant the whole bucket: ingestgate grant apply gs://${bucket}/ ...`,
      ],
    })
  }
  const policy = await readPolicy(gcp, bucket)
  const compute = (p: BucketIamPolicy) => (verb === 'apply' ? mergeBindings(p, wanted) : removeBindings(p, wanted))
  const first = compute(policy)
  const notes = verb === 'apply' ? grantNotes(req.source) : []
  if (verb === 'apply' && !info.uniformBucketLevelAccess) {
    notes.push(`gs://${bucket} has fine-grained access control: objects' own ACLs may grant or hide more than the bucket policy says; ingestgate grants through the bucket policy only.`)
  }
  const state: PolicyState = {gcp, policy}
  return {
    changes: toChanges(first.changes, bucket),
    diff: first.changes.length > 0 ? diffBucketPolicies(policy, first.policy) : [],
    notes,
    async execute() {
      const out = await writeWithRetry(ctx, state, bucket, member, compute, {source: req.source.url, verb})
      if (verb === 'apply') out.notes.push('IAM changes take about 2 to 7 minutes to apply; verify with ingestgate check --live --wait 10m.')
      return {backup: out.backup, notes: out.notes}
    },
  }
}

/** Plan an apply: the grant's bindings merged into the bucket IAM policy. Reads only. */
export function planGcpApply(ctx: AppContext, req: GrantRequest<GcpOptions>): Promise<GrantPlan> {
  return plan(ctx, req, 'apply')
}

/** Plan a revoke: the member removed from exactly the grant's bindings. Reads only. */
export function planGcpRevoke(ctx: AppContext, req: GrantRequest<GcpOptions>): Promise<GrantPlan> {
  return plan(ctx, req, 'revoke')
}

/**
 * Plan writing a backed-up bucket IAM policy back, with the current policy's etag. The policy must
 * still be what the backed-up change wrote, unless --force; a write racing another (stale etag)
 * is refused, not merged: a restore means "exactly this document".
 */
export async function planGcpRestore(ctx: AppContext, req: RestoreRequest<GcpOptions>): Promise<GrantPlan> {
  const {record} = req.backup
  const bucket = record.target.bucket
  const restored = await parseBackupDocument<BucketIamPolicy>(req.backup, 'gcs-iam-policy', 'a bucket IAM policy')
  const gcp = await ctx.clients.gcp(operatorClientOptions(req.options))
  const current = await readPolicy(gcp, bucket)
  return restorePlan(record, req.force, {
    what: `the IAM policy of gs://${bucket}`,
    same: samePolicy(current, restored),
    current: policyFingerprint(current),
    change: {kind: 'iam-policy', action: 'replace', id: `gs://${bucket}`},
    diff: diffBucketPolicies(current, restored),
    async execute() {
      const backup = await backupPolicy(ctx, bucket, current, {source: record.source, verb: 'restore'})
      let written: BucketIamPolicy
      try {
        written = await gcp.setIamPolicy(bucket, {...policyBody(restored), etag: current.etag})
      } catch (error) {
        const e = gcpError(error, `writing the IAM policy of gs://${bucket}`)
        if ((e.data?.gcp as {cause?: string} | undefined)?.cause === 'stale-etag') {
          throw new RemoteError('CONCURRENT_CHANGE', `The IAM policy of gs://${bucket} changed while ingestgate restored it (HTTP 412, stale etag); nothing was written.`, {
            suggestions: ['Someone else is editing this policy. Run grant restore again to see the new difference.'],
          })
        }
        throw explainWrite(error, bucket, 'the restored members')
      }
      const problem = await recordSuccessor(backup, policyFingerprint(written), ctx.now())
      return {backup, notes: problem ? [problem] : []}
    },
  })
}
