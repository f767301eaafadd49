/**
 * The demo's Google Cloud Storage story, the same as the AWS one (render, apply twice, check static
 * and live, an ingest on the reference cluster, revoke) on the GCS JSON-API double, each step its
 * own `ingestgate` process. The double enforces the bucket IAM policy per caller, so the reference
 * cluster (run as the ingest service account's own credentials) can only read what the grant allows.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import type {AppContext} from '../context.js'
import {AppError, ExitCode} from '../errors.js'
import {registerSecret} from '../output/redact.js'
import {makeDicomSet} from './dicom.js'
import {BIN, demoChildEnv, filesUnder, stepRunner, type DemoStep, type StepOptions} from './steps.js'

export const GCP_DEMO_BUCKET = 'ingestgate-demo-scans'
export const GCP_DEMO_MEMBER = 'serviceAccount:vendor-ingest@vendor-project.iam.gserviceaccount.com'
const SOURCE = `gs://${GCP_DEMO_BUCKET}/dicom/`
const DOUBLE = new URL('../../emulators/gcs-double.mjs', import.meta.url).href

export interface GcpDemoResult {
  source: string
  principal: string
  objects: number
  steps: DemoStep[]
  uploadedFiles: string[]
}

interface Double {
  url: string
  addToken(token: string, member: string): void
  addServiceAccount(email: string, creators: string[]): void
  createBucket(name: string, settings?: object): unknown
  putObject(bucket: string, name: string, data: Uint8Array | string): void
  setPolicy(bucket: string, bindings: unknown[], version?: number): void
  getPolicy(bucket: string): {bindings: unknown[]}
  stop(): Promise<void>
}

/** Run the GCS demo on a fresh double; everything it started is stopped whatever happens. */
export async function runGcpDemo(ctx: AppContext, opts: {json: boolean}): Promise<GcpDemoResult> {
  const {ui} = ctx
  const scratch = mkdtempSync(join(tmpdir(), 'ingestgate-gcp-demo-'))
  const apiKey = `127.0.0.1:${randomBytes(12).toString('hex')}`
  const adminToken = `ya29.demo-admin-${randomBytes(8).toString('hex')}`
  const ingestToken = `ya29.demo-ingest-${randomBytes(8).toString('hex')}`
  for (const s of [apiKey, adminToken, ingestToken]) registerSecret(s)
  const admin = 'user:admin@customer.example'
  const email = GCP_DEMO_MEMBER.slice('serviceAccount:'.length)
  const steps: DemoStep[] = []
  let double: Double | undefined
  let cluster: ChildProcess | undefined

  // Every child sees only the double, with the token of the identity it acts as.
  const childEnv = (token: string) =>
    demoChildEnv(ctx, scratch, apiKey, {
      GOOGLE_OAUTH_ACCESS_TOKEN: token,
      CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS: `${double!.url}/`,
      CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM: `${double!.url}/`,
      INGESTGATE_GCP_TOKENINFO_URL: `${double!.url}/tokeninfo`,
    })
  const step = stepRunner(ctx, opts, steps)
  const run = (title: string, args: string[], token = adminToken, how?: StepOptions) => step(title, args, childEnv(token), how)

  /** `cluster serve` as its own process, with the ingest service account's own credentials. */
  const startClusterProcess = (endpoint: string) =>
    new Promise<string>((resolve, reject) => {
      const args = ['cluster', 'serve', '--port', '0', '--data-dir', join(scratch, 'cluster'), '--endpoint-url', endpoint]
      ui.info('\n' + ui.color.bold.cyan('== Vendor: the reference cluster, running as the ingest service account') + '\n' + ui.color.bold(`$ ingestgate ${args.join(' ')}`))
      cluster = spawn(process.execPath, [BIN, ...args], {env: childEnv(ingestToken), stdio: ['ignore', 'ignore', 'pipe']})
      let seen = ''
      const timer = setTimeout(() => reject(new AppError('DEMO_STEP_FAILED', 'The reference cluster did not start within 20 s.', ExitCode.INTERNAL, {suggestions: ['Re-run the demo.']})), 20_000)
      cluster.stderr!.on('data', (d) => {
        seen += String(d)
        const m = /listening on (http:\/\/\S+)/.exec(seen)
        if (m) {
          clearTimeout(timer)
          resolve(m[1])
        }
      })
      cluster.on('exit', (code) => {
        clearTimeout(timer)
        reject(new AppError('DEMO_STEP_FAILED', `The reference cluster exited with ${code}: ${seen.slice(-500)}`, ExitCode.INTERNAL, {suggestions: ['Re-run the demo.']}))
      })
    })

  try {
    ui.info(ui.color.bold('Starting the local Cloud Storage JSON-API double (bucket IAM enforced per caller)'))
    const {startGcsDouble} = (await import(DOUBLE)) as {startGcsDouble(o: object): Promise<Double>}
    double = await startGcsDouble({tokens: {[adminToken]: admin, [ingestToken]: GCP_DEMO_MEMBER}, projects: {'customer-project': {owner: [admin]}}})
    // The admin may impersonate the ingest service account, standing in for the vendor's support engineer.
    double.addServiceAccount(email, [admin])
    double.createBucket(GCP_DEMO_BUCKET, {project: 'customer-project'})
    const files = makeDicomSet({patients: 2, studiesPerPatient: 1, seriesPerStudy: 2, instancesPerSeries: 3})
    for (const f of files) double.putObject(GCP_DEMO_BUCKET, `dicom/${f.key}`, f.body)
    double.putObject(GCP_DEMO_BUCKET, 'dicom-phi/IDENTIFIED.csv', 'patient,name\nP001,Jane Doe\n')
    double.setPolicy(GCP_DEMO_BUCKET, [...double.getPolicy(GCP_DEMO_BUCKET).bindings, {role: 'roles/storage.objectViewer', members: ['group:analytics@customer.example']}], 1)
    const endpoint = double.url
    ui.info(`The double listens on ${endpoint}. Seeded ${SOURCE}: ${files.length} DICOM objects, plus dicom-phi/ (must stay unreadable),`)
    ui.info(`an unrelated existing binding, and the vendor's ingest service account ${GCP_DEMO_MEMBER}.`)

    const who = ['--principal', GCP_DEMO_MEMBER]
    const at = ['--endpoint-url', endpoint]
    await run('Cloud admin: what would be granted (no credentials, no network)', ['grant', 'render', SOURCE, ...who, '--format', 'terraform'], adminToken, {head: 16, saveAs: 'gcp-grant.tf'})
    await run('Cloud admin: grant the ingest service account read access (merge, back up, write with the etag)', ['grant', 'apply', SOURCE, ...who, ...at, '--yes'])
    await run('Cloud admin: apply again changes nothing (no setIamPolicy call)', ['grant', 'apply', SOURCE, ...who, ...at, '--yes'])
    await run('Cloud admin: what ingestgate granted here, and whether it is still what apply writes', ['grant', 'status', SOURCE, ...at])
    await run('Support: prove every call the cluster makes, statically and live as the service account', ['check', SOURCE, ...who, ...at, '--live', '--impersonate-principal', '--sample', '5'])

    const clusterUrl = await startClusterProcess(endpoint)
    ui.info(ui.color.bold(`The reference cluster listens on ${clusterUrl}, reading as ${email}`))
    await run('Researcher: launch the ingest and follow it to the report', ['ingest', 'dicom', SOURCE, 'demo-lab', 'brain-mri', '--cluster', clusterUrl, ...who, ...at, '--follow', '-y'])
    const dest = join(scratch, 'cluster', 'dest')
    const uploadedFiles = filesUnder(dest).map((p) => relative(dest, p)).sort()
    ui.info('\n' + ui.color.bold(`The cluster wrote ${uploadedFiles.length} files into its destination tree:`))
    for (const f of uploadedFiles.slice(0, 4)) ui.info(`  ${f}`)
    if (uploadedFiles.length > 4) ui.info(`  ... and ${uploadedFiles.length - 4} more`)

    await run('Cloud admin: take the access back, exactly', ['grant', 'revoke', SOURCE, ...who, ...at, '--yes'])
    ui.info('\n' + ui.color.green.bold('GCS demo complete: grant, check, ingest and revoke all succeeded.'))
    return {source: SOURCE, principal: GCP_DEMO_MEMBER, objects: files.length, steps, uploadedFiles}
  } finally {
    if (cluster && cluster.exitCode === null) {
      const c = cluster
      await new Promise((r) => {
        c.once('exit', r)
        c.kill('SIGTERM')
      })
    }
    await double?.stop()
    rmSync(scratch, {recursive: true, force: true})
    ui.info('Stopped the reference cluster and the GCS double, and removed the scratch files.')
  }
}
