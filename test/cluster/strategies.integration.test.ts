/**
 * Folder and template ingests on the reference cluster, over real HTTP, against real listings of
 * the three clouds (S3 on moto, the GCS double, the Azure blob double): the hierarchy in /tree, the
 * report, the summary, what lands in the destination, and review, abort and restart on S3.
 */
import type {ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCluster, type ClusterHandle} from '../../src/cluster/server.js'
import {Store} from '../../src/cluster/store.js'
import {putBlob} from '../../emulators/azure-blob-double.mjs'
import {ACCOUNT, CONTAINER, INGEST, RESOURCE_GROUP, spawnAzureCluster, standardSeed, startDoubles, SUBSCRIPTION} from '../helpers/azure.js'
import {runInProcess} from '../helpers/in-process.js'
import {ingestEnv, isolatedHome} from '../ingest/helpers.js'
import {clusterApi, vendorCreateBody, type Api} from '../helpers/cluster.js'
import {gcsEnv, INGEST_MEMBER, INGEST_TOKEN, startGcs} from '../helpers/gcs.js'
import {clusterOnMoto, ROOT_CREDENTIALS, startMoto, type Moto} from '../helpers/moto.js'

const KEY = 'cluster.example.org:test-key-0123456789'

/** A small export laid out as the vendor's folder strategy expects (relative key -> body). */
const TREE: Record<string, string> = {
  'radiology/Study 7/sub-01/ses-1/T1w/dicom/IM0001.dcm': 'dicom one',
  'radiology/Study 7/sub-01/ses-1/T1w/dicom/IM0002.dcm': 'dicom two',
  'radiology/Study 7/sub-01/ses-1/T1w/notes.txt': 'notes',
  'radiology/Study 7/sub-01/consent.pdf': 'consent',
  'radiology/Study 7/sub-02/ses-1/rest/bold.nii.gz': 'bold',
  'radiology/Study 7/readme.txt': 'a project-level file',
}

/** What a vendor CLI `fw ingest folder SRC -y` sends (no include filter: every file; no -g/-p). */
const FOLDER = {strategy_name: 'folder', group: undefined, project: undefined, dicom: 'dicom', root_dirs: 0, no_subjects: false, no_sessions: false}
const TEMPLATE = {
  strategy_name: 'template',
  group: undefined,
  project: undefined,
  template: [{pattern: '{group}'}, {pattern: '{project}'}, {pattern: 'sub-{subject}'}, {pattern: 'ses-{session}'}, {pattern: '{acquisition}'}, {select: [{pattern: 'dicom', packfile_type: 'dicom'}]}],
  no_subjects: false,
  no_sessions: false,
  set_var: ['subject.info.site=boston'],
}
const NO_FILTER = {include: [], detect_duplicates_override: []}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]))
}

async function runToEnd(api: Api, src: string, strategy: object, config: object = {}) {
  const created = await api.create(src, strategy as Record<string, unknown>, {...NO_FILTER, ...config})
  await api.call('POST', `/ingests/${created.id}/start`)
  const final = await api.waitFor(created.id, ['finished', 'failed', 'aborted'], 30_000)
  return {id: created.id as string, final}
}

async function tree(api: Api, id: string) {
  const text: string = await api.get(`/ingests/${id}/tree`)
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l))
}

