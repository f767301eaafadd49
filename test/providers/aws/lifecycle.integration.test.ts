/**
 * The admin's lifecycle on S3, in-process against moto: grant status after apply, after a hand
 * edit and a retired KMS grant, after revoke; grant backups; grant restore round trip, its
 * concurrency refusal and --force. moto holds the documents; assertions are on what is there.
 */
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateKeyCommand, ListGrantsCommand, RevokeGrantCommand} from '@aws-sdk/client-kms'
import {CreateBucketCommand, GetBucketPolicyCommand, PutBucketPolicyCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {baseEnv} from '../../helpers/cli.js'
import {runInProcess} from '../../helpers/in-process.js'
import {MOTO_ACCOUNT_ID, startMoto, type Moto, type MotoClients} from '../../helpers/moto.js'

const ROLE = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/vendor-ingest`
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzLIFECYCLE'
const BUCKET = 'lifecycle-bkt'
const SRC = `s3://${BUCKET}/dicom`

let moto: Moto
let c: MotoClients
let stateDir: string
let keyArn: string

const FOREIGN = {
  Version: '2012-10-17',
  Statement: [{Sid: 'AnalyticsRead', Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/analytics`}, Action: 's3:GetObject', Resource: `arn:aws:s3:::${BUCKET}/reports/*`}],
}

const cli = async (args: string[]) => {
  // grant backups reads only the state directory: it takes no cloud flags.
  const r = await runInProcess(args[1] === 'backups' ? args : [...args, '--endpoint-url', moto.endpoint], {
    env: baseEnv({...moto.credentialsEnv({accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET}), INGESTGATE_STATE_DIR: stateDir}),
  })
  expect(r.stdout + r.stderr).not.toContain(SECRET)
  return r
}
const policy = async () => JSON.parse((await c.s3.send(new GetBucketPolicyCommand({Bucket: BUCKET}))).Policy!)
const states = (r: {json?: any}) => Object.fromEntries(r.json.result.items.map((i: any) => [i.id, i.state]))

beforeAll(async () => {
  moto = await startMoto()
  c = moto.clients()
  stateDir = mkdtempSync(join(tmpdir(), 'ig-life-'))
  keyArn = (await c.kms.send(new CreateKeyCommand({Description: 'lifecycle'}))).KeyMetadata!.Arn!
  await c.s3.send(new CreateBucketCommand({Bucket: BUCKET}))
  await c.s3.send(new PutObjectCommand({Bucket: BUCKET, Key: 'dicom/a.dcm', Body: 'a', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn}))
  await c.s3.send(new PutBucketPolicyCommand({Bucket: BUCKET, Policy: JSON.stringify(FOREIGN)}))
})
afterAll(async () => moto?.stop())

describe('grant status, backups and restore on S3', () => {
  it('status before any grant: nothing of ingestgate, exit 5; a bad principal is exit 3', async () => {
    const r = await cli(['grant', 'status', SRC, '--json'])
    expect(r.code).toBe(5)
    expect(r.json?.result).toMatchObject({principals: [], items: [], inPlace: false})
    const asked = await cli(['grant', 'status', SRC, '--principal', ROLE])
    expect(asked.code).toBe(5)
    expect(asked.stdout).toMatch(/MISSING\s+bucket-policy-statement Ingestgate/)
    expect((await cli(['grant', 'status', SRC, '--principal', 'serviceAccount:x@p.iam.gserviceaccount.com'])).code).toBe(3)
  })

  it('after apply: every statement and the KMS grant in place, principals found from the Sids', async () => {
    expect((await cli(['grant', 'apply', SRC, '--principal', ROLE, '--yes'])).code).toBe(0)
    const r = await cli(['grant', 'status', SRC, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json?.result.principals).toEqual([ROLE])
    expect(r.json?.result.items.map((i: any) => [i.kind, i.state])).toEqual([
      ['bucket-policy-statement', 'in-place'],
      ['bucket-policy-statement', 'in-place'],
      ['bucket-policy-statement', 'in-place'],
      ['kms-grant', 'in-place'],
    ])
    const human = await cli(['grant', 'status', SRC])
    expect(human.stdout).toMatch(/In place: 4 of 4 as apply writes them/)
  })

  it('a hand-edited statement is drifted and a retired grant missing (exit 5); apply puts both back', async () => {
    const p = await policy()
    const read = p.Statement.find((s: any) => s.Sid.startsWith('IngestgateRead'))
    read.Action = 's3:GetObject'
    await c.s3.send(new PutBucketPolicyCommand({Bucket: BUCKET, Policy: JSON.stringify(p)}))
    const grant = (await c.kms.send(new ListGrantsCommand({KeyId: keyArn}))).Grants!.find((g) => g.Name?.startsWith('ingestgate-'))!
    await c.kms.send(new RevokeGrantCommand({KeyId: keyArn, GrantId: grant.GrantId}))

    const r = await cli(['grant', 'status', SRC, '--json'])
    expect(r.code).toBe(5)
    const s = states(r)
    expect(s[read.Sid]).toBe('drifted')
    expect(Object.entries(s).filter(([, v]) => v === 'missing').map(([k]) => k)).toEqual([grant.Name])
    expect(r.json?.result.items.find((i: any) => i.id === read.Sid).detail).toMatch(/Action/)

    expect((await cli(['grant', 'apply', SRC, '--principal', ROLE, '--yes'])).code).toBe(0)
    expect((await cli(['grant', 'status', SRC])).code).toBe(0)
  })

  it('backups lists both applies; restore writes the latest back, then refuses the oldest (changed since) unless --force', async () => {
    const listed = await cli(['grant', 'backups', `s3://${BUCKET}`, '--json'])
    expect(listed.code).toBe(0)
    const backups = listed.json?.result
    expect(backups.map((b: any) => [b.record.verb, b.record.source, b.record.document])).toEqual([
      ['apply', SRC, 'bucket-policy'],
      ['apply', SRC, 'bucket-policy'],
    ])
    expect(readFileSync(backups[0].path, 'utf8')).not.toContain(SECRET)
    expect((await cli(['grant', 'backups', 's3://other-bucket', '--json'])).json?.result).toEqual([])
    const [first, second] = backups.map((b: any) => b.path)

    // The second apply's write is what is there: restore shows the diff and writes the hand-edited policy back.
    const beforeDry = await policy()
    const dry = await cli(['grant', 'restore', second, '--dry-run'])
    expect(dry.code).toBe(0)
    expect(dry.stderr).toMatch(/s3:GetObjectAttributes/)
    expect(await policy()).toEqual(beforeDry)
    const restored = await cli(['grant', 'restore', second, '--yes', '--json'])
    expect(restored.code, restored.stderr).toBe(0)
    expect(restored.json?.result.changed).toBe(true)
    expect((await policy()).Statement.find((s: any) => s.Sid.startsWith('IngestgateRead')).Action).toBe('s3:GetObject')
    expect((await cli(['grant', 'status', SRC])).code).toBe(5)
    // What restore replaced is backed up too, and a second restore changes nothing.
    const after = (await cli(['grant', 'backups', `s3://${BUCKET}`, '--json'])).json?.result
    expect(after.map((b: any) => b.record.verb)).toEqual(['apply', 'apply', 'restore'])
    expect((await cli(['grant', 'restore', second, '--yes', '--json'])).json?.result.changed).toBe(false)

    // The first apply's write was since replaced (by that restore): restoring it would undo that unseen.
    const refused = await cli(['grant', 'restore', first, '--yes', '--json'])
    expect(refused.code).toBe(4)
    expect(refused.json?.error?.code).toBe('CONCURRENT_CHANGE')
    expect(refused.json?.error?.suggestions?.join(' ')).toMatch(/--force/)
    expect((await policy()).Statement.find((s: any) => s.Sid.startsWith('IngestgateRead')).Action).toBe('s3:GetObject')

    const forced = await cli(['grant', 'restore', first, '--yes', '--force', '--json'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(await policy()).toEqual(FOREIGN)
  })

  it('revoke leaves nothing of ingestgate: status exit 5 with nothing found', async () => {
    expect((await cli(['grant', 'apply', SRC, '--principal', ROLE, '--yes'])).code).toBe(0)
    expect((await cli(['grant', 'revoke', SRC, '--principal', ROLE, '--yes'])).code).toBe(0)
    const r = await cli(['grant', 'status', SRC, '--json'])
    expect(r.code).toBe(5)
    expect(r.json?.result.principals).toEqual([])
    const asked = await cli(['grant', 'status', SRC, '--principal', ROLE, '--json'])
    expect(Object.values(states(asked))).toEqual(['missing', 'missing', 'missing', 'missing'])
  })

  it('restore of a path that is not a backup, or a damaged record, is exit 3 with what to do', async () => {
    const missing = await cli(['grant', 'restore', join(stateDir, 'nope.json')])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toMatch(/no such file/)
    expect(missing.stderr).toMatch(/grant backups/)
  })
})
