/**
 * The demo: the whole AWS grant flow on a local moto server, with the same provider code a customer
 * runs: seed a bucket (objects, one SSE-KMS, an unrelated existing policy statement), render, apply,
 * re-apply (no changes), show the policy, revoke (back to the original), stop the emulator.
 */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {AppContext} from '../context.js'
import {parsePolicyDocument, semanticallyEqual} from '../core/iam/policy.js'
import {startMotoServer} from '../emulators/moto.js'
import {AppError} from '../errors.js'
import {runGrantPlan, type GrantOutcome} from '../providers/grant-flow.js'
import {awsProvider} from '../providers/aws/index.js'
import type {GrantRequest} from '../providers/types.js'
import {parseSource} from '../source.js'

const ACCOUNT = '123456789012'
export const DEMO_BUCKET = 'ingestgate-demo'
export const DEMO_ROLE = `arn:aws:iam::${ACCOUNT}:role/vendor-ingest`
const CREDENTIALS = {accessKeyId: 'testing', secretAccessKey: 'testing'}

// An unrelated statement the customer already has; it must survive apply and revoke untouched.
// (A Deny such as "DenyInsecureTransport" would be more typical, but moto applies bucket-policy Deny
// statements without their conditions and would then refuse every read of the demo.)
const EXISTING_POLICY = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'AnalyticsReadReports',
      Effect: 'Allow',
      Principal: {AWS: `arn:aws:iam::${ACCOUNT}:role/analytics`},
      Action: 's3:GetObject',
      Resource: `arn:aws:s3:::${DEMO_BUCKET}/reports/*`,
    },
  ],
}

export interface DemoResult {
  endpoint: string
  source: string
  principal: string
  kmsKey: string
  apply: GrantOutcome
  reapply: GrantOutcome
  revoke: GrantOutcome
  policyAfterApply: unknown
  restoredToOriginal: boolean
}

async function seed(endpoint: string): Promise<string> {
  const [s3sdk, kmssdk, iamsdk] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/client-kms'), import('@aws-sdk/client-iam')])
  const cfg = {endpoint, region: 'us-east-1', credentials: CREDENTIALS}
  const s3 = new s3sdk.S3Client({...cfg, forcePathStyle: true})
  const kms = new kmssdk.KMSClient(cfg)
  const iam = new iamsdk.IAMClient(cfg)
  const trust = JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${ACCOUNT}:root`}, Action: 'sts:AssumeRole'}]})
  for (const RoleName of ['vendor-ingest', 'analytics']) await iam.send(new iamsdk.CreateRoleCommand({RoleName, AssumeRolePolicyDocument: trust}))
  const key = await kms.send(new kmssdk.CreateKeyCommand({Description: 'ingestgate demo data key'}))
  const keyArn = key.KeyMetadata!.Arn!
  await s3.send(new s3sdk.CreateBucketCommand({Bucket: DEMO_BUCKET}))
  for (const name of ['study1/series1/img0001.dcm', 'study1/series1/img0002.dcm', 'study2/series1/img0001.dcm']) {
    await s3.send(new s3sdk.PutObjectCommand({Bucket: DEMO_BUCKET, Key: `dicom/${name}`, Body: `demo object ${name}`}))
  }
  await s3.send(
    new s3sdk.PutObjectCommand({Bucket: DEMO_BUCKET, Key: 'dicom/study3/series1/img0001.dcm', Body: 'encrypted demo object', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn}),
  )
  await s3.send(new s3sdk.PutBucketPolicyCommand({Bucket: DEMO_BUCKET, Policy: JSON.stringify(EXISTING_POLICY)}))
  return keyArn
}

async function currentPolicy(endpoint: string): Promise<string | null> {
  const {createAwsClients} = await import('../clients/aws.js')
  const aws = await createAwsClients({endpointUrl: endpoint, credentials: CREDENTIALS})
  return aws.s3.getBucketPolicy(DEMO_BUCKET)
}

/** Run the demo against a fresh emulator; the emulator is stopped whatever happens. */
export async function runAwsGrantDemo(ctx: AppContext): Promise<DemoResult> {
  const {ui} = ctx
  const step = (n: number, text: string) => ui.info('\n' + ui.color.bold.cyan(`[${n}/7] ${text}`))
  // Backups of the demo go to a scratch directory, not the user's state.
  const demoCtx: AppContext = {...ctx, stateDir: mkdtempSync(join(tmpdir(), 'ingestgate-demo-'))}

  step(1, 'Starting a local AWS emulator (moto)')
  const moto = await startMotoServer({env: ctx.env})
  try {
    ui.info(`moto is listening on ${moto.endpoint}`)
    step(2, `Seeding s3://${DEMO_BUCKET}: 4 objects (one SSE-KMS), a KMS key, an ingest role and an existing policy statement`)
    const kmsKey = await seed(moto.endpoint)
    ui.info(`KMS key ${kmsKey}\nexisting policy: ${JSON.stringify(EXISTING_POLICY)}`)

    const req: GrantRequest = {
      source: parseSource(`s3://${DEMO_BUCKET}/dicom/`),
      principal: DEMO_ROLE,
      kmsKeys: [],
      cloud: {endpointUrl: moto.endpoint, region: 'us-east-1', credentials: CREDENTIALS},
    }
    const flow = {source: req.source.url, principal: req.principal, dryRun: false, yes: true}

    step(3, `grant render ${req.source.url} --principal ${DEMO_ROLE}`)
    ui.out((await awsProvider.render(req, 'json')).text)

    step(4, 'grant apply (merges into the existing policy, creates the KMS grant)')
    const apply = await runGrantPlan(demoCtx, await awsProvider.planApply(demoCtx, req), {...flow, verb: 'apply'})

    step(5, 'grant apply again (idempotent: no write calls)')
    const reapply = await runGrantPlan(demoCtx, await awsProvider.planApply(demoCtx, req), {...flow, verb: 'apply'})

    step(6, 'The bucket policy now')
    const after = await currentPolicy(moto.endpoint)
    const policyAfterApply = after === null ? null : JSON.parse(after)
    ui.out(JSON.stringify(policyAfterApply, null, 2))

    step(7, 'grant revoke (removes exactly what apply added)')
    const revoke = await runGrantPlan(demoCtx, await awsProvider.planRevoke(demoCtx, req), {...flow, verb: 'revoke'})
    const restored = await currentPolicy(moto.endpoint)
    const restoredToOriginal = semanticallyEqual(restored === null ? null : parsePolicyDocument(restored, 'the restored policy'), EXISTING_POLICY as never)
    ui.info(restoredToOriginal ? ui.color.green('The policy is back to the original.') : ui.color.red('The policy differs from the original!'))
    if (!restoredToOriginal) throw new AppError('DEMO_FAILED', 'The demo revoke did not restore the original policy.', 1)
    return {endpoint: moto.endpoint, source: req.source.url, principal: DEMO_ROLE, kmsKey, apply, reapply, revoke, policyAfterApply, restoredToOriginal}
  } finally {
    await moto.stop()
    ui.info('\nStopped the emulator.')
  }
}
