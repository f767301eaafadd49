/**
 * Every ingest command through the built CLI over real HTTP (scripted cluster): the create body,
 * the remembered last ingest, list/status/report/abort, the refusals, and that the API key never
 * appears anywhere but in the Authorization header.
 */
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {runCli, type CliResult} from '../helpers/cli.js'
import {vendorCreateBody} from '../helpers/cluster.js'
import {fullScript, REPORT_OK, startScriptedCluster, SUMMARY, ZERO_PROGRESS, type ScriptedCluster} from '../helpers/scripted-cluster.js'
import {ingestEnv, isolatedHome, jsonLines, KEY} from './helpers.js'

const ID = '0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11'

/** The create body of the protocol doc for `ingest dicom s3://bkt/dir grp prj --cluster URL -y`. */
const PROTOCOL_EXAMPLE_BODY = vendorCreateBody('s3://bkt/dir')

let cluster: ScriptedCluster | undefined
afterEach(async () => {
  await cluster?.stop()
  cluster = undefined
})

const noStack = (r: CliResult) => expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)

describe('ingest dicom|folder|template|project', () => {
  it('dicom s3://bkt/dir grp prj --cluster URL -y sends exactly the protocol example body, then start, and remembers the ingest', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript()})
    const home = isolatedHome()
    const r = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y'], {env: ingestEnv(home)})
    expect(r.code).toBe(0)
    const create = cluster.requests.find((q) => q.method === 'POST' && q.path === '/ingest/ingests')!
    expect(JSON.parse(create.body)).toEqual(PROTOCOL_EXAMPLE_BODY)
    // same order of fields as the vendor CLI
    expect(Object.keys(JSON.parse(create.body).config)).toEqual(Object.keys(PROTOCOL_EXAMPLE_BODY.config))
    expect(create.headers['content-type']).toBe('application/json')
    expect(create.headers.authorization).toBe(KEY)
    // the preflight gate asked the cluster (GET /ingests) before anything was created
    expect(cluster.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['GET /ingest/ingests', 'POST /ingest/ingests', `POST /ingest/ingests/${ID}/start`])
    const start = cluster.requests.at(-1)!
    expect(start.body).toBe('')
    expect(start.headers['content-length'] ?? '0').toBe('0')
    expect(r.stdout).toBe(`Started ingest ${cluster.url}/ingests/${ID}\nUse \`ingestgate ingest follow\` to see progress or \`ingestgate ingest abort\` to abort it\n`)
    expect(r.stderr).toMatch(/Preflight:\n {2}PASS {2}source: s3:\/\/bkt\/dir\n {2}PASS {2}cluster: .* answers and accepts the key/)
    expect(readFileSync(join(home, '.config/flywheel/ingest.yaml'), 'utf8')).toBe(`ingest_operation_url: ${cluster.url}/ingests/${ID}\n`)
  })

  it('vendor flags reach the body; --load-subjects uploads the CSV as multipart subject_csv before start', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript()})
    const home = isolatedHome()
    const csv = join(home, 'subjects.csv')
    writeFileSync(csv, 'src,dst\nP1,S01\n')
    const r = await runCli(
      ['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '--no-preflight', '--subject', 'S01', '--session', 'V1', '--include', '*.dcm', '--exclude', '*.txt',
        '--de-identify', '--deid-profile', 'strict', '--compression-level', '9', '--detect-duplicates-override', 'DD01', '--detect-duplicates-override', 'DD05', '--strict-uid', '--load-subjects', csv],
      {env: ingestEnv(home)},
    )
    expect(r.code).toBe(0)
    const body = JSON.parse(cluster.requests.find((q) => q.path === '/ingest/ingests' && q.method === 'POST')!.body)
    expect(body.config).toMatchObject({include: ['*.dcm'], exclude: ['*.txt'], de_identify: true, deid_profile: 'strict', compression_level: 9, detect_duplicates: true,
      detect_duplicates_override: ['DD01', 'DD05'], strict_uid: true, assume_yes: false})
    expect(body.strategy_config).toEqual({strategy_name: 'dicom', group: 'grp', project: 'prj', subject: 'S01', session: 'V1'})
    const posts = cluster.requests.filter((q) => q.method === 'POST').map((q) => q.path)
    expect(posts).toEqual(['/ingest/ingests', `/ingest/ingests/${ID}/subjects`, `/ingest/ingests/${ID}/start`])
    const upload = cluster.requests.find((q) => q.path.endsWith('/subjects'))!
    expect(upload.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/)
    expect(upload.body).toMatch(/Content-Disposition: form-data; name="subject_csv"; filename="subjects.csv"\r\nContent-Type: text\/csv\r\n\r\nsrc,dst\nP1,S01\n\r\n/)
  })

  it('folder, template and project send their strategy configs; -C config file supplies defaults', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript()})
    const home = isolatedHome()
    const env = ingestEnv(home)
    const cfg = join(home, 'ingest.yml')
    writeFileSync(cfg, `cluster: ${cluster.url}\nno_sessions: true\nexclude-dirs: [tmp]\n`)
    const bodies = () => cluster!.requests.filter((q) => q.method === 'POST' && q.path === '/ingest/ingests').map((q) => JSON.parse(q.body))
    expect((await runCli(['ingest', 'folder', 's3://bkt/study', '-g', 'radiology', '-p', 'study-7', '-C', cfg, '--no-preflight'], {env})).code).toBe(0)
    expect(bodies()[0].strategy_config).toEqual({strategy_name: 'folder', group: 'radiology', project: 'study-7', dicom: 'dicom', root_dirs: 0, no_subjects: false, no_sessions: true})
    expect(bodies()[0].config.exclude_dirs).toEqual(['tmp'])
    expect(bodies()[0].config.include).toEqual([])
    expect(bodies()[0].config.detect_duplicates_override).toEqual(['DD01', 'DD02', 'DD03', 'DD05', 'DD06', 'DD08', 'DD09', 'DD10', 'DD11'])

    cluster.requests.length = 0
    const r = await runCli(['ingest', 'template', '{group}:{project}:{subject}', 's3://bkt/x', '--cluster', cluster.url, '--set-var', 'site=boston', '--no-preflight'], {env})
    expect(r.code).toBe(0)
    expect(bodies()[0].strategy_config).toEqual({strategy_name: 'template', template: '{group}:{project}:{subject}', no_subjects: false, no_sessions: false, set_var: ['site=boston']})

    cluster.requests.length = 0
    const sourceKey = 'other.example.io:SOURCEKEYcanary42'
    const p = await runCli(['ingest', 'project', 'fw://radiology/mri-2023', sourceKey, '--cluster', cluster.url, '-g', 'archive'], {env})
    expect(p.code).toBe(0)
    expect(bodies()[0].strategy_config).toEqual({strategy_name: 'project', group: 'archive', project: 'mri-2023', no_metadata: false, deid_log_exists: false})
    expect(bodies()[0].config.src_fs).toBe('fw://radiology/mri-2023')
    expect(p.stdout + p.stderr).not.toContain('SOURCEKEYcanary42')
    expect(p.stderr).toMatch(/SKIP {2}source: fw:\/\/radiology\/mri-2023 is a project on a Flywheel site, not a bucket/)
  })

  it.each([
    [['ingest', 'dicom', 's3://bkt/dir', 'grp'], 2, 'MISSING_GROUP_PROJECT', /needs the group id and the project label/],
    [['ingest', 'dicom', 's3://bkt/dir', 'Bad_Group!', 'prj', '--cluster', 'http://127.0.0.1:9/ingest'], 3, 'BAD_GROUP_ID', /Invalid group id "Bad_Group!"/],
    [['ingest', 'dicom', 'bucket/dir', 'grp', 'prj', '--cluster', 'http://127.0.0.1:9/ingest'], 3, 'BAD_SOURCE', /Invalid source URL "bucket\/dir"/],
    [['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', 'ftp://site.example.io'], 3, 'BAD_CLUSTER_URL', /only http:\/\/ and https:\/\//],
  ])('%j exits %i (%s) with a remedy', async (args, exit, code, message) => {
    const r = await runCli(args as string[], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(exit)
    expect(r.stderr).toMatch(message)
    expect(r.stderr).toMatch(/→ /)
    noStack(r)
    const j = await runCli([...(args as string[]), '--json'], {env: ingestEnv(isolatedHome())})
    expect(jsonLines(j.stdout).at(-1)).toMatchObject({status: exit, error: {code}})
  })

  it('without a cluster URL anywhere it refuses, saying only cluster ingests are supported and how to get the URL', async () => {
    const r = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '-y'], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/No ingest cluster URL: ingestgate only runs cluster ingests/)
    expect(r.stderr).toMatch(/sign-in URL followed by \/ingest/)
    expect(r.stderr).toMatch(/--cluster URL/)
    noStack(r)
  })

  it('the preflight gate refuses to create anything when the cluster rejects the key', async () => {
    cluster = await startScriptedCluster({apiKey: 'another:key', steps: fullScript()})
    const r = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y'], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/FAIL {2}cluster: The cluster refused the API key \(401 on GET .*\/ingests\): Invalid API key/)
    expect(cluster.requests.map((q) => q.method)).toEqual(['GET'])
  })
})

