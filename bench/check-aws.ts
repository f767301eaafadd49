/**
 * The cost of `check --live` for AWS (run on demand: npx tsx bench/check-aws.ts [runs]; needs
 * `npm run build` and python3 with moto). Against one local moto server with IAM auth on, measured
 * in the same run:
 *  - ingestgate: the built CLI, `check SOURCE --live --no-static` as the ingest role (a whole
 *    process, as a person runs it), median of N runs; and the same live layer in-process (no Node
 *    start-up), median of N;
 *  - the same probes as one `aws` CLI call each, one after the other, as a support engineer
 *    scripting them would: get-caller-identity, list-objects-v2 with the prefix, head-bucket, and per
 *    sampled key get-object (first byte) and get-object-attributes (the decrypt test is the
 *    get-object of the SSE-KMS object, as in ingestgate).
 * The ratio ingestgate/aws (goal < 0.2) and the evaluator's throughput over the JSON case files
 * (goal > 50,000 decisions/s) are printed at the end.
 */
import {spawnSync} from 'node:child_process'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {CreateKeyCommand} from '@aws-sdk/client-kms'
import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'

import {createContext} from '../src/context.js'
import {evaluate, type EvalRequest, type PolicySet} from '../src/providers/aws/policy/evaluate.js'
import {spreadSample} from '../src/core/sample.js'
import {awsProvider} from '../src/providers/aws/index.js'
import {parseSource} from '../src/source.js'
import {startMoto} from '../test/helpers/moto.js'

// The SDK's Node-20 notice is noise here, as in bin/run.js.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const root = join(fileURLToPath(import.meta.url), '..', '..')
const runs = Number(process.argv[2] ?? 5)
const BUCKET = 'bench-check'
const PREFIX = 'dicom/'
const OBJECTS = 200
const SAMPLE = 20

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function timed(fn: () => void): number {
  const t0 = performance.now()
  fn()
  return performance.now() - t0
}

