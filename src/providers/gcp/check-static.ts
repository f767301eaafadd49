/**
 * The static layer of the GCS check: with the operator's credentials, read the bucket's settings
 * and IAM policy (version 3), sample the objects, and evaluate the walker's three permissions for
 * the ingest member through the predefined-role table and the condition evaluator.
 */
import type {GcsBucketInfo} from '../../clients/gcp.js'
import type {AppContext} from '../../context.js'
import {spreadSample} from '../../core/sample.js'
import type {CheckRow, Finding} from '../../core/verdict.js'
import {AppError} from '../../errors.js'
import type {CheckOptions, GrantRequest, SourceObject} from '../types.js'
import {type GcpOperation, permissionOf, remedyCommands, resources, row} from './check-common.js'
import {bucketResourceName, objectResourceName, type RequestAttributes} from './conditions.js'
import {evaluatePermission} from './evaluate.js'
import {operatorClientOptions} from './grant.js'
import type {GcpOptions} from './options.js'
import type {BucketIamPolicy} from './policy.js'
import {isCustomRole} from './roles.js'

export interface StaticOutcome {
  rows: CheckRow[]
  findings: Finding[]
  identity: string
  /** Objects sampled for the get rows (undefined when the listing was refused). */
  sample?: SourceObject[]
}

