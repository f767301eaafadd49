/**
 * Follow survives what clusters do: 503s for a while, a restart (connection refused), bad answers;
 * and Ctrl-C detaches without aborting. All over real HTTP against a scripted cluster.
 */
import {spawn} from 'node:child_process'
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {BIN, ROOT, runCli} from '../helpers/cli.js'
import {fullScript, REPORT_OK, startScriptedCluster, SUMMARY, T0, type ScriptedCluster} from '../helpers/scripted-cluster.js'
import {ingestEnv, isolatedHome, KEY} from './helpers.js'

const ID = '0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11'

let cluster: ScriptedCluster | undefined
afterEach(async () => {
  await cluster?.stop()
  cluster = undefined
})

const FINAL_TAIL = 'Finished            [2024-05-01 10:01:28]\n\nFinal report\n\nThe following warnings happened:\nscan: Zero byte file (SC03)\n\nTotal elapsed time: 1m 27s\n'

describe('follow through transient failures', () => {
  it('a cluster answering 503 for a while: GETs are retried with backoff and following resumes', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), summary: SUMMARY, report: REPORT_OK, started: true, unavailable: {from: 4, count: 3}})
    const r = await runCli(['ingest', 'follow', `${cluster.url}/ingests/${ID}`, '-y'], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(0)
    expect(r.stdout.endsWith(FINAL_TAIL)).toBe(true)
    expect(r.stderr).toMatch(/Cluster not available \(the cluster answered 503 on GET \/ingests\/.+\); retrying in 0\.5 s \(attempt 1\)/)
    expect(r.stderr.match(/retrying/g)?.length).toBe(3)
    // the transcript is the same as without the outage: nothing is printed twice or lost
    expect(r.stdout.match(/^Scanning /gm)?.length).toBe(1)
    expect(r.stdout).toContain('40/40 files, 12MB (12s)')
  })

  it('a cluster that restarts (connection refused for a while): following resumes after it is back', async () => {
    const steps = fullScript()
    steps[2].polls = 6 // stay in scanning while the cluster is down
    cluster = await startScriptedCluster({apiKey: KEY, steps, summary: SUMMARY, report: REPORT_OK, started: true})
    const c = cluster
    const run = runCli(['ingest', 'follow', `${c.url}/ingests/${ID}`, '-y'], {env: ingestEnv(isolatedHome())})
    while (c.polls() < 3) await new Promise((r) => setTimeout(r, 10))
    await c.restart(1500)
    const r = await run
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/the cluster refused the connection/)
    expect(r.stdout.endsWith(FINAL_TAIL)).toBe(true)
    expect(r.stdout.match(/^Scanning /gm)?.length).toBe(1)
  })

  it('a POST is not retried on a status code', async () => {
    cluster = await startScriptedCluster({
      apiKey: KEY,
      steps: fullScript(),
      override: (req) => (req.method === 'POST' ? {status: 503, body: '{"detail":"busy"}'} : undefined),
    })
    const r = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '--no-preflight'], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/The cluster failed \(503 on POST .*\/ingests\): busy/)
    expect(cluster.requests.filter((q) => q.method === 'POST')).toHaveLength(1)
  })
})

describe('bad answers from the cluster: a clear error, never a stack trace', () => {
  const cases: Array<[string, (req: {method: string; path: string}) => {status: number; body: string} | undefined, RegExp]> = [
    ['non-JSON', (q) => (q.method === 'GET' && q.path.endsWith(ID) ? {status: 200, body: '<html>Welcome to the site</html>'} : undefined), /not JSON: an HTML page "Welcome to the site" \(32 bytes\)/],
    ['an ingest without id', (q) => (q.method === 'GET' && q.path.endsWith(ID) ? {status: 200, body: '{"status":"scanning","history":[]}'} : undefined), /JSON that is not an ingest/],
    ['a server error', (q) => (q.method === 'GET' && q.path.endsWith(ID) ? {status: 500, body: '{"detail":"database is locked"}'} : undefined), /The cluster failed \(500 .*\): database is locked/],
    ['a missing ingest', (q) => (q.method === 'GET' && q.path.endsWith(ID) ? {status: 404, body: '{"detail":"Ingest not found"}'} : undefined), /Not found on the cluster \(404 .*\): Ingest not found/],
  ]
  it.each(cases)('%s', async (_name, override, message) => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), started: true, override})
    const r = await runCli(['ingest', 'follow', `${cluster.url}/ingests/${ID}`], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(message)
    expect(r.stderr).toMatch(/→ /)
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
    const json = await runCli(['ingest', 'follow', `${cluster.url}/ingests/${ID}`, '--json'], {env: ingestEnv(isolatedHome())})
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!)).toMatchObject({status: 4, error: {code: expect.stringMatching(/^CLUSTER_/), message}})
  })

  it('a create answer without an id is refused before anything else is posted', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), override: (q) => (q.method === 'POST' && q.path.endsWith('/ingests') ? {status: 200, body: '{"status":"created"}'} : undefined)})
    const r = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '--no-preflight'], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/JSON that is not the created ingest \(with its id\)/)
    expect(cluster.requests.filter((q) => q.method === 'POST').map((q) => q.path)).toEqual(['/ingest/ingests'])
  })

  it('an unknown status string is shown and followed, not a crash', async () => {
    const steps = fullScript()
    steps.splice(3, 0, {status: 'indexing_magic', at: T0 + 13, polls: 3})
    cluster = await startScriptedCluster({apiKey: KEY, steps, summary: SUMMARY, report: REPORT_OK, started: true})
    const r = await runCli(['ingest', 'follow', `${cluster.url}/ingests/${ID}`, '-y'], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Scanning            [2024-05-01 10:00:02]\n40/40 files, 12MB (11s)\n\nIndexing magic      [2024-05-01 10:00:13]\n\nResolving')
    expect(r.stderr).toMatch(/status this client does not know \("indexing_magic"\); following it anyway/)
  })
})

describe('Ctrl-C while following', () => {
  it('detaches without aborting, prints the exact resume command and exits 68', async () => {
    const steps = fullScript()
    steps[2].polls = 1_000_000
    cluster = await startScriptedCluster({apiKey: KEY, steps, started: true})
    const url = `${cluster.url}/ingests/${ID}`
    const home = isolatedHome()
    const logs = join(home, 'audit dir') + '/'
    mkdirSync(logs)
    const child = spawn(process.execPath, [BIN, 'ingest', 'follow', url, '--save-audit-logs', logs], {cwd: ROOT, env: ingestEnv(home), stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const closed = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
    const deadline = Date.now() + 20_000
    while (!stdout.includes('Scanning ') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    await new Promise((r) => setTimeout(r, 200))
    child.kill('SIGINT')
    const code = await closed
    expect(code).toBe(68)
    expect(stdout).toContain(`Detached: the ingest keeps running on the cluster. Resume following with:\n  ingestgate ingest follow ${url} --save-audit-logs '${logs}'\n`)
    expect(stderr).not.toMatch(/Error/)
    expect(cluster.requests.filter((q) => q.method === 'POST')).toEqual([])
  })
})
