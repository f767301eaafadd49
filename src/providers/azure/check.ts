/**
 * `check` for Azure. Static layer (the admin's credentials): the principal's role assignments at
 * the container and above with their role definitions, deny assignments, the account's network
 * rules and hierarchical namespace, decided by the pure evaluator for the listing and for each
 * sampled blob. Live layer (as the principal): List Blobs with the prefix and a ranged Get Blob of
 * each sampled blob, each answer mapped to its cause (AuthorizationFailure: the firewall;
 * AuthorizationPermissionMismatch: the role, or its propagation), retried with --wait.
 */
import type {AzureClients, BlobObject} from '../../clients/azure/index.js'
import type {AppContext} from '../../context.js'
import {formatDuration, retryFailing} from '../../core/duration.js'
import {shellWord} from '../../core/shell.js'
import {mapBounded, spreadSample} from '../../core/sample.js'
import type {CheckResult, CheckRow, Finding, Outcome} from '../../core/verdict.js'
import {runCheckLayers} from '../check-flow.js'
import {AppError, ConfigError} from '../../errors.js'
import type {CheckOptions} from '../types.js'
import {evaluateDataAccess, evaluateNetwork, type AccessInput, type AccountInfo, type DataRequest, type Decision, type NetworkVerdict} from './evaluate.js'
import {readDefinitions} from './grant.js'
import {validateAzurePrincipal, type AzureRequest} from './options.js'
import {blobEndpoint, resolveSource} from './resolve.js'
import {BLOB_READ_ACTION, inheritsTo} from './spec.js'
import {directoryPrefix} from '../../source.js'

export const AZURE_OPERATIONS = ['list', 'get'] as const

/** Probes in flight at once. */
const LIVE_CONCURRENCY = 16
/** How long Azure may take to enforce a new role assignment. */
const PROPAGATION_MS = 10 * 60_000
/** Bytes a live read asks for: enough to prove Get Blob, small enough to be cheap. */
const PROBE_BYTES = 1024

/** The flags the user gave, repeated so a remedy command runs against the same place. */
function cloudArgs(req: AzureRequest): string {
  const o = req.options
  const parts: string[] = []
  if (o.cloud.subscriptionId) parts.push('--subscription', o.cloud.subscriptionId)
  if (o.resourceGroup) parts.push('--resource-group', shellWord(o.resourceGroup))
  if (o.cloud.tenantId) parts.push('--tenant', o.cloud.tenantId)
  if (o.cloud.armEndpoint) parts.push('--arm-endpoint', shellWord(o.cloud.armEndpoint))
  if (o.endpointUrl) parts.push('--endpoint-url', shellWord(o.endpointUrl))
  return parts.length ? ' ' + parts.join(' ') : ''
}

export function remedies(req: AzureRequest): {grantApply: string; checkLive: string} {
  const src = shellWord(req.source.url)
  return {
    grantApply: `ingestgate grant apply ${src} --principal ${req.principal}${cloudArgs(req)}`,
    checkLive: `ingestgate check ${src} --principal ${req.principal} --live --no-static --wait 10m${req.options.endpointUrl ? ` --endpoint-url ${shellWord(req.options.endpointUrl)}` : ''}`,
  }
}

const blobUrl = (req: AzureRequest, key: string) => `az://${req.source.account}/${req.source.bucket}/${key}`

interface StaticOutcome {
  rows: CheckRow[]
  findings: Finding[]
  identity: string
  account: AccountInfo
  /** The sample (undefined when the operator could not list). */
  sample?: BlobObject[]
}

function decisionRow(op: 'list' | 'get', resource: string, d: Decision, net: NetworkVerdict, hns: boolean, fix: string): CheckRow {
  let outcome: Outcome = d.outcome
  let code = d.code
  let cause = d.cause
  const decidedBy = [...d.decidedBy]
  let remedy = d.outcome === 'pass' ? '' : fix
  if (d.outcome === 'fail' && hns && d.code !== 'deny-assignment') {
    // ACLs of a hierarchical-namespace account are checked when RBAC does not grant.
    outcome = 'unknown'
    code = 'acl-may-grant'
    cause = `${cause}; the account has a hierarchical namespace, whose POSIX ACLs (not visible here) could still grant the read`
    remedy = fix
  }
  if (net.state === 'blocked') {
    outcome = 'fail'
    code = 'network-blocked'
    cause = `the storage account's network rules refuse the cluster before any role is looked at (${net.findings[0]?.code})${d.outcome === 'pass' ? '; the role assignment itself would allow it' : `; and ${d.cause}`}`
    decidedBy.push(`storage account network rules: ${net.findings[0]?.code}`)
    remedy = net.findings[0]?.remedy ?? fix
  } else if (net.state === 'depends' && outcome === 'pass') {
    outcome = 'unknown'
    code = 'network-rules'
    cause = `${cause}, but the firewall denies by default and whether the cluster's address is allowed cannot be seen from here`
    decidedBy.push('storage account network rules: defaultAction Deny')
    remedy = net.findings[0]?.remedy ?? ''
  }
  return {operation: op, resource, layer: 'static', outcome, code, cause, decidedBy, remedy}
}

