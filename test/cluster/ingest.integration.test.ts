/**
 * The reference cluster over real HTTP against S3 on moto, with generated DICOM: what an ingest
 * finds (hierarchy, counts, warnings, errors), how little it reads while scanning, what it writes,
 * and the review and abort paths.
 */
import {existsSync, mkdtempSync, readFileSync, readdirSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {startCluster, type ClusterHandle} from '../../src/cluster/server.js'
import {progressBody, progressCounts} from '../../src/ingest/format.js'
import {AUDIT_HEADER} from '../../src/ingest/protocol.js'
import {clusterApi, seedDicomBucket, type Api, type SeededSource} from '../helpers/cluster.js'
import {clusterOnMoto, ROOT_CREDENTIALS, startMoto, type Moto} from '../helpers/moto.js'

const KEY = 'cluster.example.org:test-key-0123456789'

let moto: Moto
let src: SeededSource

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]))
}

async function cluster(extra: Partial<Parameters<typeof startCluster>[0]> = {}): Promise<{handle: ClusterHandle; api: Api; dataDir: string}> {
  const dataDir = extra.dataDir ?? mkdtempSync(join(tmpdir(), 'ig-cluster-'))
  const handle = await startCluster({
    dataDir,
    apiKey: KEY,
    ...clusterOnMoto(moto, ROOT_CREDENTIALS),
    ...extra,
  })
  return {handle, api: clusterApi(handle.url, KEY), dataDir}
}

beforeAll(async () => {
  moto = await startMoto()
  src = await seedDicomBucket(moto)
}, 60_000)

afterAll(async () => {
  await moto?.stop()
})

