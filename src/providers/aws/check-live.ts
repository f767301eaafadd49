/**
 * The live layer of the AWS check: as the ingest principal, make the calls the cluster makes
 * (ListObjectsV2 with the prefix, HeadBucket for the region, a ranged GetObject and
 * GetObjectAttributes per sampled key, and a GetObject of an SSE-KMS object per key in use, which
 * is the Decrypt test) and map every AWS answer to a cause. Probes run concurrently (bounded), so a
 * full check costs about two round trips; --wait retries the failing ones with exponential backoff.
 */
import {classifyProbeError, type ProbeFailure} from '../../clients/aws/errors.js'
import type {AwsClients, ObjectProbe} from '../../clients/aws/index.js'
import type {AppContext} from '../../context.js'
import type {RemedyContext} from './policy/access.js'
import {retryFailing} from '../../core/duration.js'
import {mapBounded, spreadSample} from '../../core/sample.js'
import type {CheckRow, Finding, Outcome} from '../../core/verdict.js'
import {AppError, ConfigError} from '../../errors.js'
import {registerSecret} from '../../output/redact.js'
import type {CheckOptions} from '../types.js'
import type {AwsRequest} from './options.js'
import {callerIsPrincipal, missingLiveIdentity, type AwsOperationId, type CheckPrincipal} from './check-common.js'
import type {SampledObject} from './check-static.js'

/** Probes in flight at once: enough for a 20-object sample in one round trip, gentle on the endpoint. */
export const LIVE_CONCURRENCY = 16

export interface LiveInput {
  /** Objects to probe (from the static layer); when absent the live listing provides them. */
  sample?: SampledObject[]
  /** KMS keys in use (from the static layer): key -> a sampled object encrypted with it. */
  keys?: Array<{key: string; object?: string}>
  /** Static rows, to tell in a live failure's remedy which side refuses. */
  staticRows?: CheckRow[]
}

export interface LiveOutcome {
  rows: CheckRow[]
  findings: Finding[]
  identity: string
}

type ProbeResult<T = unknown> = {ok: true; value: T} | {ok: false; failure: ProbeFailure; region?: string}

interface Probe {
  id: string
  operation: AwsOperationId
  /** What the row names. */
  resource: string
  /** The API call, for decided-by. */
  call: string
  run: () => Promise<ProbeResult>
  result?: ProbeResult
}

async function attempt<T>(fn: () => Promise<T>): Promise<ProbeResult<T>> {
  try {
    return {ok: true, value: await fn()}
  } catch (error) {
    const failure = classifyProbeError(error)
    const region = error instanceof AppError ? (error.data?.region as string | undefined) : undefined
    return {ok: false, failure, region}
  }
}

/** The principal's clients: an assumed role, a profile that is the principal, or the operator's own chain. */
async function principalClients(ctx: AppContext, req: AwsRequest, opts: CheckOptions): Promise<AwsClients> {
  const {assumeRole, externalId, profile} = req.options.live
  const {cloud} = req.options
  const where = {region: cloud.region, endpointUrl: cloud.endpointUrl}
  if (assumeRole) {
    const base = await ctx.clients.aws({...where, profile: profile ?? cloud.profile})
    // The session must outlive --wait; AWS allows 15 minutes to 1 hour for chained sessions.
    const durationSeconds = Math.min(3600, Math.max(900, Math.ceil(opts.waitMs / 1000) + 600))
    let assumed
    try {
      assumed = await base.assumeRole({roleArn: assumeRole, externalId, sessionName: 'ingestgate-check', durationSeconds})
    } catch (error) {
      if (error instanceof AppError && error.code === 'ACCESS_DENIED') {
        throw new ConfigError('ASSUME_ROLE_DENIED', `Cannot assume ${assumeRole} with the ${profile ? `profile "${profile}"` : 'operator\'s'} credentials.`, {
          cause: error,
          suggestions: [
            'The role\'s trust policy must allow your identity (sts:AssumeRole), and --external-id must match its sts:ExternalId condition if it has one.',
            'Or pass --principal-profile NAME for a profile whose credentials are the principal.',
          ],
        })
      }
      throw error
    }
    registerSecret(assumed.credentials.secretAccessKey)
    registerSecret(assumed.credentials.sessionToken)
    return ctx.clients.aws({...where, credentials: assumed.credentials})
  }
  if (profile) return ctx.clients.aws({...where, profile})
  return ctx.clients.aws(cloud)
}