describe('follow, abort, list, status, report', () => {
  it('follow without a URL uses the remembered ingest; a malformed URL gets the vendor message', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), summary: SUMMARY, report: REPORT_OK, started: true})
    const home = isolatedHome()
    mkdirSync(join(home, '.config/flywheel'), {recursive: true})
    writeFileSync(join(home, '.config/flywheel/ingest.yaml'), `ingest_operation_url: ${cluster.url}/ingests/${ID}\n`)
    const r = await runCli(['ingest', 'follow', '-y'], {env: ingestEnv(home)})
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/Total elapsed time: 1m 27s\n$/)

    const bad = await runCli(['ingest', 'follow', `${cluster.url}/ingest/123`], {env: ingestEnv(home)})
    expect(bad.code).toBe(3)
    expect(bad.stderr).toContain('Error: The provided url should have the following format: <cluster_url>/ingests/<ingest_id>')
    const none = await runCli(['ingest', 'status'], {env: ingestEnv(isolatedHome())})
    expect(none.code).toBe(3)
    expect(none.stderr).toContain("Couldn't determine the ingest URL, probably it was started on a different machine or by a different user. Please specify the ingest URL as a positional argument.")
  })

  it('list and status show the ingests; --json gives the envelope', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), started: true})
    const env = ingestEnv(isolatedHome())
    const list = await runCli(['ingest', 'list', '--cluster', cluster.url], {env})
    expect(list.code).toBe(0)
    expect(list.stdout).toBe(`STATUS       CREATED                   LABEL     URL\nconfiguring  2024-05-01T10:00:00.000Z  scripted  ${cluster.url}/ingests/${ID}\n`)
    const listJson = await runCli(['ingest', 'list', '--cluster', cluster.url, '--json'], {env})
    expect(listJson.json).toMatchObject({status: 0, result: [{id: ID, status: 'configuring', url: `${cluster.url}/ingests/${ID}`}]})
    // One document, pretty-printed like every other command's (only event streams are JSON Lines).
    expect(listJson.stdout).toBe(JSON.stringify(listJson.json, null, 2) + '\n')

    const status = await runCli(['ingest', 'status', `${cluster.url}/ingests/${ID}`], {env})
    expect(status.code).toBe(0)
    expect(status.stdout).toContain(`Ingest ${cluster.url}/ingests/${ID}\nStatus: `)
    expect(status.stdout).toContain('  Created             [2024-05-01 10:00:00]\n')
    const sj = await runCli(['ingest', 'status', `${cluster.url}/ingests/${ID}`, '--json'], {env})
    expect(sj.json?.result.ingest.id).toBe(ID)
    // the cluster's /progress, as it answered
    expect(cluster.requests.filter((q) => q.method === 'GET' && q.path === `/ingest/ingests/${ID}/progress`).length).toBeGreaterThan(0)
    expect(Object.keys(sj.json?.result.progress)).toEqual(Object.keys(ZERO_PROGRESS))
    expect(Object.keys(sj.json?.result.progress.stages)).toEqual(Object.keys(ZERO_PROGRESS.stages))
  })

  it('report prints the final report, saves the audit log without overwriting, exits 6 for a failed ingest', async () => {
    const steps = fullScript({final: 'failed'})
    cluster = await startScriptedCluster({
      apiKey: KEY,
      steps: [steps[0], steps.at(-1)!],
      started: true,
      report: {status: 'failed', elapsed: {scanning: 4}, errors: [{task: 't1', type: 'scan', code: 'SC01', message: 'Access denied'}], warnings: []},
      streams: {audit: ['src_path,dst_path,status,existing,error_code,error_message,action_taken', '', 'a.dcm,,failed,false,SC01,Access denied,'], deid: ['x']},
    })
    const home = isolatedHome()
    const out = join(home, 'audit.csv')
    writeFileSync(out, 'keep me\n')
    const logs = join(home, 'logs')
    mkdirSync(logs)
    const r = await runCli(['ingest', 'report', `${cluster.url}/ingests/${ID}`, '--save-audit-logs', out, '--save-deid-logs', logs], {env: ingestEnv(home)})
    expect(r.code).toBe(6)
    expect(r.stdout).toContain('Final report\n\nThe following errors happened:\nscan: Access denied (SC01)\n\nTotal elapsed time: 4s\n')
    expect(readFileSync(out, 'utf8')).toBe('keep me\n')
    const fallback = join(home, 'audit(1).csv')
    expect(readFileSync(fallback, 'utf8')).toBe('src_path,dst_path,status,existing,error_code,error_message,action_taken\na.dcm,,failed,false,SC01,Access denied,\n')
    expect(r.stdout).toContain(`Saved audit logs to ${fallback}\n`)
    expect(r.stderr).toContain(`File already exists: ${out}. Fallback to: ${fallback}`)
    const [deid] = readdirSync(logs)
    expect(deid).toMatch(/^deid_logs-\d{8}-\d{6}-ingestgate-0\.1\.0\.csv$/)
    expect(r.stdout).toContain(`Saved deid logs to ${join(logs, deid)}\n`)
  })

  it('abort: confirms on stdin, posts /abort; -y skips the question; an ended ingest is "Ingest already <status>"', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), started: true})
    const env = ingestEnv(isolatedHome())
    const url = `${cluster.url}/ingests/${ID}`
    const no = await runCli(['ingest', 'abort', url], {env, input: 'no\n'})
    expect(no.code).toBe(0)
    expect(no.stdout).toBe('Are you sure you want to abort the ingest? (yes/no): ')
    expect(cluster.requests.filter((q) => q.method === 'POST')).toEqual([])

    const eof = await runCli(['ingest', 'abort', url], {env, input: ''})
    expect(eof.code).toBe(3)
    expect(eof.stderr).toMatch(/needs confirmation/)
    expect(cluster.requests.filter((q) => q.method === 'POST')).toEqual([])

    const yes = await runCli(['ingest', 'abort', url], {env, input: 'yes\n'})
    expect(yes.code).toBe(0)
    expect(yes.stderr).toContain('Abort requested: the ingest is aborting.')
    expect(cluster.requests.filter((q) => q.method === 'POST').map((q) => q.path)).toEqual([`/ingest/ingests/${ID}/abort`])
    // the scripted cluster moves aborting -> aborted on the next polls
    await runCli(['ingest', 'status', url], {env})
    await runCli(['ingest', 'status', url], {env})
    const again = await runCli(['ingest', 'abort', url, '-y'], {env})
    expect(again.code).toBe(0)
    expect(again.stdout).toBe('Ingest already aborted\n')
    // --json: stdout is the envelope only
    const json = await runCli(['ingest', 'abort', url, '-y', '--json'], {env})
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({status: 0, result: {aborted: false, status: 'aborted', message: 'Ingest already aborted'}})
    expect(cluster.requests.filter((q) => q.method === 'POST')).toHaveLength(1)
  })
})

