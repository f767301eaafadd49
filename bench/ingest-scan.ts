/**
 * Scan throughput of the reference cluster (on demand, not part of the test suite):
 *
 *   npx tsx bench/ingest-scan.ts [objects=2000] [bytes=1000000] [--header-bytes N] [--concurrency N]
 *
 * Seeds a local moto S3 with N generated DICOM objects of about `bytes` each, runs a DICOM ingest on
 * the reference cluster up to review (listing + ranged header reads + resolving), and reports objects
 * scanned per second and the fraction of the data read while scanning, counted from moto's request
 * log (Content-Length of every ranged GET), i.e. from what really crossed the wire. Goal: < 5 %.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateBucketCommand, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'

import {startCluster} from '../src/cluster/server.js'
import {startMotoServer} from '../src/demo/moto.js'
import {clusterOnMoto} from '../test/helpers/moto.js'
import {makeDicom} from '../test/helpers/dicom.js'

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'))
const option = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? undefined : Number(process.argv[i + 1])
}
const COUNT = Number(positional[0] ?? 2000)
const SIZE = Number(positional[1] ?? 1_000_000)
const HEADER_BYTES = option('header-bytes')
const CONCURRENCY = option('concurrency')
const KEY = 'bench-key'
const BUCKET = 'bench-imaging'

async function pool(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({length: width}, async () => {
    while (next < n) await fn(next++)
  }))
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const work = mkdtempSync(join(tmpdir(), 'ig-bench-scan-'))
  const logFile = join(work, 'moto.jsonl')
  const moto = await startMotoServer({logFile})
  const credentials = {accessKeyId: 'testing', secretAccessKey: 'testing'}
  try {
    const s3 = new S3Client({endpoint: moto.endpoint, region: 'us-east-1', credentials, forcePathStyle: true})
    await s3.send(new CreateBucketCommand({Bucket: BUCKET}))
    const t0 = Date.now()
    let total = 0
    // Per 100 objects one patient (20 in turn), 2 studies, 5 series of 10 instances.
    await pool(COUNT, 16, async (i) => {
      const p = Math.floor(i / 100) % 20
      const st = Math.floor(i / 50) % 2
      const se = Math.floor(i / 10) % 5
      const study = `1.2.826.0.1.3680043.10.1234.77.${p}.${st}`
      const body = makeDicom({
        patientId: `BENCH${String(p).padStart(3, '0')}`,
        studyInstanceUid: study,
        studyDate: `2024010${st + 1}`,
        seriesInstanceUid: `${study}.${se}`,
        seriesDescription: `Series ${se}`,
        sopInstanceUid: `${study}.${se}.${i}`,
        instanceNumber: i,
        pixelBytes: SIZE,
      })
      total += body.length
      await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: `scan/p${p}/s${st}/se${se}/IM${String(i).padStart(5, '0')}.dcm`, Body: body}))
    })
    s3.destroy()
    process.stderr.write(`seeded ${COUNT} objects, ${(total / 1e6).toFixed(1)} MB, in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)

    const linesBefore = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length
    const cluster = await startCluster({
      dataDir: join(work, 'cluster'),
      apiKey: KEY,
      ...clusterOnMoto({endpoint: moto.endpoint, region: 'us-east-1'}, credentials),
      ...(HEADER_BYTES ? {headerBytes: HEADER_BYTES} : {}),
      ...(CONCURRENCY ? {scanConcurrency: CONCURRENCY} : {}),
    })
    try {
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(cluster.url + path, {method, headers: {Authorization: KEY, 'Content-Type': 'application/json'}, body: body === undefined ? undefined : JSON.stringify(body)})
        return res.json() as Promise<any>
      }
      const ingest = await call('POST', '/ingests', {
        config: {src_fs: `s3://${BUCKET}/scan`, include: ['*.dcm'], assume_yes: false},
        strategy_config: {strategy_name: 'dicom', group: 'bench', project: 'scan'},
      })
      await call('POST', `/ingests/${ingest.id}/start`)
      let state: any
      do {
        await new Promise((r) => setTimeout(r, 100))
        state = await call('GET', `/ingests/${ingest.id}`)
      } while (!['in_review', 'failed', 'aborted'].includes(state.status))
      if (state.status !== 'in_review') throw new Error(`the ingest ${state.status}: ${JSON.stringify(await call('GET', `/ingests/${ingest.id}/report`))}`)
      const at = (s: string) => state.history.find((h: [string, number]) => h[0] === s)[1]
      const scanSeconds = at('resolving') - at('scanning')
      const summary = await call('GET', `/ingests/${ingest.id}/summary`)

      const requests = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).slice(linesBefore).map((l) => JSON.parse(l))
      const ranged = requests.filter((r) => r.method === 'GET' && r.range)
      const listed = requests.filter((r) => r.method === 'GET' && /list-type=2/.test(r.query))
      const bytesRead = ranged.reduce((n, r) => n + (r.length ?? 0), 0)
      const result = {
        objects: COUNT,
        objectBytes: Math.round(total / COUNT),
        dataMB: +(total / 1e6).toFixed(1),
        headerBytes: HEADER_BYTES ?? 16384,
        scanConcurrency: CONCURRENCY ?? 8,
        scanSeconds: +scanSeconds.toFixed(2),
        objectsPerSecond: +(COUNT / scanSeconds).toFixed(1),
        listRequests: listed.length,
        rangedGets: ranged.length,
        bytesReadMB: +(bytesRead / 1e6).toFixed(2),
        fractionRead: +(bytesRead / total).toFixed(4),
        resolved: {subjects: summary.subjects, sessions: summary.sessions, acquisitions: summary.acquisitions, files: summary.files, errors: summary.errors.length},
        goal: bytesRead / total < 0.05 ? 'met (< 5 % read)' : 'MISSED (>= 5 % read)',
      }
      process.stdout.write(JSON.stringify(result, null, 2) + '\n')
      await call('POST', `/ingests/${ingest.id}/abort`)
    } finally {
      await cluster.stop()
    }
  } finally {
    await moto.stop()
    rmSync(work, {recursive: true, force: true})
  }
}

await main()
