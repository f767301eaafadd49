/**
 * `ingestgate cluster serve` as a user runs it: a real process that prints its URL, serves until
 * SIGINT/SIGTERM, shuts down cleanly with exit 0, takes its credentials from the environment like
 * any AWS tool, and never prints the API key.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {clusterApi} from '../helpers/cluster.js'
import {makeDicomSet} from '../helpers/dicom.js'
import {BIN, ROOT, baseEnv, runCli} from '../helpers/cli.js'
import {startMoto, type Moto} from '../helpers/moto.js'

const KEY = 'serve-test-key-abcdef123456'
let moto: Moto

beforeAll(async () => {
  moto = await startMoto()
  const {s3} = moto.clients()
  const {CreateBucketCommand, PutObjectCommand} = await import('@aws-sdk/client-s3')
  await s3.send(new CreateBucketCommand({Bucket: 'serve-bucket'}))
  for (const o of makeDicomSet({patients: 1, studiesPerPatient: 1, seriesPerStudy: 1, instancesPerSeries: 2})) {
    await s3.send(new PutObjectCommand({Bucket: 'serve-bucket', Key: `in/${o.key}`, Body: o.body}))
  }
  s3.destroy()
}, 60_000)

afterAll(async () => {
  await moto?.stop()
})

interface Served {
  child: ChildProcess
  url: string
  stdout: () => string
  stderr: () => string
  exit: Promise<number | null>
}

function serve(args: string[], env: NodeJS.ProcessEnv): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'cluster', 'serve', ...args], {cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 20 s\n${stderr}`)), 20_000)
    const check = () => {
      const m = /(http:\/\/127\.0\.0\.1:\d+\/ingest)/.exec(stdout + stderr)
      if (m && /listening/.test(stderr) && (args.includes('--json') || stdout.includes(m[1]))) {
        clearTimeout(timer)
        resolve({child, url: m[1], stdout: () => stdout, stderr: () => stderr, exit})
      }
    }
    child.stdout!.on('data', check)
    child.stderr!.on('data', check)
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening\n${stderr}`)))
  })
}

describe('ingestgate cluster serve', () => {
  it('prints the URL, runs an ingest with the credentials of the environment, stops on SIGTERM with exit 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ig-serve-'))
    const s = await serve(['--data-dir', dataDir, '--endpoint-url', moto.endpoint], baseEnv({...moto.credentialsEnv(), INGESTGATE_CLUSTER_API_KEY: KEY}))
    try {
      expect(s.stdout()).toBe(`${s.url}\n`)
      expect(s.stderr()).toContain(`Reference cluster listening on ${s.url} (data in ${dataDir})`)
      const api = clusterApi(s.url, KEY)
      const ing = await api.create('s3://serve-bucket/in')
      await api.call('POST', `/ingests/${ing.id}/start`)
      const done = await api.waitFor(ing.id, ['finished', 'failed'])
      expect(done.status).toBe('finished')
      expect(await api.get(`/ingests/${ing.id}/summary`)).toMatchObject({subjects: 1, files: 2})
      expect((await fetch(`${s.url}/ingests`)).status).toBe(401)
      // A failure whose message carries the key (as a prefix here): the log line is printed, redacted.
      const leaky = await api.create(`s3://no-such-serve-bucket/${KEY}`)
      await api.call('POST', `/ingests/${leaky.id}/start`)
      expect((await api.waitFor(leaky.id, ['finished', 'failed'])).status).toBe('failed')
      expect(s.stderr()).toMatch(new RegExp(`ingest ${leaky.id} failed while \\w+: .*no-such-serve-bucket/\\[REDACTED\\]`))
    } finally {
      s.child.kill('SIGTERM')
    }
    expect(await s.exit).toBe(0)
    expect(s.stderr()).toMatch(/Stopping \(SIGTERM\)/)
    expect(s.stderr()).toMatch(/ingest [0-9a-f-]{36}: finished/)
    expect(s.stdout() + s.stderr()).not.toContain(KEY)
  })

  it('--json: nothing but the envelope on stdout, written when it stops (SIGINT)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ig-serve-json-'))
    const s = await serve(['--data-dir', dataDir, '--api-key', KEY, '--json'], baseEnv())
    s.child.kill('SIGINT')
    expect(await s.exit).toBe(0)
    expect(JSON.parse(s.stdout())).toEqual({status: 0, result: {url: s.url, dataDir, stoppedBy: 'SIGINT'}, warnings: []})
    expect(s.stderr()).not.toContain(KEY)
  })

  it('without an API key: exit 3, saying where the key comes from', async () => {
    const r = await runCli(['cluster', 'serve', '--data-dir', mkdtempSync(join(tmpdir(), 'ig-serve-nokey-')), '--json'], {env: baseEnv()})
    expect(r.code).toBe(3)
    expect(r.json).toMatchObject({status: 3, error: {code: 'NO_API_KEY', suggestions: [expect.stringMatching(/--api-key or set INGESTGATE_CLUSTER_API_KEY/)]}})
  })

  it('a port in use: exit 3 with the port named', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ig-serve-port-'))
    const s = await serve(['--data-dir', dataDir, '--api-key', KEY], baseEnv())
    try {
      const port = new URL(s.url).port
      const r = await runCli(['cluster', 'serve', '--port', port, '--data-dir', mkdtempSync(join(tmpdir(), 'ig-serve-port2-')), '--api-key', KEY], {env: baseEnv()})
      expect(r.code).toBe(3)
      expect(r.stderr).toMatch(new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)`))
      expect(r.stderr).not.toContain(KEY)
    } finally {
      s.child.kill('SIGTERM')
      await s.exit
    }
  })
})
