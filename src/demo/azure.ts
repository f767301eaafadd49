/**
 * The Azure demo: the same story as the AWS one (render, apply twice, check, ingest on the
 * reference cluster, revoke), on the Azure test doubles (ARM and Blob Storage over HTTPS on
 * 127.0.0.1, with RBAC, ABAC conditions and a propagation delay enforced), each step its own
 * `ingestgate` process. Credentials go through the real @azure/identity path: the stand-in `az`
 * first on PATH, selected with AZURE_TOKEN_CREDENTIALS=AzureCliCredential; nothing reaches a
 * metadata endpoint or leaves the machine.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {AppContext} from '../context.js'
import {AppError, ExitCode} from '../errors.js'
import {registerSecret} from '../output/redact.js'
import {makeDicomSet} from './dicom.js'
import {BIN, demoChildEnv, filesUnder, stepRunner, type DemoStep, type StepOptions} from './steps.js'

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const SUBSCRIPTION = '3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8'
const RESOURCE_GROUP = 'rg-imaging'
const ACCOUNT = 'contosoimaging'
const CONTAINER = 'archive'
export const AZURE_DEMO_SOURCE = `az://${ACCOUNT}/${CONTAINER}/dicom`
const ADMIN_OID = '0f0e0d0c-0b0a-4909-8807-060504030201'
/** The vendor app's service principal in the customer tenant, and the app's id. */
export const AZURE_DEMO_PRINCIPAL = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9'
const INGEST_APP_ID = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'
/** How long the blob double waits before a new role assignment counts (Azure: up to 10 minutes). */
const PROPAGATION_MS = 3000

const EMULATORS = new URL('../../emulators/', import.meta.url)

export interface AzureDemoResult {
  source: string
  principal: string
  objects: number
  steps: DemoStep[]
  uploadedFiles: string[]
}

