/**
 * The demo: the whole flow on local emulators, with the real commands a customer admin, a support
 * engineer and a researcher run, each as its own `ingestgate` process, so what is shown is exactly
 * what they would see. moto runs with IAM authorisation on, so the ingest role really can only do
 * what its policies allow.
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import type {AppContext} from '../context.js'
import {startMotoServer, type MotoServer} from './moto.js'
import {registerSecret} from '../output/redact.js'
import {makeDicomSet} from './dicom.js'
import {demoChildEnv, filesUnder, stepRunner, type DemoStep, type StepOptions} from './steps.js'

const ACCOUNT = '123456789012'
export const DEMO_BUCKET = 'ingestgate-demo'
export const DEMO_ROLE = `arn:aws:iam::${ACCOUNT}:role/vendor-ingest`
const SOURCE = `s3://${DEMO_BUCKET}/dicom/`
const ADMIN = {accessKeyId: 'testing', secretAccessKey: 'testing'}

export interface DemoResult {
  source: string
  principal: string
  kmsKey: string
  objects: number
  steps: DemoStep[]
  uploadedFiles: string[]
}

/** The vendor's side of cross-account access: the ingest role's own identity policy. */
function vendorPolicy(): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketLocation'], Resource: `arn:aws:s3:::${DEMO_BUCKET}`},
      {Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectAttributes'], Resource: `arn:aws:s3:::${DEMO_BUCKET}/*`},
      {Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*'},
    ],
  })
}

/** A bucket of sample DICOM (one series SSE-KMS), an unrelated policy statement, the ingest role. */
async function seed(endpoint: string): Promise<{kmsKey: string; objects: number}> {
  const [s3sdk, kmssdk, iamsdk] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/client-kms'), import('@aws-sdk/client-iam')])
  const cfg = {endpoint, region: 'us-east-1', credentials: ADMIN}
  const s3 = new s3sdk.S3Client({...cfg, forcePathStyle: true})
  const kms = new kmssdk.KMSClient(cfg)
  const iam = new iamsdk.IAMClient(cfg)
  const trust = JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${ACCOUNT}:root`}, Action: 'sts:AssumeRole'}]})
  await iam.send(new iamsdk.CreateRoleCommand({RoleName: 'vendor-ingest', AssumeRolePolicyDocument: trust}))
  await iam.send(new iamsdk.PutRolePolicyCommand({RoleName: 'vendor-ingest', PolicyName: 'vendor-side-read', PolicyDocument: vendorPolicy()}))
  const kmsKey = (await kms.send(new kmssdk.CreateKeyCommand({Description: 'ingestgate demo data key'}))).KeyMetadata!.Arn!
  await s3.send(new s3sdk.CreateBucketCommand({Bucket: DEMO_BUCKET}))
  const files = makeDicomSet({patients: 2, studiesPerPatient: 1, seriesPerStudy: 2, instancesPerSeries: 3})
  for (const f of files) {
    // The second patient's data is encrypted with the customer-managed key.
    const sse = f.patientId === 'P002' ? {ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: kmsKey} : {}
    await s3.send(new s3sdk.PutObjectCommand({Bucket: DEMO_BUCKET, Key: `dicom/${f.key}`, Body: f.body, ...sse}))
  }
  // Real exports contain empty marker files: the cluster reports them as a warning (SC03), which
  // still counts as a successful ingest.
  await s3.send(new s3sdk.PutObjectCommand({Bucket: DEMO_BUCKET, Key: 'dicom/sub-1/EMPTY.dcm', Body: Buffer.alloc(0)}))
  const existing = {
    Version: '2012-10-17',
    Statement: [
      {Sid: 'AnalyticsReadReports', Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${ACCOUNT}:role/analytics`}, Action: 's3:GetObject', Resource: `arn:aws:s3:::${DEMO_BUCKET}/reports/*`},
    ],
  }
  await iam.send(new iamsdk.CreateRoleCommand({RoleName: 'analytics', AssumeRolePolicyDocument: trust}))
  await s3.send(new s3sdk.PutBucketPolicyCommand({Bucket: DEMO_BUCKET, Policy: JSON.stringify(existing)}))
  return {kmsKey, objects: files.length + 1}
}

