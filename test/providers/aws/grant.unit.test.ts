/**
 * The two apply paths moto cannot produce (it ignores ExpectedBucketOwner, and nobody can write
 * between our PutBucketPolicy and the re-read there), through an in-memory S3/KMS port. Everything
 * else about apply and revoke is tested against moto in grant.integration.test.ts.
 */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import type {AwsClients, S3Port} from '../../../src/clients/aws/index.js'
import {createContext} from '../../../src/context.js'
import {RemoteError} from '../../../src/errors.js'
import {planAwsApply} from '../../../src/providers/aws/grant.js'
import {parseSource} from '../../../src/source.js'

const ROLE = 'arn:aws:iam::111122223333:role/ingest'

function fakeAws(s3: Partial<S3Port>): AwsClients {
  const base: S3Port = {
    headBucket: async () => ({region: 'us-east-1'}),
    getBucketPolicy: async () => null,
    putBucketPolicy: async () => {},
    deleteBucketPolicy: async () => {},
    getPublicAccessBlock: async () => null,
    getDefaultKmsKeys: async () => [],
    listKeys: async () => [],
    headObject: async (_b, key) => ({key}),
    listPage: async () => ({objects: []}),
    getRange: async () => ({bytes: new Uint8Array()}),
    getAttributes: async () => ({}),
    getObjectStream: async () => {
      throw new Error('no object reads in this test')
    },
    getOwnershipControls: async () => null,
    probeBucket: async () => ({region: 'us-east-1'}),
    probeObject: async () => {
      throw new Error('no probes in this test')
    },
  }
  return {
    options: {},
    callerIdentity: async () => ({account: '444455556666', arn: 'arn:aws:iam::444455556666:user/admin'}),
    s3: {...base, ...s3},
    kms: () => {
      throw new Error('no KMS in this test')
    },
    iam: async () => {
      throw new Error('no IAM in this test')
    },
    assumeRole: async () => {
      throw new Error('no STS in this test')
    },
  }
}

const ctxWith = (aws: AwsClients) =>
  createContext({stateDir: mkdtempSync(join(tmpdir(), 'ig-unit-')), quiet: true, clients: {aws: async () => aws}})
const req = {source: parseSource('s3://acme-imaging/dicom/'), principal: ROLE, options: {kmsKeys: [], cloud: {}, live: {}}}

describe('AWS apply, paths moto cannot produce', () => {
  it('a bucket owned by another account is named as such (ExpectedBucketOwner answers 403)', async () => {
    const aws = fakeAws({
      headBucket: async (_bucket, owner) => {
        expect(owner).toBe('444455556666')
        throw new RemoteError('ACCESS_DENIED', 'Access denied', {kind: 'access-denied'})
      },
    })
    await expect(planAwsApply(ctxWith(aws), req)).rejects.toMatchObject({code: 'NOT_BUCKET_OWNER', exitCode: 4, message: /not in account 444455556666/})
  })

  it('a policy that reads back differently after the write is reported as a concurrent change, with the backup', async () => {
    let stored: string | null = JSON.stringify({Version: '2012-10-17', Statement: [{Sid: 'Mine', Effect: 'Allow', Principal: {AWS: 'arn:aws:iam::444455556666:role/a'}, Action: 's3:GetObject', Resource: 'arn:aws:s3:::acme-imaging/*'}]})
    const original = stored
    const writes: string[] = []
    const aws = fakeAws({
      getBucketPolicy: async () => stored,
      putBucketPolicy: async (_b, policy) => {
        writes.push(policy)
        // Someone else's write lands right after ours.
        stored = original
      },
    })
    const plan = await planAwsApply(ctxWith(aws), req)
    const error = await plan.execute().catch((e) => e)
    expect(error).toMatchObject({code: 'CONCURRENT_CHANGE', exitCode: 4, message: /read back differently.*backups/s})
    expect(writes).toHaveLength(1)
  })
})
