/**
 * Tests of the moto harness itself (test/helpers/moto.ts + moto_launcher.py).
 *
 * Several checks below pass only because the launcher patches moto bugs that break the JS SDK v3
 * (test harness only, never the product): (a) GetObjectAttributes Last-Modified in ISO-8601,
 * (b) SigV4 checked against a decoded URL, (c) KMS auth errors as XML, (d) KMS authorised against
 * Resource "*", (e) GetObjectAttributes ignoring all but the first requested attribute, (f) policy
 * ARNs/actions matched as regular expressions instead of IAM wildcards.
 * Each test says which patch it relies on.
 */
import {spawnSync} from 'node:child_process'
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {
  CreateBucketCommand,
  GetBucketPolicyCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import {
  CreateGrantCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  KMSServiceException,
  ListGrantsCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
} from '@aws-sdk/client-kms'
import {GetCallerIdentityCommand} from '@aws-sdk/client-sts'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isWriteCall, type Moto, MOTO_ACCOUNT_ID, parseRequestLog, startMoto} from './moto.js'

const policyFor = (bucket: string) =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'IngestRead',
        Effect: 'Allow',
        Principal: {AWS: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/ingest`},
        Action: ['s3:GetObject', 's3:ListBucket'],
        Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
      },
    ],
  })

async function errorOf(p: Promise<unknown>): Promise<Error & {$metadata?: {httpStatusCode?: number}}> {
  try {
    await p
  } catch (err) {
    return err as Error
  }
  throw new Error('expected the call to fail')
}

describe('request-log parsing (no server)', () => {
  it('classifies S3 by method and KMS/IAM/STS by operation', () => {
    const log = [
      {method: 'PUT', path: '/b/', query: 'policy=', status: 200, service: 's3', op: null},
      {method: 'GET', path: '/b/', query: 'policy=', status: 200, service: 's3', op: null},
      {method: 'POST', path: '/b/k', query: 'select=&select-type=2', status: 200, service: 's3', op: null},
      {method: 'POST', path: '/b/', query: 'delete=', status: 200, service: 's3', op: null},
      {method: 'POST', path: '/', query: '', status: 200, service: 'kms', op: 'ListGrants', target: 'TrentService.ListGrants'},
      {method: 'POST', path: '/', query: '', status: 200, service: 'kms', op: 'RetireGrant', target: 'TrentService.RetireGrant'},
      {method: 'POST', path: '/', query: '', status: 200, service: 'iam', op: 'GetRole'},
      {method: 'POST', path: '/', query: '', status: 200, service: 'iam', op: 'AttachRolePolicy'},
      {method: 'POST', path: '/', query: '', status: 200, service: 'sts', op: 'AssumeRole'},
    ]
      .map((e) => JSON.stringify({time: 1, target: null, ...e}))
      .join('\n')
    const lines = parseRequestLog(`${log}\n{"partial": `)
    expect(lines).toHaveLength(9)
    expect(lines[0].line).toBe('PUT /b?policy')
    expect(lines[0].bucket).toBe('b')
    expect(lines.filter(isWriteCall).map((r) => r.op ?? r.line)).toEqual([
      'PUT /b?policy',
      'POST /b?delete',
      'RetireGrant',
      'AttachRolePolicy',
    ])
  })
})

describe('startMoto without moto', () => {
  it('fails with a clear message when python3 cannot import moto', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nomoto-'))
    const fake = join(dir, 'python3')
    // The real interpreter with site-packages disabled: python runs, moto is not importable.
    writeFileSync(fake, '#!/bin/sh\nexec python3 -S "$@"\n')
    chmodSync(fake, 0o755)
    const saved = process.env.MOTO_PYTHON
    process.env.MOTO_PYTHON = fake
    try {
      await expect(startMoto()).rejects.toMatchObject({
        code: 'MOTO_MISSING',
        exitCode: 3,
        message: /moto is not installed/,
        suggestions: [expect.stringContaining("pip install 'moto[server]'")],
      })
    } finally {
      if (saved === undefined) delete process.env.MOTO_PYTHON
      else process.env.MOTO_PYTHON = saved
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

describe('moto, auth off', () => {
  let moto: Moto
  beforeAll(async () => {
    moto = await startMoto()
  })
  afterAll(async () => {
    await moto?.stop()
  })

  it('logs every request, so exactly one PutBucketPolicy write is countable', async () => {
    const {s3} = moto.clients()
    await s3.send(new CreateBucketCommand({Bucket: 'log-bucket'}))
    await s3.send(new PutObjectCommand({Bucket: 'log-bucket', Key: 'a.dcm', Body: 'x'}))
    const mark = moto.markLog()
    await s3.send(new PutBucketPolicyCommand({Bucket: 'log-bucket', Policy: policyFor('log-bucket')}))
    const got = await s3.send(new GetBucketPolicyCommand({Bucket: 'log-bucket'}))
    expect(JSON.parse(got.Policy!).Statement[0].Sid).toBe('IngestRead')

    const writes = moto.writeCalls(mark)
    expect(writes.map((r) => r.line)).toEqual(['PUT /log-bucket?policy'])
    expect(writes[0]).toMatchObject({method: 'PUT', bucket: 'log-bucket', key: '', service: 's3', status: 200})
    expect(moto.requestsSince(mark).map((r) => r.line)).toEqual(['PUT /log-bucket?policy', 'GET /log-bucket?policy'])
    // Since start: bucket, object and policy.
    expect(moto.writeCalls().map((r) => r.line)).toEqual([
      'PUT /log-bucket',
      'PUT /log-bucket/a.dcm?x-id=PutObject',
      'PUT /log-bucket?policy',
    ])
  })

  it('GetObjectAttributes works through the SDK (harness patches a and e)', async () => {
    const {s3} = moto.clients()
    await s3.send(new CreateBucketCommand({Bucket: 'attr-bucket'}))
    await s3.send(new PutObjectCommand({Bucket: 'attr-bucket', Key: 'obj', Body: 'hello'}))
    const attrs = await s3.send(
      new GetObjectAttributesCommand({Bucket: 'attr-bucket', Key: 'obj', ObjectAttributes: ['ETag', 'ObjectSize', 'StorageClass']}),
    )
    expect(attrs.LastModified).toBeInstanceOf(Date)
    expect(Math.abs(attrs.LastModified!.getTime() - Date.now())).toBeLessThan(5 * 60_000)
    expect(attrs.ETag).toMatch(/^[0-9a-f]{32}$/)
    expect(attrs.ObjectSize).toBe(5)
    expect(attrs.StorageClass).toBe('STANDARD')
  })

  it('CreateGrant / ListGrants / RetireGrant / RevokeGrant work, and grant writes are counted by operation', async () => {
    const {kms} = moto.clients()
    const key = (await kms.send(new CreateKeyCommand({Description: 'ingest'}))).KeyMetadata!
    const grantee = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/ingest`
    const mark = moto.markLog()
    const g1 = await kms.send(
      new CreateGrantCommand({
        KeyId: key.Arn,
        GranteePrincipal: grantee,
        RetiringPrincipal: `arn:aws:iam::${MOTO_ACCOUNT_ID}:root`,
        Operations: ['Decrypt', 'DescribeKey'],
        Name: 'ingestgate-read',
      }),
    )
    const g2 = await kms.send(new CreateGrantCommand({KeyId: key.KeyId, GranteePrincipal: grantee, Operations: ['Decrypt']}))
    const listed = await kms.send(new ListGrantsCommand({KeyId: key.KeyId}))
    expect(listed.Grants!.map((g) => g.GrantId).sort()).toEqual([g1.GrantId, g2.GrantId].sort())
    const named = listed.Grants!.find((g) => g.Name === 'ingestgate-read')!
    expect(named).toMatchObject({GranteePrincipal: grantee, Operations: ['Decrypt', 'DescribeKey']})

    await kms.send(new RetireGrantCommand({KeyId: key.Arn, GrantId: g1.GrantId}))
    await kms.send(new RevokeGrantCommand({KeyId: key.KeyId, GrantId: g2.GrantId}))
    expect((await kms.send(new ListGrantsCommand({KeyId: key.KeyId}))).Grants).toEqual([])

    expect(moto.writeCalls(mark).map((r) => `${r.service}:${r.op}`)).toEqual([
      'kms:CreateGrant',
      'kms:CreateGrant',
      'kms:RetireGrant',
      'kms:RevokeGrant',
    ])
    expect(moto.requestsSince(mark).filter((r) => r.op === 'ListGrants')).toHaveLength(2)
  })

  it('credentialsEnv() is enough for the SDK in a child process (env credentials, AWS_ENDPOINT_URL)', async () => {
    const {s3} = moto.clients()
    await s3.send(new CreateBucketCommand({Bucket: 'env-bucket'}))
    const script = `
      import {S3Client, ListBucketsCommand} from '@aws-sdk/client-s3'
      import {STSClient, GetCallerIdentityCommand} from '@aws-sdk/client-sts'
      const s3 = new S3Client({forcePathStyle: true})
      const b = await s3.send(new ListBucketsCommand({}))
      const id = await new STSClient({}).send(new GetCallerIdentityCommand({}))
      console.log(JSON.stringify({buckets: b.Buckets.map((x) => x.Name), account: id.Account}))
    `
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: process.cwd(),
      env: {PATH: process.env.PATH ?? '', HOME: tmpdir(), AWS_PROFILE: 'does-not-exist', ...moto.credentialsEnv()},
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout) as {buckets: string[]; account: string}
    expect(out.buckets).toContain('env-bucket')
    expect(out.account).toBe(MOTO_ACCOUNT_ID)
  })

  it('reset() wipes all state', async () => {
    const {s3} = moto.clients()
    await s3.send(new CreateBucketCommand({Bucket: 'doomed-bucket'}))
    await moto.reset()
    const err = await errorOf(s3.send(new ListObjectsV2Command({Bucket: 'doomed-bucket'})))
    expect(err.name).toBe('NoSuchBucket')
  })
})