describe('an unattended (-y) DICOM ingest of s3://imaging/study', () => {
  let handle: ClusterHandle
  let api: Api
  let dataDir: string
  let id: string
  let final: any
  let scanRequests: ReturnType<Moto['requests']>

  beforeAll(async () => {
    ;({handle, api, dataDir} = await cluster())
    const mark = moto.markLog()
    const created = await api.create(src.url)
    id = created.id
    expect(created.status).toBe('created')
    await api.call('POST', `/ingests/${id}/start`)
    final = await api.waitFor(id, ['finished', 'failed', 'aborted'], 60_000)
    // The reports are written just after the terminal status: wait for the worker to be done.
    await handle.idle()
    scanRequests = moto.requestsSince(mark).filter((r) => r.method === 'GET' && r.bucket === src.bucket && r.key !== '' && r.range !== null)
  }, 90_000)

  afterAll(async () => {
    await handle?.stop()
  })

  it('goes through every stage in order and finishes', () => {
    expect(final.status).toBe('finished')
    expect(final.history.map((h: [string, number]) => h[0])).toEqual([
      'created',
      'configuring',
      'scanning',
      'resolving',
      'in_review',
      'preparing',
      'uploading',
      'finalizing',
      'finished',
    ])
    const times = final.history.map((h: [string, number]) => h[1])
    expect([...times].sort((a, b) => a - b)).toEqual(times)
    expect(final.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(final.config.src_fs).toBe(src.url)
  })

  it('resolves group / project / subject / session / acquisition from the DICOM tags', async () => {
    const summary = await api.get(`/ingests/${id}/summary`)
    // 3 patients x 2 studies x 2 series from the set, plus the SSE-KMS file (P900) and the long header (P901).
    expect(summary).toMatchObject({groups: 1, projects: 1, subjects: 5, sessions: 8, acquisitions: 14, files: 26, packfiles: 14})

    const tree = (await api.call('GET', `/ingests/${id}/tree`)).text.trim().split('\n').map((l) => JSON.parse(l))
    expect(tree.filter((c) => c.level === 0).map((c) => c.path)).toEqual(['grp'])
    expect(tree.filter((c) => c.level === 2).map((c) => c.path)).toEqual(['grp/prj/P001', 'grp/prj/P002', 'grp/prj/P003', 'grp/prj/P900', 'grp/prj/P901'])
    const p1Sessions = tree.filter((c) => c.level === 3 && c.path.startsWith('grp/prj/P001/'))
    expect(p1Sessions.map((c) => c.path)).toEqual(['grp/prj/P001/20240102', 'grp/prj/P001/20240103'])
    expect(p1Sessions[0].src_context).toMatchObject({label: '20240102', uid: src.dicom[0].studyInstanceUid})
    const acq = tree.find((c) => c.path === 'grp/prj/P001/20240102/Series 1 T1')
    expect(acq).toMatchObject({level: 4, files_cnt: 2, src_context: {label: 'Series 1 T1', uid: src.dicom[0].seriesInstanceUid}})
    const byId = new Map(tree.map((c) => [c.id, c]))
    for (const c of tree.filter((x) => x.level > 0)) expect(byId.get(c.parent_id)?.level).toBe(c.level - 1)
    expect(tree.find((c) => c.level === 0).files_cnt).toBe(26)
  })

  it('reports the zero-byte file as a warning and the broken files as errors, each with its code', async () => {
    const summary = await api.get(`/ingests/${id}/summary`)
    expect(summary.warnings).toEqual([{code: 'SC03', message: 'Zero byte file', description: expect.any(String), count: 1}])
    expect(summary.errors.map((e: any) => [e.code, e.count])).toEqual([
      ['SC01', 1],
      ['SC02', 2],
      ['SC04', 1],
    ])
    const report = await api.get(`/ingests/${id}/report`)
    expect(report.status).toBe('finished')
    const errs = report.errors.map((e: any) => [e.type, e.code, e.message.split(':')[0]]).sort()
    expect(errs).toEqual(
      [
        ['resolve', 'SC04', src.special.noSeries],
        ['scan', 'SC01', src.special.notDicom],
        ['scan', 'SC02', src.special.truncatedHeader],
        ['scan', 'SC02', src.special.truncatedPixels],
      ].sort(),
    )
    expect(report.warnings).toEqual([{task: expect.any(String), type: 'scan', code: 'SC03', message: `${src.special.zero}: zero byte file`}])
    // Each status's elapsed time is the time to the next status in the history.
    const history = final.history as Array<[string, number]>
    expect(Object.keys(report.elapsed).sort()).toEqual(history.slice(0, -1).map(([s]) => s).sort())
    for (const [i, [status, at]] of history.slice(0, -1).entries()) {
      expect(report.elapsed[status], status).toBeCloseTo(history[i + 1][1] - at, 2)
    }
    expect(report.elapsed.finished).toBeUndefined()
  })

  it('counts every file in /progress', async () => {
    const p = await api.get(`/ingests/${id}/progress`)
    // 26 good + zero + not-DICOM + 2 truncated + no-series UID; the .txt is filtered out, study-other/ is outside the prefix.
    expect(p.scans).toMatchObject({total: 31, finished: 31, completed: 27, failed: 3, skipped: 1, pending: 0, running: 0})
    expect(p.files).toMatchObject({total: 31, completed: 26, failed: 4, skipped: 1, finished: 31, pending: 0})
    expect(p.items).toMatchObject({total: 14, completed: 14})
    expect(p.bytes.total).toBe(src.totalBytes)
    expect(p.stages.uploading).toEqual({completed: 26, total: 26})
    // The files are counted once: the vendor CLI adds scans and stages.scanning for its `n/N files` line.
    expect(p.stages.scanning).toEqual({completed: 0, total: 0})
    expect(progressCounts('scanning', p)).toEqual({finished: 31, total: 31})
    expect(progressBody('scanning', p, 31, 31)).toMatch(/^31\/31 files, /)
    expect(p.stages.finalizing).toEqual({completed: 1, total: 1})
  })

  it('reads only a small fraction of the bytes while scanning: one 16 KiB ranged GET per header, two for the long one', () => {
    const perKey = new Map<string, number>()
    for (const r of scanRequests) perKey.set(r.key!, (perKey.get(r.key!) ?? 0) + 1)
    const prefixed = (k: string) => `${src.prefix}/${k}`
    expect(perKey.get(prefixed(src.special.longHeader))).toBe(2)
    expect(perKey.has(prefixed(src.special.zero))).toBe(false) // zero bytes: nothing to read
    for (const d of src.dicom) expect(perKey.get(prefixed(d.key))).toBe(1)
    const first = scanRequests.find((r) => r.key === prefixed(src.dicom[0].key))!
    expect(first.range).toBe('bytes=0-16383')
    expect(first.length).toBe(16384)
    const read = scanRequests.reduce((n, r) => n + (r.length ?? 0), 0)
    expect(read / src.totalBytes).toBeLessThan(0.05)
  })

  it('copies the good files, byte for byte, into DATA/dest/group/project/subject/session/acquisition/', () => {
    const dest = join(dataDir, 'dest')
    const files = walk(dest).map((f) => relative(dest, f)).sort()
    expect(files).toHaveLength(26)
    expect(files).toContain('grp/prj/P001/20240102/Series 1 T1/IM0001.dcm')
    expect(files).toContain('grp/prj/P900/20240102/Localizer/IM0001.dcm')
    for (const d of src.dicom.slice(0, 4)) {
      const [p, s, r] = [d.patientId, d.studyDate, d.seriesDescription]
      const name = d.key.split('/').pop()!
      expect(readFileSync(join(dest, 'grp/prj', p, s, r, name)).equals(d.body)).toBe(true)
    }
    expect(readFileSync(join(dest, 'grp/prj/P900/20240102/Localizer/IM0001.dcm')).equals(src.objects.get(src.special.kms)!)).toBe(true)
    expect(existsSync(join(dataDir, 'tmp', id))).toBe(false)
  })

  it('streams the audit log (CSV with the protocol header, one row per file) and writes it with the report', async () => {
    const text = (await api.call('GET', `/ingests/${id}/audit`)).text
    const lines = text.trim().split('\n')
    expect(lines[0]).toBe(AUDIT_HEADER)
    expect(lines).toHaveLength(32)
    const rows = lines.slice(1).map((l) => l.split(','))
    expect(rows.filter((r) => r[2] === 'completed')).toHaveLength(26)
    const zero = rows.find((r) => r[0] === src.special.zero)!
    expect(zero.slice(2, 5)).toEqual(['skipped', 'false', 'SC03'])
    const good = rows.find((r) => r[0] === src.dicom[0].key)!
    expect(good[1]).toBe('fw://grp/prj/P001/20240102/Series 1 T1/IM0001.dcm')
    expect(good[6]).toBe('uploaded')
    expect(readFileSync(join(dataDir, 'reports', id, 'audit.csv'), 'utf8')).toBe(text)
    const saved = JSON.parse(readFileSync(join(dataDir, 'reports', id, 'report.json'), 'utf8'))
    expect(saved.report.errors).toHaveLength(4)
    expect(saved.scan.bytes_read / saved.scan.bytes).toBeLessThan(0.05)
  })

  it('answers the subject map and an empty de-identification log', async () => {
    const subjects = (await api.call('GET', `/ingests/${id}/subjects`)).text.trim().split('\n')
    expect(subjects).toEqual(['code,PatientID', 'P001,P001', 'P002,P002', 'P003,P003', 'P900,P900', 'P901,P901'])
    const deid = await api.call('GET', `/ingests/${id}/deid`)
    expect(deid.status).toBe(200)
    expect(deid.text).toBe('')
  })

  it('lists the ingest and deletes it only once it is terminal', async () => {
    const list = await api.get('/ingests')
    expect(list.map((i: any) => i.id)).toContain(id)
    const other = await api.create(src.url)
    expect((await api.call('POST', `/ingests/${other.id}/delete`)).status).toBe(409)
    await api.call('POST', `/ingests/${other.id}/abort`)
    await api.waitFor(other.id, ['aborted'])
    expect((await api.call('POST', `/ingests/${other.id}/delete`)).status).toBe(200)
    expect((await api.call('GET', `/ingests/${other.id}`)).status).toBe(404)
  })
})

describe('review, overrides and the subject map', () => {
  it('waits in in_review without -y, shows the summary there, and skips what the review skips', async () => {
    const {handle, api, dataDir} = await cluster()
    try {
      const ing = await api.create(src.url, {}, {assume_yes: false, include_dirs: ['sub-1']})
      await api.call('POST', `/ingests/${ing.id}/start`)
      await api.waitFor(ing.id, ['in_review'])
      await new Promise((r) => setTimeout(r, 300))
      expect((await api.get(`/ingests/${ing.id}`)).status).toBe('in_review') // it waits
      expect(await api.get(`/ingests/${ing.id}/summary`)).toMatchObject({subjects: 1, sessions: 2, acquisitions: 4, files: 8, errors: [], warnings: []})
      const r = await api.call('POST', `/ingests/${ing.id}/review`, [{path: 'grp/prj/P001/20240103', skip: true}])
      expect(r.status).toBe(200)
      expect(r.json.status).toBe('preparing')
      await api.waitFor(ing.id, ['finished'])
      const files = walk(join(dataDir, 'dest')).map((f) => relative(join(dataDir, 'dest'), f))
      expect(files).toHaveLength(4)
      expect(files.every((f) => f.startsWith('grp/prj/P001/20240102/'))).toBe(true)
      const audit = (await api.call('GET', `/ingests/${ing.id}/audit`)).text.trim().split('\n').slice(1)
      expect(audit.filter((l) => l.includes(',skipped,'))).toHaveLength(4)
      // A second /review after the ingest moved on is answered, not refused (the vendor CLI with -y may send it late).
      expect((await api.call('POST', `/ingests/${ing.id}/review`)).status).toBe(200)
    } finally {
      await handle.stop()
    }
  })

  it('puts everything in one subject and session with --subject/--session, and applies an uploaded subject map', async () => {
    const {handle, api} = await cluster()
    try {
      const a = await api.create(src.url, {subject: 'S-ALL', session: 'visit1'}, {include_dirs: ['sub-2']})
      await api.call('POST', `/ingests/${a.id}/start`)
      await api.waitFor(a.id, ['finished'])
      const tree = (await api.call('GET', `/ingests/${a.id}/tree`)).text.trim().split('\n').map((l) => JSON.parse(l))
      expect(tree.filter((c) => c.level === 2).map((c) => c.path)).toEqual(['grp/prj/S-ALL'])
      expect(tree.filter((c) => c.level === 3).map((c) => c.path)).toEqual(['grp/prj/S-ALL/visit1'])
      expect(tree.filter((c) => c.level === 4)).toHaveLength(4) // 2 studies x 2 series

      const b = await api.create(src.url, {}, {include_dirs: ['sub-3']})
      const form = new FormData()
      form.append('subject_csv', new Blob(['code,PatientID\nSUBJ-C,P003\n'], {type: 'text/csv'}), 'subjects.csv')
      const up = await fetch(`${handle.url}/ingests/${b.id}/subjects`, {method: 'POST', headers: {Authorization: KEY}, body: form})
      expect(up.status).toBe(200)
      await api.call('POST', `/ingests/${b.id}/start`)
      await api.waitFor(b.id, ['finished'])
      expect((await api.call('GET', `/ingests/${b.id}/subjects`)).text).toBe('code,PatientID\nSUBJ-C,P003\n')
    } finally {
      await handle.stop()
    }
  })

  it('with detect_duplicates, flags a second copy of the same SOP instance (DD01) and uploads one', async () => {
    const {s3} = moto.clients()
    const {PutObjectCommand} = await import('@aws-sdk/client-s3')
    await s3.send(new PutObjectCommand({Bucket: src.bucket, Key: 'dups/a/IM0001.dcm', Body: src.dicom[0].body}))
    await s3.send(new PutObjectCommand({Bucket: src.bucket, Key: 'dups/b/IM0001.dcm', Body: src.dicom[0].body}))
    s3.destroy()
    const {handle, api, dataDir} = await cluster()
    try {
      const ing = await api.create(`s3://${src.bucket}/dups`, {}, {detect_duplicates: true})
      await api.call('POST', `/ingests/${ing.id}/start`)
      const done = await api.waitFor(ing.id, ['finished', 'failed'])
      expect(done.history.map((h: any) => h[0])).toContain('detecting_duplicates')
      const report = await api.get(`/ingests/${ing.id}/report`)
      expect(report.errors.map((e: any) => [e.type, e.code])).toEqual([['detect_duplicates', 'DD01']])
      expect(walk(join(dataDir, 'dest'))).toHaveLength(1)
    } finally {
      await handle.stop()
    }
  })
})

describe('abort', () => {
  it('works in created, in_review and mid-scan; files not done are canceled; a terminal ingest says so', async () => {
    let gate: (() => void) | undefined
    const {handle, api} = await cluster({
      hooks: {
        async beforeFile({stage, signal}) {
          // Hold the scan on its first files until the abort.
          if (stage === 'scanning') await new Promise<void>((r) => ((gate = r), signal.addEventListener('abort', () => r())))
        },
      },
    })
    try {
      const a = await api.create(src.url)
      const r1 = await api.call('POST', `/ingests/${a.id}/abort`)
      expect(r1.status).toBe(200)
      expect((await api.waitFor(a.id, ['aborted'])).history.map((h: any) => h[0])).toEqual(['created', 'aborting', 'aborted'])
      const again = await api.call('POST', `/ingests/${a.id}/abort`)
      expect(again.status).toBe(409)
      expect(again.json.message).toMatch(/already aborted/)

      const b = await api.create(src.url)
      await api.call('POST', `/ingests/${b.id}/start`)
      await vi.waitFor(() => expect(gate).toBeDefined(), {timeout: 10_000})
      expect((await api.get(`/ingests/${b.id}`)).status).toBe('scanning')
      const r2 = await api.call('POST', `/ingests/${b.id}/abort`)
      expect(r2.json.status).toBe('aborting')
      const done = await api.waitFor(b.id, ['aborted'])
      expect(done.history.map((h: any) => h[0])).toEqual(['created', 'configuring', 'scanning', 'aborting', 'aborted'])
      const p = await api.get(`/ingests/${b.id}/progress`)
      expect(p.scans.canceled).toBeGreaterThan(0)
      expect(p.scans.pending + p.scans.running).toBe(0)
      expect(p.scans.finished).toBe(p.scans.total)
      expect((await api.get(`/ingests/${b.id}/report`)).status).toBe('aborted')
    } finally {
      await handle.stop()
    }
  })

  it('works while waiting for review', async () => {
    const {handle, api} = await cluster()
    try {
      const c = await api.create(src.url, {}, {assume_yes: false, include_dirs: ['sub-1']})
      await api.call('POST', `/ingests/${c.id}/start`)
      await api.waitFor(c.id, ['in_review'])
      await api.call('POST', `/ingests/${c.id}/abort`)
      const done = await api.waitFor(c.id, ['aborted'])
      expect(done.history.map((h: any) => h[0]).slice(-3)).toEqual(['in_review', 'aborting', 'aborted'])
      expect((await api.get(`/ingests/${c.id}/progress`)).files.canceled).toBe(8)
    } finally {
      await handle.stop()
    }
  })
})

describe('what the reference cluster does not do', () => {
  it.each([
    ['de-identification', 's3://imaging/study', {}, {de_identify: true}, /De-identification is not supported/],
  ])('fails %s at configuring with GE05 in the report', async (_what, url, strategy, config, message) => {
    const {handle, api} = await cluster()
    try {
      const ing = await api.create(url, strategy, config)
      await api.call('POST', `/ingests/${ing.id}/start`)
      const done = await api.waitFor(ing.id, ['failed'])
      expect(done.history.map((h: any) => h[0])).toEqual(['created', 'configuring', 'failed'])
      const report = await api.get(`/ingests/${ing.id}/report`)
      expect(report.errors).toEqual([{task: expect.any(String), type: 'configure', code: 'GE05', message: expect.stringMatching(message)}])
    } finally {
      await handle.stop()
    }
  })

  it('fails with GE04 when the bucket does not exist', async () => {
    const {handle, api} = await cluster()
    try {
      const ing = await api.create('s3://no-such-bucket-here/x')
      await api.call('POST', `/ingests/${ing.id}/start`)
      await api.waitFor(ing.id, ['failed'])
      const report = await api.get(`/ingests/${ing.id}/report`)
      expect(report.errors.map((e: any) => [e.type, e.code])).toEqual([['scan', 'GE04']])
    } finally {
      await handle.stop()
    }
  })
})

it('keeps file sizes of the destination equal to the source (a spot check of the whole tree)', async () => {
  const {handle, api, dataDir} = await cluster()
  try {
    const ing = await api.create(src.url, {}, {include_dirs: ['encrypted', 'long']})
    await api.call('POST', `/ingests/${ing.id}/start`)
    await api.waitFor(ing.id, ['finished'])
    const files = walk(join(dataDir, 'dest'))
    expect(files).toHaveLength(2)
    for (const f of files) expect([src.objects.get(src.special.kms)!.length, src.objects.get(src.special.longHeader)!.length]).toContain(statSync(f).size)
  } finally {
    await handle.stop()
  }
})