/** The assertions every cloud shares: a folder and a template ingest of TREE under `src`. */
function rehearsals(name: string, setup: () => Promise<{src: string; api: Api; dataDir: string; idle(): Promise<void>}>) {
  describe(`${name}: folder and template ingests`, () => {
    let env: Awaited<ReturnType<typeof setup>>
    beforeAll(async () => {
      env = await setup()
    }, 60_000)

    it('folder: the folders are the hierarchy, the dicom folder is the acquisition\'s DICOM, the project-level file is reported (SC07)', async () => {
      const {api, src, dataDir} = env
      const {id, final} = await runToEnd(api, src, FOLDER, {enable_project_files: false})
      expect(final.status, JSON.stringify(await api.get(`/ingests/${id}/report`))).toBe('finished')
      const containers = await tree(api, id)
      expect(containers.map((c) => [c.level, c.path, c.files_cnt])).toEqual([
        [0, 'radiology', 5],
        [1, 'radiology/Study 7', 5],
        [2, 'radiology/Study 7/sub-01', 4],
        [2, 'radiology/Study 7/sub-02', 1],
        [3, 'radiology/Study 7/sub-01/ses-1', 3],
        [3, 'radiology/Study 7/sub-02/ses-1', 1],
        [4, 'radiology/Study 7/sub-01/ses-1/T1w', 3],
        [4, 'radiology/Study 7/sub-02/ses-1/rest', 1],
      ])
      const byPath = new Map(containers.map((c) => [c.path, c]))
      expect(byPath.get('radiology/Study 7/sub-01/ses-1/T1w').parent_id).toBe(byPath.get('radiology/Study 7/sub-01/ses-1').id)
      expect(byPath.get('radiology').src_context).toEqual({_id: 'radiology'})
      expect(byPath.get('radiology/Study 7/sub-01').src_context).toEqual({label: 'sub-01'})
      const summary = await api.get(`/ingests/${id}/summary`)
      expect(summary).toMatchObject({groups: 1, projects: 1, subjects: 2, sessions: 2, acquisitions: 2, files: 5, packfiles: 1})
      expect(summary.errors).toEqual([expect.objectContaining({code: 'SC07', count: 1})])
      const report = await api.get(`/ingests/${id}/report`)
      expect(report.errors).toEqual([
        expect.objectContaining({type: 'resolve', code: 'SC07', message: 'radiology/Study 7/readme.txt: a project-level file; project files are uploaded only with --enable-project-files'}),
      ])
      await env.idle()
      const written = walk(join(dataDir, 'dest')).map((p) => relative(join(dataDir, 'dest'), p)).sort()
      expect(written).toEqual([
        'radiology/Study 7/sub-01/consent.pdf',
        'radiology/Study 7/sub-01/ses-1/T1w/IM0001.dcm',
        'radiology/Study 7/sub-01/ses-1/T1w/IM0002.dcm',
        'radiology/Study 7/sub-01/ses-1/T1w/notes.txt',
        'radiology/Study 7/sub-02/ses-1/rest/bold.nii.gz',
      ])
      const audit: string = await api.get(`/ingests/${id}/audit`)
      expect(audit).toContain('radiology/Study 7/sub-01/ses-1/T1w/dicom/IM0001.dcm,fw://radiology/Study 7/sub-01/ses-1/T1w/IM0001.dcm,completed,false,,,uploaded')
      expect(audit).toMatch(/radiology\/Study 7\/readme\.txt,,skipped,false,SC07,/)
    })

    it('template: patterns capture the labels, set_var adds context, the select packs the dicom folder', async () => {
      const {api, src} = env
      const {id, final} = await runToEnd(api, src, TEMPLATE, {enable_project_files: true})
      expect(final.status).toBe('finished')
      const containers = await tree(api, id)
      expect(containers.map((c) => [c.level, c.path, c.files_cnt])).toEqual([
        [0, 'radiology', 5],
        [1, 'radiology/Study 7', 5],
        [2, 'radiology/Study 7/01', 4],
        [2, 'radiology/Study 7/02', 1],
        [3, 'radiology/Study 7/01/1', 3],
        [3, 'radiology/Study 7/02/1', 1],
        [4, 'radiology/Study 7/01/1/T1w', 3],
        [4, 'radiology/Study 7/02/1/rest', 1],
      ])
      expect(containers.find((c) => c.path === 'radiology/Study 7/01').src_context).toEqual({label: '01', info: {site: 'boston'}})
      const summary = await api.get(`/ingests/${id}/summary`)
      expect(summary).toMatchObject({subjects: 2, sessions: 2, acquisitions: 2, files: 5, packfiles: 1})
      // set_var gives every file a subject context; the project-level file's has no label, so its
      // context is invalid (the vendor's ItemContext check), even with enable_project_files.
      expect((await api.get(`/ingests/${id}/report`)).errors).toEqual([
        expect.objectContaining({code: 'SC07', message: 'radiology/Study 7/readme.txt: the extracted context is invalid: the subject has neither an id nor a label'}),
      ])
    })

    it('a bad template is refused when the ingest is created (400), naming the problem', async () => {
      const r = await env.api.call('POST', '/ingests', {
        config: {src_fs: env.src},
        strategy_config: {...TEMPLATE, template: '{group}:{project}:{nope}'},
      })
      expect(r.status).toBe(400)
      expect(r.json).toMatchObject({code: 'BAD_STRATEGY'})
      expect(r.json.message).toMatch(/Invalid template pattern \{nope\}/)
    })
  })
}

