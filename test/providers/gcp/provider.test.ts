/**
 * The GCP provider in-process against the GCS double (real @google-cloud/storage and
 * google-auth-library underneath): apply, re-apply (no setIamPolicy), a concurrent writer between
 * read and write (412, re-merge, the other binding kept), revoke, the refusals apply explains,
 * static and live check before and after the grant, and the reader.
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {createContext, type AppContext} from '../../../src/context.js'
import {gcpProvider} from '../../../src/providers/gcp/index.js'
import type {GcpOptions} from '../../../src/providers/gcp/options.js'
import {runGrantPlan} from '../../../src/providers/grant-flow.js'
import type {CheckOptions, GrantRequest} from '../../../src/providers/types.js'
import {parseSource} from '../../../src/source.js'
import {readBackup} from '../../../src/state.js'
import {ADMIN_MEMBER, ADMIN_TOKEN, gcsEnv, INGEST_EMAIL, INGEST_MEMBER, INGEST_TOKEN, startGcs, SUPPORT_MEMBER, SUPPORT_TOKEN, type GcsDouble} from '../../helpers/gcs.js'

const OTHER = 'user:other@customer.example'

describe('GCP provider on the double', () => {
  let double: GcsDouble
  let stateDir: string
  beforeAll(async () => {
    double = await startGcs()
    stateDir = mkdtempSync(join(tmpdir(), 'ig-gcp-'))
  })
  afterAll(async () => {
    await double?.stop()
    rmSync(stateDir, {recursive: true, force: true})
  })
  let n = 0
  let bucket: string
  beforeEach(() => {
    bucket = `scans-${++n}-bkt`
    double.createBucket(bucket)
    double.putObject(bucket, 'dicom/a.dcm', 'A'.repeat(2000))
    double.putObject(bucket, 'dicom/s/b.dcm', 'B')
    double.putObject(bucket, 'dicom-phi/p.dcm', 'P')
  })

  const ctxAs = (token: string): AppContext => createContext({env: gcsEnv(double, token), quiet: true, stateDir})
  const request = (url: string, flags: Record<string, unknown> = {}, token = ADMIN_TOKEN): {ctx: AppContext; req: GrantRequest<GcpOptions>} => {
    const ctx = ctxAs(token)
    const options = gcpProvider.readOptions({flags: {'endpoint-url': double.url, ...flags}, env: ctx.env, purpose: 'grant'})
    return {ctx, req: {source: parseSource(url), principal: INGEST_MEMBER, options}}
  }
  const apply = async (url: string) => {
    const {ctx, req} = request(url)
    return runGrantPlan(ctx, await gcpProvider.planApply(ctx, req), {verb: 'apply', dryRun: false, yes: true, source: url, principal: INGEST_MEMBER})
  }
  const revoke = async (url: string) => {
    const {ctx, req} = request(url)
    return runGrantPlan(ctx, await gcpProvider.planRevoke(ctx, req), {verb: 'revoke', dryRun: false, yes: true, source: url, principal: INGEST_MEMBER})
  }
  const CHECK: CheckOptions = {static: true, live: false, sample: 5, waitMs: 0}
  const statuses = (r: {operations: Array<{operation: string; outcome: string; layer: string}>}) => r.operations.map((o) => `${o.layer}:${o.operation}:${o.outcome}`)

  it('apply merges, backs up, and a second apply makes no setIamPolicy call; revoke restores the policy', async () => {
    const original = double.getPolicy(bucket)
    const before = double.count('storage.buckets.setIamPolicy')
    const first = await apply(`gs://${bucket}/dicom`)
    expect(first.changed).toBe(true)
    expect(first.changes.map((c) => c.id)).toEqual([
      `roles/storage.objectViewer ${INGEST_MEMBER} if ingestgate: dicom/ (resource.name.startsWith("projects/_/buckets/${bucket}/objects/dicom/") || api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("dicom/")) (new binding)`,
      `roles/storage.legacyBucketReader ${INGEST_MEMBER}`,
    ])
    expect(double.count('storage.buckets.setIamPolicy')).toBe(before + 1)
    const backup = first.backup!
    expect(statSync(backup).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(backup, 'utf8')).bindings).toEqual(original.bindings)
    const after = double.getPolicy(bucket)
    expect(after.version).toBe(3)
    for (const b of original.bindings) expect(after.bindings.find((x) => x.role === b.role && !x.condition)?.members).toEqual(expect.arrayContaining(b.members))

    const second = await apply(`gs://${bucket}/dicom/`)
    expect(second.changed).toBe(false)
    expect(second.changes).toEqual([])
    expect(double.count('storage.buckets.setIamPolicy')).toBe(before + 1)

    const undone = await revoke(`gs://${bucket}/dicom`)
    expect(undone.changes).toHaveLength(2)
    const restored = double.getPolicy(bucket)
    expect(restored.bindings).toEqual(original.bindings)
    expect((await revoke(`gs://${bucket}/dicom`)).changes).toEqual([])
    expect(readdirSync(join(stateDir, 'backups', 'gs')).filter((f) => !f.endsWith('.record.json')).length).toBeGreaterThanOrEqual(2)
  })

  it('a concurrent writer between read and write: 412, re-read, re-merge, both changes kept', async () => {
    const {ctx, req} = request(`gs://${bucket}/dicom`)
    const plan = await gcpProvider.planApply(ctx, req)
    const theirs = [...double.getPolicy(bucket).bindings, {role: 'roles/storage.objectViewer', members: [OTHER]}]
    double.interleaveWrite(bucket, theirs)
    const before = double.requests.filter((r) => r.op === 'storage.buckets.setIamPolicy').length
    const done = await plan.execute()
    const writes = double.requests.filter((r) => r.op === 'storage.buckets.setIamPolicy').slice(before)
    expect(writes.map((w) => w.status)).toEqual([412, 200])
    expect(done.notes.join('\n')).toMatch(/re-read and merged again \(2 attempts\); the other change was kept/)
    const policy = double.getPolicy(bucket)
    expect(policy.bindings).toContainEqual({role: 'roles/storage.objectViewer', members: [OTHER]})
    expect(policy.bindings.find((b) => b.role === 'roles/storage.objectViewer' && b.condition)?.members).toEqual([INGEST_MEMBER])
    // The backup reported is what the successful write replaced (with the other writer's binding),
    // and its record has the successor: restore takes it without --force.
    expect(JSON.parse(readFileSync(done.backup!, 'utf8')).bindings).toContainEqual({role: 'roles/storage.objectViewer', members: [OTHER]})
    const back = await gcpProvider.planRestore(ctx, {backup: await readBackup(done.backup!), options: req.options, force: false})
    expect(back.changes).toHaveLength(1)
  })

  it('refuses a prefix grant on a bucket without uniform bucket-level access, with the gcloud fix', async () => {
    double.updateBucket(bucket, {uniformBucketLevelAccess: false})
    const {ctx, req} = request(`gs://${bucket}/dicom`)
    await expect(gcpProvider.planApply(ctx, req)).rejects.toMatchObject({code: 'UBLA_REQUIRED', exitCode: 3, suggestions: [expect.stringContaining(`gcloud storage buckets update gs://${bucket} --uniform-bucket-level-access`), expect.any(String)]})
  })

  it('explains a refused write (no setIamPolicy), domain-restricted sharing and a missing bucket', async () => {
    double.setPolicy(bucket, [...double.getPolicy(bucket).bindings, {role: 'roles/storage.legacyBucketReader', members: ['user:support@vendor.example']}, {role: 'roles/storage.objectViewer', members: ['user:support@vendor.example']}], 1)
    double.addCustomRole('projects/customer-project/roles/policyReader', ['storage.buckets.getIamPolicy'])
    double.setPolicy(bucket, [...double.getPolicy(bucket).bindings, {role: 'projects/customer-project/roles/policyReader', members: ['user:support@vendor.example']}], 1)
    const support = request(`gs://${bucket}`, {}, SUPPORT_TOKEN)
    const plan = await gcpProvider.planApply(support.ctx, support.req)
    await expect(plan.execute()).rejects.toMatchObject({code: 'SET_IAM_POLICY_DENIED', exitCode: 4, suggestions: [expect.stringContaining('roles/storage.admin')]})
    double.updateBucket(bucket, {allowedMemberDomains: ['customer.example']})
    const {ctx, req} = request(`gs://${bucket}`)
    await expect((await gcpProvider.planApply(ctx, req)).execute()).rejects.toMatchObject({code: 'DOMAIN_RESTRICTED_SHARING', exitCode: 3})
    double.updateBucket(bucket, {allowedMemberDomains: undefined})
    double.setPolicy(bucket, [...double.getPolicy(bucket).bindings, {role: 'roles/storage.legacyObjectReader', members: ['allUsers']}], 1)
    double.updateBucket(bucket, {publicAccessPrevention: 'enforced'})
    const pap = request(`gs://${bucket}`)
    await expect((await gcpProvider.planApply(pap.ctx, pap.req)).execute()).rejects.toMatchObject({code: 'PUBLIC_MEMBERS_WITH_PAP', exitCode: 3})
    const missing = request('gs://no-such-bkt')
    await expect(gcpProvider.planApply(missing.ctx, missing.req)).rejects.toMatchObject({code: 'NO_SUCH_BUCKET', exitCode: 4})
  })

  it('check: static and live fail before the grant (objectViewer alone lacks buckets.get) and pass after it', async () => {
    const denied = request(`gs://${bucket}/dicom`, {'impersonate-principal': true})
    await expect(gcpProvider.check(denied.ctx, denied.req, {...CHECK, static: false, live: true})).rejects.toMatchObject({code: 'IMPERSONATION_DENIED', exitCode: 3})
    double.addServiceAccount(INGEST_EMAIL, [SUPPORT_MEMBER, ADMIN_MEMBER])
    double.setPolicy(bucket, [...double.getPolicy(bucket).bindings, {role: 'roles/storage.objectViewer', members: [INGEST_MEMBER]}], 1)
    const {ctx, req} = request(`gs://${bucket}/dicom`, {'impersonate-principal': true})
    const before = await gcpProvider.check(ctx, req, {...CHECK, live: true})
    expect(before.ok).toBe(false)
    const meta = before.operations.find((o) => (o.operation as string) === 'bucket-metadata' && o.layer === 'static')!
    expect(meta).toMatchObject({outcome: 'fail', resource: `gs://${bucket}`})
    expect(meta.cause).toMatch(/objectViewer alone lacks it/)
    expect(before.operations.find((o) => (o.operation as string) === 'bucket-metadata' && o.layer === 'live')).toMatchObject({outcome: 'fail', code: 'access-denied'})
    expect(before.identities.live).toBe(INGEST_EMAIL)

    double.setPolicy(bucket, double.getPolicy(bucket).bindings.filter((b) => !b.members.includes(INGEST_MEMBER)), 1)
    await apply(`gs://${bucket}/dicom`)
    const after = await gcpProvider.check(ctx, req, {...CHECK, live: true})
    expect(statuses(after)).toEqual([
      'static:bucket-metadata:pass', 'static:list:pass', 'static:get:pass', 'static:get:pass',
      'live:bucket-metadata:pass', 'live:list:pass', 'live:get:pass', 'live:get:pass',
    ].sort((a, b) => (a.startsWith('static') === b.startsWith('static') ? 0 : a.startsWith('static') ? -1 : 1)))
    expect(after.ok).toBe(true)
    expect(after.source).toBe(`gs://${bucket}/dicom/`)
    expect(after.operations.filter((o) => o.operation === 'get').map((o) => o.resource)).not.toContain(`gs://${bucket}/dicom-phi/p.dcm`)
  })

  it('check: requester pays fails every static row with the fix; an undecidable condition is unknown', async () => {
    await apply(`gs://${bucket}`)
    double.updateBucket(bucket, {requesterPays: true})
    const rp = await gcpProvider.check(...(({ctx, req}) => [ctx, req, CHECK] as const)(request(`gs://${bucket}`, {'billing-project': 'billing-proj'})))
    expect(rp.ok).toBe(false)
    expect(rp.operations.every((o) => o.outcome === 'fail' && o.code === 'requester-pays')).toBe(true)
    expect(rp.findings.find((f) => f.code === 'requester-pays')?.severity).toBe('error')

    double.updateBucket(bucket, {requesterPays: false})
    double.setPolicy(bucket, [...double.getPolicy(bucket).bindings.filter((b) => !b.members.includes(INGEST_MEMBER)), {role: 'roles/storage.admin', members: [INGEST_MEMBER], condition: {title: 'until 2030', expression: 'request.time < timestamp("2030-01-01T00:00:00Z")'}}])
    const {ctx, req} = request(`gs://${bucket}`)
    const r = await gcpProvider.check(ctx, req, CHECK)
    expect(r.operations).toHaveLength(5)
    expect(r.operations.every((o) => o.outcome === 'unknown')).toBe(true)
    expect(r.operations[0].cause).toMatch(/until 2030/)
  })

  it('check: a custom role is read when the operator may (pass), and is unknown when it cannot be read', async () => {
    const role = 'projects/customer-project/roles/ingestReader'
    double.addCustomRole(role, ['storage.buckets.get', 'storage.objects.get', 'storage.objects.list'])
    double.setPolicy(bucket, [...double.getPolicy(bucket).bindings, {role, members: [INGEST_MEMBER]}], 1)
    const {ctx, req} = request(`gs://${bucket}/dicom`)
    const r = await gcpProvider.check(ctx, req, CHECK)
    expect(r.ok).toBe(true)
    expect(r.operations[0].decidedBy).toEqual([role])
    const other = 'projects/vendor-proj/roles/elsewhere'
    double.addCustomRole(other, ['storage.buckets.get'])
    double.setPolicy(bucket, [...double.getPolicy(bucket).bindings.filter((b) => b.role !== role), {role: other, members: [INGEST_MEMBER]}], 1)
    const u = await gcpProvider.check(ctx, req, CHECK)
    expect(u.operations[0]).toMatchObject({operation: 'bucket-metadata', outcome: 'unknown', code: 'undecidable'})
    expect(u.findings.find((f) => f.code === 'custom-roles-unreadable')?.message).toContain(`${other} (no iam.roles.get)`)
  })

  it('check: an IAM deny policy on the project makes allowed rows unknown; an unreadable one is a finding', async () => {
    await apply(`gs://${bucket}`)
    const other = `deny-${bucket}`
    double.createBucket(other, {projectNumber: '999000111222'})
    double.setPolicy(other, [...double.getPolicy(bucket).bindings])
    double.putObject(other, 'x.dcm', 'x')
    double.addDenyPolicy('999000111222', 'no-external-readers')
    const {ctx, req} = request(`gs://${other}`)
    const r = await gcpProvider.check(ctx, req, CHECK)
    expect(r.operations.map((o) => o.outcome)).toEqual(['unknown', 'unknown', 'unknown'])
    expect(r.operations[0]).toMatchObject({code: 'deny-policy'})
    expect(r.operations[0].cause).toContain('no-external-readers')
    const support = request(`gs://${bucket}`, {'impersonate-service-account': 'bucket-reader@customer-project.iam.gserviceaccount.com'}, SUPPORT_TOKEN)
    double.addServiceAccount('bucket-reader@customer-project.iam.gserviceaccount.com', [SUPPORT_MEMBER])
    double.setPolicy(bucket, [...double.getPolicy(bucket).bindings, {role: 'roles/storage.admin', members: ['serviceAccount:bucket-reader@customer-project.iam.gserviceaccount.com']}], 1)
    const s = await gcpProvider.check(support.ctx, support.req, CHECK)
    expect(s.ok).toBe(true)
    expect(s.findings.find((f) => f.code === 'deny-policies-unreadable')?.message).toContain('no iam.denypolicies.list')
  })

  it('check --wait retries live calls until the grant has propagated', async () => {
    double.setPropagationDelay(1500)
    try {
      await apply(`gs://${bucket}/dicom`)
      const lines: string[] = []
      const own = request(`gs://${bucket}/dicom`, {}, INGEST_TOKEN)
      const ctx = {...own.ctx, ui: {...own.ctx.ui, info: (t: string) => lines.push(t)}}
      const quick = await gcpProvider.check(ctx, own.req, {...CHECK, static: false, live: true})
      expect(quick.ok).toBe(false)
      const waited = await gcpProvider.check(ctx, own.req, {...CHECK, static: false, live: true, waitMs: 10_000, backoff: {initialMs: 200, maxMs: 400}})
      expect(waited.ok).toBe(true)
      expect(lines.some((l) => /Waiting for access to propagate/.test(l))).toBe(true)
      expect(lines.some((l) => /All live calls pass after/.test(l))).toBe(true)
    } finally {
      double.setPropagationDelay(0)
    }
  })

  it('live without impersonation refuses ambient credentials that are not the principal, and runs with the principal\'s own', async () => {
    await apply(`gs://${bucket}`)
    const admin = request(`gs://${bucket}`)
    await expect(gcpProvider.check(admin.ctx, admin.req, {...CHECK, static: false, live: true})).rejects.toMatchObject({code: 'LIVE_NOT_PRINCIPAL', exitCode: 3})
    const own = request(`gs://${bucket}`, {}, INGEST_TOKEN)
    const r = await gcpProvider.check(own.ctx, own.req, {...CHECK, static: false, live: true})
    expect(r.ok).toBe(true)
    expect(r.identities.live).toBe(INGEST_EMAIL)
  })

  it('the reader lists the directory prefix only and reads ranges as the principal', async () => {
    await apply(`gs://${bucket}/dicom`)
    const ctx = ctxAs(SUPPORT_TOKEN)
    const options = gcpProvider.readOptions({flags: {'endpoint-url': double.url, 'impersonate-service-account': INGEST_EMAIL}, env: ctx.env, purpose: 'cluster'})
    const reader = await gcpProvider.openReader(ctx, parseSource(`gs://${bucket}/dicom`), options, 'principal')
    expect(reader.url).toBe(`gs://${bucket}/dicom/`)
    const page = await reader.listPage()
    expect(page.objects.map((o) => reader.relPath(o.key))).toEqual(['a.dcm', 's/b.dcm'])
    expect(await reader.readRange('dicom/a.dcm', 0, 9)).toHaveLength(10)
    expect(await reader.identity()).toBe(INGEST_EMAIL)
    await expect(reader.readRange('dicom-phi/p.dcm', 0, 9)).rejects.toMatchObject({kind: 'access-denied'})
  })

  it('validates options and principals before any call', () => {
    const env = {}
    expect(() => gcpProvider.readOptions({flags: {'endpoint-url': 'http://storage.example.com'}, env, purpose: 'grant'})).toThrow(expect.objectContaining({code: 'BAD_ENDPOINT', exitCode: 3}))
    expect(gcpProvider.readOptions({flags: {'endpoint-url': 'http://127.0.0.1:9/storage/v1/'}, env, purpose: 'grant'}).endpointUrl).toBe('http://127.0.0.1:9')
    expect(() => gcpProvider.readOptions({flags: {'impersonate-service-account': 'user:a@b.com'}, env, purpose: 'grant'})).toThrow(expect.objectContaining({code: 'BAD_IMPERSONATION'}))
    expect(() => gcpProvider.readOptions({flags: {'billing-project': 'X'}, env, purpose: 'grant'})).toThrow(expect.objectContaining({code: 'BAD_PROJECT'}))
    expect(() => gcpProvider.validatePrincipal('arn:aws:iam::123456789012:role/x')).toThrow(expect.objectContaining({exitCode: 3}))
  })
})