async function runStatic(ctx: AppContext, req: AzureRequest, opts: CheckOptions): Promise<StaticOutcome> {
  const {clients, arm, account, spec} = await resolveSource(ctx, req)
  const me = await clients.identity()
  const fix = remedies(req).grantApply
  const findings: Finding[] = []
  const rows: CheckRow[] = []
  const prefix = directoryPrefix(req.source)

  const listed = await settle(arm.listRoleAssignments(spec.scope, spec.principalId))
  const deny = await settle(arm.listDenyAssignments(spec.scope))
  const net = evaluateNetwork(account)
  findings.push(...net.findings)
  if (account.isHnsEnabled) {
    findings.push({code: 'hierarchical-namespace', severity: 'info', resource: `storage account ${account.name}`, message: `${account.name} has a hierarchical namespace (Data Lake Storage): POSIX ACLs on directories and files can also grant reads. They are not evaluated here; the role assignment alone is what ingestgate grants.`})
  }

  // The sample: the operator lists if the operator may (an Owner often may not: no data actions).
  let sample: BlobObject[] | undefined
  const endpoint = blobEndpoint(req, account)
  // Only a sample: any failure here (no data role, a firewall or private endpoint between the
  // admin and the account) leaves the rows to be evaluated for any blob under the prefix.
  try {
    const page = await (await clients.blob(endpoint)).listPage(spec.container, prefix, undefined, 1000)
    sample = spreadSample(page.objects, opts.sample)
  } catch (error) {
    if (error instanceof AppError && error.exitCode === 3) throw error
  }

  if (!listed.ok) {
    const why = listed.error instanceof AppError ? listed.error.message : String(listed.error)
    for (const op of AZURE_OPERATIONS) rows.push({operation: op, resource: req.source.url, layer: 'static', outcome: 'unknown', code: 'assignments-unreadable', cause: `the role assignments cannot be read: ${why}`, decidedBy: [], remedy: `Run as an identity with Reader on the storage account, or prove it as the principal: ${remedies(req).checkLive}`})
    return {rows, findings, identity: me.objectId, account, sample}
  }
  const covering = listed.value.filter((a) => a.principalId.toLowerCase() === spec.principalId && inheritsTo(a.scope, spec.scope))
  const definitions = await readDefinitions(arm, covering)
  // The static layer reads what is assigned, not what Azure already enforces.
  for (const a of covering) {
    const age = a.createdOn ? ctx.now().getTime() - Date.parse(a.createdOn) : Number.POSITIVE_INFINITY
    if (age >= 0 && age < PROPAGATION_MS) {
      findings.push({code: 'recent-assignment', severity: 'info', resource: a.scope, message: `Role assignment ${a.name} was made ${formatDuration(age)} ago: Azure can take up to 10 minutes to enforce a new assignment, so the cluster may still be refused for a while.`, remedy: remedies(req).checkLive})
    }
  }
  if (!deny.ok) {
    findings.push({code: 'deny-assignments-unreadable', severity: 'warning', message: `The deny assignments at the container cannot be read (${deny.error instanceof AppError ? deny.error.code : 'error'}); one could refuse what the roles allow.`})
  }
  const input: AccessInput = {principalId: spec.principalId, scope: spec.scope, assignments: covering, definitions, denyAssignments: deny.ok ? deny.value : []}
  const decide = (r: DataRequest) => {
    const d = evaluateDataAccess(input, r)
    // An unreadable deny list leaves an allow undecided: it could be overridden.
    if (!deny.ok && d.outcome === 'pass') return {...d, outcome: 'unknown' as const, code: 'deny-unreadable', cause: `${d.cause}, but deny assignments could not be read and would override it`}
    return d
  }

  rows.push(decisionRow('list', req.source.url, decide({operation: 'list', prefix}), net, Boolean(account.isHnsEnabled), fix))
  if (sample && sample.length > 0) {
    for (const o of sample) rows.push(decisionRow('get', blobUrl(req, o.key), decide({operation: 'get', path: o.key}), net, Boolean(account.isHnsEnabled), fix))
  } else {
    // No blobs to name (none yet, or the operator may not list): the conditions ingestgate
    // evaluates are prefix conditions, so any blob under the prefix decides the same.
    const d = decisionRow('get', `${req.source.url.replace(/\/$/, '')}/*`, decide({operation: 'get', path: `${prefix}x`}), net, Boolean(account.isHnsEnabled), fix)
    rows.push({...d, decidedBy: [...d.decidedBy, sample ? 'no blobs under the prefix yet: evaluated for any blob under it' : 'the operator may not list blobs: evaluated for any blob under the prefix']})
  }
  return {rows, findings, identity: me.objectId, account, sample}
}

