/**
 * Azure apply, revoke and check in-process against the doubles (the real SDKs over HTTPS, the
 * real credential chain through the stand-in `az`): every write path of the issue, counted at the
 * ARM double, and the check's verdicts before and after.
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {createAzureClients} from '../../../src/clients/azure/index.js'
import {createContext, type AppContext} from '../../../src/context.js'
import {createUi} from '../../../src/output/ui.js'
import {runGrantPlan} from '../../../src/providers/grant-flow.js'
import {azureProvider} from '../../../src/providers/azure/index.js'
import type {AzureOptions} from '../../../src/providers/azure/options.js'
import {assignmentName, BLOB_DATA_READER_ROLE, prefixCondition} from '../../../src/providers/azure/spec.js'
import type {GrantRequest} from '../../../src/providers/types.js'
import {parseSource} from '../../../src/source.js'
import type {AzureDoubles} from '../../../emulators/azure-blob-double.mjs'
import {ACCOUNT, ADMIN, CONTAINER, CONTRIBUTOR, INGEST, RESOURCE_GROUP, SOURCE, startDoubles, SUBSCRIPTION, useIdentityInProcess, type TestIdentity} from '../../helpers/azure.js'

let d: AzureDoubles
let stateDir: string
let log: string[]

function ctxAs(who: TestIdentity): AppContext {
  useIdentityInProcess(who)
  log = []
  const sink = {write: (s: string) => (log.push(s), true), isTTY: false}
  const env = {...process.env, INGESTGATE_STATE_DIR: stateDir, NO_COLOR: '1'}
  return createContext({
    env,
    ui: createUi(sink as never, sink as never, env),
    stateDir,
    confirm: async () => true,
    clients: {azure: (o) => createAzureClients({...o, caCertificate: d.ca}, env)},
  })
}

function request(source = SOURCE, extraFlags: Record<string, unknown> = {}, principal = INGEST.oid): GrantRequest<AzureOptions> {
  const options = azureProvider.readOptions({flags: {subscription: SUBSCRIPTION, 'resource-group': RESOURCE_GROUP, 'arm-endpoint': d.arm.url, ...extraFlags}, env: {INGESTGATE_AZURE_PRINCIPAL_RETRY_MS: '300'}, purpose: 'grant'})
  return {source: parseSource(source), principal, options}
}

const scope = () => d.world.containerScope(ACCOUNT, CONTAINER)
const ourName = () => assignmentName(scope(), BLOB_DATA_READER_ROLE, INGEST.oid)
const writes = () => d.world.requests.filter((r) => r.method === 'PUT' || r.method === 'DELETE').length
const apply = async (ctx: AppContext, req = request()) => runGrantPlan(ctx, await azureProvider.planApply(ctx, req), {verb: 'apply', dryRun: false, yes: true, source: req.source.url, principal: req.principal})
const revoke = async (ctx: AppContext, req = request()) => runGrantPlan(ctx, await azureProvider.planRevoke(ctx, req), {verb: 'revoke', dryRun: false, yes: true, source: req.source.url, principal: req.principal})
const failure = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as {code: string; exitCode: number; message: string; suggestions: string[]})

beforeAll(async () => {
  d = await startDoubles()
})
afterAll(async () => d?.stop())
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'ingestgate-az-state-'))
  for (const [id, a] of d.world.assignments) if (a.properties.principalId === INGEST.oid) d.world.assignments.delete(id)
  d.world.notYetReplicated.clear()
})
afterEach(() => rmSync(stateDir, {recursive: true, force: true}))

describe('grant apply and revoke', () => {
  it('apply creates the assignment with the deterministic name and the prefix condition; a second apply makes no write', async () => {
    const first = await apply(ctxAs(ADMIN))
    expect(first).toMatchObject({changed: true, changes: [{kind: 'role-assignment', action: 'create', id: ourName(), target: scope()}]})
    const a = d.world.assignments.get(`${scope()}/providers/Microsoft.Authorization/roleAssignments/${ourName()}`.toLowerCase())!
    expect(a.properties).toMatchObject({principalId: INGEST.oid, principalType: 'ServicePrincipal', condition: prefixCondition('dicom/'), conditionVersion: '2.0'})
    const before = writes()
    const second = await apply(ctxAs(ADMIN))
    expect(second).toMatchObject({changed: false, changes: []})
    expect(writes()).toBe(before)
    expect(log.join('')).toMatch(/ingestgate's own role assignment .* Nothing to write/)
  })

  it('an existing broader assignment made by someone else is success with no write, and names it', async () => {
    d.world.assign({scope: d.world.accountScope(ACCOUNT), role: 'Storage Blob Data Contributor', principalId: INGEST.oid, name: '7c0ffee0-0000-4000-8000-000000000001'})
    const before = writes()
    const r = await apply(ctxAs(ADMIN))
    expect(r.changed).toBe(false)
    expect(writes()).toBe(before)
    expect(r.notes.join('\n')).toMatch(/7c0ffee0-0000-4000-8000-000000000001 \(Storage Blob Data Contributor\) at .*storageAccounts\/acmeimaging grants/)
    // revoke leaves it alone and says so.
    const rv = await revoke(ctxAs(ADMIN))
    expect(rv.changed).toBe(false)
    expect(rv.notes.join('\n')).toMatch(/Left alone: role assignment 7c0ffee0/)
    expect(d.world.assignments.size).toBeGreaterThan(0)
  })

  it('409 RoleAssignmentExists (the same trio appeared under another name after the plan) is resolved by lookup', async () => {
    const ctx = ctxAs(ADMIN)
    const plan = await azureProvider.planApply(ctx, request())
    d.world.assign({scope: scope(), role: BLOB_DATA_READER_ROLE, principalId: INGEST.oid, name: '7c0ffee0-0000-4000-8000-000000000409'})
    const done = await plan.execute()
    expect(done.notes.join('\n')).toMatch(/equivalent role assignment already exists: 7c0ffee0-0000-4000-8000-000000000409/)
    expect(d.world.requests.filter((r) => r.method === 'PUT').length).toBeGreaterThan(0)
  })

  it('PrincipalNotFound is retried with backoff (replication), then succeeds', async () => {
    d.world.notYetReplicated.set(INGEST.oid, 2)
    const r = await apply(ctxAs(ADMIN))
    expect(r.changed).toBe(true)
    expect(log.join('')).toMatch(/does not know principal .* \(attempt 2\); retrying/)
  })

  it('PrincipalNotFound that persists is explained: replication, or the application id given instead of the object id', async () => {
    const e = await failure(apply(ctxAs(ADMIN), request(SOURCE, {}, INGEST.appId!)))
    expect(e).toMatchObject({code: 'PRINCIPAL_NOT_FOUND', exitCode: 3})
    expect(e!.suggestions.join('\n')).toMatch(/replicating/)
    expect(e!.suggestions.join('\n')).toMatch(new RegExp(`az ad sp show --id ${INGEST.appId} --query id`))
  })

  it('a Contributor may not assign roles: 403 names the roles that can, and nothing is written', async () => {
    const before = d.world.assignments.size
    const e = await failure(apply(ctxAs(CONTRIBUTOR)))
    expect(e).toMatchObject({code: 'NOT_ALLOWED_TO_ASSIGN', exitCode: 4})
    expect(e!.message).toContain('Microsoft.Authorization/roleAssignments/write')
    expect(e!.suggestions[0]).toMatch(/Owner, User Access Administrator, Role Based Access Control Administrator/)
    expect(d.world.assignments.size).toBe(before)
  })

  it('a second prefix in the same container is refused rather than replacing the first; the whole container widens it', async () => {
    await apply(ctxAs(ADMIN))
    const e = await failure(apply(ctxAs(ADMIN), request(`az://${ACCOUNT}/${CONTAINER}/other`)))
    expect(e).toMatchObject({code: 'ASSIGNMENT_CONFLICT', exitCode: 3})
    const wide = await apply(ctxAs(ADMIN), request(`az://${ACCOUNT}/${CONTAINER}`))
    expect(wide).toMatchObject({changed: true, changes: [{action: 'replace'}]})
    expect(readdirSync(join(stateDir, 'backups', 'az')).filter((f) => !f.endsWith('.record.json'))).toHaveLength(1)
  })

  it('revoke deletes exactly ingestgate\'s assignment, after a backup', async () => {
    await apply(ctxAs(ADMIN))
    d.world.assign({scope: `/subscriptions/${SUBSCRIPTION}`, role: 'Reader', principalId: INGEST.oid, name: '7c0ffee0-0000-4000-8000-00000000000a'})
    const r = await revoke(ctxAs(ADMIN))
    expect(r).toMatchObject({changed: true, changes: [{action: 'delete', id: ourName()}]})
    const backups = readdirSync(join(stateDir, 'backups', 'az')).filter((f) => !f.endsWith('.record.json'))
    expect(JSON.parse(readFileSync(join(stateDir, 'backups', 'az', backups[0]), 'utf8'))).toMatchObject({name: ourName()})
    const left = [...d.world.assignments.values()].filter((a) => a.properties.principalId === INGEST.oid).map((a) => a.name)
    expect(left).toEqual(['7c0ffee0-0000-4000-8000-00000000000a'])
    expect((await revoke(ctxAs(ADMIN))).changed).toBe(false)
  })

  it('revoke of another prefix of the same container leaves ingestgate\'s assignment alone and says which source it serves', async () => {
    await apply(ctxAs(ADMIN))
    const before = writes()
    const r = await revoke(ctxAs(ADMIN), request(`az://${ACCOUNT}/${CONTAINER}/other`))
    expect(r.changed).toBe(false)
    expect(writes()).toBe(before)
    expect(r.notes.join('\n')).toMatch(/is for the prefix dicom\/, not for other\/; it was left alone\. To remove it: ingestgate grant revoke az:\/\/acmeimaging\/scans\/dicom\//)
  })

  it('without --resource-group the account is found by listing the subscription', async () => {
    const r = await apply(ctxAs(ADMIN), request(SOURCE, {'resource-group': undefined}))
    expect(r.changes[0].target).toBe(scope())
  })
})

describe('check', () => {
  const opts = {static: true, live: false, sample: 3, waitMs: 0}

  it('static: no role is a fail with the apply command; after apply, list and the sampled gets pass', async () => {
    const before = await azureProvider.check(ctxAs(ADMIN), request(), opts)
    expect(before.ok).toBe(false)
    expect(before.operations.map((r) => `${r.operation}:${r.outcome}:${r.code}`)).toEqual(['list:fail:no-role', 'get:fail:no-role', 'get:fail:no-role', 'get:fail:no-role'])
    expect(before.operations[0].remedy).toMatch(/^ingestgate grant apply az:\/\/acmeimaging\/scans\/dicom --principal/)
    await apply(ctxAs(ADMIN))
    const after = await azureProvider.check(ctxAs(ADMIN), request(), opts)
    expect(after.ok).toBe(true)
    // Just made: the static layer says Azure may not enforce it yet.
    expect(after.findings.map((f) => f.code)).toContain('recent-assignment')
    expect(after.operations.every((r) => r.resource.startsWith('az://acmeimaging/scans/dicom'))).toBe(true)
  })

  it('static: a denying firewall is a finding and the rows are not a pass', async () => {
    await apply(ctxAs(ADMIN))
    const acct = d.world.accounts.get(ACCOUNT)!
    acct.networkAcls = {defaultAction: 'Deny', ipRules: []}
    try {
      const r = await azureProvider.check(ctxAs(ADMIN), request(), opts)
      expect(r.ok).toBe(false)
      expect(r.findings.map((f) => f.code)).toContain('network-deny-all')
      expect(new Set(r.operations.map((o) => o.code))).toEqual(new Set(['network-blocked']))
      acct.networkAcls = {defaultAction: 'Deny', ipRules: [{value: '198.51.100.7'}]}
      const maybe = await azureProvider.check(ctxAs(ADMIN), request(), opts)
      expect(maybe.operations.every((o) => o.outcome === 'unknown' && o.code === 'network-rules')).toBe(true)
    } finally {
      acct.networkAcls = undefined
    }
  })

  it('live: before the assignment AuthorizationPermissionMismatch fails; --wait sees it propagate', async () => {
    const live = {static: false, live: true, sample: 2, waitMs: 0}
    // Live-only runs have no ARM account to learn the endpoint from: it is given, as vendor support would.
    const req = request(SOURCE, {'endpoint-url': d.blob.endpoint(ACCOUNT)})
    const before = await azureProvider.check(ctxAs(INGEST), req, live)
    expect(before.operations[0]).toMatchObject({operation: 'list', outcome: 'fail', code: 'permission-mismatch'})
    await apply(ctxAs(ADMIN))
    // Long enough that the first try (a token from the stand-in az, two calls) comes before it, even on a busy machine.
    d.world.propagationMs = 5000
    for (const a of d.world.assignments.values()) if (a.properties.principalId === INGEST.oid) a.properties.createdOn = new Date().toISOString()
    try {
      const waited = await azureProvider.check(ctxAs(INGEST), req, {...live, waitMs: 30_000, backoff: {initialMs: 500, maxMs: 1000}})
      expect(waited.ok).toBe(true)
      expect(log.join('')).toMatch(/Waiting for the role assignment to propagate/)
      expect(waited.operations.filter((o) => o.operation === 'get')).toHaveLength(2)
    } finally {
      d.world.propagationMs = 0
    }
  })

  it('live as someone who is not the principal is refused before any call', async () => {
    const e = await failure(azureProvider.check(ctxAs(ADMIN), request(), {static: false, live: true, sample: 1, waitMs: 0}))
    expect(e).toMatchObject({code: 'LIVE_NOT_PRINCIPAL', exitCode: 3})
  })

  it('the reader lists the directory prefix only, and reads ranges, as the principal', async () => {
    await apply(ctxAs(ADMIN))
    const ctx = ctxAs(INGEST)
    const reader = await azureProvider.openReader(ctx, parseSource(SOURCE), request(SOURCE, {'endpoint-url': d.blob.endpoint(ACCOUNT)}).options, 'principal')
    expect(reader.url).toBe('az://acmeimaging/scans/dicom/')
    const page = await reader.listPage()
    expect(page.objects.map((o) => o.key)).toEqual(['dicom/sub-0/IM0.dcm', 'dicom/sub-1/IM1.dcm', 'dicom/sub-2/IM2.dcm', 'dicom/sub-3/IM3.dcm'])
    expect(reader.relPath('dicom/sub-1/IM1.dcm')).toBe('sub-1/IM1.dcm')
    expect(Array.from(await reader.readRange('dicom/sub-1/IM1.dcm', 0, 3))).toEqual([1, 1, 1, 1])
    expect(await reader.identity()).toBe(INGEST.oid)
  })
})
