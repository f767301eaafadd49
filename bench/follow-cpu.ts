/**
 * CPU used by `ingestgate ingest follow` while an ingest runs (on demand, not part of the test
 * suite): npx tsx bench/follow-cpu.ts [seconds=20]
 *
 * Runs a DICOM ingest on the reference cluster over local moto, slowed down per file so it lasts
 * about `seconds`, and follows it with the built CLI at the real polling cadence (GET every 1 s,
 * /progress every 10 s). CPU time comes from /proc/PID/stat (utime + stime), measured after start-up
 * (steady state) and in total, against a baseline measured in the same run: an idle node process
 * with a 1 s timer. Goal: steady-state follow under 2 % of one core.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {CreateBucketCommand, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'

import {startCluster} from '../src/cluster/server.js'
import {makeDicomSet} from '../src/demo/dicom.js'
import {startMotoServer} from '../src/demo/moto.js'
import {clusterOnMoto} from '../test/helpers/moto.js'

const SECONDS = Number(process.argv[2] ?? 20)
const STARTUP_S = 3
const root = join(fileURLToPath(import.meta.url), '..', '..')
const TICK = 100 // clock ticks per second on Linux (getconf CLK_TCK)

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICK
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const work = mkdtempSync(join(tmpdir(), 'ig-bench-follow-'))
  const moto = await startMotoServer()
  const credentials = {accessKeyId: 'testing', secretAccessKey: 'testing'}
  const files = makeDicomSet({patients: 4, studiesPerPatient: 1, seriesPerStudy: 2, instancesPerSeries: 5})
  const s3 = new S3Client({endpoint: moto.endpoint, region: 'us-east-1', credentials, forcePathStyle: true})
  await s3.send(new CreateBucketCommand({Bucket: 'follow-bench'}))
  for (const f of files) await s3.send(new PutObjectCommand({Bucket: 'follow-bench', Key: `d/${f.key}`, Body: f.body}))
  s3.destroy()
  // Scanning runs 8 files at a time and uploading 4: spread the wanted duration over both stages.
  const perFileMs = (SECONDS * 1000) / (files.length / 8 + files.length / 4)
  const apiKey = 'bench:follow-cpu-key'
  const cluster = await startCluster({
    dataDir: join(work, 'cluster'),
    apiKey,
    ...clusterOnMoto({endpoint: moto.endpoint, region: 'us-east-1'}, credentials),
    hooks: {beforeFile: () => new Promise((r) => setTimeout(r, perFileMs))},
  })
  try {
    const call = async (method: string, path: string, body?: unknown) =>
      (await fetch(cluster.url + path, {method, headers: {Authorization: apiKey, 'Content-Type': 'application/json'}, body: body === undefined ? undefined : JSON.stringify(body)})).json() as Promise<any>
    const ingest = await call('POST', '/ingests', {config: {src_fs: 's3://follow-bench/d', include: ['*.dcm'], assume_yes: true}, strategy_config: {strategy_name: 'dicom', group: 'bench', project: 'follow'}})
    await call('POST', `/ingests/${ingest.id}/start`)

    const env = {...process.env, NODE_ENV: 'production', NO_COLOR: '1', INGESTGATE_API_KEY: apiKey, FLYWHEEL_USER_HOME: join(work, 'home')}
    const follow = spawn(process.execPath, [join(root, 'bin/run.js'), 'ingest', 'follow', `${cluster.url}/ingests/${ingest.id}`], {env, stdio: ['ignore', 'ignore', 'ignore']})
    const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {stdio: 'ignore'})
    const t0 = Date.now()
    await new Promise((r) => setTimeout(r, STARTUP_S * 1000))
    const steady = {follow: cpuSeconds(follow.pid!), idle: cpuSeconds(idle.pid!), at: Date.now()}
    let last = {...steady}
    const done = new Promise<number>((resolve) => follow.on('exit', (code) => resolve(code ?? -1)))
    // Sample until follow exits (it exits when the ingest reaches a terminal status).
    const sampler = setInterval(() => {
      try {
        last = {follow: cpuSeconds(follow.pid!), idle: cpuSeconds(idle.pid!), at: Date.now()}
      } catch {
        /* exited between samples */
      }
    }, 250)
    const code = await done
    clearInterval(sampler)
    idle.kill()
    const wall = (last.at - steady.at) / 1000
    const followSteady = (last.follow - steady.follow) / wall
    const idleSteady = (last.idle - steady.idle) / wall
    const result = {
      ingestSeconds: +((Date.now() - t0) / 1000).toFixed(1),
      followExit: code,
      followCpuTotalSeconds: +last.follow.toFixed(2),
      steadyWindowSeconds: +wall.toFixed(1),
      followSteadyCpuPercentOfCore: +(followSteady * 100).toFixed(2),
      idleNodeSteadyCpuPercentOfCore: +(idleSteady * 100).toFixed(2),
      goal: followSteady < 0.02 ? 'met (< 2 % of one core)' : 'MISSED (>= 2 % of one core)',
    }
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
  } finally {
    await cluster.stop()
    await moto.stop()
    rmSync(work, {recursive: true, force: true})
  }
}

await main()
