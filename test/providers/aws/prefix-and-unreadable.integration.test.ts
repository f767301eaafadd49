/**
 * Two truths a new user's run exposed (issue 10, items 1-3), end to end against moto:
 * - a prefix is a directory: `s3://b/dicom` grants `dicom/` only (never `dicom-phi-raw/`), with
 *   the same Sids as `s3://b/dicom/`, and a grant an older version wrote for `dicom` (its own Sids,
 *   `dicom*`) is replaced by apply and removed by revoke;
 * - when the admin cannot read the sampled objects' encryption (HeadObject refused), check says
 *   decrypt is unknown (exit 5, never OK) and apply carries on with a warning naming the objects.
 * moto with auth on enforces an identity Deny, which is how the admin's HeadObject is refused here.
 */
import {CreateKeyCommand} from '@aws-sdk/client-kms'
import {CreateBucketCommand, GetBucketPolicyCommand, PutBucketEncryptionCommand, PutBucketPolicyCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ownedSids} from '../../../src/providers/aws/grant-spec.js'
import {baseEnv, runCli} from '../../helpers/cli.js'
import {runInProcess} from '../../helpers/in-process.js'
import {startMoto, type Moto, type MotoClients, type TestIdentity} from '../../helpers/moto.js'

const VENDOR_ROLE = 'arn:aws:iam::444455556666:role/vendor-ingest'

let moto: Moto
let root: MotoClients
let admin: TestIdentity
let n = 0

beforeAll(async () => {
  moto = await startMoto({auth: true})
  root = moto.clients()
  // An admin who may do everything but read objects (as a TLS-only or VPC-endpoint bucket policy
  // would refuse the admin's laptop): HeadObject needs s3:GetObject.
  admin = await moto.createUserWithPolicy('bucket-admin', {
    Version: '2012-10-17',
    Statement: [
      {Effect: 'Allow', Action: '*', Resource: '*'},
      {Effect: 'Deny', Action: 's3:GetObject', Resource: '*'},
    ],
  })
}, 60_000)
afterAll(async () => moto?.stop())

// In-process through the context seam, except where the process's own stderr is what is checked.
const cli = (args: string[], creds = admin.credentials) =>
  runInProcess([...args, '--endpoint-url', moto.endpoint, '--json'], {env: baseEnv({...moto.credentialsEnv(creds), INGESTGATE_STATE_DIR: '/tmp/ingestgate-prefix-test-state'})})

async function seed(): Promise<{bucket: string; key: string}> {
  const bucket = `prefix-truth-${++n}`
  await root.s3.send(new CreateBucketCommand({Bucket: bucket}))
  const key = (await root.kms.send(new CreateKeyCommand({Description: 'default'}))).KeyMetadata!.Arn!
  await root.s3.send(new PutBucketEncryptionCommand({Bucket: bucket, ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key}}]}}))
  for (const k of ['dicom/a.dcm', 'dicom/b.dcm', 'dicom-phi-raw/secret.dcm']) await root.s3.send(new PutObjectCommand({Bucket: bucket, Key: k, Body: k}))
  return {bucket, key}
}

const policyOf = async (bucket: string) => JSON.parse((await root.s3.send(new GetBucketPolicyCommand({Bucket: bucket}))).Policy!)