describe('the API key', () => {
  it('comes from --api-key, then INGESTGATE_API_KEY, then user.json under FLYWHEEL_USER_HOME, and is sent raw', async () => {
    cluster = await startScriptedCluster({steps: fullScript(), started: true})
    const home = isolatedHome()
    mkdirSync(join(home, '.config/flywheel'), {recursive: true})
    writeFileSync(join(home, '.config/flywheel/user.json'), JSON.stringify({key: 'site.example.io:FROMUSERJSON1', root: false}))
    const url = cluster.url
    const seen = () => cluster!.requests.at(-1)!.headers.authorization
    await runCli(['ingest', 'list', '--cluster', url, '--api-key', 'site.example.io:FROMFLAG1'], {env: ingestEnv(home)})
    expect(seen()).toBe('site.example.io:FROMFLAG1')
    await runCli(['ingest', 'list', '--cluster', url], {env: ingestEnv(home, {INGESTGATE_API_KEY: 'site.example.io:FROMENV1'})})
    expect(seen()).toBe('site.example.io:FROMENV1')
    await runCli(['ingest', 'list', '--cluster', url], {env: ingestEnv(home, {INGESTGATE_API_KEY: ''})})
    expect(seen()).toBe('site.example.io:FROMUSERJSON1')
    const none = await runCli(['ingest', 'list', '--cluster', url], {env: ingestEnv(isolatedHome(), {INGESTGATE_API_KEY: ''})})
    expect(none.code).toBe(3)
    expect(none.stderr).toMatch(/No API key for the ingest cluster/)
  })

  it('never appears in stdout, stderr, the remembered-ingest file or error messages', async () => {
    cluster = await startScriptedCluster({
      apiKey: KEY,
      steps: fullScript(),
      summary: SUMMARY,
      report: REPORT_OK,
      // a hostile cluster that echoes the Authorization header back in errors
      override: (q) =>
        q.path.endsWith('/summary')
          ? {status: 200, body: JSON.stringify({...SUMMARY, warnings: [{code: 'X', message: `key was ${q.headers.authorization}`, count: 1}]})}
          : undefined,
    })
    const home = isolatedHome()
    const env = ingestEnv(home)
    const runs = [
      await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '-f', '--no-preflight'], {env}),
      await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '-f', '--no-preflight', '--json'], {env}),
      await runCli(['ingest', 'list', '--cluster', cluster.url, '--api-key', KEY, '--json'], {env: ingestEnv(home, {INGESTGATE_API_KEY: ''})}),
      await runCli(['ingest', 'status', `${cluster.url}/ingests/00000000-0000-0000-0000-000000000000`], {env}),
      await runCli(['ingest', 'list', '--cluster', 'http://127.0.0.1:9/ingest', '--api-key', KEY], {env: ingestEnv(home, {INGESTGATE_RETRY_BUDGET_MS: '0'})}),
    ]
    expect(runs[0].stdout).toContain('key was [REDACTED]')
    expect(runs[3].code).toBe(4)
    expect(runs[4].code).toBe(4)
    const secret = KEY.split(':')[1]
    for (const r of runs) {
      expect(r.stdout).not.toContain(secret)
      expect(r.stderr).not.toContain(secret)
    }
    const files = (dir: string): string[] => readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    for (const f of files(home)) expect(readFileSync(f, 'utf8'), f).not.toContain(secret)
    expect(existsSync(join(home, '.config/flywheel/ingest.yaml'))).toBe(true)
    expect(cluster.requests.every((q) => q.headers.authorization === KEY)).toBe(true)
  })
})