/** Run the demo against fresh emulators; everything it started is stopped whatever happens. */
export async function runDemo(ctx: AppContext, opts: {json: boolean}): Promise<DemoResult> {
  const {ui} = ctx
  const scratch = mkdtempSync(join(tmpdir(), 'ingestgate-demo-'))
  const apiKey = `127.0.0.1:${randomBytes(12).toString('hex')}`
  registerSecret(apiKey)
  const steps: DemoStep[] = []
  let moto: MotoServer | undefined
  let cluster: {url: string; dataDir: string; stop(): Promise<void>} | undefined

  // Every child sees only the emulator: the admin's keys for it, no profile, no instance metadata.
  const childEnv = (endpoint: string) =>
    demoChildEnv(ctx, scratch, apiKey, {
      AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: endpoint,
    })
  const step = stepRunner(ctx, opts, steps)
  const run = (title: string, args: string[], endpoint: string, how?: StepOptions) => step(title, args, childEnv(endpoint), how)

  try {
    ui.info(ui.color.bold('Starting a local AWS emulator (moto, with IAM authorisation on)'))
    moto = await startMotoServer({auth: true, env: ctx.env})
    const {endpoint} = moto
    ui.info(`moto is listening on ${endpoint}`)
    const {kmsKey, objects} = await seed(endpoint)
    ui.info(`Seeded ${SOURCE}: ${objects} objects (one patient SSE-KMS with ${kmsKey}, one empty file),`)
    ui.info(`an unrelated existing bucket-policy statement, and the vendor's ingest role ${DEMO_ROLE}.`)

    const who = ['--principal', DEMO_ROLE]
    await run('Cloud admin: what would be granted (no credentials, no network)', ['grant', 'render', SOURCE, ...who, '--format', 'cli'], endpoint, {head: 12, saveAs: 'aws-grant.sh'})
    await run('Cloud admin: grant the ingest role read access (merge, back up, verify)', ['grant', 'apply', SOURCE, ...who, '--yes'], endpoint)
    await run('Cloud admin: apply again changes nothing', ['grant', 'apply', SOURCE, ...who, '--yes'], endpoint)
    await run('Cloud admin: what ingestgate granted here, and whether it is still what apply writes', ['grant', 'status', SOURCE], endpoint)
    await run('Support: prove every call the cluster makes, statically and live as the role', ['check', SOURCE, ...who, '--live', '--assume-role', DEMO_ROLE, '--sample', '5'], endpoint)

    const {startCluster} = await import('../cluster/server.js')
    cluster = await startCluster({
      port: 0,
      dataDir: join(scratch, 'cluster'),
      apiKey,
      cloudFlags: {'endpoint-url': endpoint, region: 'us-east-1', 'assume-role': DEMO_ROLE},
      env: childEnv(endpoint),
    })
    ui.info('\n' + ui.color.bold(`Started the reference cluster at ${cluster.url}, acting as ${DEMO_ROLE}`))

    await run('Researcher: launch the ingest and follow it to the report', ['ingest', 'dicom', SOURCE, 'demo-lab', 'brain-mri', '--cluster', cluster.url, '--principal', DEMO_ROLE, '--follow', '-y'], endpoint)
    const dest = join(cluster.dataDir, 'dest')
    const uploadedFiles = filesUnder(dest).map((p) => relative(dest, p)).sort()
    ui.info('\n' + ui.color.bold(`The cluster wrote ${uploadedFiles.length} files into its destination tree (group/project/subject/session/acquisition):`))
    for (const f of uploadedFiles.slice(0, 6)) ui.info(`  ${f}`)
    if (uploadedFiles.length > 6) ui.info(`  ... and ${uploadedFiles.length - 6} more`)

    await run('Cloud admin: take the access back, exactly', ['grant', 'revoke', SOURCE, ...who, '--yes'], endpoint)
    ui.info('\n' + ui.color.green.bold('Demo complete: grant, check, ingest and revoke all succeeded.'))
    return {source: SOURCE, principal: DEMO_ROLE, kmsKey, objects, steps, uploadedFiles}
  } finally {
    await cluster?.stop()
    await moto?.stop()
    rmSync(scratch, {recursive: true, force: true})
    ui.info('Stopped the reference cluster and the emulator, and removed the scratch files.')
  }
}