async function timedAsync(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

/** Decisions per second of the evaluator over every JSON case (one warm-up pass first). */
function evaluatorThroughput(): {cases: number; decisions: number; perSecond: number} {
  const caseDir = join(root, 'test', 'core', 'iam', 'evaluate-cases')
  const work: Array<{req: EvalRequest; set: PolicySet}> = []
  for (const file of readdirSync(caseDir).filter((f) => f.endsWith('.json'))) {
    const data = JSON.parse(readFileSync(join(caseDir, file), 'utf8')) as {
      defaults?: {request?: Record<string, unknown>; policies?: Partial<PolicySet>}
      cases: Array<{request?: Record<string, unknown>; policies?: Partial<PolicySet>}>
    }
    for (const cs of data.cases) {
      const merged: Record<string, unknown> = {...data.defaults?.request, ...cs.request}
      merged.context = {...(data.defaults?.request?.context as object), ...(cs.request?.context as object)}
      for (const [k, v] of Object.entries(merged)) if (v === null) delete merged[k]
      work.push({req: merged as unknown as EvalRequest, set: {identityVisible: true, ...data.defaults?.policies, ...cs.policies}})
    }
  }
  for (const w of work) evaluate(w.req, w.set)
  let decisions = 0
  const t0 = performance.now()
  while (performance.now() - t0 < 2000) {
    for (const w of work) evaluate(w.req, w.set)
    decisions += work.length
  }
  const perSecond = Math.round(decisions / ((performance.now() - t0) / 1000))

  return {cases: work.length, decisions, perSecond}
}

// Measured first, on a quiet process (before the emulator and the SDK load).
const throughput = evaluatorThroughput()
const moto = await startMoto({auth: true})
try {
  // Seed: 200 objects under the prefix, every tenth SSE-KMS under one key.
  const c = moto.clients()
  await c.s3.send(new CreateBucketCommand({Bucket: BUCKET}))
  const keyArn = (await c.kms.send(new CreateKeyCommand({Description: 'bench'}))).KeyMetadata!.Arn!
  const keys: string[] = []
  for (let i = 0; i < OBJECTS; i++) {
    const Key = `${PREFIX}study${String(i).padStart(4, '0')}/img.dcm`
    keys.push(Key)
    await c.s3.send(new PutObjectCommand({Bucket: BUCKET, Key, Body: `object ${i}`, ...(i % 10 === 0 ? {ServerSideEncryption: 'aws:kms', SSEKMSKeyId: keyArn} : {})}))
  }
  // moto authorises HeadBucket as "s3:HeadBucket" (AWS: s3:ListBucket); see the live tests.
  const role = await moto.createRoleWithPolicy('bench-ingest', {
    Version: '2012-10-17',
    Statement: [{Effect: 'Allow', Action: ['s3:ListBucket', 's3:HeadBucket', 's3:GetObject', 's3:GetObjectAttributes', 'kms:Decrypt'], Resource: '*'}],
  })
  const roleEnv = {...process.env, ...moto.credentialsEnv(role.credentials), AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', NO_COLOR: '1', NODE_ENV: 'production'}
  const source = `s3://${BUCKET}/${PREFIX}`

  // 1. ingestgate, as a process.
  const cliArgs = ['bin/run.js', 'check', source, '--principal', role.roleArn, '--live', '--no-static', '--sample', String(SAMPLE), '--endpoint-url', moto.endpoint, '--json']
  const cliTimes: number[] = []
  let last: ReturnType<typeof spawnSync> | undefined
  for (let i = 0; i < runs; i++) {
    cliTimes.push(timed(() => (last = spawnSync(process.execPath, cliArgs, {cwd: root, env: roleEnv, encoding: 'utf8'}))))
  }
  const envelope = JSON.parse(String(last!.stdout))
  if (last!.status !== 0 || !envelope.result?.ok) throw new Error(`the live check did not pass: ${String(last!.stdout).slice(0, 2000)}${String(last!.stderr)}`)
  const rowCount = envelope.result.operations.length

  // 2. ingestgate, in-process (the probes alone, SDK already loaded after the first run).
  const ui = {out: () => {}, info: () => {}, warn: () => {}, color: createContext().ui.color}
  const ctx = createContext({ui, env: roleEnv})
  const req = {source: parseSource(source), principal: role.roleArn, options: {cloud: {endpointUrl: moto.endpoint, region: moto.region, credentials: role.credentials}, kmsKeys: [], live: {}}}
  const opts = {static: false, live: true, sample: SAMPLE, waitMs: 0}
  const inProcess: number[] = []
  await awsProvider.check(ctx, req, opts) // warm-up: SDK imports
  for (let i = 0; i < runs; i++) inProcess.push(await timedAsync(() => awsProvider.check(ctx, req, opts)))

  // 3. The same probes as one aws CLI call each.
  const sample = spreadSample(keys, SAMPLE)
  // The aws CLI v1 refuses an empty AWS_PROFILE (the SDK needs it empty to use the env keys).
  const awsEnv: NodeJS.ProcessEnv = {...roleEnv}
  delete awsEnv.AWS_PROFILE
  const aws = (args: string[]) => {
    const r = spawnSync('aws', [...args, '--endpoint-url', moto.endpoint, '--region', moto.region, '--output', 'json'], {env: awsEnv, encoding: 'utf8'})
    if (r.status !== 0) throw new Error(`aws ${args.join(' ')} failed: ${r.stderr}`)
  }
  const calls: string[][] = [
    ['sts', 'get-caller-identity'],
    ['s3api', 'list-objects-v2', '--bucket', BUCKET, '--prefix', PREFIX, '--max-keys', '1000'],
    ['s3api', 'head-bucket', '--bucket', BUCKET],
    ...sample.flatMap((key) => [
      ['s3api', 'get-object', '--bucket', BUCKET, '--key', key, '--range', 'bytes=0-0', '/dev/null'],
      ['s3api', 'get-object-attributes', '--bucket', BUCKET, '--key', key, '--object-attributes', 'ETag', 'ObjectSize'],
    ]),
  ]
  const awsTime = timed(() => {
    for (const call of calls) aws(call)
  })

  const cli = median(cliTimes)
  const inproc = median(inProcess)
  console.log(`moto ${moto.endpoint} (IAM auth on), ${OBJECTS} objects under ${source}, sample ${SAMPLE}, ${rowCount} live rows, ${runs} runs`)
  console.log(`${'ingestgate check --live (whole CLI process), median'.padEnd(60)} ${cli.toFixed(0).padStart(7)} ms`)
  console.log(`${'ingestgate live layer in-process (probes only), median'.padEnd(60)} ${inproc.toFixed(0).padStart(7)} ms`)
  console.log(`${`aws CLI, the same ${calls.length} probes one call each`.padEnd(60)} ${awsTime.toFixed(0).padStart(7)} ms  (${(awsTime / calls.length).toFixed(0)} ms per call)`)
  console.log(`${'ratio ingestgate CLI / aws CLI (goal < 0.2)'.padEnd(60)} ${(cli / awsTime).toFixed(3).padStart(7)}`)
  console.log(`${'ratio ingestgate in-process / aws CLI'.padEnd(60)} ${(inproc / awsTime).toFixed(3).padStart(7)}`)
  console.log(`${`evaluator: ${throughput.cases} cases, ${throughput.decisions} decisions in 2 s`.padEnd(60)} ${throughput.perSecond.toLocaleString('en-US').padStart(7)} decisions/s (goal > 50,000)`)
} finally {
  await moto.stop()
}