async function settle<T>(p: Promise<T>): Promise<{ok: true; value: T} | {ok: false; error: unknown}> {
  try {
    return {ok: true, value: await p}
  } catch (error) {
    // What means the check cannot run at all (credentials, network) is not data.
    if (error instanceof AppError && (error.exitCode === 3 || error.code === 'NETWORK')) throw error
    return {ok: false, error}
  }
}

// ---------------------------------------------------------------------------------------------
// Live layer.

type ProbeResult = {ok: true} | {ok: false; error: AppError}

interface Probe {
  operation: 'list' | 'get'
  resource: string
  call: string
  run(): Promise<ProbeResult>
  result?: ProbeResult
}

function azureCode(e: AppError): string {
  return String(e.data?.azureCode ?? '') || e.code
}

function liveFailure(p: Probe, e: AppError, req: AzureRequest): Pick<CheckRow, 'outcome' | 'code' | 'cause' | 'remedy'> {
  const code = azureCode(e)
  const fix = remedies(req)
  if (code === 'AuthorizationFailure') {
    return {outcome: 'fail', code: 'network-rules', cause: 'Azure refused the request with AuthorizationFailure: the storage account\'s firewall or disabled public network access blocks this address', remedy: `az storage account network-rule add --account-name ${req.source.account} --ip-address CLUSTER_EGRESS_ADDRESS (or enable public network access)`}
  }
  if (code === 'AuthorizationPermissionMismatch') {
    return {outcome: 'fail', code: 'permission-mismatch', cause: `Azure refused ${BLOB_READ_ACTION} with AuthorizationPermissionMismatch: no role assignment grants it yet, or a new one has not propagated (up to 10 minutes)`, remedy: `${fix.grantApply} ; then re-run with --wait 10m`}
  }
  if (code === 'ContainerNotFound') return {outcome: 'fail', code: 'no-such-container', cause: 'the container does not exist (ContainerNotFound)', remedy: 'Check the container in the source URL'}
  if (code === 'BlobNotFound') return {outcome: 'skip', code: 'deleted', cause: 'the sampled blob was deleted before it was read', remedy: ''}
  if (e.kind === 'credentials') return {outcome: 'unknown', code: 'credentials', cause: `Azure did not accept the principal's credentials (${code})`, remedy: 'Check the principal\'s credentials (AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID) and --tenant, then re-run'}
  if (e.kind === 'network' || e.kind === 'throttled') return {outcome: 'unknown', code: e.kind, cause: `the call did not complete (${code}): ${e.message}`, remedy: 'Re-run; with --wait, failing calls are retried'}
  return {outcome: 'unknown', code: 'other', cause: `Azure answered ${code}${e.data?.httpStatus ? ` (HTTP ${e.data.httpStatus})` : ''}`, remedy: 'Re-run with DEBUG=ingestgate* for details'}
}

async function attempt(fn: () => Promise<unknown>): Promise<ProbeResult> {
  try {
    await fn()
    return {ok: true}
  } catch (error) {
    if (error instanceof AppError) return {ok: false, error}
    throw error
  }
}

/**
 * The live layer: the principal's credentials (the ambient chain, which must be the principal:
 * its token's object id is compared), the cluster's calls, --wait for propagation.
 */