// ---------------------------------------------------------------------------------- S3 (moto)

let moto: Moto
const s3Clusters: ClusterHandle[] = []

async function s3Cluster(dataDir = mkdtempSync(join(tmpdir(), 'ig-strat-s3-'))) {
  const handle = await startCluster({dataDir, apiKey: KEY, ...clusterOnMoto(moto, ROOT_CREDENTIALS)})
  s3Clusters.push(handle)
  return {handle, api: clusterApi(handle.url, KEY), dataDir}
}

beforeAll(async () => {
  moto = await startMoto()
  const {s3} = moto.clients()
  await s3.send(new CreateBucketCommand({Bucket: 'exports'}))
  for (const [key, body] of Object.entries(TREE)) await s3.send(new PutObjectCommand({Bucket: 'exports', Key: `folder/${key}`, Body: body}))
  s3.destroy()
}, 60_000)

afterAll(async () => {
  for (const h of s3Clusters) await h.stop()
  await moto?.stop()
})

rehearsals('s3://', async () => {
  const {handle, api, dataDir} = await s3Cluster()
  return {src: 's3://exports/folder', api, dataDir, idle: () => handle.idle()}
})

describe('s3://: review, abort and restart of a folder ingest', () => {
  it('waits in review without -y; a review that skips a subject uploads the rest; the audit log says which', async () => {
    const {api, handle, dataDir} = await s3Cluster()
    const created = await api.create('s3://exports/folder', FOLDER, {...NO_FILTER, assume_yes: false, enable_project_files: true})
    await api.call('POST', `/ingests/${created.id}/start`)
    await api.waitFor(created.id, ['in_review'])
    const r = await api.call('POST', `/ingests/${created.id}/review`, [{path: 'radiology/Study 7/sub-02', skip: true}])
    expect(r.status).toBe(200)
    expect((await api.waitFor(created.id, ['finished', 'failed'])).status).toBe('finished')
    await handle.idle()
    const written = walk(join(dataDir, 'dest')).map((p) => relative(join(dataDir, 'dest'), p))
    expect(written).toContain('radiology/Study 7/readme.txt')
    expect(written.some((p) => p.includes('sub-02'))).toBe(false)
    const audit: string = await api.get(`/ingests/${created.id}/audit`)
    expect(audit).toContain('radiology/Study 7/sub-02/ses-1/rest/bold.nii.gz,fw://radiology/Study 7/sub-02/ses-1/rest/bold.nii.gz,skipped,false,,skipped in review,skipped')
  })

  it('a file named like a sibling folder gets another name instead of colliding with the folder', async () => {
    const {s3} = moto.clients()
    await s3.send(new CreateBucketCommand({Bucket: 'clash'}))
    await s3.send(new PutObjectCommand({Bucket: 'clash', Key: 'x/g1/p/sub-01/ses-1/T1w', Body: 'a file named T1w'}))
    await s3.send(new PutObjectCommand({Bucket: 'clash', Key: 'x/g1/p/sub-01/ses-1/T1w/a.nii', Body: 'in the folder T1w'}))
    s3.destroy()
    const {api, handle, dataDir} = await s3Cluster()
    const {id, final} = await runToEnd(api, 's3://clash/x', FOLDER)
    expect(final.status, JSON.stringify(await api.get(`/ingests/${id}/report`))).toBe('finished')
    await handle.idle()
    const written = walk(join(dataDir, 'dest')).map((p) => relative(join(dataDir, 'dest'), p)).sort()
    expect(written).toEqual(['g1/p/sub-01/ses-1/T1w/a.nii', 'g1/p/sub-01/ses-1/T1w_2'])
  })

  it('reads no DICOM header: each uploaded object is read once, whole, and nothing else is read', async () => {
    const {api} = await s3Cluster()
    const mark = moto.markLog()
    const {final} = await runToEnd(api, 's3://exports/folder', FOLDER, {enable_project_files: true})
    expect(final.status).toBe('finished')
    const gets = moto.requestsSince(mark).filter((r) => r.method === 'GET' && r.bucket === 'exports' && r.key !== '')
    expect(gets.filter((r) => r.range !== null)).toEqual([])
    expect(gets.map((r) => r.key).sort()).toEqual(Object.keys(TREE).map((k) => `folder/${k}`).sort())
  })

  it('through the client: ingest folder and ingest template -y -f finish, and the summary shows the hierarchy', async () => {
    const {handle} = await s3Cluster()
    const env = ingestEnv(isolatedHome(), {INGESTGATE_API_KEY: KEY})
    const folderRun = await runInProcess(['ingest', 'folder', 's3://exports/folder', '--cluster', handle.url, '--enable-project-files', '--no-preflight', '-y', '-f'], {env})
    expect(folderRun.code, folderRun.stderr).toBe(0)
    expect(folderRun.stdout + folderRun.stderr).toMatch(/Subjects: 2/)
    expect(folderRun.stdout + folderRun.stderr).toMatch(/Packfiles: 1/)
    const templateRun = await runInProcess(
      ['ingest', 'template', '{group}:{project}:sub-{subject}:ses-{session}:{acquisition}', 's3://exports/folder', '--cluster', handle.url, '--no-preflight', '-y', '-f'],
      {env},
    )
    // The project-level file is an error (no --enable-project-files): the ingest ends with an error in its report (exit 6).
    expect(templateRun.code, templateRun.stdout + templateRun.stderr).toBe(6)
    expect(templateRun.stdout + templateRun.stderr).toMatch(/Extracted context is invalid \(SC07\): 1/)
    const bad = await runInProcess(['ingest', 'template', '{group}:{project}:{nope}', 's3://exports/folder', '--cluster', handle.url, '--no-preflight', '-y'], {env})
    expect(bad.code).toBe(4)
    expect(bad.stderr).toMatch(/Invalid template pattern \{nope\}/)
  })

  it('a template that does not parse fails the ingest at configuring (GE05) when it got past the API (an older cluster stored it)', async () => {
    const first = await s3Cluster()
    await first.handle.stop()
    const store = new Store(join(first.dataDir, 'cluster.db'))
    const {config} = vendorCreateBody('s3://exports/folder')
    const ingest = store.createIngest(config as never, {...TEMPLATE, template: '{group}:{project}:{nope}'} as never, 's3://exports/folder')
    store.close()
    const second = await s3Cluster(first.dataDir)
    await second.api.call('POST', `/ingests/${ingest.id}/start`)
    const done = await second.api.waitFor(ingest.id, ['failed'])
    expect(done.history.map((h: [string, number]) => h[0])).toEqual(['created', 'configuring', 'failed'])
    expect((await second.api.get(`/ingests/${ingest.id}/report`)).errors).toEqual([
      {task: expect.any(String), type: 'configure', code: 'GE05', message: expect.stringMatching(/^Invalid template pattern \{nope\} in "\{nope\}"/)},
    ])
  })

  it('an abort in review cancels every file; nothing is written', async () => {
    const {api, handle, dataDir} = await s3Cluster()
    const created = await api.create('s3://exports/folder', FOLDER, {...NO_FILTER, assume_yes: false})
    await api.call('POST', `/ingests/${created.id}/start`)
    await api.waitFor(created.id, ['in_review'])
    expect((await api.call('POST', `/ingests/${created.id}/abort`)).status).toBe(200)
    expect((await api.waitFor(created.id, ['aborted'])).status).toBe('aborted')
    await handle.idle()
    expect(walk(join(dataDir, 'dest'))).toEqual([])
    const audit: string = await api.get(`/ingests/${created.id}/audit`)
    expect(audit.match(/,canceled,/g)).toHaveLength(5)
  })

  it('a restart in review keeps the same hierarchy (same ids), then the review finishes it', async () => {
    const first = await s3Cluster()
    const created = await first.api.create('s3://exports/folder', TEMPLATE, {...NO_FILTER, assume_yes: false, enable_project_files: true})
    await first.api.call('POST', `/ingests/${created.id}/start`)
    await first.api.waitFor(created.id, ['in_review'])
    const before = await tree(first.api, created.id)
    await first.handle.stop()
    const second = await s3Cluster(first.dataDir)
    expect(await tree(second.api, created.id)).toEqual(before)
    await second.api.call('POST', `/ingests/${created.id}/review`)
    expect((await second.api.waitFor(created.id, ['finished', 'failed'])).status).toBe('finished')
    expect((await second.api.get(`/ingests/${created.id}/summary`)).files).toBe(5)
  })
})

