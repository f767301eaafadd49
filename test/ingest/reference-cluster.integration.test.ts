/**
 * The client end to end against the reference cluster (src/cluster, the same code as
 * `ingestgate cluster serve`) over real HTTP, reading generated DICOM from S3 on moto: every command,
 * the review prompt, abort, the exit-code rule, a cluster restart during follow, and Ctrl-C detach.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import dcmjs from 'dcmjs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCluster, type ClusterHandle} from '../../src/cluster/server.js'
import {BIN, ROOT, runCli} from '../helpers/cli.js'
import {clusterOnMoto, MOTO_REGION, ROOT_CREDENTIALS, startMoto, type Moto} from '../helpers/moto.js'
import {ingestEnv, isolatedHome, jsonLines, KEY} from './helpers.js'

const BUCKET = 'ingest-e2e'

/** A small valid DICOM file (Part 10, explicit VR little endian) with the tags the cluster resolves on. */
function makeDicom(patient: string, study: number, series: number, instance: number): Buffer {
  const {DicomDict, DicomMetaDictionary} = (dcmjs as any).data
  const root = '1.2.826.0.1.3680043.8.498'
  const sop = `${root}.${study}.${series}.${instance}`
  const dict = new DicomDict(
    DicomMetaDictionary.denaturalizeDataset({
      FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
      MediaStorageSOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
      MediaStorageSOPInstanceUID: sop,
      TransferSyntaxUID: '1.2.840.10008.1.2.1',
      ImplementationClassUID: `${root}.1`,
    }),
  )
  dict.dict = DicomMetaDictionary.denaturalizeDataset({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
    SOPInstanceUID: sop,
    PatientID: patient,
    PatientName: patient,
    StudyInstanceUID: `${root}.${study}`,
    SeriesInstanceUID: `${root}.${study}.${series}`,
    StudyDate: '20240101',
    SeriesDescription: `series ${series}`,
    Modality: 'OT',
    InstanceNumber: String(instance),
  })
  return Buffer.from(dict.write())
}

let moto: Moto
let cluster: ClusterHandle
let dataDir: string
let slow = 0

async function start(port?: number): Promise<ClusterHandle> {
  return startCluster({
    port,
    dataDir,
    apiKey: KEY,
    ...clusterOnMoto({endpoint: moto.endpoint, region: MOTO_REGION}, ROOT_CREDENTIALS),
    hooks: {
      beforeFile: async () => {
        if (slow) await new Promise((r) => setTimeout(r, slow))
      },
    },
  })
}

beforeAll(async () => {
  moto = await startMoto()
  const s3 = moto.clients().s3
  await s3.send(new CreateBucketCommand({Bucket: BUCKET}))
  let n = 0
  for (const [patient, study] of [
    ['P1', 1],
    ['P2', 2],
  ] as const) {
    for (const series of [1, 2]) {
      for (const instance of [1, 2]) {
        await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: `dicom/${patient}/${series}/${instance}.dcm`, Body: makeDicom(patient, study, series, instance)}))
        n++
      }
    }
  }
  await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: 'bad/truncated.dcm', Body: makeDicom('P3', 3, 1, 1).subarray(0, 200)}))
  await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: 'bad/ok.dcm', Body: makeDicom('P3', 3, 1, 2)}))
  expect(n).toBe(8)
  dataDir = mkdtempSync(join(tmpdir(), 'ig-e2e-cluster-'))
  cluster = await start()
}, 60_000)

afterAll(async () => {
  await cluster?.stop()
  await moto?.stop()
})

const env = (home = isolatedHome(), extra: NodeJS.ProcessEnv = {}) => ingestEnv(home, {INGESTGATE_POLL_INTERVAL_MS: '50', ...moto.credentialsEnv(), ...extra})

