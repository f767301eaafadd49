/**
 * gs:// end to end through the built CLI (real processes, real exit codes) against the GCS double:
 * render, apply, re-apply (zero setIamPolicy calls), a concurrent writer between read and write,
 * revoke, static and live check before and after the grant, the --json envelope, secrets never
 * printed, foreign flags refused, and an ingest on the reference cluster reading gs:// as the
 * ingest service account. Every process gets METADATA_SERVER_DETECTION=none (gcsEnv).
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCluster, type ClusterHandle} from '../../../src/cluster/server.js'
import {makeDicomSet} from '../../../src/demo/dicom.js'
import {ROOT, runCli} from '../../helpers/cli.js'
import {ADMIN_MEMBER, ADMIN_TOKEN, gcsEnv, INGEST_EMAIL, INGEST_MEMBER, INGEST_TOKEN, startGcs, SUPPORT_MEMBER, SUPPORT_TOKEN, type GcsDouble} from '../../helpers/gcs.js'
import {isolatedHome, KEY} from '../../ingest/helpers.js'

const BUCKET = 'cli-scans-bkt'
const SRC = `gs://${BUCKET}/dicom`

describe('gs:// through the CLI', () => {
  let double: GcsDouble
  let home: string
  let cluster: ClusterHandle | undefined
  let dicomCount = 0
  beforeAll(async () => {
    double = await startGcs()
    double.createBucket(BUCKET)
    const files = makeDicomSet({patients: 1, studiesPerPatient: 1, seriesPerStudy: 2, instancesPerSeries: 2})
    for (const f of files) double.putObject(BUCKET, `dicom/${f.key}`, f.body)
    dicomCount = files.length
    double.putObject(BUCKET, 'dicom-phi/secret.dcm', files[0].body)
    home = isolatedHome()
  })
  afterAll(async () => {
    await cluster?.stop()
    await double?.stop()
    rmSync(home, {recursive: true, force: true})
  })
  const env = (token = ADMIN_TOKEN) => gcsEnv(double, token, {HOME: home, INGESTGATE_STATE_DIR: join(home, 'state'), FLYWHEEL_USER_HOME: home, INGESTGATE_API_KEY: KEY, INGESTGATE_POLL_INTERVAL_MS: '50'})
  // Every run: no access token (the caller's, or one minted by impersonation) in any output.
  const cli = async (args: string[], token?: string) => {
    const r = await runCli([...args, '--endpoint-url', double.url], {env: env(token)})
    for (const secret of [ADMIN_TOKEN, INGEST_TOKEN, SUPPORT_TOKEN, 'ya29.double-']) expect(r.stdout + r.stderr).not.toContain(secret)
    return r
  }
  const who = ['--principal', INGEST_MEMBER]
  const sets = () => double.count('storage.buckets.setIamPolicy')

  it('render needs no credentials; a bad member is exit 3, a foreign flag exit 2', async () => {
    const r = await runCli(['grant', 'render', SRC, ...who, '--format', 'json', '--json'], {env: gcsEnv(double, '')})
    expect(r.code).toBe(0)
    expect(r.json?.result.documents.bindings).toHaveLength(2)
    expect((await runCli(['grant', 'render', SRC, '--principal', 'group:g@example.com'], {env: env()})).code).toBe(3)
    const site = join(home, 'site.json')
    writeFileSync(site, JSON.stringify({name: 'acme', gcp: {principal: INGEST_MEMBER}, aws: {principal: 'arn:aws:iam::111122223333:role/ingest'}}))
    const viaSite = await runCli(['grant', 'render', SRC, '--site', site, '--json'], {env: env()})
    expect(viaSite.json?.result.documents.member).toBe(INGEST_MEMBER)
    const foreign = await runCli(['grant', 'render', SRC, ...who, '--profile', 'x'], {env: env()})
    expect(foreign.code).toBe(2)
    expect(foreign.stderr).toMatch(/--profile is a flag of AWS/)
  })

  it('grant render for gs:// loads no Google library (traced imports)', async () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'ig-trace-')), 'imports.txt')
    writeFileSync(trace, '')
    const r = await runCli(['grant', 'render', SRC, ...who, '--format', 'terraform', '--impersonate-service-account', INGEST_EMAIL, '--endpoint-url', double.url], {
      env: {...gcsEnv(double, ADMIN_TOKEN), IG_TRACE_IMPORTS: trace},
      nodeArgs: ['--import', join(ROOT, 'test/helpers/trace-imports.mjs')],
    })
    expect(r.code).toBe(0)
    const urls = readFileSync(trace, 'utf8').split('\n').filter(Boolean)
    expect(urls.some((u) => u.includes('/providers/gcp/render.js'))).toBe(true)
    expect(urls.filter((u) => /node_modules\/(@google-cloud|google-auth-library|gaxios|@aws-sdk|@azure)\//.test(u))).toEqual([])
  })

  it('apply --dry-run shows the plan and writes nothing; an operator can act through --impersonate-service-account', async () => {
    const before = sets()
    const dry = await cli(['grant', 'apply', SRC, ...who, '--dry-run'])
    expect(dry.code).toBe(0)
    expect(dry.stderr).toMatch(/Dry run: nothing was changed/)
    expect(dry.stderr).toMatch(/\+ add iam-binding roles\/storage.objectViewer/)
    expect(sets()).toBe(before)
    // The support engineer has no role on the bucket but may impersonate an admin service account.
    const adminSa = 'bucket-admin@customer-project.iam.gserviceaccount.com'
    double.addServiceAccount(adminSa, [SUPPORT_MEMBER])
    double.setPolicy(BUCKET, [...double.getPolicy(BUCKET).bindings, {role: 'roles/storage.admin', members: [`serviceAccount:${adminSa}`]}], 1)
    const viaSa = await cli(['grant', 'apply', SRC, ...who, '--dry-run', '--impersonate-service-account', adminSa], SUPPORT_TOKEN)
    expect(viaSa.code).toBe(0)
    expect(double.requests.filter((q) => q.op === 'storage.buckets.getIamPolicy').at(-1)?.member).toBe(`serviceAccount:${adminSa}`)
    const denied = await cli(['grant', 'apply', SRC, ...who, '--dry-run'], SUPPORT_TOKEN)
    expect(denied.code).toBe(4)
    expect(denied.stderr).toMatch(/lack storage.buckets.get/)
  })

  it('check fails (exit 5) before the grant, statically and live', async () => {
    const r = await cli(['check', SRC, ...who, '--live', '--impersonate-principal', '--json'], undefined)
    // The admin may not impersonate: the live layer cannot run, which is exit 3 with the fix.
    expect(r.code).toBe(3)
    expect(r.json?.error?.code).toBe('IMPERSONATION_DENIED')
    const s = await cli(['check', SRC, ...who, '--json'])
    expect(s.code).toBe(5)
    expect(s.json?.result.ok).toBe(false)
    expect(s.json?.result.operations.map((o: {operation: string; outcome: string}) => `${o.operation}:${o.outcome}`)).toEqual(['bucket-metadata:fail', 'list:fail', 'get:fail', 'get:fail', 'get:fail', 'get:fail'])
    const live = await cli(['check', SRC, ...who, '--live', '--no-static', '--json'], INGEST_TOKEN)
    expect(live.code).toBe(5)
    expect(live.json?.result.operations[0]).toMatchObject({operation: 'bucket-metadata', layer: 'live', outcome: 'fail', code: 'access-denied'})
  })

  it('apply writes once with a backup, a second apply writes nothing, a concurrent writer is merged', async () => {
    const before = sets()
    const a = await cli(['grant', 'apply', SRC, ...who, '--yes', '--json'])
    expect(a.code).toBe(0)
    expect(a.json?.result.changed).toBe(true)
    expect(a.json?.result.backup).toMatch(/backups\/gs\//)
    expect(sets()).toBe(before + 1)
    const again = await cli(['grant', 'apply', SRC, ...who, '--yes'])
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(/No changes/)
    expect(sets()).toBe(before + 1)
    for (const r of [a, again]) expect(r.stdout + r.stderr).not.toContain(ADMIN_TOKEN)

    // Another writer lands between our read and our write of a second grant (whole bucket).
    double.interleaveWrite(BUCKET, [...double.getPolicy(BUCKET).bindings, {role: 'roles/storage.objectViewer', members: ['user:other@customer.example']}])
    const other = 'serviceAccount:second-ingest@vendor-proj.iam.gserviceaccount.com'
    const c = await cli(['grant', 'apply', `gs://${BUCKET}`, '--principal', other, '--yes'])
    expect(c.code).toBe(0)
    expect(c.stderr).toMatch(/HTTP 412, stale etag/)
    const policy = double.getPolicy(BUCKET)
    expect(policy.bindings).toContainEqual({role: 'roles/storage.objectViewer', members: ['user:other@customer.example', other]})
    expect(double.requests.filter((r) => r.op === 'storage.buckets.setIamPolicy').slice(-2).map((r) => r.status)).toEqual([412, 200])
    expect((await cli(['grant', 'revoke', `gs://${BUCKET}`, '--principal', other, '--yes'])).code).toBe(0)
  })

  it('check passes (exit 0) after the grant, static and live as the service account', async () => {
    const s = await cli(['check', SRC, ...who, '--json'])
    expect(s.code).toBe(0)
    expect(s.json?.result.source).toBe(`gs://${BUCKET}/dicom/`)
    const live = await cli(['check', `${SRC}/`, ...who, '--live', '--no-static', '--json'], INGEST_TOKEN)
    expect(live.code).toBe(0)
    expect(live.json?.result.identities.live).toBe(INGEST_MEMBER.slice('serviceAccount:'.length))
    expect(live.stdout).not.toContain(INGEST_TOKEN)
  })

  it('ingests from gs:// on the reference cluster as the service account; the preflight counts the objects', async () => {
    cluster = await startCluster({port: 0, dataDir: mkdtempSync(join(tmpdir(), 'ig-gcs-cluster-')), apiKey: KEY, cloudFlags: {'endpoint-url': double.url}, env: gcsEnv(double, INGEST_TOKEN)})
    const r = await cli(['ingest', 'dicom', SRC, 'radiology', 'gcs-e2e', '--cluster', cluster.url, ...who, '-y', '-f'])
    expect(r.stderr).toMatch(new RegExp(`${dicomCount} object`))
    expect(r.code).toBe(0)
    const reads = double.requests.filter((q) => q.member === INGEST_MEMBER && q.op === 'storage.objects.get')
    expect(reads.length).toBeGreaterThan(0)
    expect(reads.some((q) => q.path.includes('dicom-phi'))).toBe(false)

    // The preflight's live layer, as the service account through impersonation.
    double.addServiceAccount(INGEST_EMAIL, [SUPPORT_MEMBER, ADMIN_MEMBER])
    const before = double.count('iamcredentials.generateAccessToken')
    const live = await cli(['ingest', 'dicom', SRC, 'radiology', 'gcs-e2e-live', '--cluster', cluster.url, ...who, '--live', '--impersonate-principal', '-y'])
    expect(live.code).toBe(0)
    expect(double.count('iamcredentials.generateAccessToken')).toBeGreaterThan(before)
  }, 60_000)

  it('revoke removes exactly the grant; check fails again', async () => {
    const r = await cli(['grant', 'revoke', SRC, ...who, '--yes'])
    expect(r.code).toBe(0)
    expect(double.getPolicy(BUCKET).bindings.some((b) => b.members.includes(INGEST_MEMBER))).toBe(false)
    expect(double.getPolicy(BUCKET).bindings).toContainEqual({role: 'roles/storage.objectViewer', members: ['user:other@customer.example']})
    expect((await cli(['check', SRC, ...who])).code).toBe(5)
  })
})
