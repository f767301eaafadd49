/**
 * The GCS double answers like the real service, through the real clients:
 *  - @google-cloud/storage 7 (the library the product uses) with apiEndpoint + useAuthWithCustomEndpoint
 *    and a google-auth-library OAuth2Client holding a bearer token;
 *  - once, the installed `gcloud storage` CLI pointed at the double through
 *    CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE, with --access-token-file and CLOUDSDK_CONFIG in a temp dir
 *    (skipped with the reason when gcloud is not installed). gcloud decodes etags as base64 and
 *    rejects malformed policies, which is how it caught the double's first etag format.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {Storage} from '@google-cloud/storage'
import {OAuth2Client} from 'google-auth-library'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {evaluateCel} from '../../emulators/gcs-double.mjs'
import {ADMIN_MEMBER, ADMIN_TOKEN, INGEST_EMAIL, INGEST_MEMBER, INGEST_TOKEN, startGcs, SUPPORT_TOKEN, type GcsDouble} from '../helpers/gcs.js'

const run = promisify(execFile)
const GCLOUD = ['/usr/bin/gcloud', '/usr/local/bin/gcloud'].find((p) => existsSync(p))

function storageAs(double: GcsDouble, token: string): Storage {
  const auth = new OAuth2Client()
  auth.setCredentials({access_token: token})
  return new Storage({apiEndpoint: double.url, useAuthWithCustomEndpoint: true, authClient: auth, projectId: 'customer-project', retryOptions: {autoRetry: false}})
}

const COND = (prefix: string) => ({
  title: 't',
  expression: `resource.name.startsWith("projects/_/buckets/b1/objects/${prefix}") || api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("${prefix}")`,
})

describe('gcs double', () => {
  let double: GcsDouble
  beforeAll(async () => {
    double = await startGcs()
    double.createBucket('b1')
    double.putObject('b1', 'dicom/a.dcm', 'hello world')
    double.putObject('b1', 'dicom/sub/b.dcm', 'xyz')
    double.putObject('b1', 'dicom-phi/p.dcm', 'secret')
    double.createBucket('rp-bucket', {requesterPays: true})
    double.createBucket('fine-grained', {uniformBucketLevelAccess: false})
  })
  afterAll(() => double?.stop())

  it('serves bucket metadata, the policy and listings to the project owner through @google-cloud/storage', async () => {
    const s = storageAs(double, ADMIN_TOKEN)
    const [meta] = await s.bucket('b1').getMetadata()
    expect(meta.iamConfiguration?.uniformBucketLevelAccess?.enabled).toBe(true)
    const [policy] = await s.bucket('b1').iam.getPolicy({requestedPolicyVersion: 3})
    expect(policy.bindings.map((b) => b.role)).toContain('roles/storage.legacyBucketOwner')
    const [files] = await s.bucket('b1').getFiles({prefix: 'dicom/', autoPaginate: false})
    expect(files.map((f) => f.name)).toEqual(['dicom/a.dcm', 'dicom/sub/b.dcm'])
    const [page, , raw] = await s.bucket('b1').getFiles({prefix: 'dicom/', delimiter: '/', autoPaginate: false})
    expect(page.map((f) => f.name)).toEqual(['dicom/a.dcm'])
    expect((raw as {prefixes?: string[]}).prefixes).toEqual(['dicom/sub/'])
  })

  it('refuses unknown tokens with 401 and callers without the permission with 403 naming it', async () => {
    await expect(storageAs(double, 'ya29.nobody').bucket('b1').getMetadata()).rejects.toMatchObject({code: 401})
    const err = await storageAs(double, INGEST_TOKEN).bucket('b1').getMetadata().catch((e) => e)
    expect(err.code).toBe(403)
    expect(err.message).toBe(`${INGEST_EMAIL} does not have storage.buckets.get access to the Google Cloud Storage bucket. Permission 'storage.buckets.get' denied on resource (or it may not exist).`)
    expect(err.errors[0].reason).toBe('forbidden')
  })

  it('enforces a prefix condition for reads and listings, and Range reads answer 206', async () => {
    const s = storageAs(double, ADMIN_TOKEN)
    const [policy] = await s.bucket('b1').iam.getPolicy({requestedPolicyVersion: 3})
    policy.version = 3
    policy.bindings.push({role: 'roles/storage.objectViewer', members: [INGEST_MEMBER], condition: COND('dicom/')})
    await s.bucket('b1').iam.setPolicy(policy)
    const ingest = storageAs(double, INGEST_TOKEN)
    const [bytes] = await ingest.bucket('b1').file('dicom/a.dcm').download({start: 0, end: 4, validation: false})
    expect(bytes.toString()).toBe('hello')
    expect(double.requests.at(-1)).toMatchObject({status: 206, op: 'storage.objects.get'})
    const [whole] = await ingest.bucket('b1').file('dicom/a.dcm').download()
    expect(whole.toString()).toBe('hello world')
    await expect(ingest.bucket('b1').file('dicom-phi/p.dcm').download()).rejects.toMatchObject({code: 403})
    const [files] = await ingest.bucket('b1').getFiles({prefix: 'dicom/', autoPaginate: false})
    expect(files).toHaveLength(2)
    await expect(ingest.bucket('b1').getFiles({prefix: 'dicom', autoPaginate: false})).rejects.toMatchObject({code: 403})
    await expect(ingest.bucket('b1').getFiles({autoPaginate: false})).rejects.toMatchObject({code: 403})
  })

  it('answers 412 conditionNotMet on a stale etag and keeps the newer policy', async () => {
    const s = storageAs(double, ADMIN_TOKEN)
    const [stale] = await s.bucket('b1').iam.getPolicy({requestedPolicyVersion: 3})
    double.setPolicy('b1', [...stale.bindings, {role: 'roles/storage.objectViewer', members: ['user:other@customer.example']}])
    const before = double.count('storage.buckets.setIamPolicy')
    const err = await s.bucket('b1').iam.setPolicy({...stale, bindings: []}).catch((e) => e)
    expect(err.code).toBe(412)
    expect(err.errors[0].reason).toBe('conditionNotMet')
    expect(double.count('storage.buckets.setIamPolicy')).toBe(before + 1)
    expect(double.getPolicy('b1').bindings.some((b) => b.members.includes('user:other@customer.example'))).toBe(true)
  })

  it('refuses a version-1 read of a conditional policy, conditions below version 3, and conditions without UBLA', async () => {
    const s = storageAs(double, ADMIN_TOKEN)
    await expect(s.bucket('b1').iam.getPolicy()).rejects.toMatchObject({code: 400, message: 'Requested policy version (1) cannot be less than the existing policy version (3).'})
    const [p] = await s.bucket('fine-grained').iam.getPolicy({requestedPolicyVersion: 3})
    const bindings = [...p.bindings, {role: 'roles/storage.objectViewer', members: [INGEST_MEMBER], condition: COND('x/')}]
    await expect(s.bucket('fine-grained').iam.setPolicy({bindings, etag: p.etag})).rejects.toMatchObject({code: 400})
    const err = await s.bucket('fine-grained').iam.setPolicy({bindings, etag: p.etag, version: 3}).catch((e) => e)
    expect(err.code).toBe(412)
    expect(err.message).toMatch(/uniform bucket-level access/)
    await expect(s.bucket('fine-grained').iam.setPolicy({bindings: [{role: 'roles/storage.objectViewer', members: [INGEST_EMAIL]}], etag: p.etag})).rejects.toMatchObject({code: 400})
  })

  it('refuses public members while public access prevention is enforced', async () => {
    double.createBucket('pap-bucket', {publicAccessPrevention: 'enforced'})
    const s = storageAs(double, ADMIN_TOKEN)
    const [p] = await s.bucket('pap-bucket').iam.getPolicy({requestedPolicyVersion: 3})
    const err = await s.bucket('pap-bucket').iam.setPolicy({...p, bindings: [...p.bindings, {role: 'roles/storage.objectViewer', members: ['allUsers']}]}).catch((e) => e)
    expect(err.code).toBe(412)
    expect(err.message).toMatch(/public access prevention is enforced/)
    await s.bucket('pap-bucket').iam.setPolicy({...p, bindings: [...p.bindings, {role: 'roles/storage.objectViewer', members: [INGEST_MEMBER]}]})
  })

  it('requires a user project on requester-pays buckets', async () => {
    const err = await storageAs(double, ADMIN_TOKEN).bucket('rp-bucket').getFiles({autoPaginate: false}).catch((e) => e)
    expect(err.code).toBe(400)
    expect(err.message).toBe('Bucket is a requester pays bucket but no user project provided.')
    const [files] = await storageAs(double, ADMIN_TOKEN).bucket('rp-bucket', {userProject: 'billing-proj'}).getFiles({autoPaginate: false})
    expect(files).toEqual([])
  })

  it('mints tokens for impersonation only to token creators, and reports who a token is', async () => {
    const call = (token: string) =>
      fetch(`${double.url}/v1/projects/-/serviceAccounts/${INGEST_EMAIL}:generateAccessToken`, {method: 'POST', headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json'}, body: '{"scope":["https://www.googleapis.com/auth/cloud-platform"]}'})
    const denied = await call(ADMIN_TOKEN)
    expect(denied.status).toBe(403)
    const ok = await call(SUPPORT_TOKEN)
    const {accessToken} = (await ok.json()) as {accessToken: string}
    const info = await (await fetch(`${double.url}/tokeninfo?access_token=${accessToken}`)).json()
    expect(info).toMatchObject({email: INGEST_EMAIL})
    const admin = await (await fetch(`${double.url}/tokeninfo?access_token=${ADMIN_TOKEN}`)).json()
    expect(admin).toMatchObject({email: ADMIN_MEMBER.slice('user:'.length)})
  })

  it('evaluates the condition subset and refuses what is outside it', () => {
    const obj = {name: 'projects/_/buckets/b/objects/a/x', type: 'storage.googleapis.com/Object'}
    expect(evaluateCel('resource.name.startsWith("projects/_/buckets/b/objects/a/")', obj)).toBe(true)
    expect(evaluateCel('!(resource.type == "storage.googleapis.com/Object") || false', obj)).toBe(false)
    expect(() => evaluateCel('request.time < timestamp("2020-01-01T00:00:00Z")', obj)).toThrow()
  })

  it.skipIf(!GCLOUD)(`answers the installed gcloud storage CLI (ls, cat, describe, get/add-iam-policy-binding)${GCLOUD ? '' : ': skipped, gcloud is not installed here'}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gcloud-'))
    try {
      const tokenFile = join(dir, 'token')
      writeFileSync(tokenFile, ADMIN_TOKEN)
      const env = {
        PATH: process.env.PATH,
        HOME: dir,
        CLOUDSDK_CONFIG: join(dir, 'config'),
        CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${double.url}/storage/v1/`,
        CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
        CLOUDSDK_CORE_PROJECT: 'customer-project',
        METADATA_SERVER_DETECTION: 'none',
        GCE_METADATA_HOST: '127.0.0.1:9',
      }
      const g = (...args: string[]) => run(GCLOUD!, [...args, `--access-token-file=${tokenFile}`], {env, timeout: 60_000})
      expect((await g('storage', 'ls', 'gs://b1/dicom/')).stdout.split('\n')).toEqual(['gs://b1/dicom/a.dcm', 'gs://b1/dicom/sub/', ''])
      expect((await g('storage', 'cat', 'gs://b1/dicom/a.dcm')).stdout).toBe('hello world')
      expect(JSON.parse((await g('storage', 'buckets', 'describe', 'gs://b1', '--format=json')).stdout)).toMatchObject({name: 'b1', uniform_bucket_level_access: true})
      const before = double.count('storage.buckets.setIamPolicy')
      const out = await g('storage', 'buckets', 'add-iam-policy-binding', 'gs://b1', '--member=serviceAccount:other@vendor-proj.iam.gserviceaccount.com', '--role=roles/storage.legacyBucketReader', '--condition=None', '--format=json')
      const reader = JSON.parse(out.stdout).bindings.find((b: {role: string; condition?: unknown}) => b.role === 'roles/storage.legacyBucketReader' && !b.condition)
      expect(reader.members).toEqual(expect.arrayContaining(['projectViewer:customer-project', 'serviceAccount:other@vendor-proj.iam.gserviceaccount.com']))
      expect(double.count('storage.buckets.setIamPolicy')).toBe(before + 1)
      const policy = JSON.parse((await g('storage', 'buckets', 'get-iam-policy', 'gs://b1', '--format=json')).stdout)
      expect(policy.version).toBe(3)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }, 120_000)
})