describe('moto, auth on (INITIAL_NO_AUTH_ACTION_COUNT=0)', () => {
  let moto: Moto
  const bucket = 'auth-bucket'
  // Path separators, the characters werkzeug leaves unencoded, a space, '+' and non-ASCII.
  const oddKey = 'study 1/série+ü:a,b@c (1).dcm'

  beforeAll(async () => {
    moto = await startMoto({auth: true})
    const {s3} = moto.clients() // root credentials of the account: allowed everything
    await s3.send(new CreateBucketCommand({Bucket: bucket}))
    await s3.send(new PutObjectCommand({Bucket: bucket, Key: oddKey, Body: 'pixel data'}))
    await s3.send(new PutObjectCommand({Bucket: bucket, Key: 'plain.dcm', Body: 'x'}))
  })
  afterAll(async () => {
    await moto?.stop()
  })

  it('a role allowed to read can read a key with spaces, +, unicode and : , @ (harness patch b)', async () => {
    const reader = await moto.createRoleWithPolicy('ingest-reader', {
      Version: '2012-10-17',
      Statement: [
        {Effect: 'Allow', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${bucket}`},
        {Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*`},
      ],
    })
    expect(reader.roleArn).toBe(`arn:aws:iam::${MOTO_ACCOUNT_ID}:role/ingest-reader`)
    expect(reader.sessionToken).toBeTruthy()
    const {s3, sts} = moto.clients(reader.credentials)
    const me = await sts.send(new GetCallerIdentityCommand({}))
    expect(me.Arn).toBe(reader.assumedRoleArn)
    expect(me.Arn).toMatch(/:assumed-role\/ingest-reader\//)

    const obj = await s3.send(new GetObjectCommand({Bucket: bucket, Key: oddKey}))
    expect(await obj.Body!.transformToString()).toBe('pixel data')
    const head = await s3.send(new HeadObjectCommand({Bucket: bucket, Key: oddKey}))
    expect(head.ContentLength).toBe(10)
    const listed = await s3.send(new ListObjectsV2Command({Bucket: bucket, Prefix: 'study 1/série+ü:a,b@'}))
    expect(listed.Contents!.map((c) => c.Key)).toEqual([oddKey])
  })

  it('an Allow on the exact ARN of that key matches it literally (harness patch f)', async () => {
    const exact = await moto.createRoleWithPolicy('ingest-exact', {
      Version: '2012-10-17',
      Statement: [{Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/${oddKey}`}],
    })
    const {s3} = moto.clients(exact.credentials)
    const obj = await s3.send(new GetObjectCommand({Bucket: bucket, Key: oddKey}))
    expect(await obj.Body!.transformToString()).toBe('pixel data')
    // ...and grants nothing else.
    expect((await errorOf(s3.send(new GetObjectCommand({Bucket: bucket, Key: 'plain.dcm'})))).name).toBe('AccessDenied')
  })

  it('a role lacking s3:GetObject gets AccessDenied on exactly that call', async () => {
    const lister = await moto.createRoleWithPolicy('ingest-lister', {
      Version: '2012-10-17',
      Statement: [{Effect: 'Allow', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${bucket}`}],
    })
    const {s3} = moto.clients(lister.credentials)
    const listed = await s3.send(new ListObjectsV2Command({Bucket: bucket}))
    expect(listed.KeyCount).toBe(2)
    const mark = moto.markLog()
    const err = await errorOf(s3.send(new GetObjectCommand({Bucket: bucket, Key: oddKey})))
    expect(err).toBeInstanceOf(S3ServiceException)
    expect(err.name).toBe('AccessDenied')
    expect(err.$metadata?.httpStatusCode).toBe(403)
    const denied = moto.requestsSince(mark)
    expect(denied).toHaveLength(1)
    expect(denied[0]).toMatchObject({method: 'GET', bucket, key: oddKey, status: 403})
  })

  it('a KMS denial is a proper AccessDeniedException, scoped to the key ARN (harness patches c and d)', async () => {
    const {kms} = moto.clients()
    const allowed = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!
    const other = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!
    const role = await moto.createRoleWithPolicy('kms-one-key', {
      Version: '2012-10-17',
      Statement: [{Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:ListGrants'], Resource: allowed.Arn}],
    })
    const asRole = moto.clients(role.credentials).kms

    const ok = await asRole.send(new DescribeKeyCommand({KeyId: allowed.KeyId}))
    expect(ok.KeyMetadata!.Arn).toBe(allowed.Arn)
    expect((await asRole.send(new ListGrantsCommand({KeyId: allowed.Arn}))).Grants).toEqual([])

    const err = await errorOf(asRole.send(new DescribeKeyCommand({KeyId: other.KeyId})))
    // AccessDeniedException is not a modelled KMS error: the SDK gives a KMSServiceException by that name.
    expect(err).toBeInstanceOf(KMSServiceException)
    expect(err.name).toBe('AccessDeniedException')
    expect(err.$metadata?.httpStatusCode).toBe(400)
    expect(err.message).toContain('kms:DescribeKey')
    expect(err.message).toContain(other.Arn)

    const grantErr = await errorOf(
      asRole.send(new CreateGrantCommand({KeyId: allowed.KeyId, GranteePrincipal: role.roleArn, Operations: ['Decrypt']})),
    )
    expect(grantErr).toBeInstanceOf(KMSServiceException)
    expect(grantErr.name).toBe('AccessDeniedException')
    expect(grantErr.message).toContain('kms:CreateGrant')
  })

  it('CreateGrant / ListGrants / RetireGrant work with auth on', async () => {
    const {kms} = moto.clients()
    const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!
    const grant = await kms.send(
      new CreateGrantCommand({KeyId: key.KeyId, GranteePrincipal: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/ingest`, Operations: ['Decrypt']}),
    )
    expect((await kms.send(new ListGrantsCommand({KeyId: key.KeyId}))).Grants!.map((g) => g.GrantId)).toEqual([grant.GrantId])
    await kms.send(new RetireGrantCommand({KeyId: key.Arn, GrantId: grant.GrantId}))
    expect((await kms.send(new ListGrantsCommand({KeyId: key.KeyId}))).Grants).toEqual([])
  })

  it('setAuth() switches authorisation at run time; unknown keys are refused while it is on', async () => {
    const stranger = moto.clients({accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'nope'}).s3
    const err = await errorOf(stranger.send(new ListObjectsV2Command({Bucket: bucket})))
    expect(err.name).toBe('InvalidAccessKeyId')
    await moto.setAuth(Infinity)
    try {
      expect(moto.auth).toBe(false)
      expect((await stranger.send(new ListObjectsV2Command({Bucket: bucket}))).KeyCount).toBe(2)
    } finally {
      await moto.setAuth(0)
    }
    expect(moto.auth).toBe(true)
    expect((await errorOf(stranger.send(new ListObjectsV2Command({Bucket: bucket})))).name).toBe('InvalidAccessKeyId')
  })
})
