/**
 * grant render for gs://: the three formats, the notes on what cannot be narrowed, errors. The cli
 * script is run for real: the installed gcloud against the GCS double (CLOUDSDK_CONFIG in a temp
 * dir, CLOUDSDK_AUTH_ACCESS_TOKEN_FILE), then the ingest service account reads through the double,
 * which evaluates the condition the script wrote.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {renderGcpGrant} from '../../../src/providers/gcp/render.js'
import {parseSource} from '../../../src/source.js'
import {ADMIN_TOKEN, INGEST_EMAIL, INGEST_MEMBER, INGEST_TOKEN, startGcs, type GcsDouble} from '../../helpers/gcs.js'

const run = promisify(execFile)
const GCLOUD = ['/usr/bin/gcloud', '/usr/local/bin/gcloud'].find((p) => existsSync(p))
const TERRAFORM = ['/usr/local/bin/terraform', '/usr/bin/terraform'].find((p) => existsSync(p))

describe('renderGcpGrant', () => {
  it('json: the bindings, the grant as a policy and the notes', () => {
    const r = renderGcpGrant(parseSource('gs://scans-bkt/dicom'), INGEST_EMAIL, 'json')
    const doc = JSON.parse(r.text)
    expect(doc.member).toBe(INGEST_MEMBER)
    expect(doc.bindings.map((b: {role: string}) => b.role)).toEqual(['roles/storage.objectViewer', 'roles/storage.legacyBucketReader'])
    expect(doc.bindings[0].condition.expression).toBe(
      'resource.name.startsWith("projects/_/buckets/scans-bkt/objects/dicom/") || api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("dicom/")',
    )
    expect(doc.bindings[1].condition).toBeUndefined()
    expect(doc.policy.version).toBe(3)
    expect(r.notes?.join('\n')).toMatch(/legacyBucketReader cannot be limited to dicom\//)
    expect(r.notes?.join('\n')).toMatch(/gs:\/\/scans-bkt\/dicom\/ \(with the trailing slash\)/)
  })
  it('whole bucket: no condition, version 1, and the cluster URL ends in a slash', () => {
    const r = renderGcpGrant(parseSource('gs://scans-bkt'), INGEST_MEMBER, 'json')
    const doc = JSON.parse(r.text)
    expect(doc.bindings.every((b: {condition?: unknown}) => !b.condition)).toBe(true)
    expect(doc.policy.version).toBeUndefined()
    expect(r.notes?.join('\n')).toMatch(/gs:\/\/scans-bkt\/ /)
  })
  it('terraform: one non-authoritative google_storage_bucket_iam_member per role, a condition block with a prefix', () => {
    const t = renderGcpGrant(parseSource('gs://scans-bkt/dicom/'), INGEST_MEMBER, 'terraform').text
    expect(t.match(/resource "google_storage_bucket_iam_member" "ingestgate_[a-z_0-9]+" \{/g)).toHaveLength(2)
    expect(t.match(/condition \{/g)).toHaveLength(1)
    expect(t).toContain('expression  = "resource.name.startsWith(\\"projects/_/buckets/scans-bkt/objects/dicom/\\") ||')
    expect(renderGcpGrant(parseSource('gs://scans-bkt'), INGEST_MEMBER, 'terraform').text).not.toContain('condition {')
  })
  // `terraform fmt` parses HCL offline (validate would need the google provider downloaded).
  it.skipIf(!TERRAFORM)(`terraform: the snippet parses as HCL (terraform fmt)${TERRAFORM ? '' : ': skipped, terraform is not installed here'}`, async () => {
    for (const url of ['gs://scans-bkt/dicom', 'gs://scans-bkt/a${b}"c%{d}', 'gs://scans-bkt']) {
      const text = renderGcpGrant(parseSource(url), INGEST_MEMBER, 'terraform').text
      const child = execFile(TERRAFORM!, ['fmt', '-'])
      child.stdin!.end(text)
      const code = await new Promise((resolve) => child.on('close', resolve))
      expect(code).toBe(0)
    }
  })
  it('keeps ${ and quotes in a prefix literal in Terraform and the shell', () => {
    const t = renderGcpGrant(parseSource('gs://scans-bkt/a${b}"c'), INGEST_MEMBER, 'terraform').text
    expect(t).toContain('objects/a$${b}\\\\\\"c/')
    const sh = renderGcpGrant(parseSource("gs://scans-bkt/it's"), INGEST_MEMBER, 'cli').text
    expect(sh).toContain(`'\\''`)
  })
  it('refuses an unknown format with exit 2 naming the formats, and a bad member with exit 3', () => {
    expect(() => renderGcpGrant(parseSource('gs://scans-bkt'), INGEST_MEMBER, 'cloudformation')).toThrow(expect.objectContaining({exitCode: 2, suggestions: ['Use --format json|terraform|cli (GCP has no CloudFormation).']}))
    expect(() => renderGcpGrant(parseSource('gs://scans-bkt'), 'user:a@b.com', 'json')).toThrow(expect.objectContaining({exitCode: 3}))
  })
})

describe.skipIf(!GCLOUD)(`the rendered gcloud script, run against the double${GCLOUD ? '' : ': skipped, gcloud is not installed here'}`, () => {
  let double: GcsDouble
  let dir: string
  beforeAll(async () => {
    double = await startGcs()
    double.createBucket('scans-bkt')
    double.putObject('scans-bkt', 'dicom/a.dcm', 'A')
    double.putObject('scans-bkt', 'dicom-phi/b.dcm', 'B')
    dir = mkdtempSync(join(tmpdir(), 'gcloud-'))
  })
  afterAll(async () => {
    await double?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('grants exactly what apply would: reads under dicom/ only, the bucket metadata, other bindings kept', async () => {
    const script = join(dir, 'grant.sh')
    writeFileSync(script, renderGcpGrant(parseSource('gs://scans-bkt/dicom'), INGEST_MEMBER, 'cli').text)
    writeFileSync(join(dir, 'token'), ADMIN_TOKEN)
    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      TMPDIR: dir,
      CLOUDSDK_CONFIG: join(dir, 'config'),
      CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${double.url}/storage/v1/`,
      CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: join(dir, 'token'),
      CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
      METADATA_SERVER_DETECTION: 'none',
    }
    const before = double.getPolicy('scans-bkt').bindings
    await run('sh', [script], {env, timeout: 90_000})
    const after = double.getPolicy('scans-bkt')
    expect(after.version).toBe(3)
    for (const b of before) {
      const same = after.bindings.find((x) => x.role === b.role && JSON.stringify(x.condition) === JSON.stringify(b.condition))
      expect(same?.members).toEqual(expect.arrayContaining(b.members))
    }
    const get = (name: string) => fetch(`${double.url}/storage/v1/b/scans-bkt/o/${encodeURIComponent(name)}?alt=media`, {headers: {authorization: `Bearer ${INGEST_TOKEN}`}})
    expect((await get('dicom/a.dcm')).status).toBe(200)
    expect((await get('dicom-phi/b.dcm')).status).toBe(403)
    expect((await fetch(`${double.url}/storage/v1/b/scans-bkt`, {headers: {authorization: `Bearer ${INGEST_TOKEN}`}})).status).toBe(200)
  }, 120_000)
})
