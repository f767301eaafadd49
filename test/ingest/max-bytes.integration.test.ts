/**
 * --max-bytes and the egress estimate end to end, in-process, against the reference cluster
 * (src/cluster, what `cluster serve` runs) reading a bucket in eu-west-1 on moto: a larger ingest
 * is refused with exit 5 and nothing is created; a smaller one starts, and its --json preflight
 * carries the estimate; the flags' bad values and combinations are refused before any request.
 */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCluster, type ClusterHandle} from '../../src/cluster/server.js'
import {makeDicom} from '../helpers/dicom.js'
import {runInProcess} from '../helpers/in-process.js'
import {clusterOnMoto, MOTO_REGION, ROOT_CREDENTIALS, startMoto, type Moto} from '../helpers/moto.js'
import {ingestEnv, isolatedHome, jsonLines, KEY} from './helpers.js'

const BUCKET = 'max-bytes-eu'
let moto: Moto
let cluster: ClusterHandle
/** The bytes of the .dcm files under dicom/ (what the default include patterns match). */
let dicomBytes = 0

beforeAll(async () => {
  moto = await startMoto()
  const s3 = moto.clients().s3
  await s3.send(new CreateBucketCommand({Bucket: BUCKET, CreateBucketConfiguration: {LocationConstraint: 'eu-west-1'}}))
  for (let i = 1; i <= 3; i++) {
    const body = makeDicom({patientId: `P${i}`, studyInstanceUid: `1.2.3.${i}`, seriesInstanceUid: `1.2.3.${i}.1`, sopInstanceUid: `1.2.3.${i}.1.1`})
    dicomBytes += body.length
    await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: `dicom/P${i}/1.dcm`, Body: body}))
  }
  // Not matched by the include patterns: not counted against the limit.
  await s3.send(new PutObjectCommand({Bucket: BUCKET, Key: 'dicom/notes.txt', Body: 'x'.repeat(50_000)}))
  cluster = await startCluster({dataDir: mkdtempSync(join(tmpdir(), 'ig-max-bytes-')), apiKey: KEY, ...clusterOnMoto({endpoint: moto.endpoint, region: MOTO_REGION}, ROOT_CREDENTIALS)})
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
  await moto?.stop()
})

const env = () => ingestEnv(isolatedHome(), moto.credentialsEnv())
const ingestsOnCluster = async () => ((await (await fetch(`${cluster.url}/ingests`, {headers: {authorization: `Bearer ${KEY}`}})).json()) as unknown[]).length
const start = (cmd: 'dicom' | 'folder', extra: string[]) =>
  runInProcess(['ingest', cmd, `s3://${BUCKET}/dicom`, ...(cmd === 'dicom' ? ['radiology', 'mri'] : ['-g', 'radiology', '-p', 'mri']), '--cluster', cluster.url, '-y', '--endpoint-url', moto.endpoint, ...extra], {env: env()})

