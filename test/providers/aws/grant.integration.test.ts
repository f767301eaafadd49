/**
 * grant apply / revoke end to end: the built CLI run in-process (the context seam) against a real moto server.
 * moto checks the mechanics (documents written, grants created and retired, write calls made);
 * the semantics of the merged documents are checked with the pure core's semantic comparison.
 */
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateKeyCommand, ListGrantsCommand} from '@aws-sdk/client-kms'
import {
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  GetBucketPolicyCommand,
  PutBucketEncryptionCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {parsePolicyDocument, semanticallyEqual} from '../../../src/providers/aws/policy/policy.js'
import {createContext} from '../../../src/context.js'
import {planAwsApply} from '../../../src/providers/aws/grant.js'
import {kmsGrantName} from '../../../src/providers/aws/grant-spec.js'
import {parseSource} from '../../../src/source.js'
import {baseEnv} from '../../helpers/cli.js'
import {runInProcess} from '../../helpers/in-process.js'
import {MOTO_ACCOUNT_ID, startMoto, type Moto, type MotoClients} from '../../helpers/moto.js'

const ROLE = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/vendor-ingest`
const OTHER_ROLE = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/other-vendor`
// A distinctive secret: it must never appear in any output or backup.
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY'

let moto: Moto
let c: MotoClients
let stateDir: string
let n = 0
let bucket: string

const FOREIGN = {
  Version: '2012-10-17',
  Id: 'customer-policy',
  Statement: [
    {Sid: 'AnalyticsRead', Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/analytics`}, Action: 's3:GetObject', Resource: 'arn:aws:s3:::BUCKET/reports/*'},
    {
      Effect: 'Allow',
      Principal: {Service: 'logging.s3.amazonaws.com'},
      Action: ['s3:PutObject'],
      Resource: ['arn:aws:s3:::BUCKET/logs/*'],
      Condition: {ArnLike: {'aws:SourceArn': 'arn:aws:s3:::source-bucket'}, StringEquals: {'aws:SourceAccount': MOTO_ACCOUNT_ID}},
    },
  ],
}
const foreignFor = (b: string) => JSON.parse(JSON.stringify(FOREIGN).replaceAll('BUCKET', b))

function env(extra: NodeJS.ProcessEnv = {}) {
  return baseEnv({...moto.credentialsEnv({accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET}), INGESTGATE_STATE_DIR: stateDir, ...extra})
}

// In-process through the context seam: what is checked is the grant, not the process boundary.
const cli = (args: string[], extra?: NodeJS.ProcessEnv) => runInProcess([...args, '--endpoint-url', moto.endpoint], {env: env(extra)})

async function policyOf(b: string) {
  try {
    const out = await c.s3.send(new GetBucketPolicyCommand({Bucket: b}))
    return parsePolicyDocument(out.Policy!, 'test')
  } catch (error) {
    if ((error as Error).name === 'NoSuchBucketPolicy') return null
    throw error
  }
}

async function grantsOn(keyArn: string) {
  return (await c.kms.send(new ListGrantsCommand({KeyId: keyArn}))).Grants ?? []
}

async function newKey(): Promise<string> {
  return (await c.kms.send(new CreateKeyCommand({Description: 'test'}))).KeyMetadata!.Arn!
}

/** A bucket with plain objects, one SSE-KMS object (key A), default encryption (key B), a policy. */
async function seedBucket(opts: {policy?: object | null} = {}) {
  bucket = `grant-test-${++n}`
  await c.s3.send(new CreateBucketCommand({Bucket: bucket}))
  const objectKey = await newKey()
  const defaultKey = await newKey()
  for (let i = 0; i < 5; i++) await c.s3.send(new PutObjectCommand({Bucket: bucket, Key: `dicom/s${i}/img.dcm`, Body: `o${i}`}))
  await c.s3.send(new PutObjectCommand({Bucket: bucket, Key: 'dicom/enc/img.dcm', Body: 'secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: objectKey}))
  await c.s3.send(
    new PutBucketEncryptionCommand({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms', KMSMasterKeyID: defaultKey}}]},
    }),
  )
  const policy = opts.policy === undefined ? foreignFor(bucket) : opts.policy
  if (policy) await c.s3.send(new PutBucketPolicyCommand({Bucket: bucket, Policy: JSON.stringify(policy)}))
  return {objectKey, defaultKey, policy}
}

beforeAll(async () => {
  moto = await startMoto()
  c = moto.clients()
})
afterAll(async () => moto?.stop())
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'ig-state-'))
})

describe('grant apply / revoke against moto', () => {
  it('dry-run plans everything and makes no write call', async () => {
    const {objectKey, defaultKey} = await seedBucket()
    const mark = moto.markLog()
    const r = await cli(['grant', 'apply', `s3://${bucket}/dicom/`, '--principal', ROLE, '--dry-run', '--json'])
    expect(r.code).toBe(0)
    expect(r.json?.result).toMatchObject({changed: false, dryRun: true})
    const changes = r.json?.result.changes
    expect(changes.filter((x: any) => x.kind === 'bucket-policy-statement').map((x: any) => x.action)).toEqual(['add', 'add', 'add'])
    expect(changes.filter((x: any) => x.kind === 'kms-grant').map((x: any) => x.target).sort()).toEqual([objectKey, defaultKey].sort())
    expect(moto.writeCalls(mark)).toEqual([])
    expect(moto.requestsSince(mark).length).toBeGreaterThan(5) // it really read
    expect(await policyOf(bucket)).toEqual(foreignFor(bucket))
  })

  it('apply merges, backs up, creates grants; re-apply writes nothing; revoke restores exactly', async () => {
    const {objectKey, defaultKey, policy} = await seedBucket()

    let mark = moto.markLog()
    const apply = await cli(['grant', 'apply', `s3://${bucket}/dicom/`, '--principal', ROLE, '--yes', '--json'])
    expect(apply.code, apply.stderr).toBe(0)
    expect(apply.json?.result.changed).toBe(true)
    const writes = moto.writeCalls(mark).map((w) => w.op ?? w.line)
    expect(writes.filter((w) => /PutBucketPolicy|\?policy/.test(w))).toHaveLength(1)
    expect(writes.filter((w) => w === 'CreateGrant')).toHaveLength(2)

    const merged = await policyOf(bucket)
    const statements = merged!.Statement as any[]
    expect(statements.slice(0, 2)).toEqual(foreignFor(bucket).Statement) // foreign kept, in place, byte for byte
    expect(statements.slice(2).map((s) => s.Action)).toEqual(['s3:ListBucket', 's3:GetBucketLocation', ['s3:GetObject', 's3:GetObjectAttributes']])
    expect(merged!.Id).toBe('customer-policy')

    for (const key of [objectKey, defaultKey]) {
      const ours = (await grantsOn(key)).filter((g) => g.Name === kmsGrantName(ROLE, key))
      expect(ours).toHaveLength(1)
      expect(ours[0]).toMatchObject({GranteePrincipal: ROLE, Operations: ['Decrypt']})
    }

    const backup = apply.json?.result.backup
    expect(backup && existsSync(backup)).toBe(true)
    expect(JSON.parse(readFileSync(backup, 'utf8'))).toEqual(policy)

    mark = moto.markLog()
    const again = await cli(['grant', 'apply', `s3://${bucket}/dicom/`, '--principal', ROLE, '--yes', '--json'])
    expect(again.code).toBe(0)
    expect(again.json?.result).toMatchObject({changed: false, changes: []})
    expect(moto.writeCalls(mark)).toEqual([])
    expect((await cli(['grant', 'apply', `s3://${bucket}/dicom/`, '--principal', ROLE, '--yes'])).stderr).toMatch(/No changes/)

    mark = moto.markLog()
    const revoke = await cli(['grant', 'revoke', `s3://${bucket}/dicom/`, '--principal', ROLE, '--yes', '--json'])
    expect(revoke.code, revoke.stderr).toBe(0)
    expect(revoke.json?.result.changed).toBe(true)
    expect(semanticallyEqual(await policyOf(bucket), policy as never)).toBe(true)
    expect(await policyOf(bucket)).toEqual(policy)
    for (const key of [objectKey, defaultKey]) expect((await grantsOn(key)).filter((g) => g.Name?.startsWith('ingestgate-'))).toEqual([])
    expect(moto.writeCalls(mark).filter((w) => w.op === 'RetireGrant' || w.op === 'RevokeGrant')).toHaveLength(2)

    mark = moto.markLog()
    const revokeAgain = await cli(['grant', 'revoke', `s3://${bucket}/dicom/`, '--principal', ROLE, '--yes', '--json'])
    expect(revokeAgain.json?.result).toMatchObject({changed: false, changes: []})
    expect(moto.writeCalls(mark)).toEqual([])

    for (const r of [apply, again, revoke]) expect(r.stdout + r.stderr).not.toContain(SECRET)
    expect(readFileSync(backup, 'utf8')).not.toContain(SECRET)
  })

  it('several principals and prefixes coexist; revoking one leaves the others', async () => {
    await seedBucket()
    for (const [who, src] of [[ROLE, 'dicom/'], [OTHER_ROLE, 'dicom/'], [ROLE, '']] as const) {
      expect((await cli(['grant', 'apply', `s3://${bucket}/${src}`, '--principal', who, '--yes'])).code).toBe(0)
    }
    expect((await policyOf(bucket))!.Statement).toHaveLength(2 + 9)
    expect((await cli(['grant', 'revoke', `s3://${bucket}/dicom/`, '--principal', ROLE, '--yes'])).code).toBe(0)
    const left = (await policyOf(bucket))!.Statement as any[]
    expect(left).toHaveLength(2 + 6)
    expect(left.filter((s) => s.Principal?.AWS === OTHER_ROLE)).toHaveLength(3)
    expect(left.filter((s) => s.Principal?.AWS === ROLE && s.Resource === `arn:aws:s3:::${bucket}/*`)).toHaveLength(1)
  })

  it('revoke deletes the policy when nothing else remains', async () => {
    await seedBucket({policy: null})
    expect((await cli(['grant', 'apply', `s3://${bucket}`, '--principal', ROLE, '--yes'])).code).toBe(0)
    expect((await policyOf(bucket))!.Statement).toHaveLength(3)
    const r = await cli(['grant', 'revoke', `s3://${bucket}`, '--principal', ROLE, '--yes', '--json'])
    expect(r.json?.result.changes.map((x: any) => x.action)).toContain('delete')
    expect(await policyOf(bucket)).toBeNull()
  })

  it('revoke still removes the statements when the data has moved to the aws/s3 key since apply', async () => {
    const {policy} = await seedBucket()
    expect((await cli(['grant', 'apply', `s3://${bucket}`, '--principal', ROLE, '--yes'])).code).toBe(0)
    await c.s3.send(
      new PutBucketEncryptionCommand({Bucket: bucket, ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms'}}]}}),
    )
    const r = await cli(['grant', 'revoke', `s3://${bucket}`, '--principal', ROLE, '--yes', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/aws\/s3; it cannot carry grants/)
    expect(await policyOf(bucket)).toEqual(policy)
  })

  it('apply asks for confirmation and refuses to guess without a terminal', async () => {
    await seedBucket()
    const mark = moto.markLog()
    const r = await cli(['grant', 'apply', `s3://${bucket}`, '--principal', ROLE])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/needs confirmation/)
    expect(r.stderr).toMatch(/--yes/)
    expect(moto.writeCalls(mark)).toEqual([])
  })

  describe('refusals: a clear message, the documented exit code, and no write', () => {
    const refuse = async (args: string[], exit: number, code: string, message: RegExp, extra?: NodeJS.ProcessEnv) => {
      const mark = moto.markLog()
      const r = await cli([...args, '--yes', '--json'], extra)
      expect(r.code, r.stdout + r.stderr).toBe(exit)
      expect(r.json?.error).toMatchObject({code, message})
      expect(r.json?.error?.suggestions.length).toBeGreaterThan(0)
      expect(moto.writeCalls(mark)).toEqual([])
      expect(r.stdout + r.stderr).not.toContain(SECRET)
    }

    it('data under the AWS-managed aws/s3 key', async () => {
      await seedBucket()
      await c.s3.send(
        new PutBucketEncryptionCommand({Bucket: bucket, ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms'}}]}}),
      )
      await refuse(['grant', 'apply', `s3://${bucket}`, '--principal', ROLE], 3, 'AWS_MANAGED_KEY', /aws\/s3.*cannot be shared/)
    })

    it('stale AROA/AIDA unique ids in the policy', async () => {
      const policy = foreignFor(`grant-test-${n + 1}`)
      policy.Statement.push({Sid: 'OldRole', Effect: 'Allow', Principal: {AWS: 'AROA1234567890EXAMPLE'}, Action: 's3:GetObject', Resource: `arn:aws:s3:::grant-test-${n + 1}/*`})
      await seedBucket({policy})
      await refuse(['grant', 'apply', `s3://${bucket}`, '--principal', ROLE], 3, 'STALE_PRINCIPAL_IDS', /OldRole names AROA1234567890EXAMPLE/)
    })

    it('a merged policy over 20 KB', async () => {
      const b = `grant-test-${n + 1}`
      // Just under the limit as it is; our three statements push it over.
      const big = {Version: '2012-10-17', Statement: [] as object[]}
      for (let i = 0; JSON.stringify(big).length < 20_000; i++) {
        big.Statement.push({
          Sid: `Team${i}`,
          Effect: 'Allow',
          Principal: {AWS: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/team-${i}`},
          Action: ['s3:GetObject', 's3:PutObject'],
          Resource: `arn:aws:s3:::${b}/teams/${i}/${'p'.repeat(80)}/*`,
        })
      }
      expect(JSON.stringify(big).length).toBeLessThan(20_480)
      await seedBucket({policy: big})
      await refuse(['grant', 'apply', `s3://${b}`, '--principal', ROLE], 3, 'POLICY_TOO_LARGE', /would be \d+ bytes; S3 allows 20480/)
    })

    it('Block Public Access that would reject the merged document', async () => {
      const b = `grant-test-${n + 1}`
      const policy = {Version: '2012-10-17', Statement: [{Sid: 'PublicWebsite', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${b}/site/*`}]}
      await seedBucket({policy})
      await c.s3.send(new PutPublicAccessBlockCommand({Bucket: b, PublicAccessBlockConfiguration: {BlockPublicPolicy: true, RestrictPublicBuckets: false}}))
      await refuse(['grant', 'apply', `s3://${b}`, '--principal', ROLE], 3, 'BLOCK_PUBLIC_ACCESS_CONFLICT', /PublicWebsite/)
    })

    it('a bucket that does not exist', async () => {
      await refuse(['grant', 'apply', 's3://no-such-bucket-here', '--principal', ROLE], 4, 'NO_SUCH_BUCKET', /does not exist/)
    })

    it('missing credentials, saying what was tried', async () => {
      const noCreds = {AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: ''}
      await refuse(['grant', 'apply', `s3://${bucket}`, '--principal', ROLE], 3, 'NO_CREDENTIALS', /environment variables/, noCreds)
      await refuse(['grant', 'apply', `s3://${bucket}`, '--principal', ROLE, '--profile', 'customer-admin'], 3, 'NO_CREDENTIALS', /profile "customer-admin"/, noCreds)
    })

    it('a malformed principal never reaches AWS', async () => {
      const mark = moto.markLog()
      const r = await cli(['grant', 'apply', `s3://${bucket}`, '--principal', 'arn:aws:iam::12345:role/x', '--yes', '--json'])
      expect(r.json?.error?.code).toBe('BAD_PRINCIPAL')
      expect(moto.requestsSince(mark)).toEqual([])
    })
  })

  it('a policy changed between read and write is detected, and nothing is written', async () => {
    await seedBucket()
    const ctx = createContext({
      env: {...process.env, ...moto.credentialsEnv()},
      stateDir,
      quiet: true,
    })
    const plan = await planAwsApply(ctx, {
      source: parseSource(`s3://${bucket}/dicom/`),
      principal: ROLE,
      options: {kmsKeys: [], live: {}, cloud: {endpointUrl: moto.endpoint, credentials: {accessKeyId: 'testing', secretAccessKey: 'testing'}}},
    })
    // Someone else edits the policy while the admin reads the plan.
    const theirs = {Version: '2012-10-17', Statement: [{Sid: 'Theirs', Effect: 'Allow', Principal: {AWS: OTHER_ROLE}, Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*`}]}
    await c.s3.send(new PutBucketPolicyCommand({Bucket: bucket, Policy: JSON.stringify(theirs)}))
    const mark = moto.markLog()
    await expect(plan.execute()).rejects.toMatchObject({code: 'CONCURRENT_CHANGE', exitCode: 4})
    expect(moto.writeCalls(mark)).toEqual([])
    expect(await policyOf(bucket)).toEqual(theirs)
    await c.s3.send(new DeleteBucketPolicyCommand({Bucket: bucket}))
  })
})