describe('against the reference cluster', () => {
  it('dicom --follow -y: preflight lists the source, the ingest finishes, exit 0, and the ingest is remembered', async () => {
    const home = isolatedHome()
    const r = await runCli(['ingest', 'dicom', `s3://${BUCKET}/dicom`, 'radiology', 'e2e', '--cluster', cluster.url, '-y', '-f', '--endpoint-url', moto.endpoint], {env: env(home)})
    expect(r.stderr).toMatch(/PASS {2}listing: 8 objects \(.+\) under s3:\/\/ingest-e2e\/dicom; 8 match/)
    expect(r.code).toBe(0)
    for (const status of ['Created', 'Configuring', 'Scanning', 'Resolving', 'In review', 'Preparing', 'Uploading', 'Finalizing', 'Finished']) {
      expect(r.stdout).toMatch(new RegExp(`^${status} +\\[\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\]$`, 'm'))
    }
    // N/N with N the 8 files under dicom/ (the vendor CLI adds scans and stages.scanning).
    expect(r.stdout).toMatch(/^Scanning {12}\[.+\]\n8\/8 files, \d+(\.\d)?KB \(\d+s\)$/m)
    expect(r.stdout).toMatch(/Hierarchy:\n {2}Groups: 1\n {2}Projects: 1\n {2}Subjects: 2\n {2}Sessions: 2\n {2}Acquisitions: 4\n/)
    expect(r.stdout).toMatch(/Final report\nTotal elapsed time: \d+s\n$/)
    const url = readFileSync(join(home, '.config/flywheel/ingest.yaml'), 'utf8').match(/ingest_operation_url: (.+)/)![1]
    expect(url).toMatch(new RegExp(`^${cluster.url}/ingests/[0-9a-f-]{36}$`))

    // every read-only command on that ingest
    const report = await runCli(['ingest', 'report', '--save-audit-logs', join(home, 'audit.csv')], {env: env(home)})
    expect(report.code).toBe(0)
    expect(readFileSync(join(home, 'audit.csv'), 'utf8').split('\n')[0]).toBe('src_path,dst_path,status,existing,error_code,error_message,action_taken')
    const status = await runCli(['ingest', 'status', '--json'], {env: env(home)})
    expect(status.json).toMatchObject({status: 0, result: {url, ingest: {status: 'finished'}}})
    const list = await runCli(['ingest', 'list', '--cluster', cluster.url, '--json'], {env: env(home)})
    expect(list.json?.result.map((i: any) => i.url)).toContain(url)
    const abort = await runCli(['ingest', 'abort'], {env: env(home)})
    expect(abort.stdout).toBe('Ingest already finished\n')
    const follow = await runCli(['ingest', 'follow'], {env: env(home)})
    expect(follow.code).toBe(0)
    expect(follow.stdout).toMatch(/Finished {12}\[.+\]\n\nFinal report\n/)
  })

  it('the preflight gate runs the access check for --principal: refused without a grant (exit 5, nothing created), passes after grant apply', async () => {
    const home = isolatedHome()
    const role = `arn:aws:iam::${moto.accountId}:role/ingest`
    const before = (await runCli(['ingest', 'list', '--cluster', cluster.url, '--json'], {env: env(home)})).json?.result.length
    const args = ['ingest', 'dicom', `s3://${BUCKET}/dicom`, 'radiology', 'e2e-gate', '--cluster', cluster.url, '-y', '--principal', role, '--endpoint-url', moto.endpoint]
    const refused = await runCli(args, {env: env(home)})
    expect(refused.code).toBe(5)
    expect(refused.stderr).toMatch(/FAIL {2}check: access is not as the ingest cluster needs it/)
    expect(refused.stderr).toMatch(/Preflight failed: the ingest was not started/)
    expect((await runCli(['ingest', 'list', '--cluster', cluster.url, '--json'], {env: env(home)})).json?.result.length).toBe(before)

    const grant = await runCli(['grant', 'apply', `s3://${BUCKET}/dicom`, '--principal', role, '--endpoint-url', moto.endpoint, '--yes'], {env: env(home)})
    expect(grant.code).toBe(0)
    const started = await runCli(args, {env: env(home)})
    expect(started.stderr).toMatch(/PASS {2}check: the ingest principal can do what the cluster does/)
    expect(started.code).toBe(0)
    expect(started.stdout).toMatch(/^Started ingest /)
  })

  it('review prompt: "yes" on stdin approves; the ingest finishes', async () => {
    const r = await runCli(['ingest', 'dicom', `s3://${BUCKET}/dicom`, 'radiology', 'e2e-review', '--cluster', cluster.url, '-f', '--no-preflight'], {env: env(), input: 'yes\n'})
    expect(r.stdout).toContain('Confirm upload? (yes/no): \n')
    expect(r.code).toBe(0)
  })

  it('review prompt: "no" aborts; exit 6', async () => {
    const r = await runCli(['ingest', 'dicom', `s3://${BUCKET}/dicom`, 'radiology', 'e2e-no', '--cluster', cluster.url, '-f', '--no-preflight'], {env: env(), input: 'no\n'})
    expect(r.stdout).toMatch(/Aborted {13}\[/)
    expect(r.code).toBe(6)
  })

  it('abort an ingest waiting for review, then follow it: aborted, exit 6', async () => {
    const home = isolatedHome()
    const started = await runCli(['ingest', 'dicom', `s3://${BUCKET}/dicom`, 'radiology', 'e2e-abort', '--cluster', cluster.url, '--no-preflight', '--json'], {env: env(home)})
    expect(started.code).toBe(0)
    let status = ''
    for (let i = 0; i < 100 && status !== 'in_review'; i++) {
      status = (await runCli(['ingest', 'status', '--json'], {env: env(home)})).json?.result.ingest.status
      if (status !== 'in_review') await new Promise((r) => setTimeout(r, 100))
    }
    expect(status).toBe('in_review')
    const abort = await runCli(['ingest', 'abort', '-y'], {env: env(home)})
    expect(abort.code).toBe(0)
    const follow = await runCli(['ingest', 'follow'], {env: env(home)})
    expect(follow.stdout).toMatch(/Aborted {13}\[/)
    expect(follow.code).toBe(6)
  })

  it('a source with a truncated file finishes with its scan error listed: exit 6', async () => {
    const r = await runCli(['ingest', 'dicom', `s3://${BUCKET}/bad`, 'radiology', 'e2e-bad', '--cluster', cluster.url, '-y', '-f', '--no-preflight', '--json'], {env: env()})
    const lines = jsonLines(r.stdout)
    const report = lines.find((e) => e.event === 'report')?.report
    expect(report.status).toBe('finished')
    expect(report.errors).toEqual([expect.objectContaining({type: 'scan', code: 'SC02', message: expect.stringContaining('truncated.dcm')})])
    expect(r.code).toBe(6)
    expect(lines.at(-1)).toMatchObject({status: 6})
  })

  it('a bucket that does not exist: the ingest fails, exit 6', async () => {
    const r = await runCli(['ingest', 'dicom', 's3://no-such-bucket-e2e/x', 'radiology', 'e2e-fail', '--cluster', cluster.url, '-y', '-f', '--no-preflight'], {env: env()})
    expect(r.stdout).toMatch(/Failed {14}\[/)
    expect(r.stdout).toMatch(/The following errors happened:\n\w+: .+ \([A-Z]{2}\d\d\)/)
    expect(r.code).toBe(6)
  })

  it('the cluster restarts during follow: the follower retries and resumes to the end', async () => {
    slow = 1000
    try {
      const home = isolatedHome()
      const run = runCli(['ingest', 'dicom', `s3://${BUCKET}/dicom`, 'radiology', 'e2e-restart', '--cluster', cluster.url, '-y', '-f', '--no-preflight'], {env: env(home)})
      // restart only once the ingest is being worked on (the CLI starts slowly on a busy machine)
      const working = async () => {
        const res = await fetch(`${cluster.url}/ingests`, {headers: {Authorization: KEY}})
        const all = (await res.json()) as Array<{status: string; strategy_config?: {project?: string}}>
        return all.some((i) => i.strategy_config?.project === 'e2e-restart' && ['scanning', 'resolving', 'preparing', 'uploading'].includes(i.status))
      }
      for (let i = 0; i < 300 && !(await working()); i++) await new Promise((r) => setTimeout(r, 50))
      const port = cluster.port
      await cluster.stop()
      await new Promise((r) => setTimeout(r, 1000))
      cluster = await start(port)
      slow = 0
      const r = await run
      expect(r.stderr).toMatch(/the cluster refused the connection|the connection failed/)
      expect(r.stdout).toMatch(/Finished {12}\[.+\]\n\nFinal report\n/)
      expect(r.code).toBe(0)
    } finally {
      slow = 0
    }
  })

  it('Ctrl-C while following detaches (exit 68, resume command), and the ingest goes on', async () => {
    slow = 200
    try {
      const home = isolatedHome()
      const child = spawn(process.execPath, [BIN, 'ingest', 'dicom', `s3://${BUCKET}/dicom`, 'radiology', 'e2e-detach', '--cluster', cluster.url, '-y', '-f', '--no-preflight'], {
        cwd: ROOT,
        env: env(home),
      })
      let stdout = ''
      child.stdout.on('data', (d) => (stdout += d))
      const closed = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
      for (let i = 0; i < 200 && !stdout.includes('Scanning '); i++) await new Promise((r) => setTimeout(r, 50))
      child.kill('SIGINT')
      expect(await closed).toBe(68)
      const url = readFileSync(join(home, '.config/flywheel/ingest.yaml'), 'utf8').match(/ingest_operation_url: (.+)/)![1]
      expect(stdout).toContain(`Resume following with:\n  ingestgate ingest follow ${url} -y\n`)
      slow = 0
      const resumed = await runCli(['ingest', 'follow', url, '-y'], {env: env(home)})
      expect(resumed.code).toBe(0)
      expect(resumed.stdout).not.toMatch(/Abort/)
    } finally {
      slow = 0
    }
  })
})
