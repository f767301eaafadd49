/**
 * check, static layer, end to end: the built CLI run in-process (the context seam) against moto (auth off: the
 * static layer only reads, as the bucket admin). moto stores whatever bucket policy it is given,
 * which makes the hand-written mistakes and malformed documents easy to seed; the verdicts come
 * from the project's evaluator, whose semantics are tested on the JSON case files.
 */
import {CreateKeyCommand} from '@aws-sdk/client-kms'
import {
  CreateBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {baseEnv, runCli} from '../../helpers/cli.js'
import {runInProcess} from '../../helpers/in-process.js'
import {MOTO_ACCOUNT_ID, startMoto, type Moto, type MotoClients} from '../../helpers/moto.js'

// The ingest role lives in the vendor's account: the bucket owner cannot see its identity side.
const VENDOR_ROLE = 'arn:aws:iam::444455556666:role/vendor-ingest'
const ANSI = /\u001b\[/

let moto: Moto
let c: MotoClients
let n = 0

beforeAll(async () => {
  moto = await startMoto()
  c = moto.clients()
})
afterAll(async () => moto?.stop())

const env = () => baseEnv({...moto.credentialsEnv(), INGESTGATE_STATE_DIR: '/tmp/ingestgate-check-test-state'})
// In-process through the context seam: what is checked is the verdict, not the process boundary.
const cli = (args: string[]) => runInProcess([...args, '--endpoint-url', moto.endpoint], {env: env()})
const check = (source: string, ...extra: string[]) => cli(['check', source, '--principal', VENDOR_ROLE, ...extra])
const apply = (source: string) => cli(['grant', 'apply', source, '--principal', VENDOR_ROLE, '--yes'])

async function newKey(): Promise<string> {
  return (await c.kms.send(new CreateKeyCommand({Description: 'check test'}))).KeyMetadata!.Arn!
}

/** A bucket with 6 plain objects, one SSE-KMS object (key A), default encryption (key B). */
async function seed(opts: {objects?: boolean; policy?: unknown; kms?: boolean} = {}) {
  const bucket = `check-static-${++n}`
  await c.s3.send(new CreateBucketCommand({Bucket: bucket}))
  const objectKey = opts.kms === false ? undefined : await newKey()
  const defaultKey = opts.kms === false ? undefined : await newKey()
  if (opts.objects !== false) {
    for (let i = 0; i < 6; i++) await c.s3.send(new PutObjectCommand({Bucket: bucket, Key: `dicom/s${i}/img.dcm`, Body: `o${i}`}))
    if (objectKey) await c.s3.send(new PutObjectCommand({Bucket: bucket, Key: 'dicom/enc/img.dcm', Body: 'secret', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: objectKey}))
  }
  if (defaultKey) {
    await c.s3.send(
      new PutBucketEncryptionCommand({Bucket: bucket, ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms', KMSMasterKeyID: defaultKey}}]}}),
    )
  }
  if (opts.policy !== undefined) {
    await c.s3.send(new PutBucketPolicyCommand({Bucket: bucket, Policy: typeof opts.policy === 'string' ? opts.policy : JSON.stringify(opts.policy)}))
  }
  return {bucket, objectKey, defaultKey}
}

type Row = {operation: string; resource: string; layer: string; outcome: string; code: string; cause: string; decidedBy: string[]; remedy: string}
const rowsOf = (r: Awaited<ReturnType<typeof cli>>, op?: string): Row[] => (r.json?.result.operations as Row[]).filter((x) => op === undefined || x.operation === op)
const codesOf = (r: Awaited<ReturnType<typeof cli>>): string[] => (r.json?.result.findings as Array<{code: string}>).map((f) => f.code)

describe('check (static layer) against moto', () => {
  it('after grant apply: every operation passes on the bucket side, the vendor side is said to be unseen, nothing is written', async () => {
    const {bucket, objectKey, defaultKey} = await seed()
    expect((await apply(`s3://${bucket}/dicom`)).code).toBe(0)
    const mark = moto.markLog()
    const r = await check(`s3://${bucket}/dicom`, '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(moto.writeCalls(mark)).toEqual([])
    const result = r.json!.result
    expect(result).toMatchObject({ok: true, source: `s3://${bucket}/dicom`, principal: VENDOR_ROLE, layers: ['static'], summary: {fail: 0, unknown: 0}})
    expect(Object.keys(result.operations[0]).sort()).toEqual(['cause', 'code', 'decidedBy', 'layer', 'operation', 'outcome', 'remedy', 'resource'])
    expect(rowsOf(r, 'list')).toEqual([expect.objectContaining({resource: `s3://${bucket}/dicom`, layer: 'static', outcome: 'pass', code: 'allowed-resource-side'})])
    expect(rowsOf(r, 'list')[0].decidedBy[0]).toMatch(/^bucket policy "IngestgateList[0-9a-f]{12}" \(#0\)$/)
    expect(rowsOf(r, 'region')[0]).toMatchObject({resource: `s3://${bucket}`, outcome: 'pass'})
    expect(rowsOf(r, 'get')).toHaveLength(7)
    expect(rowsOf(r, 'get-attributes')).toHaveLength(7)
    expect(rowsOf(r, 'get').every((x) => x.outcome === 'pass' && /IngestgateRead/.test(x.decidedBy[0]))).toBe(true)
    const decrypt = rowsOf(r, 'decrypt')
    expect(decrypt.map((x) => x.resource).sort()).toEqual([objectKey, defaultKey].sort())
    expect(decrypt.every((x) => x.outcome === 'pass' && /^KMS grant ingestgate-decrypt-/.test(x.decidedBy[0]))).toBe(true)
    expect(codesOf(r)).toContain('cross-account-identity-not-visible')
    expect(rowsOf(r, 'list')[0].cause).toMatch(/account 444455556666\) cannot be seen from here/)
  })

  it('before grant apply: fails with the exact grant apply to run, per operation and key', async () => {
    const {bucket, defaultKey} = await seed()
    const r = await check(`s3://${bucket}/dicom`, '--json')
    expect(r.code).toBe(5)
    expect(r.json).toMatchObject({status: 5, result: {ok: false}})
    const grant = `ingestgate grant apply s3://${bucket}/dicom --principal ${VENDOR_ROLE} --endpoint-url ${moto.endpoint}`
    for (const op of ['list', 'region', 'get', 'get-attributes']) {
      for (const row of rowsOf(r, op)) expect(row, op).toMatchObject({outcome: 'fail', code: 'implicit-deny', remedy: grant})
    }
    expect(rowsOf(r, 'decrypt').find((x) => x.resource === defaultKey)).toMatchObject({outcome: 'fail', remedy: `${grant} --kms-key ${defaultKey}`})
  })

  it('names the hand-written mistakes, network Denies and stale ids, and decides each row by its statement', async () => {
    const b = `check-static-${n + 1}`
    const arn = `arn:aws:s3:::${b}`
    const {bucket} = await seed({
      kms: false,
      policy: {
        Version: '2012-10-17',
        Statement: [
          {Sid: 'ListWrong', Effect: 'Allow', Principal: {AWS: VENDOR_ROLE}, Action: 's3:ListBucket', Resource: `${arn}/*`},
          {Sid: 'GetWrong', Effect: 'Allow', Principal: {AWS: VENDOR_ROLE}, Action: ['s3:GetObject', 's3:GetObjectAttributes'], Resource: arn},
          {Sid: 'ReadS0', Effect: 'Allow', Principal: {AWS: VENDOR_ROLE}, Action: ['s3:GetObject', 's3:GetObjectAttributes'], Resource: `${arn}/dicom/s*`},
          {Sid: 'NoS1', Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: `${arn}/dicom/s1/*`},
          {Sid: 'OnlyFromVpce', Effect: 'Deny', Principal: '*', Action: 's3:GetObjectAttributes', Resource: `${arn}/dicom/s2/*`, Condition: {StringNotEquals: {'aws:SourceVpce': 'vpce-0a1b2c3d'}}},
          {Sid: 'Departed', Effect: 'Allow', Principal: {AWS: 'AROAEXAMPLEEXAMPLE1234'}, Action: 's3:GetObject', Resource: `${arn}/*`},
        ],
      },
    })
    expect(bucket).toBe(b)
    const r = await check(`s3://${bucket}/dicom`, '--json')
    expect(r.code).toBe(5)
    expect(codesOf(r), JSON.stringify(r.json!.result.findings, null, 1)).toEqual(expect.arrayContaining(['listbucket-on-objects', 'getobject-on-bucket', 'network-deny', 'stale-principal-id']))
    const findings = r.json!.result.findings as Array<{code: string; message: string}>
    expect(findings.find((f) => f.code === 'listbucket-on-objects')!.message).toMatch(/"ListWrong" \(#0\)/)
    expect(findings.find((f) => f.code === 'network-deny')!.message).toMatch(/"OnlyFromVpce" \(#4\).*aws:SourceVpce vpce-0a1b2c3d/)
    expect(rowsOf(r, 'list')[0]).toMatchObject({outcome: 'fail', code: 'implicit-deny'})
    const get = (k: string) => rowsOf(r, 'get').find((x) => x.resource === `s3://${bucket}/dicom/${k}/img.dcm`)!
    const attrs = (k: string) => rowsOf(r, 'get-attributes').find((x) => x.resource === `s3://${bucket}/dicom/${k}/img.dcm`)!
    expect(get('s0')).toMatchObject({outcome: 'pass', decidedBy: ['bucket policy "ReadS0" (#2)']})
    expect(get('s1')).toMatchObject({outcome: 'fail', code: 'explicit-deny', decidedBy: ['bucket policy "NoS1" (#3)']})
    expect(get('s1').remedy).toMatch(/Remove or narrow statement "NoS1" \(#3\) of the bucket policy/)
    expect(attrs('s2')).toMatchObject({outcome: 'unknown', code: 'unknown-condition'})
    expect(attrs('s2').cause).toMatch(/aws:SourceVpce/)
    expect(attrs('s2').decidedBy).toContain('bucket policy "OnlyFromVpce" (#4)')
    expect(rowsOf(r, 'decrypt')).toEqual([expect.objectContaining({outcome: 'skip', code: 'no-kms'})])
  })

  it('a malformed policy stored in the bucket makes the bucket operations unknown, with the reason, not a crash', async () => {
    for (const policy of ['this is not JSON', JSON.stringify({Statement: [{Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::x/*', Bogus: 1}]})]) {
      const {bucket} = await seed({policy, kms: false})
      const r = await check(`s3://${bucket}/dicom`, '--json')
      expect(r.code).toBe(5)
      expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
      expect(codesOf(r)).toContain('malformed-bucket-policy')
      for (const op of ['list', 'region', 'get', 'get-attributes']) {
        for (const row of rowsOf(r, op)) expect(row, `${op} with ${policy}`).toMatchObject({outcome: 'unknown', code: 'bucket-policy-malformed'})
      }
      expect(rowsOf(r, 'list')[0].cause).toMatch(policy.startsWith('this') ? /not valid JSON/ : /unknown field "Bogus"/)
    }
  })

  it('an empty bucket skips the object reads with the reason and still passes', async () => {
    const {bucket} = await seed({objects: false, kms: false})
    await apply(`s3://${bucket}/dicom`)
    const r = await check(`s3://${bucket}/dicom`, '--json')
    expect(r.code, r.stdout).toBe(0)
    for (const op of ['get', 'get-attributes']) {
      expect(rowsOf(r, op)).toEqual([expect.objectContaining({resource: `s3://${bucket}/dicom`, outcome: 'skip', code: 'empty-source', cause: expect.stringMatching(/no objects/)})])
    }
    expect(codesOf(r)).toContain('empty-source')
  })

  it('data under the AWS-managed aws/s3 key fails decrypt with the re-encryption remedy', async () => {
    const {bucket} = await seed({kms: false})
    await c.s3.send(new PutBucketEncryptionCommand({Bucket: bucket, ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms'}}]}}))
    await c.s3.send(new PutObjectCommand({Bucket: bucket, Key: 'dicom/managed.dcm', Body: 'x'}))
    await apply(`s3://${bucket}/dicom`).catch(() => undefined)
    const r = await check(`s3://${bucket}/dicom`, '--json')
    expect(r.code).toBe(5)
    const decrypt = rowsOf(r, 'decrypt')
    expect(decrypt).toEqual([expect.objectContaining({outcome: 'fail', code: 'aws-managed-key', remedy: expect.stringMatching(/^Re-encrypt/)})])
    expect(codesOf(r)).toEqual(expect.arrayContaining(['aws-managed-key', 'sse-kms-without-key-id']))
  })

  it('RestrictPublicBuckets with a public statement fails every cross-account operation, naming the setting', async () => {
    const {bucket} = await seed({kms: false})
    await apply(`s3://${bucket}/dicom`)
    // Replace the policy: the grant plus a public statement, then turn RestrictPublicBuckets on.
    const granted = await runCli(['grant', 'render', `s3://${bucket}/dicom`, '--principal', VENDOR_ROLE, '--json'], {env: env()})
    const statements = [...granted.json!.result.documents.bucketPolicyStatements, {Sid: 'PublicReports', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/reports/*`}]
    await c.s3.send(new PutBucketPolicyCommand({Bucket: bucket, Policy: JSON.stringify({Version: '2012-10-17', Statement: statements})}))
    await c.s3.send(new PutPublicAccessBlockCommand({Bucket: bucket, PublicAccessBlockConfiguration: {RestrictPublicBuckets: true}}))
    const r = await check(`s3://${bucket}/dicom`, '--json')
    expect(r.code).toBe(5)
    expect(rowsOf(r, 'list')[0]).toMatchObject({outcome: 'fail', code: 'restrict-public-buckets', decidedBy: ['setting PublicAccessBlock.RestrictPublicBuckets', 'bucket policy "PublicReports" (#3)']})
    expect(codesOf(r)).toContain('restrict-public-buckets')
  })

  it('warns about Object Ownership other than BucketOwnerEnforced, and not when enforced', async () => {
    const {bucket} = await seed({kms: false})
    await apply(`s3://${bucket}/dicom`)
    await c.s3.send(new PutBucketOwnershipControlsCommand({Bucket: bucket, OwnershipControls: {Rules: [{ObjectOwnership: 'ObjectWriter'}]}}))
    const writer = await check(`s3://${bucket}/dicom`, '--json')
    expect(writer.code).toBe(0)
    expect((writer.json!.result.findings as Array<{code: string; message: string}>).find((f) => f.code === 'object-ownership')!.message).toMatch(/ObjectWriter/)
    await c.s3.send(new PutBucketOwnershipControlsCommand({Bucket: bucket, OwnershipControls: {Rules: [{ObjectOwnership: 'BucketOwnerEnforced'}]}}))
    expect(codesOf(await check(`s3://${bucket}/dicom`, '--json'))).not.toContain('object-ownership')
  })

  it('samples --sample objects spread across the listing', async () => {
    const {bucket} = await seed({kms: false})
    await apply(`s3://${bucket}/dicom`)
    const r = await check(`s3://${bucket}/dicom`, '--json', '--sample', '3')
    expect(rowsOf(r, 'get').map((x) => x.resource)).toEqual([`s3://${bucket}/dicom/s0/img.dcm`, `s3://${bucket}/dicom/s3/img.dcm`, `s3://${bucket}/dicom/s5/img.dcm`])
  })

  it('prints a plain table on stdout and progress on stderr without a terminal', async () => {
    const {bucket} = await seed()
    const r = await check(`s3://${bucket}/dicom`)
    expect(r.code).toBe(5)
    expect(r.stdout).not.toMatch(ANSI)
    expect(r.stdout).toMatch(/^OPERATION\s+RESOURCE\s+LAYER\s+OUTCOME\s+DECIDED BY$/m)
    expect(r.stdout).toMatch(new RegExp(`^list\\s+s3://${bucket}/dicom\\s+static\\s+FAIL`, 'm'))
    expect(r.stdout).toMatch(/^\s+remedy: ingestgate grant apply /m)
    expect(r.stdout).toMatch(/NOT OK: \d+ of \d+ checks fail \(\d+ checks in \d+ rows/)
    expect(r.stderr).toMatch(/Static layer: reading/)
    expect(r.stderr).not.toMatch(/Warning: .*Node/) // no SDK noise
  })

  it.each([
    [['check', 's3://no-such-bucket-anywhere/x', '--principal', VENDOR_ROLE], 4, 'NO_SUCH_BUCKET'],
    [['check', 's3://whatever-bucket/x'], 3, 'MISSING_PRINCIPAL'],
    [['check', 's3://whatever-bucket/x', '--principal', '*'], 3, 'BAD_PRINCIPAL'],
    [['check', 's3://whatever-bucket/x', '--principal', VENDOR_ROLE, '--live', '--wait', 'soon'], 2, 'BAD_DURATION'],
    [['check', 's3://whatever-bucket/x', '--principal', VENDOR_ROLE, '--wait', '5m'], 2, 'USAGE'],
    [['check', 's3://whatever-bucket/x', '--principal', VENDOR_ROLE, '--no-static'], 2, 'NOTHING_TO_CHECK'],
  ])('%j cannot run: exit %i (%s), with a remedy', async (args, exit, code) => {
    const r = await cli([...(args as string[]), '--json'])
    expect(r.code).toBe(exit)
    expect(r.json).toMatchObject({status: exit, error: {code}})
    expect(r.json!.error!.suggestions.length).toBeGreaterThan(0)
  })

  it('the same-account admin sees a role of its own account through its identity policies', async () => {
    const {bucket} = await seed({kms: false})
    const role = await moto.createRoleWithPolicy(`reader-${n}`, {Version: '2012-10-17', Statement: [{Sid: 'ReadAll', Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketLocation', 's3:GetObject', 's3:GetObjectAttributes'], Resource: '*'}]})
    const r = await cli(['check', `s3://${bucket}/dicom`, '--principal', role.roleArn, '--json'])
    expect(r.code, r.stdout).toBe(0)
    expect(role.roleArn).toContain(MOTO_ACCOUNT_ID)
    expect(rowsOf(r, 'list')[0]).toMatchObject({outcome: 'pass', code: 'allowed', decidedBy: [`role inline policy reader-${n}-policy "ReadAll" (#0)`]})
    expect(codesOf(r)).not.toContain('cross-account-identity-not-visible')
    // The session form (what the cluster's get-caller-identity prints) is the same principal.
    const asSession = await cli(['check', `s3://${bucket}/dicom`, '--principal', role.assumedRoleArn, '--json'])
    expect(asSession.code, asSession.stdout).toBe(0)
    expect(asSession.json!.result.principal).toBe(role.assumedRoleArn)
    expect(rowsOf(asSession, 'list')[0].decidedBy).toEqual(rowsOf(r, 'list')[0].decidedBy)
  })
})
