/**
 * check --live end to end: the built CLI against moto with IAM authorisation on, acting as a real
 * role (assumed with --assume-role, or through --principal-profile). With auth on, moto grants
 * only through identity policies, so a role whose policy lacks an action is refused exactly that
 * action: the failure path is real. KMS grants and key policies authorise nothing in moto and
 * SSE-KMS is metadata there, so a KMS refusal cannot be produced here (the unit tests of the live
 * layer cover its mapping).
 *
 * moto specifics the tests bend around (never the product):
 *  - moto authorises HeadBucket as the pseudo-action "s3:HeadBucket" (AWS: s3:ListBucket) and sends
 *    no x-amz-bucket-region on a 403 (AWS does), so the roles here are given "s3:HeadBucket" too;
 *  - moto authorises GetObjectAttributes as s3:GetObject (AWS wants s3:GetObjectAttributes too), so
 *    the "lacks exactly one action" role here lacks s3:ListBucket, which moto does enforce alone;
 *  - GetObjectAttributes works only thanks to the launcher's patches (a) and (e).
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {PutRolePolicyCommand} from '@aws-sdk/client-iam'
import {CreateKeyCommand} from '@aws-sdk/client-kms'
import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {baseEnv, runCli} from '../../helpers/cli.js'
import {MOTO_ACCOUNT_ID, startMoto, type Moto, type MotoClients} from '../../helpers/moto.js'

const READ_ACTIONS = ['s3:ListBucket', 's3:HeadBucket', 's3:GetBucketLocation', 's3:GetObject', 's3:GetObjectAttributes', 'kms:Decrypt']
const policyWith = (actions: string[]) => ({Version: '2012-10-17', Statement: [{Sid: 'IngestRead', Effect: 'Allow', Action: actions, Resource: '*'}]})

let moto: Moto
let c: MotoClients
let bucket: string
let keyArn: string
let n = 0
/** What the SDK warned while the bucket was seeded (it warns through console.warn). */
let seedWarnings: string[] = []

beforeAll(async () => {
  moto = await startMoto({auth: true})
  c = moto.clients()
  bucket = 'check-live-data'
  await c.s3.send(new CreateBucketCommand({Bucket: bucket}))
  keyArn = (await c.kms.send(new CreateKeyCommand({Description: 'live check'}))).KeyMetadata!.Arn!
  const warn = vi.spyOn(console, 'warn')
  for (let i = 0; i < 4; i++) await c.s3.send(new PutObjectCommand({Bucket: bucket, Key: `dicom/s${i}.dcm`, Body: `object ${i}`}))
  // An empty string body has no length the SDK can see ("Stream of unknown length" warning): give it.
  await c.s3.send(new PutObjectCommand({Bucket: bucket, Key: 'dicom/empty.dcm', Body: '', ContentLength: 0}))
  seedWarnings = warn.mock.calls.map((args) => String(args[0]))
  warn.mockRestore()
  await c.s3.send(new PutObjectCommand({Bucket: bucket, Key: 'dicom/enc.dcm', Body: 'encrypted', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn}))
})
afterAll(async () => moto?.stop())

const env = (extra: NodeJS.ProcessEnv = {}) => baseEnv({...moto.credentialsEnv(), ...extra})
const source = () => `s3://${bucket}/dicom`

async function role(actions: string[]) {
  return moto.createRoleWithPolicy(`ingest-${++n}`, policyWith(actions))
}

function liveCheck(roleArn: string, extra: string[] = [], envExtra: NodeJS.ProcessEnv = {}) {
  return runCli(['check', source(), '--principal', roleArn, '--live', '--assume-role', roleArn, '--endpoint-url', moto.endpoint, '--json', ...extra], {env: env(envExtra), timeoutMs: 90_000})
}

type Row = {operation: string; resource: string; layer: string; outcome: string; code: string; cause: string; decidedBy: string[]; remedy: string}
const rows = (r: Awaited<ReturnType<typeof runCli>>, layer: string): Row[] => (r.json?.result.operations as Row[]).filter((x) => x.layer === layer)

