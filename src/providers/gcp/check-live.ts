/**
 * The live layer of the GCS check: as the ingest service account (impersonated, or the ambient
 * credentials when they are it), make the walker's calls: buckets.get, objects.list with the
 * directory prefix, and a ranged objects.get of each sampled object; testIamPermissions for the
 * three permissions as a note. --wait retries the failing calls with backoff while IAM propagates.
 */
import {classifyGcpError, type GcpFailure} from '../../clients/gcp-errors.js'
import type {GcpClients} from '../../clients/gcp.js'
import type {AppContext} from '../../context.js'
import {retryFailing} from '../../core/duration.js'
import {mapBounded, spreadSample} from '../../core/sample.js'
import type {CheckRow, Finding, Outcome} from '../../core/verdict.js'
import {ConfigError} from '../../errors.js'
import type {CheckOptions, GrantRequest, SourceObject} from '../types.js'
import {type GcpOperation, permissionOf, remedyCommands, resources, row} from './check-common.js'
import type {GcpOptions} from './options.js'
import {WALKER_PERMISSIONS} from './roles.js'

export const LIVE_CONCURRENCY = 16
/** Bytes a probe reads: enough to prove objects.get, little egress. */
const PROBE_BYTES = 1024

export interface LiveOutcome {
  rows: CheckRow[]
  findings: Finding[]
  identity: string
}

type Result = {ok: true} | {ok: false; failure: GcpFailure}

interface Probe {
  op: GcpOperation
  resource: string
  run: () => Promise<Result>
  result?: Result
}

async function attempt(fn: () => Promise<unknown>): Promise<Result> {
  try {
    await fn()
    return {ok: true}
  } catch (error) {
    return {ok: false, failure: classifyGcpError(error)}
  }
}

/** The principal's clients: impersonated with the operator's credentials, or the ambient ones. */
export function principalClientOptions(o: GcpOptions, email: string) {
  // The cluster's walker sends no billing project, so neither do the probes.
  return {
    endpointUrl: o.endpointUrl,
    impersonate: o.impersonatePrincipal ? email : o.impersonateServiceAccount,
    iamCredentialsEndpoint: o.iamCredentialsEndpoint,
    tokenInfoUrl: o.tokenInfoUrl,
  }
}

async function verifyIdentity(gcp: GcpClients, email: string, findings: Finding[], checkLive: string): Promise<string> {
  const who = await gcp.identity()
  if (who === undefined) {
    findings.push({code: 'live-identity-unknown', severity: 'warning', message: `Could not find out whom the live layer's credentials (${gcp.credentialSource}) belong to; its results stand for ${email} only if they are its credentials.`, remedy: checkLive})
    return gcp.credentialSource
  }
  if (who.toLowerCase() !== email) {
    throw new ConfigError('LIVE_NOT_PRINCIPAL', `The live layer would run as ${who}, not as the ingest service account ${email}: its results would prove nothing about the principal.`, {
      suggestions: [
        `Pass --impersonate-principal (you need roles/iam.serviceAccountTokenCreator on ${email}), or run with the service account's own credentials.`,
        'Run the static layer alone (without --live) to evaluate the bucket policy with your own credentials.',
      ],
    })
  }
  return who
}

function failureRow(op: GcpOperation, f: GcpFailure, staticRow: CheckRow | undefined, grantApply: string, bucket: string): Pick<CheckRow, 'outcome' | 'code' | 'cause' | 'remedy'> {
  const permission = permissionOf(op)
  const http = `${f.reason ?? f.cause}${f.httpStatus ? ` (HTTP ${f.httpStatus})` : ''}`
  const mk = (outcome: Outcome, cause: string, remedy: string) => ({outcome, code: f.cause, cause, remedy})
  switch (f.cause) {
    case 'access-denied':
      if (staticRow?.outcome === 'pass') {
        return mk('fail', `Cloud Storage refused ${f.permission ?? permission} (${http}) although the bucket IAM policy allows it: the change may not have propagated yet (2 to 7 minutes), or an IAM deny policy or a project-level restriction refuses it`, 'Re-run with --wait 10m; if it still fails, ask the bucket owner about IAM deny policies on the project')
      }
      return mk('fail', `Cloud Storage refused ${f.permission ?? permission} (${http})`, staticRow?.remedy || `${grantApply} ; then re-run with --wait 10m (IAM takes minutes to apply)`)
    case 'vpc-service-controls':
      return mk('fail', `a VPC Service Controls perimeter refused the call (${http}): ${f.message}`, 'The perimeter admin must allow the vendor\'s service account (an ingress rule) for storage.googleapis.com')
    case 'requester-pays':
      return mk('fail', 'the bucket is requester-pays and the cluster sends no billing project', `gcloud storage buckets update gs://${bucket} --no-requester-pays`)
    case 'no-such-bucket':
      return mk('fail', `the bucket does not exist (${http})`, 'Check the bucket name in the source URL')
    case 'no-such-object':
      return mk('skip', 'the sampled object was deleted before it was read', '')
    case 'unauthenticated':
    case 'no-credentials':
    case 'impersonation-denied':
      return mk('unknown', `Google did not accept the principal's credentials (${http}): ${f.message}`, 'Check --impersonate-principal or the ambient credentials, and re-run')
    case 'network':
    case 'throttled':
    case 'server-error':
      return mk('unknown', `the call did not complete (${http}): ${f.message}`, 'Re-run; with --wait, failing calls are retried')
    default:
      return mk('unknown', `Cloud Storage answered ${http}: ${f.message}`, 'Re-run with DEBUG=ingestgate* for details')
  }
}