describe('a prefix is a directory', () => {
  it('with or without the slash: the same statements, on dicom/ only', async () => {
    const {bucket} = await seed()
    const first = await cli(['grant', 'apply', `s3://${bucket}/dicom`, '--principal', VENDOR_ROLE, '--yes'])
    expect(first.code, first.stderr).toBe(0)
    const statements = (await policyOf(bucket)).Statement
    const sids = ownedSids(VENDOR_ROLE, 'dicom/')
    expect(statements.map((s: {Sid: string}) => s.Sid)).toEqual([sids.list, sids.location, sids.read])
    expect(statements[2].Resource).toBe(`arn:aws:s3:::${bucket}/dicom/*`)
    expect(statements[0].Condition).toEqual({StringLike: {'s3:prefix': ['dicom/', 'dicom/*']}})
    // The same grant with the slash: nothing to change.
    const again = await cli(['grant', 'apply', `s3://${bucket}/dicom/`, '--principal', VENDOR_ROLE, '--yes'])
    expect(again.code).toBe(0)
    expect(again.json?.result).toMatchObject({changed: false, changes: []})
  })

  it('an older grant for "dicom" (dicom*, its own Sids) is replaced by apply and removed by revoke', async () => {
    const {bucket} = await seed()
    const old = ownedSids(VENDOR_ROLE, 'dicom')
    const who = {AWS: VENDOR_ROLE}
    const theirs = {Sid: 'TheirReader', Effect: 'Allow', Principal: {AWS: 'arn:aws:iam::777788889999:role/other'}, Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*`}
    const legacy = [
      {Sid: old.list, Effect: 'Allow', Principal: who, Action: 's3:ListBucket', Resource: `arn:aws:s3:::${bucket}`, Condition: {StringLike: {'s3:prefix': ['dicom', 'dicom*']}}},
      {Sid: old.location, Effect: 'Allow', Principal: who, Action: 's3:GetBucketLocation', Resource: `arn:aws:s3:::${bucket}`},
      {Sid: old.read, Effect: 'Allow', Principal: who, Action: ['s3:GetObject', 's3:GetObjectAttributes'], Resource: `arn:aws:s3:::${bucket}/dicom*`},
    ]
    await root.s3.send(new PutBucketPolicyCommand({Bucket: bucket, Policy: JSON.stringify({Version: '2012-10-17', Statement: [theirs, ...legacy]})}))

    const applied = await cli(['grant', 'apply', `s3://${bucket}/dicom`, '--principal', VENDOR_ROLE, '--yes'])
    expect(applied.code, applied.stderr).toBe(0)
    const changes = applied.json?.result.changes.map((c: {action: string; id: string}) => `${c.action} ${c.id}`)
    expect(changes).toEqual(expect.arrayContaining([`remove ${old.list}`, `remove ${old.read}`, `add ${ownedSids(VENDOR_ROLE, 'dicom/').read}`]))
    const after = (await policyOf(bucket)).Statement
    expect(after[0]).toEqual(theirs)
    expect(after.map((s: {Resource: string}) => s.Resource)).not.toContain(`arn:aws:s3:::${bucket}/dicom*`)

    // Put the legacy statements back beside the new ones: revoke takes out both, and keeps theirs.
    await root.s3.send(new PutBucketPolicyCommand({Bucket: bucket, Policy: JSON.stringify({Version: '2012-10-17', Statement: [...after, ...legacy]})}))
    const revoked = await cli(['grant', 'revoke', `s3://${bucket}/dicom/`, '--principal', VENDOR_ROLE, '--yes'])
    expect(revoked.code, revoked.stderr).toBe(0)
    expect((await policyOf(bucket)).Statement).toEqual([theirs])
  })
})

describe('the encryption of the sampled objects cannot be read', () => {
  it('check: decrypt is unknown with the reason and the fix, and the check does not pass', async () => {
    const {bucket} = await seed()
    const r = await cli(['check', `s3://${bucket}/dicom`, '--principal', VENDOR_ROLE])
    expect(r.code, r.stderr).toBe(5)
    const decrypt = r.json?.result.operations.filter((o: {operation: string}) => o.operation === 'decrypt')
    expect(decrypt).toContainEqual(expect.objectContaining({outcome: 'unknown', code: 'encryption-unreadable', remedy: expect.stringContaining('--kms-key')}))
    expect(decrypt.some((o: {outcome: string}) => o.outcome === 'skip')).toBe(false)
  })

  it('apply: grants what it can know (the policy, the default key), warns about the rest, exit 0', async () => {
    const {bucket, key} = await seed()
    const r = await cli(['grant', 'apply', `s3://${bucket}/dicom`, '--principal', VENDOR_ROLE, '--yes'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json?.warnings).toEqual([expect.stringMatching(/encryption of 2 of 2 sampled object\(s\) cannot be read.*--kms-key/)])
    expect(r.json?.result.changes).toContainEqual(expect.objectContaining({kind: 'kms-grant', action: 'create', target: key}))
    expect(r.stderr).not.toMatch(/\(Unknown\)/)
  })
})

describe('credentials, said as the user gave them', () => {
  it('wrong keys in the environment are named as the environment variables, not as a profile', async () => {
    const r = await cli(['grant', 'apply', 's3://any-bucket/dicom', '--principal', VENDOR_ROLE, '--yes'], {accessKeyId: 'AKIDWRONGWRONGWRONG1', secretAccessKey: 'x'.repeat(40)})
    expect(r.code).toBe(3)
    expect(r.json?.error).toMatchObject({code: 'INVALID_CREDENTIALS', message: expect.stringContaining('AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY')})
    expect(JSON.stringify(r.json?.error)).not.toMatch(/that profile/)
  })

  it('--profile is used alone: no "Multiple credential sources detected" block when keys are in the environment too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig-profile-'))
    const file = join(dir, 'credentials')
    writeFileSync(file, `[admin]\naws_access_key_id = ${admin.accessKeyId}\naws_secret_access_key = ${admin.secretAccessKey}\n`)
    const {bucket} = await seed()
    const env = baseEnv({...moto.credentialsEnv({accessKeyId: 'AKIDWRONGWRONGWRONG1', secretAccessKey: 'x'.repeat(40)}), AWS_SHARED_CREDENTIALS_FILE: file, INGESTGATE_STATE_DIR: join(dir, 'state')})
    const r = await runCli(['grant', 'apply', `s3://${bucket}/dicom`, '--principal', VENDOR_ROLE, '--yes', '--profile', 'admin', '--endpoint-url', moto.endpoint], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).not.toMatch(/Multiple credential sources/)
  })
})