async function runLive(ctx: AppContext, req: AzureRequest, opts: CheckOptions, stat?: StaticOutcome): Promise<{rows: CheckRow[]; findings: Finding[]; identity: string}> {
  const clients: AzureClients = await ctx.clients.azure({...req.options.cloud})
  const me = await clients.identity()
  if (me.objectId.toLowerCase() !== req.principal.toLowerCase()) {
    throw new ConfigError('LIVE_NOT_PRINCIPAL', `The live layer would run as ${me.objectId || 'an identity without an object id'}, not as the ingest principal ${req.principal}: its results would prove nothing about the principal.`, {
      suggestions: [
        'Run the live layer with the principal\'s own credentials (vendor support: AZURE_TENANT_ID=CUSTOMER_TENANT, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET of the vendor app, AZURE_TOKEN_CREDENTIALS=EnvironmentCredential), with --no-static.',
        'Run the static layer alone (without --live) to evaluate the role assignments with your own credentials.',
      ],
    })
  }
  const endpoint = blobEndpoint(req, stat?.account)
  const blob = await clients.blob(endpoint)
  const container = req.source.bucket
  const prefix = directoryPrefix(req.source)
  const probes: Probe[] = []
  let listed: BlobObject[] | undefined
  const listProbe: Probe = {
    operation: 'list',
    resource: req.source.url,
    call: 'List Blobs',
    run: () =>
      attempt(async () => {
        listed = (await blob.listPage(container, prefix, undefined, 1000)).objects
      }),
  }
  probes.push(listProbe)
  const addObjects = (objects: BlobObject[]) => {
    for (const o of objects) probes.push({operation: 'get', resource: blobUrl(req, o.key), call: 'Get Blob (ranged)', run: () => attempt(() => blob.getRange(container, o.key, 0, Math.max(0, Math.min(o.size, PROBE_BYTES) - 1)))})
  }
  const runAll = (list: Probe[]) =>
    mapBounded(list, LIVE_CONCURRENCY, async (p) => {
      p.result = await p.run()
    })
  let sample = stat?.sample
  if (sample) addObjects(sample)
  await runAll([...probes])
  if (!sample && listed) {
    sample = spreadSample(listed, opts.sample)
    const before = probes.length
    addObjects(sample)
    await runAll(probes.slice(before))
  }

  const toRow = (p: Probe): CheckRow => {
    const r = p.result!
    if (r.ok) return {operation: p.operation, resource: p.resource, layer: 'live', outcome: 'pass', code: 'ok', cause: `${p.call} succeeded as the principal`, decidedBy: [`${p.call}: OK`], remedy: ''}
    return {operation: p.operation, resource: p.resource, layer: 'live', ...liveFailure(p, r.error, req), decidedBy: [`${p.call}: ${azureCode(r.error)}${r.error.data?.httpStatus ? ` (HTTP ${r.error.data.httpStatus})` : ''}`]}
  }
  const failing = () => probes.filter((p) => p.result && !p.result.ok && (toRow(p).outcome === 'fail' || ['network', 'throttled'].includes(p.result.error.kind ?? '')))
  await retryFailing(
    {waitMs: opts.waitMs, backoff: opts.backoff, waitingFor: 'the role assignment to propagate'},
    (line) => ctx.ui.info(line),
    failing,
    (pending) => pending.slice(0, 3).map((p) => `${p.operation} ${p.resource}: ${p.result && !p.result.ok ? azureCode(p.result.error) : ''}`).join(', '),
    async (pending) => {
      await runAll(pending)
      if (!sample && listed && listProbe.result?.ok) {
        sample = spreadSample(listed, opts.sample)
        const before = probes.length
        addObjects(sample)
        await runAll(probes.slice(before))
      }
    },
  )

  const rows = probes.map(toRow)
  if (!sample) {
    const cause = listProbe.result && !listProbe.result.ok ? `no blobs to read: the listing was refused (${azureCode(listProbe.result.error)})` : 'no blobs to read'
    rows.push({operation: 'get', resource: req.source.url, layer: 'live', outcome: 'skip', code: 'no-sample', cause, decidedBy: [], remedy: ''})
  } else if (sample.length === 0) {
    rows.push({operation: 'get', resource: req.source.url, layer: 'live', outcome: 'skip', code: 'empty-source', cause: 'no blobs under the source: nothing to read yet', decidedBy: [], remedy: ''})
  }
  return {rows, findings: [], identity: me.objectId}
}

/** Run the layers asked for and assemble the result; `ok` comes from the rows alone. */
export async function checkAzure(ctx: AppContext, req: AzureRequest, opts: CheckOptions): Promise<CheckResult> {
  validateAzurePrincipal(req.principal)
  return runCheckLayers(ctx, opts, {
    source: req.source.url,
    principal: req.principal.toLowerCase(),
    order: AZURE_OPERATIONS,
    staticIntro: `Static layer: reading the role assignments and network rules of ${req.source.url} ...`,
    liveIntro: `Live layer: calling Blob Storage as ${req.principal} ...`,
    runStatic: () => runStatic(ctx, req, opts),
    runLive: (stat) => runLive(ctx, req, opts, stat),
  })
}