const CALL_OF: Record<AwsOperationId, string> = {
  list: 'ListObjectsV2',
  region: 'HeadBucket',
  get: 'GetObject',
  'get-attributes': 'GetObjectAttributes',
  decrypt: 'GetObject (SSE-KMS)',
}

const ACTION_OF: Record<AwsOperationId, string> = {
  list: 's3:ListBucket',
  region: 's3:ListBucket (HeadBucket)',
  get: 's3:GetObject',
  'get-attributes': 's3:GetObject and s3:GetObjectAttributes',
  decrypt: 's3:GetObject and kms:Decrypt',
}

function answer(f: ProbeFailure): string {
  return `${f.awsCode || 'an error'}${f.httpStatus ? ` (HTTP ${f.httpStatus})` : ''}`
}

interface RowContext {
  remedies: RemedyContext
  staticRow?: CheckRow
  principal: CheckPrincipal
  keyArn?: string
  bucketRegion?: string
}

/** What a failed probe means for the row: outcome, cause and the fix. */
function failureRow(op: AwsOperationId, f: ProbeFailure, c: RowContext): Pick<CheckRow, 'outcome' | 'code' | 'cause' | 'remedy'> {
  const action = ACTION_OF[op]
  const grant = c.keyArn ? `${c.remedies.grantApply} --kms-key ${c.keyArn}` : c.remedies.grantApply
  const mk = (outcome: Outcome, cause: string, remedy: string) => ({outcome, code: f.cause, cause, remedy})
  switch (f.cause) {
    case 'kms-access-denied':
      return mk('fail', `AWS refused kms:Decrypt of the object's key (${answer(f)}): ${f.message}`, `${grant} ; KMS grants take up to 5 minutes to apply: re-run with --wait 5m`)
    case 'kms-disabled':
    case 'kms-invalid-state':
      return mk('fail', `the object's KMS key is disabled or pending deletion (${answer(f)})`, `As the key owner: aws kms enable-key --key-id ${c.keyArn ?? 'KEY'}`)
    case 'kms-not-found':
      return mk('fail', `the object's KMS key does not exist or is not usable from here (${answer(f)})`, 'Re-encrypt the data under an existing customer-managed key in the bucket\'s region')
    case 'access-denied': {
      let cause = `AWS refused ${action} (${answer(f)})`
      let remedy: string
      if (op === 'decrypt') {
        cause += '; S3 does not say whether s3:GetObject or kms:Decrypt was refused'
        remedy = `${grant} ; if the object's get row passes, kms:Decrypt is the missing permission (grants take up to 5 minutes: --wait 5m)`
      } else if (c.staticRow?.outcome === 'pass') {
        cause += `; the bucket owner's side allows it (static layer), so the refusal comes from the principal's side`
        remedy = `Allow ${action} in an identity policy of ${c.principal.grantArn}; check SCPs, the permissions boundary and VPC endpoint policies of the principal's account`
      } else if (c.staticRow) {
        remedy = c.staticRow.remedy || grant
      } else {
        remedy = `${grant} ; to see which statement refuses it, run the static layer as the bucket's admin: ingestgate check ... --principal ${c.principal.grantArn}`
      }
      return mk('fail', cause, remedy)
    }
    case 'no-such-key':
      return mk('skip', 'the sampled object was deleted before it was read', '')
    case 'no-such-bucket':
      return mk('fail', `the bucket does not exist (${answer(f)})`, 'Check the bucket name in the source URL')
    case 'region-mismatch':
      return mk('fail', `S3 answered ${answer(f)}: the request went to the wrong region`, c.bucketRegion ? `Pass --region ${c.bucketRegion}` : 'Pass --region with the bucket\'s region')
    case 'expired-token':
      return mk('unknown', `the principal's credentials expired during the check (${answer(f)})`, 'Refresh the credentials (a new session) and re-run')
    case 'invalid-credentials':
    case 'no-credentials':
      return mk('unknown', `AWS did not accept the principal's credentials (${answer(f)})`, 'Check the credentials of the principal (--assume-role, --principal-profile) and re-run')
    case 'network':
    case 'throttled':
      return mk('unknown', `the call did not complete (${answer(f)}): ${f.message}`, 'Re-run; with --wait, failing calls are retried')
    default:
      return mk('unknown', `AWS answered ${answer(f)}: ${f.message}`, 'Re-run with DEBUG=ingestgate* for details')
  }
}