/** Run the Azure demo against fresh doubles; everything it started is stopped whatever happens. */
export async function runAzureDemo(ctx: AppContext, opts: {json: boolean}): Promise<AzureDemoResult> {
  const {ui} = ctx
  const scratch = mkdtempSync(join(tmpdir(), 'ingestgate-azure-demo-'))
  const apiKey = `127.0.0.1:${randomBytes(12).toString('hex')}`
  const keys = {admin: randomBytes(16).toString('hex'), ingest: randomBytes(16).toString('hex')}
  for (const s of [apiKey, keys.admin, keys.ingest]) registerSecret(s)
  const steps: DemoStep[] = []
  const {startAzureDoubles, putBlob} = (await import(new URL('azure-blob-double.mjs', EMULATORS).href)) as typeof import('../../emulators/azure-blob-double.mjs')
  let doubles: Awaited<ReturnType<typeof startAzureDoubles>> | undefined
  let cluster: ChildProcess | undefined

  const login = (oid: string, key: string, appid?: string) => JSON.stringify({oid, tid: TENANT, key, appid, subscription: SUBSCRIPTION})
  // The stand-in `az` first on PATH hands out the token of the identity the child acts as.
  const childEnv = (who: 'admin' | 'ingest') =>
    demoChildEnv(ctx, scratch, apiKey, {
      PATH: `${fileURLToPath(new URL('azure-cli-standin', EMULATORS))}:${ctx.env.PATH ?? ''}`,
      INGESTGATE_AZ_LOGIN: who === 'admin' ? login(ADMIN_OID, keys.admin) : login(AZURE_DEMO_PRINCIPAL, keys.ingest, INGEST_APP_ID),
      NODE_EXTRA_CA_CERTS: doubles!.caPath,
    })
  const step = stepRunner(ctx, opts, steps)
  const run = (title: string, args: string[], who: 'admin' | 'ingest', how?: StepOptions) => step(title, args, childEnv(who), how)

  try {
    ui.info(ui.color.bold('Starting the Azure test doubles (Resource Manager and Blob Storage, HTTPS on 127.0.0.1, RBAC enforced)'))
    doubles = await startAzureDoubles({
      tenantId: TENANT,
      subscriptionId: SUBSCRIPTION,
      identities: [
        {oid: ADMIN_OID, key: keys.admin, displayName: 'customer admin', type: 'User'},
        {oid: AZURE_DEMO_PRINCIPAL, key: keys.ingest, displayName: 'vendor-ingest', appId: INGEST_APP_ID},
      ],
      accounts: [{name: ACCOUNT, resourceGroup: RESOURCE_GROUP, containers: [CONTAINER]}],
      assignments: [
        {scope: `/subscriptions/${SUBSCRIPTION}`, role: 'Owner', principalId: ADMIN_OID, principalType: 'User'},
        {scope: `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}`, role: 'Storage Blob Data Reader', principalId: ADMIN_OID, principalType: 'User'},
      ],
    })
    doubles.world.propagationMs = PROPAGATION_MS
    const files = makeDicomSet({patients: 2, studiesPerPatient: 1, seriesPerStudy: 2, instancesPerSeries: 3})
    for (const f of files) putBlob(doubles.world, ACCOUNT, CONTAINER, `dicom/${f.key}`, f.body)
    putBlob(doubles.world, ACCOUNT, CONTAINER, 'dicom/sub-1/EMPTY.dcm', Buffer.alloc(0))
    putBlob(doubles.world, ACCOUNT, CONTAINER, 'dicom-phi/identified.csv', 'name,mrn\n')
    const objects = files.length + 1
    ui.info(`ARM on ${doubles.arm.url}, Blob Storage on ${doubles.blob.url}; seeded ${AZURE_DEMO_SOURCE}: ${objects} blobs (one empty), and dicom-phi/, which the grant must not open.`)
    ui.info(`New role assignments take ${PROPAGATION_MS / 1000} s to count here (up to 10 minutes on Azure).`)

    const where = ['--subscription', SUBSCRIPTION, '--resource-group', RESOURCE_GROUP, '--arm-endpoint', doubles.arm.url]
    const who = ['--principal', AZURE_DEMO_PRINCIPAL]
    await run('Cloud admin: what would be assigned (no credentials, no network)', ['grant', 'render', AZURE_DEMO_SOURCE, ...who, '--subscription', SUBSCRIPTION, '--resource-group', RESOURCE_GROUP, '--format', 'cli'], 'admin', {head: 14, saveAs: 'azure-grant.sh'})
    await run('Cloud admin: assign Storage Blob Data Reader at container scope, limited to dicom/', ['grant', 'apply', AZURE_DEMO_SOURCE, ...who, ...where, '--yes'], 'admin')
    await run('Cloud admin: apply again changes nothing', ['grant', 'apply', AZURE_DEMO_SOURCE, ...who, ...where, '--yes'], 'admin')
    await run('Cloud admin: what ingestgate granted here, and whether it is still what apply writes', ['grant', 'status', AZURE_DEMO_SOURCE, ...where], 'admin')
    await run('Cloud admin: evaluate the role assignments, deny assignments and firewall', ['check', AZURE_DEMO_SOURCE, ...who, ...where, '--sample', '4'], 'admin')
    const blob = doubles.blob.endpoint(ACCOUNT)
    await run('Support, as the ingest principal: the cluster\'s real calls, waiting for propagation', ['check', AZURE_DEMO_SOURCE, ...who, '--live', '--no-static', '--endpoint-url', blob, '--sample', '4', '--wait', '1m'], 'ingest')

    const dataDir = join(scratch, 'cluster')
    cluster = spawn(process.execPath, [BIN, 'cluster', 'serve', '--port', '0', '--data-dir', dataDir, '--api-key', apiKey, '--endpoint-url', blob], {env: childEnv('ingest'), stdio: ['ignore', 'pipe', 'ignore']})
    const clusterUrl = await new Promise<string>((resolve, reject) => {
      let out = ''
      cluster!.stdout!.on('data', (c: Buffer) => {
        out += c
        const m = /^(http:\/\/127\.0\.0\.1:\d+\S*)$/m.exec(out)
        if (m) resolve(m[1])
      })
      cluster!.on('exit', (code) => reject(new AppError('DEMO_STEP_FAILED', `The reference cluster exited with ${code}.`, ExitCode.INTERNAL, {suggestions: ['Re-run the demo.']})))
    })
    ui.info('\n' + ui.color.bold(`Started the reference cluster at ${clusterUrl}, signed in as the ingest principal ${AZURE_DEMO_PRINCIPAL}`))

    await run('Researcher: launch the ingest and follow it to the report', ['ingest', 'dicom', AZURE_DEMO_SOURCE, 'demo-lab', 'brain-mri', '--cluster', clusterUrl, ...who, ...where, '--follow', '-y'], 'admin')
    const dest = join(dataDir, 'dest')
    const uploadedFiles = filesUnder(dest).map((p) => relative(dest, p)).sort()
    ui.info('\n' + ui.color.bold(`The cluster wrote ${uploadedFiles.length} files into its destination tree:`))
    for (const f of uploadedFiles.slice(0, 4)) ui.info(`  ${f}`)
    if (uploadedFiles.length > 4) ui.info(`  ... and ${uploadedFiles.length - 4} more`)

    await run('Cloud admin: take the access back, exactly', ['grant', 'revoke', AZURE_DEMO_SOURCE, ...who, ...where, '--yes'], 'admin')
    ui.info('\n' + ui.color.green.bold('Azure demo complete: grant, check, ingest and revoke all succeeded.'))
    return {source: AZURE_DEMO_SOURCE, principal: AZURE_DEMO_PRINCIPAL, objects, steps, uploadedFiles}
  } finally {
    if (cluster && cluster.exitCode === null) {
      const exited = new Promise((resolve) => cluster!.once('exit', resolve))
      cluster.kill('SIGTERM')
      await exited
    }
    await doubles?.stop()
    rmSync(scratch, {recursive: true, force: true})
    ui.info('Stopped the reference cluster and the Azure doubles, and removed the scratch files.')
  }
}