/** Run the static layer. Throws only when it cannot run at all (no credentials, no bucket). */
export async function runGcpStatic(ctx: AppContext, req: GrantRequest<GcpOptions>, opts: CheckOptions, member: string): Promise<StaticOutcome> {
  const gcp = await ctx.clients.gcp(operatorClientOptions(req.options))
  const bucket = req.source.bucket
  const res = resources(req.source)
  const remedies = remedyCommands(req.source, member, req.options)
  const findings: Finding[] = []
  const info: GcsBucketInfo = await gcp.getBucket(bucket)
  const identity = (await gcp.identity()) ?? gcp.credentialSource

  let policy: BucketIamPolicy | undefined
  let policyProblem: string | undefined
  try {
    policy = await gcp.getIamPolicy(bucket)
  } catch (error) {
    if (!(error instanceof AppError) || error.kind !== 'access-denied') throw error
    policyProblem = 'your credentials may not read the bucket IAM policy (storage.buckets.getIamPolicy), so nothing can be evaluated'
  }

  let sample: SourceObject[] | undefined
  let listProblem: string | undefined
  try {
    const page = await gcp.listPage(bucket, res.dirPrefix, undefined, 1000)
    sample = spreadSample(page.objects, opts.sample)
  } catch (error) {
    if (!(error instanceof AppError) || (error.kind !== 'access-denied' && error.code !== 'REQUESTER_PAYS')) throw error
    listProblem = error.code === 'REQUESTER_PAYS' ? 'the bucket is requester-pays and no --billing-project was given to list it' : 'your credentials may not list the objects, so none could be sampled'
  }

  // Findings about settings that decide more than one row.
  if (info.requesterPays) {
    findings.push({code: 'requester-pays', severity: 'error', resource: res.bucket, message: "Requester pays is on: every read must name a billing project, and the cluster's walker names none, so its reads fail with \"Bucket is a requester pays bucket but no user project provided.\"", remedy: `gcloud storage buckets update gs://${bucket} --no-requester-pays`})
  }
  if (!info.uniformBucketLevelAccess) {
    findings.push({code: 'fine-grained-acls', severity: 'warning', resource: res.bucket, message: 'Uniform bucket-level access is off: object ACLs may grant or withhold access beyond the bucket IAM policy; ACLs are not evaluated here (the live layer tests real reads). A prefix-limited grant needs uniform bucket-level access.', remedy: `gcloud storage buckets update gs://${bucket} --uniform-bucket-level-access`})
  }
  if (info.publicAccessPrevention === 'enforced') {
    findings.push({code: 'public-access-prevention', severity: 'info', resource: res.bucket, message: 'Public access prevention is enforced; it does not affect a grant to a named service account.'})
  }
  if (info.defaultKmsKeyName) {
    findings.push({code: 'cmek', severity: 'info', resource: info.defaultKmsKeyName, message: `New objects are encrypted with the customer-managed key ${info.defaultKmsKeyName}. The reader needs no KMS role: Cloud Storage decrypts through the project's Cloud Storage service agent, which needs roles/cloudkms.cryptoKeyEncrypterDecrypter on the key.`})
  }
  // IAM deny policies on the bucket's project: when there are any, an allow here may be overridden,
  // and ingestgate does not evaluate deny rules, so such rows are unknown.
  let denyPolicies: string[] | undefined
  if (info.projectNumber) {
    try {
      denyPolicies = await gcp.listDenyPolicies(info.projectNumber)
    } catch (error) {
      if (!(error instanceof AppError)) throw error
      findings.push({code: 'deny-policies-unreadable', severity: 'warning', resource: `projects/${info.projectNumber}`, message: `The IAM deny policies of the bucket's project could not be read (${error.kind === 'access-denied' || error.kind === 'credentials' ? 'no iam.denypolicies.list' : error.message}); a deny policy there would override the bucket policy.`, remedy: 'Run as someone with roles/iam.denyReviewer on the project, or rely on the live layer.'})
    }
  }
  findings.push({code: 'not-visible', severity: 'info', message: `Not visible to the static layer: ${denyPolicies ? 'IAM deny policies on folders and the organisation' : 'IAM deny policies'}, VPC Service Controls perimeters, and bindings on the project, folder or organisation. A static pass means the bucket policy allows the call; the live layer (--live, as the principal) tests the rest.`})

  // Custom roles bound to the member (or to members it may be part of) are read when the operator
  // may (iam.roles.get); a role that cannot be read leaves the rows it could decide unknown.
  const customNames = new Set((policy?.bindings ?? []).filter((b) => isCustomRole(b.role)).map((b) => b.role))
  const customRoles = new Map<string, string[]>()
  const unreadable: string[] = []
  for (const name of customNames) {
    try {
      customRoles.set(name, await gcp.getRolePermissions(name))
    } catch (error) {
      if (!(error instanceof AppError)) throw error
      unreadable.push(`${name} (${error.kind === 'access-denied' || error.kind === 'credentials' ? 'no iam.roles.get' : error.message})`)
    }
  }
  if (unreadable.length > 0) {
    findings.push({code: 'custom-roles-unreadable', severity: 'warning', message: `Custom roles whose permissions could not be read: ${unreadable.join(', ')}; rows they could decide are unknown.`, remedy: 'Run the static layer as someone with iam.roles.get on the role\'s project (roles/iam.roleViewer).'})
  }

  const rows: CheckRow[] = []
  const evaluate = (op: GcpOperation, resource: string, request: RequestAttributes) => {
    const permission = permissionOf(op)
    if (info.requesterPays) {
      rows.push(row(op, {resource, layer: 'static', outcome: 'fail', code: 'requester-pays', cause: `requester pays is on and the cluster sends no billing project, so ${permission} calls fail`, decidedBy: ['billing.requesterPays: true'], remedy: `gcloud storage buckets update gs://${bucket} --no-requester-pays`}))
      return
    }
    if (!policy) {
      rows.push(row(op, {resource, layer: 'static', outcome: 'unknown', code: 'policy-unreadable', cause: policyProblem!, decidedBy: [], remedy: 'Run the static layer as someone with roles/storage.admin on the bucket, or run the live layer as the principal: ' + remedies.checkLive}))
      return
    }
    const v = evaluatePermission({policy, member, permission, request, customRoles})
    if (v.outcome === 'allowed' && denyPolicies && denyPolicies.length > 0) {
      rows.push(row(op, {resource, layer: 'static', outcome: 'unknown', code: 'deny-policy', cause: `the bucket IAM policy allows ${permission} through ${v.decidedBy[0]}, but the project has IAM deny policies (${denyPolicies.join(', ')}), which this check does not evaluate`, decidedBy: [...v.decidedBy, ...denyPolicies.map((d) => `deny policy ${d}`)], remedy: `Test it for real as the principal: ${remedies.checkLive}`}))
    } else if (v.outcome === 'allowed') {
      rows.push(row(op, {resource, layer: 'static', outcome: 'pass', code: 'allowed', cause: `the bucket IAM policy gives the member ${permission} through ${v.decidedBy[0]}`, decidedBy: v.decidedBy, remedy: ''}))
    } else if (v.outcome === 'unknown') {
      rows.push(row(op, {resource, layer: 'static', outcome: 'unknown', code: 'undecidable', cause: v.reasons.join('; '), decidedBy: v.decidedBy, remedy: `Test it for real as the principal: ${remedies.checkLive}`}))
    } else if (op === 'get' && !info.uniformBucketLevelAccess) {
      rows.push(row(op, {resource, layer: 'static', outcome: 'unknown', code: 'acl-not-evaluated', cause: `no binding of the bucket IAM policy gives ${permission}, but fine-grained access is on and an object ACL could`, decidedBy: ['iamConfiguration.uniformBucketLevelAccess: false'], remedy: remedies.grantApply}))
    } else {
      const hint = op === 'bucket-metadata' && evaluatePermission({policy, member, permission: 'storage.objects.get', request: {name: objectResourceName(bucket, `${res.dirPrefix}x`), type: 'storage.googleapis.com/Object'}}).outcome === 'allowed'
        ? ' (objectViewer alone lacks it: the cluster then fails with "does not have storage.buckets.get access to the Google Cloud Storage bucket")'
        : ''
      rows.push(row(op, {resource, layer: 'static', outcome: 'fail', code: 'not-granted', cause: `no binding of the bucket IAM policy gives the member ${permission}${hint}`, decidedBy: ['bucket IAM policy'], remedy: remedies.grantApply}))
    }
  }

  evaluate('bucket-metadata', res.bucket, {name: bucketResourceName(bucket), type: 'storage.googleapis.com/Bucket'})
  evaluate('list', res.list, {name: bucketResourceName(bucket), type: 'storage.googleapis.com/Bucket', listPrefix: res.dirPrefix})
  if (!sample) {
    rows.push(row('get', {resource: res.list, layer: 'static', outcome: 'unknown', code: 'no-sample', cause: listProblem!, decidedBy: [], remedy: `Run the live layer as the principal: ${remedies.checkLive}`}))
  } else if (sample.length === 0) {
    rows.push(row('get', {resource: res.list, layer: 'static', outcome: 'skip', code: 'empty-source', cause: 'no objects under the source: nothing to read yet', decidedBy: [], remedy: ''}))
  } else {
    for (const o of sample) evaluate('get', res.object(o.key), {name: objectResourceName(bucket, o.key), type: 'storage.googleapis.com/Object'})
  }
  return {rows, findings, identity, sample}
}