describe('check --live against moto with IAM auth on', () => {
  it('the objects are seeded without an SDK warning (every body has a length)', () => {
    expect(seedWarnings.filter((w) => /Stream of unknown length/.test(w))).toEqual([])
  })

  it('a role with every permission passes every operation in both layers, in about two round trips', async () => {
    const r0 = await role(READ_ACTIONS)
    const mark = moto.markLog()
    const r = await liveCheck(r0.roleArn)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const result = r.json!.result
    expect(result).toMatchObject({ok: true, layers: ['static', 'live'], identities: {live: `arn:aws:sts::${MOTO_ACCOUNT_ID}:assumed-role/${r0.name}/ingestgate-check`}})
    const live = rows(r, 'live')
    expect(live.every((x) => x.outcome === 'pass')).toBe(true)
    expect(live.map((x) => x.operation).sort()).toEqual(['decrypt', ...Array(6).fill('get'), ...Array(6).fill('get-attributes'), 'list', 'region'].sort())
    expect(live.find((x) => x.operation === 'decrypt')).toMatchObject({resource: keyArn, cause: expect.stringContaining('dicom/enc.dcm')})
    expect(live.find((x) => x.operation === 'region')!.cause).toMatch(/us-east-1/)
    // The probes really went out: one listing, one HeadBucket, one GetObject and one
    // GetObjectAttributes per sampled object (the decrypt test reuses the read of enc.dcm), no writes.
    const sent = moto.requestsSince(mark).filter((x) => x.service === 's3' && x.bucket === bucket)
    const probes = sent.filter((x) => x.time > 0)
    expect(probes.filter((x) => x.method === 'HEAD' && x.key === '')).toHaveLength(2) // the admin's and the principal's
    expect(probes.filter((x) => x.params['list-type'] === '2').length).toBeGreaterThanOrEqual(2) // admin's listing + the probe
    expect(probes.filter((x) => x.params['x-id'] === 'GetObject')).toHaveLength(6)
    expect(probes.filter((x) => 'attributes' in x.params)).toHaveLength(6)
    expect(moto.writeCalls(mark)).toEqual([])
  })

  it('a role lacking s3:ListBucket fails exactly list, in both layers', async () => {
    const r0 = await role(READ_ACTIONS.filter((a) => a !== 's3:ListBucket'))
    const r = await liveCheck(r0.roleArn)
    expect(r.code).toBe(5)
    for (const layer of ['static', 'live']) {
      const failing = rows(r, layer).filter((x) => x.outcome !== 'pass')
      expect(failing.map((x) => `${x.operation} ${x.outcome}`), layer).toEqual(['list fail'])
    }
    const liveRow = rows(r, 'live').find((x) => x.operation === 'list')!
    expect(liveRow).toMatchObject({code: 'access-denied', decidedBy: ['ListObjectsV2: AccessDenied (HTTP 403)']})
    // Both layers agree, so the live remedy is the static one.
    const staticRow = rows(r, 'static').find((x) => x.operation === 'list')!
    expect(staticRow.cause).toMatch(/^s3:ListBucket is not allowed/)
    expect(liveRow.remedy).toBe(staticRow.remedy)
    expect(liveRow.remedy).toMatch(/^ingestgate grant apply s3:\/\/check-live-data\/dicom --principal /)
  })

  it('as the principal only (--no-static), a role that may not list fails list and has nothing to read', async () => {
    const r0 = await role(READ_ACTIONS.filter((a) => a !== 's3:ListBucket'))
    const r = await liveCheck(r0.roleArn, ['--no-static'])
    expect(r.code).toBe(5)
    expect(r.json!.result.layers).toEqual(['live'])
    const live = rows(r, 'live')
    expect(live.find((x) => x.operation === 'list')).toMatchObject({outcome: 'fail', code: 'access-denied', remedy: expect.stringContaining('ingestgate grant apply')})
    expect(live.filter((x) => x.operation === 'get')).toEqual([expect.objectContaining({outcome: 'skip', cause: expect.stringMatching(/listing was refused/)})])
    expect(live.find((x) => x.operation === 'region')!.outcome).toBe('pass')
  })

  it('as the principal only, finds the keys in use from the objects it reads', async () => {
    const r0 = await role(READ_ACTIONS)
    const r = await liveCheck(r0.roleArn, ['--no-static'])
    expect(r.code, r.stdout).toBe(0)
    expect(rows(r, 'live').filter((x) => x.operation === 'decrypt')).toEqual([expect.objectContaining({resource: keyArn, outcome: 'pass'})])
  })

  it('--wait retries until a permission that appears during the wait lets every call pass', async () => {
    // What --wait is for: a KMS grant takes up to ~5 minutes to apply. moto cannot delay (or
    // enforce) a KMS grant, so the permission that "propagates" here is an identity policy attached
    // two seconds into the run: the same failing-then-passing call, exercising the same retry path.
    // The listing is what fails first; once it passes, the objects it lists are read too.
    // The policy is attached only once moto has refused the listing, however long the CLI takes to start.
    const r0 = await role(READ_ACTIONS.filter((a) => a !== 's3:ListBucket'))
    const mark = moto.markLog()
    const started = Date.now()
    const running = liveCheck(r0.roleArn, ['--no-static', '--wait', '60s'])
    const refused = () => moto.requestsSince(mark).some((x) => x.bucket === bucket && x.params['list-type'] === '2' && x.status === 403)
    while (!refused()) {
      if (Date.now() - started > 30_000) throw new Error('the live check never tried to list')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await c.iam.send(new PutRolePolicyCommand({RoleName: r0.name, PolicyName: 'late-list', PolicyDocument: JSON.stringify(policyWith(['s3:ListBucket']))}))
    const r = await running
    expect(r.code, r.stderr).toBe(0)
    expect(Date.now() - started).toBeLessThan(45_000)
    expect(r.stderr).toMatch(/Waiting for access to propagate: 1 call\(s\) still failing after .*: list s3:\/\/check-live-data\/dicom \(access-denied\)/)
    expect(r.stderr).toMatch(/All live calls pass after/)
    const live = rows(r, 'live')
    expect(live.every((x) => x.outcome === 'pass')).toBe(true)
    expect(live.filter((x) => x.operation === 'get')).toHaveLength(6)
  })

  it('--principal-profile: a profile that is the principal; --profile stays the admin\'s', async () => {
    const r0 = await role(READ_ACTIONS)
    const dir = mkdtempSync(join(tmpdir(), 'ig-profiles-'))
    const credentials = join(dir, 'credentials')
    writeFileSync(
      credentials,
      `[admin]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n[ingest]\naws_access_key_id = ${r0.accessKeyId}\naws_secret_access_key = ${r0.secretAccessKey}\naws_session_token = ${r0.sessionToken}\n`,
    )
    const profileEnv = {AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: ''}
    const args = ['check', source(), '--principal', r0.roleArn, '--live', '--profile', 'admin', '--principal-profile', 'ingest', '--endpoint-url', moto.endpoint, '--json']
    const r = await runCli(args, {env: env(profileEnv)})
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.json!.result.identities.live).toBe(r0.assumedRoleArn)
    expect(r.json!.result.identities.static).not.toBe(r0.assumedRoleArn)
    expect(r.stdout + r.stderr).not.toContain(r0.secretAccessKey)
  })

  it('refuses to run the live layer as someone who is not the principal (exit 3)', async () => {
    const r0 = await role(READ_ACTIONS)
    const r = await runCli(['check', source(), '--principal', r0.roleArn, '--live', '--endpoint-url', moto.endpoint, '--json'], {env: env()})
    expect(r.code).toBe(3)
    expect(r.json!.error).toMatchObject({code: 'LIVE_NOT_PRINCIPAL', suggestions: [expect.stringContaining(`--assume-role ${r0.roleArn}`), expect.any(String)]})
  })

  it('an admin who may not read the key policy gets decrypt unknown, not a crash', async () => {
    const admin = await moto.createUserWithPolicy(`half-admin-${++n}`, {
      Version: '2012-10-17',
      Statement: [
        {Effect: 'Allow', Action: '*', Resource: '*'},
        {Effect: 'Deny', Action: ['kms:GetKeyPolicy', 'kms:ListGrants'], Resource: '*'},
      ],
    })
    const r0 = await role(READ_ACTIONS)
    const r = await runCli(['check', source(), '--principal', r0.roleArn, '--endpoint-url', moto.endpoint, '--json'], {env: env(moto.credentialsEnv(admin.credentials))})
    expect(r.code).toBe(5)
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
    const decrypt = rows(r, 'static').filter((x) => x.operation === 'decrypt')
    expect(decrypt).toEqual([expect.objectContaining({resource: keyArn, outcome: 'unknown', code: 'key-policy-unreadable', remedy: expect.stringMatching(/kms:GetKeyPolicy/)})])
    expect(decrypt[0].cause).toMatch(/AccessDenied/)
    expect((r.json!.result.findings as Array<{code: string}>).map((f) => f.code)).toContain('key-policy-unreadable')
    expect(rows(r, 'static').filter((x) => x.operation !== 'decrypt').every((x) => x.outcome === 'pass')).toBe(true)
  })
})