describe('--max-bytes on the reference cluster', () => {
  it('refuses a larger ingest with exit 5 (MAX_BYTES_EXCEEDED), says why, and creates nothing', async () => {
    const before = await ingestsOnCluster()
    const r = await start('dicom', ['--max-bytes', String(dicomBytes - 1)])
    expect(r.code, r.stderr).toBe(5)
    expect(r.stderr).toMatch(new RegExp(`FAIL {2}size-limit: .*\\(${dicomBytes.toLocaleString('en-US')} bytes\\) match, more than --max-bytes`))
    expect(r.stderr).toMatch(/Preflight refused the start: the ingest is larger than --max-bytes; the ingest was not started/)
    expect(r.stderr).toMatch(/raise --max-bytes/)
    expect(await ingestsOnCluster()).toBe(before)

    // The same refusal from folder, in --json: the code and the preflight with its limit in the error's
    // data. A folder ingest has no default include patterns: the .txt counts too.
    const j = await start('folder', ['--max-bytes', '1kB', '--json'])
    expect(j.code).toBe(5)
    const envelope = jsonLines(j.stdout).at(-1)
    expect(envelope).toMatchObject({status: 5, error: {code: 'MAX_BYTES_EXCEEDED', data: {preflight: {limit: {maxBytes: 1000, verdict: 'exceeded'}, matching: {objects: 4, bytes: dicomBytes + 50_000}}}}})
    expect(await ingestsOnCluster()).toBe(before)
  })

  it('starts an ingest within the limit; the text preflight shows the estimate with its assumptions', async () => {
    const before = await ingestsOnCluster()
    const r = await start('dicom', ['--max-bytes', '1GB'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/PASS {2}estimate: less than \$0\.01 estimated to move .* out of AWS eu-west-1 \(region, per HeadBucket x-amz-bucket-region\) to the internet, at \$0\.09\/GB: the price for eu-west-1 \(price table of \d{4}-\d\d-\d\d; --egress-price-per-gb overrides it\)/)
    expect(r.stderr).toMatch(/^ +assumes: The cluster reads from outside AWS, over the internet/m)
    expect(r.stderr).toMatch(/^ +source: https:\/\/aws\.amazon\.com\/s3\/pricing/m)
    expect(r.stderr).toMatch(/PASS {2}size-limit: .* match, within --max-bytes 1 GB \(1,000,000,000 bytes\)/)
    expect(await ingestsOnCluster()).toBe(before + 1)
  })

  it('--json: the preflight event and the summary carry the estimate as a structured object; --egress-price-per-gb replaces the price', async () => {
    const r = await start('dicom', ['--egress-price-per-gb', '2000', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const docs = jsonLines(r.stdout)
    const event = docs.find((d) => d.event === 'preflight')
    const expected = {
      cloud: 'AWS',
      provider: 's3',
      location: {known: true, location: 'eu-west-1', locationType: 'region', via: 'HeadBucket x-amz-bucket-region'},
      bytes: dicomBytes,
      atLeast: false,
      unit: 'GB',
      unitBytes: 2 ** 30,
      pricePerUnit: 2000,
      priceFrom: '--egress-price-per-gb',
      currency: 'USD',
      cost: Math.round((dicomBytes / 2 ** 30) * 2000 * 100) / 100,
      assumptions: expect.arrayContaining([expect.stringContaining('first price tier')]),
      table: {asOf: expect.stringMatching(/^\d{4}-\d\d-\d\d$/), meter: expect.stringContaining('Amazon S3'), sources: expect.any(Array)},
    }
    expect(event.estimate).toEqual(expect.objectContaining(expected))
    expect(event.estimate.quantity).toBeCloseTo(dicomBytes / 2 ** 30, 12)
    expect(event.limit).toBeUndefined()
    expect(docs.at(-1)).toMatchObject({status: 0, result: {preflight: {estimate: {pricePerUnit: 2000}}}})
  })

  it('bad values and combinations are usage errors (exit 2) before any request', async () => {
    const before = await ingestsOnCluster()
    const cases: Array<[string[], string, RegExp]> = [
      [['--max-bytes', '500Gb'], 'BAD_SIZE', /lower-case b means bits/],
      [['--max-bytes', 'lots'], 'BAD_SIZE', /is not a size/],
      [['--max-bytes', '-1GB'], 'BAD_SIZE', /is not a size/],
      [['--egress-price-per-gb', '-0.09'], 'BAD_PRICE', /not a non-negative number/],
      [['--egress-price-per-gb', 'cheap'], 'BAD_PRICE', /not a non-negative number/],
      [['--max-bytes', '1GB', '--no-preflight'], 'NEEDS_PREFLIGHT', /--no-preflight skips it: the size limit would not be applied/],
      [['--egress-price-per-gb', '0.1', '--no-preflight'], 'NEEDS_PREFLIGHT', /the estimate would not be applied/],
    ]
    for (const [flags, code, message] of cases) {
      const r = await start('dicom', [...flags, '--json'])
      expect(r.code, flags.join(' ')).toBe(2)
      const envelope = jsonLines(r.stdout).at(-1)
      expect(envelope, flags.join(' ')).toMatchObject({status: 2, error: {code, message: expect.stringMatching(message), suggestions: [expect.any(String)]}})
    }
    const project = await runInProcess(['ingest', 'project', 'fw://radiology/mri', 'other.example.io:abc', '--cluster', cluster.url, '--max-bytes', '1GB', '--json'], {env: env()})
    expect(project.code).toBe(2)
    // A project ingest has no bucket to measure: it does not take the flag at all.
    expect(jsonLines(project.stdout).at(-1)).toMatchObject({status: 2, error: {message: expect.stringMatching(/--max-bytes/)}})
    expect(await ingestsOnCluster()).toBe(before)
  })
})
