/**
 * The preflight gate through the provider seam, run in-process (test/helpers/in-process.ts): the
 * `ingest dicom` command, a scripted cluster, and moto as the bucket. What is asserted is what a
 * user sees: the exit code, the --json envelope (the failing gate's rows reach --json users in
 * `error.data`), and that nothing was created on the cluster.
 */
import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {baseEnv} from '../helpers/cli.js'
import {runInProcess} from '../helpers/in-process.js'
import {startMoto, type Moto} from '../helpers/moto.js'
import {fullScript, startScriptedCluster, type ScriptedCluster} from '../helpers/scripted-cluster.js'
import {ingestEnv, isolatedHome, jsonLines, KEY} from './helpers.js'

const VENDOR_ROLE = 'arn:aws:iam::444455556666:role/vendor-ingest'

let moto: Moto
let cluster: ScriptedCluster
beforeAll(async () => {
  moto = await startMoto()
  const c = moto.clients()
  await c.s3.send(new CreateBucketCommand({Bucket: 'preflight-seam'}))
  await c.s3.send(new PutObjectCommand({Bucket: 'preflight-seam', Key: 'dicom/a.dcm', Body: 'x'.repeat(100)}))
  await c.s3.send(new PutObjectCommand({Bucket: 'preflight-seam', Key: 'dicom-phi-raw/b.dcm', Body: 'y'}))
  cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript()})
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
  await moto?.stop()
})

const env = () => baseEnv({...ingestEnv(isolatedHome()), ...moto.credentialsEnv()})

describe('ingest dicom: the preflight gate, in-process', () => {
  it('no grant for the principal: exit 5, nothing created, and the gate\'s rows are in the --json error envelope', async () => {
    const r = await runInProcess(['ingest', 'dicom', 's3://preflight-seam/dicom', 'grp', 'prj', '--cluster', cluster.url, '--principal', VENDOR_ROLE, '--endpoint-url', moto.endpoint, '--json'], {env: env()})
    expect(r.code, r.stderr + r.stdout).toBe(5)
    const envelope = jsonLines(r.stdout).at(-1)
    expect(envelope).toMatchObject({status: 5, error: {code: 'PREFLIGHT_FAILED'}})
    const steps = envelope.error.data.preflight.steps.map((s: {name: string; status: string}) => `${s.name}:${s.status}`)
    expect(steps).toEqual(['source:pass', 'cluster:pass', 'check:fail', 'listing:pass', 'estimate:pass'])
    // The estimate is there for --json users too, with where moto says the bucket is.
    expect(envelope.error.data.preflight.estimate).toMatchObject({cloud: 'AWS', location: {known: true, location: 'us-east-1'}, bytes: 100})
    // The listing went through the provider's reader: the directory dicom/ only, not dicom-phi-raw/.
    expect(envelope.error.data.preflight).toMatchObject({objects: 1, bytes: 100})
    expect(cluster.requests.filter((q) => q.method === 'POST')).toEqual([])
  })

  it('a malformed cloud flag is refused before any request (exit 3)', async () => {
    const before = cluster.requests.length
    const r = await runInProcess(['ingest', 'dicom', 's3://preflight-seam/dicom', 'grp', 'prj', '--cluster', cluster.url, '--principal', VENDOR_ROLE, '--endpoint-url', '127.0.0.1:9', '--json'], {env: env()})
    expect(r.code).toBe(3)
    expect(jsonLines(r.stdout).at(-1)).toMatchObject({error: {code: 'BAD_ENDPOINT'}})
    expect(cluster.requests.length).toBe(before)
  })

  it('a source scheme no cloud has is refused before any request', async () => {
    const before = cluster.requests.length
    const r = await runInProcess(['ingest', 'dicom', 'hdfs://x/y', 'grp', 'prj', '--cluster', cluster.url, '--no-preflight', '--json'], {env: env()})
    expect(r.code).toBe(3)
    expect(jsonLines(r.stdout).at(-1)).toMatchObject({error: {code: 'BAD_SOURCE'}})
    expect(cluster.requests.length).toBe(before)
  })
})