/** Run the live layer. Throws only when it cannot run (credentials, not the principal). */
export async function runGcpLive(
  ctx: AppContext,
  req: GrantRequest<GcpOptions>,
  opts: CheckOptions,
  email: string,
  member: string,
  input: {sample?: SourceObject[]; staticRows?: CheckRow[]} = {},
): Promise<LiveOutcome> {
  const bucket = req.source.bucket
  const res = resources(req.source)
  const remedies = remedyCommands(req.source, member, req.options)
  const gcp = await ctx.clients.gcp(principalClientOptions(req.options, email))
  const findings: Finding[] = []
  const identity = await verifyIdentity(gcp, email, findings, remedies.checkLive)

  try {
    const held = await gcp.testIamPermissions(bucket, [...WALKER_PERMISSIONS])
    const missing = WALKER_PERMISSIONS.filter((p) => !held.includes(p))
    findings.push({
      code: 'test-iam-permissions',
      severity: 'info',
      resource: res.bucket,
      message: `testIamPermissions on the bucket, as the principal: holds ${held.length ? held.join(', ') : 'none of them'}${missing.length ? `; not on the bucket itself: ${missing.join(', ')}` : ''}${missing.includes('storage.objects.get') && res.dirPrefix ? ` (expected with a prefix grant: objects.get is granted on objects under ${res.dirPrefix}, not on the bucket)` : ''}.`,
    })
  } catch {
    // testIamPermissions is a note, not one of the cluster's calls; the probes below decide.
  }

  const probes: Probe[] = []
  let listed: SourceObject[] | undefined
  probes.push({op: 'bucket-metadata', resource: res.bucket, run: () => attempt(() => gcp.getBucket(bucket))})
  const listProbe: Probe = {
    op: 'list',
    resource: res.list,
    run: () =>
      attempt(async () => {
        listed = (await gcp.listPage(bucket, res.dirPrefix, undefined, 1000)).objects
      }),
  }
  probes.push(listProbe)
  const addObjects = (objects: SourceObject[]) => {
    for (const o of objects) probes.push({op: 'get', resource: res.object(o.key), run: () => attempt(() => gcp.readRange(bucket, o.key, 0, PROBE_BYTES - 1))})
  }
  const runAll = (list: Probe[]) => mapBounded(list, LIVE_CONCURRENCY, async (p) => void (p.result = await p.run()))

  let sample = input.sample
  if (sample) addObjects(sample)
  await runAll([...probes])
  const fromListing = async () => {
    if (sample || !listed) return
    sample = spreadSample(listed, opts.sample)
    const before = probes.length
    addObjects(sample)
    await runAll(probes.slice(before))
  }
  await fromListing()

  const staticRow = (op: GcpOperation, resource: string) => input.staticRows?.find((r) => r.operation === op && r.resource === resource)
  const toRow = (p: Probe): CheckRow => {
    const r = p.result!
    const call = `${p.op === 'bucket-metadata' ? 'buckets.get' : p.op === 'list' ? 'objects.list' : 'objects.get'}`
    if (r.ok) return row(p.op, {resource: p.resource, layer: 'live', outcome: 'pass', code: 'ok', cause: `${call} succeeded as the principal`, decidedBy: [`${call}: OK`], remedy: ''})
    const m = failureRow(p.op, r.failure, staticRow(p.op, p.resource), remedies.grantApply, bucket)
    return row(p.op, {resource: p.resource, layer: 'live', ...m, decidedBy: [`${call}: ${r.failure.reason ?? r.failure.cause}${r.failure.httpStatus ? ` (HTTP ${r.failure.httpStatus})` : ''}`]})
  }

  const failing = () => probes.filter((p) => p.result && !p.result.ok && (toRow(p).outcome === 'fail' || ['network', 'throttled'].includes(p.result.failure.cause)))
  await retryFailing(
    {waitMs: opts.waitMs, backoff: opts.backoff, waitingFor: 'access to propagate'},
    (line) => ctx.ui.info(line),
    failing,
    (pending) => pending.slice(0, 4).map((p) => `${p.op} ${p.resource}`).join(', '),
    async (pending) => {
      await runAll(pending)
      await fromListing()
    },
  )

  const rows = probes.map(toRow)
  if (!sample) {
    const why = listProbe.result && !listProbe.result.ok ? `no objects to read: the listing was refused (${listProbe.result.failure.cause})` : 'no objects to read'
    rows.push(row('get', {resource: res.list, layer: 'live', outcome: 'skip', code: 'no-sample', cause: why, decidedBy: [], remedy: ''}))
  } else if (sample.length === 0) {
    rows.push(row('get', {resource: res.list, layer: 'live', outcome: 'skip', code: 'empty-source', cause: 'no objects under the source: nothing to read yet', decidedBy: [], remedy: ''}))
  }
  return {rows, findings, identity}
}