// ---------------------------------------------------------------------------------- GCS (double)

describe('gs://', () => {
  let stopAll: () => Promise<void> = async () => {}
  afterAll(() => stopAll())
  rehearsals('gs://', async () => {
    const double = await startGcs()
    double.createBucket('gcs-exports')
    // What grant apply writes, reduced: the ingest service account may read the bucket.
    double.setPolicy('gcs-exports', [{role: 'roles/storage.objectViewer', members: [INGEST_MEMBER]}])
    for (const [key, body] of Object.entries(TREE)) double.putObject('gcs-exports', `folder/${key}`, body)
    const dataDir = mkdtempSync(join(tmpdir(), 'ig-strat-gcs-'))
    const handle = await startCluster({dataDir, apiKey: KEY, cloudFlags: {'endpoint-url': double.url}, env: gcsEnv(double, INGEST_TOKEN)})
    stopAll = async () => {
      await handle.stop()
      await double.stop()
    }
    return {src: 'gs://gcs-exports/folder', api: clusterApi(handle.url, KEY), dataDir, idle: () => handle.idle()}
  })
})

// ---------------------------------------------------------------------------------- Azure (blob double)

describe('az://', () => {
  let cluster: ChildProcess | undefined
  let stopDoubles: () => Promise<void> = async () => {}
  afterAll(async () => {
    cluster?.kill('SIGTERM')
    await stopDoubles()
  })
  rehearsals('az://', async () => {
    const seed = standardSeed()
    const containerScope = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.Storage/storageAccounts/${ACCOUNT}/blobServices/default/containers/${CONTAINER}`
    seed.assignments = [...(seed.assignments ?? []), {scope: containerScope, role: 'Storage Blob Data Reader', principalId: INGEST.oid, principalType: 'ServicePrincipal'}]
    const d = await startDoubles(seed, {blobs: 0})
    stopDoubles = () => d.stop()
    for (const [key, body] of Object.entries(TREE)) putBlob(d.world, ACCOUNT, CONTAINER, `folder/${key}`, body)
    // Its own process, logged in as the ingest principal, as the Azure CLI test runs it.
    const spawned = await spawnAzureCluster(d, INGEST, KEY)
    cluster = spawned.process
    const {url, dataDir} = spawned
    const api = clusterApi(url, KEY)
    // No handle in this process: idle is "no ingest in a working status".
    const idle = async () => {
      for (let i = 0; i < 100; i++) {
        const all: Array<{status: string}> = await api.get('/ingests')
        if (all.every((x) => ['finished', 'failed', 'aborted', 'in_review', 'created'].includes(x.status))) return
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    return {src: `az://${ACCOUNT}/${CONTAINER}/folder`, api, dataDir, idle}
  })
})
