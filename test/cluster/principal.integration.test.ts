/**
 * The reference cluster acts as the ingest principal: on moto with IAM authorisation on, a role
 * without the grant makes the ingest fail with an access error in the report, exactly where the
 * vendor's cluster would fail; with the grant it finishes. (moto enforces identity policies only,
 * which is what these roles carry; see test-infra.md.)
 */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCluster} from '../../src/cluster/server.js'
import {clusterApi, seedDicomBucket, type SeededSource} from '../helpers/cluster.js'
import {clusterOnMoto, type AwsCredentials, ROOT_CREDENTIALS, startMoto, type Moto} from '../helpers/moto.js'

const KEY = 'principal-test-key'
let moto: Moto
let src: SeededSource

const policy = (actions: string[], bucket: string) => ({
  Version: '2012-10-17',
  Statement: [{Effect: 'Allow', Action: actions, Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`]}],
})

beforeAll(async () => {
  moto = await startMoto({auth: true})
  src = await seedDicomBucket(moto, {patients: 1, pixelBytes: 50_000})
}, 60_000)

afterAll(async () => {
  await moto?.stop()
})

async function ingestAs(aws: {credentials: AwsCredentials}, assumeRole?: string) {
  const handle = await startCluster({dataDir: mkdtempSync(join(tmpdir(), 'ig-cluster-p-')), apiKey: KEY, ...clusterOnMoto(moto, aws.credentials, assumeRole)})
  try {
    const api = clusterApi(handle.url, KEY)
    const ing = await api.create(src.url)
    await api.call('POST', `/ingests/${ing.id}/start`)
    const done = await api.waitFor(ing.id, ['finished', 'failed', 'aborted'])
    return {done, report: await api.get(`/ingests/${ing.id}/report`), summary: await api.get(`/ingests/${ing.id}/summary`)}
  } finally {
    await handle.stop()
  }
}

describe('an ingest principal', () => {
  it('without s3:GetObject (role assumed by the cluster): the scan fails with GE02 naming the object and the fix', async () => {
    const role = await moto.createRoleWithPolicy('ingest-list-only', policy(['s3:ListBucket'], src.bucket))
    const {done, report} = await ingestAs({credentials: ROOT_CREDENTIALS}, role.roleArn)
    expect(done.status).toBe('failed')
    expect(done.history.map((h: any) => h[0])).toEqual(['created', 'configuring', 'scanning', 'failed'])
    expect(report.errors).toHaveLength(1)
    expect(report.errors[0]).toMatchObject({type: 'scan', code: 'GE02'})
    expect(report.errors[0].message).toMatch(/^The ingest principal may not read s3:\/\/imaging\/study\/.+: Access denied/)
    expect(report.errors[0].message).toMatch(/grant apply/)
  })

  it('without s3:ListBucket (its own session credentials): the listing fails with GE02', async () => {
    const role = await moto.createRoleWithPolicy('ingest-get-only', policy(['s3:GetObject'], src.bucket))
    const {done, report} = await ingestAs({credentials: role.credentials})
    expect(done.status).toBe('failed')
    expect(report.errors).toEqual([
      {task: expect.any(String), type: 'scan', code: 'GE02', message: expect.stringMatching(/^The ingest principal may not list s3:\/\/imaging\/study\/: Access denied/)},
    ])
  })

  it('that cannot be assumed: configuring fails with a credentials error (GE06)', async () => {
    const {done, report} = await ingestAs({credentials: {accessKeyId: 'AKIDNOTKNOWN0000', secretAccessKey: 'x'.repeat(40)}}, 'arn:aws:iam::123456789012:role/ingest-list-only')
    expect(done.history.map((h: any) => h[0])).toEqual(['created', 'configuring', 'failed'])
    expect(report.errors.map((e: any) => [e.type, e.code])).toEqual([['configure', 'GE06']])
  })

  it('with ListBucket and GetObject: the ingest finishes (the SSE-KMS object included)', async () => {
    const role = await moto.createRoleWithPolicy('ingest-granted', policy(['s3:ListBucket', 's3:GetObject'], src.bucket))
    const {done, report, summary} = await ingestAs({credentials: ROOT_CREDENTIALS}, role.roleArn)
    expect(done.status).toBe('finished')
    expect(report.errors.map((e: any) => e.code).sort()).toEqual(['SC01', 'SC02', 'SC02', 'SC04'])
    expect(summary.subjects).toBe(3) // P001, P900 (SSE-KMS), P901
  })
})