/** Who the live layer runs as; it must be the principal, or its results prove nothing. */
async function verifyIdentity(aws: AwsClients, principal: CheckPrincipal): Promise<string> {
  const me = await aws.callerIdentity()
  if (!callerIsPrincipal(me.arn, principal)) throw missingLiveIdentity(me.arn, principal)
  return me.arn
}

/**
 * Run the live layer. Throws only when it cannot run (no credentials, not the principal, the role
 * cannot be assumed); every refusal of a probe is a row.
 */
export async function runLiveLayer(
  ctx: AppContext,
  req: AwsRequest,
  opts: CheckOptions,
  principal: CheckPrincipal,
  remedies: RemedyContext,
  input: LiveInput = {},
): Promise<LiveOutcome> {
  const {bucket, prefix} = req.source
  const aws = await principalClients(ctx, req, opts)
  const identity = await verifyIdentity(aws, principal)
  const findings: Finding[] = []
  const sourceUrl = req.source.url
  const probes: Probe[] = []
  const add = (p: Omit<Probe, 'call'>) => {
    const probe = {...p, call: CALL_OF[p.operation]}
    probes.push(probe)
    return probe
  }

  let listed: Array<{key: string; size: number}> | undefined
  const listProbe = add({
    id: 'list',
    operation: 'list',
    resource: sourceUrl,
    run: () =>
      attempt(async () => {
        const page = await aws.s3.listPage(bucket, prefix, undefined, 1000)
        listed = page.objects
        return page
      }),
  })
  let bucketRegion: string | undefined
  add({
    id: 'region',
    operation: 'region',
    resource: `s3://${bucket}`,
    run: async () => {
      const r = await attempt(() => aws.s3.probeBucket(bucket))
      if (r.ok) bucketRegion = (r.value as {region?: string}).region ?? bucketRegion
      else if (r.region) bucketRegion = r.region
      return r
    },
  })

  const objectProbes = new Map<string, Probe>()
  const addObjects = (objects: SampledObject[]) => {
    for (const o of objects) {
      const resource = `s3://${bucket}/${o.key}`
      objectProbes.set(o.key, add({id: `get:${o.key}`, operation: 'get', resource, run: () => attempt(() => aws.s3.probeObject(bucket, o.key, o.size))}))
      add({id: `attr:${o.key}`, operation: 'get-attributes', resource, run: () => attempt(() => aws.s3.getAttributes(bucket, o.key))})
    }
  }
  const runAll = (list: Probe[]) =>
    mapBounded(list, LIVE_CONCURRENCY, async (p) => {
      p.result = await p.run()
    })

  // Round trip 1: the listing, the region and (when the static layer sampled them) the objects.
  if (input.sample) addObjects(input.sample)
  await runAll([...probes])
  // Round trip 2, without a static sample: the objects the listing found.
  let sample = input.sample
  if (!sample && listed) {
    sample = spreadSample(listed, opts.sample)
    const before = probes.length
    addObjects(sample)
    await runAll(probes.slice(before))
  }

  // What each probe's answer means (the wait loop retries by the same reading).
  const staticRow = (op: AwsOperationId, resource: string) => input.staticRows?.find((r) => r.operation === op && r.resource === resource)
  const rows: CheckRow[] = []
  const toRow = (p: Probe, resource = p.resource, operation = p.operation, keyArn?: string, detail?: string): CheckRow => {
    const r = p.result!
    if (r.ok) return {operation, resource, layer: 'live', outcome: 'pass', code: 'ok', cause: detail ?? `${p.call} succeeded as the principal`, decidedBy: [`${p.call}: OK`], remedy: ''}
    if (operation === 'region' && r.region) {
      return {operation, resource, layer: 'live', outcome: 'pass', code: 'region-from-error', cause: `HeadBucket was refused (${answer(r.failure)}), but S3 named the bucket's region ${r.region}, which is all the cluster needs`, decidedBy: [`${p.call}: ${answer(r.failure)}, x-amz-bucket-region ${r.region}`], remedy: ''}
    }
    if (operation === 'get' && r.failure.cause === 'invalid-range') {
      return {operation, resource, layer: 'live', outcome: 'pass', code: 'ok', cause: 'GetObject was authorised (the object is empty)', decidedBy: [`${p.call}: ${answer(r.failure)}`], remedy: ''}
    }
    const m = failureRow(operation, r.failure, {remedies, principal, keyArn, bucketRegion, staticRow: staticRow(operation, resource)})
    return {operation, resource, layer: 'live', ...m, decidedBy: [`${p.call}: ${answer(r.failure)}`]}
  }

  // --wait: retry what fails until it passes or the time is up.
  // A refusal is retried, and so is a call that did not complete (network, throttling).
  const failing = () =>
    probes.filter((p) => p.result && !p.result.ok && (toRow(p).outcome === 'fail' || ['network', 'throttled'].includes(p.result.failure.cause)))
  const more = async () => {
    if (!sample && listed && listProbe.result?.ok) {
      sample = spreadSample(listed, opts.sample)
      const before = probes.length
      addObjects(sample)
      await runAll(probes.slice(before))
    }
  }
  await retryFailing(
    {waitMs: opts.waitMs, backoff: opts.backoff, waitingFor: 'access to propagate'},
    (line) => ctx.ui.info(line),
    failing,
    (pending) => {
      const shown = pending.slice(0, 4).map((p) => `${p.operation} ${p.resource} (${p.result && !p.result.ok ? p.result.failure.cause : ''})`)
      return `${shown.join(', ')}${pending.length > shown.length ? `, and ${pending.length - shown.length} more` : ''}`
    },
    async (pending) => {
      await runAll(pending)
      await more()
    },
  )


  // Rows.
  for (const p of probes) {
    if (p.operation === 'region' && p.result?.ok) {
      const region = (p.result.value as {region?: string}).region
      rows.push(toRow(p, undefined, undefined, undefined, region ? `the bucket is in ${region} (x-amz-bucket-region)` : 'HeadBucket succeeded as the principal'))
    } else rows.push(toRow(p))
  }
  if (!sample) {
    const cause = listProbe.result && !listProbe.result.ok ? `no objects to read: the listing was refused (${answer(listProbe.result.failure)})` : 'no objects to read'
    for (const op of ['get', 'get-attributes'] as const) rows.push({operation: op, resource: sourceUrl, layer: 'live', outcome: 'skip', code: 'no-sample', cause, decidedBy: [], remedy: ''})
  } else if (sample.length === 0) {
    for (const op of ['get', 'get-attributes'] as const) rows.push({operation: op, resource: sourceUrl, layer: 'live', outcome: 'skip', code: 'empty-source', cause: 'no objects under the source: nothing to read yet', decidedBy: [], remedy: ''})
  }

  // Decrypt: one GetObject of an SSE-KMS object per key in use. The static layer knows the keys;
  // without it, the keys are those the successful reads reported.
  const keys = new Map<string, string | undefined>()
  for (const k of input.keys ?? []) keys.set(k.key, k.object)
  if (!input.keys) {
    for (const [key, p] of objectProbes) {
      const r = p.result
      if (r?.ok) {
        const v = r.value as ObjectProbe
        if (v.serverSideEncryption?.startsWith('aws:kms') && v.kmsKeyId && !keys.has(v.kmsKeyId)) keys.set(v.kmsKeyId, key)
      }
    }
    const unreadable = [...objectProbes.values()].filter((p) => p.result && !p.result.ok).length
    if (unreadable > 0) {
      findings.push({
        code: 'live-keys-partial',
        severity: 'info',
        message: `${unreadable} sampled object(s) could not be read, so their KMS keys (if any) are not known to the live layer; run the static layer too for the full list of keys.`,
      })
    }
  }
  for (const [keyArn, objectKey] of keys) {
    const p = objectKey ? objectProbes.get(objectKey) : undefined
    if (!p?.result) {
      rows.push({
        operation: 'decrypt',
        resource: keyArn,
        layer: 'live',
        outcome: 'skip',
        code: 'no-object',
        cause: 'no sampled object is encrypted with this key (it is the default for new writes): nothing to decrypt yet',
        decidedBy: [],
        remedy: '',
      })
      continue
    }
    const row = toRow(p, keyArn, 'decrypt', keyArn, `read s3://${bucket}/${objectKey}, which is SSE-KMS under this key`)
    rows.push({...row, decidedBy: row.decidedBy.map((d) => d.replace(/^GetObject:/, `GetObject s3://${bucket}/${objectKey}:`))})
  }

  return {rows, findings, identity}
}
