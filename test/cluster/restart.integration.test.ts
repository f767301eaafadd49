/**
 * A restart in the middle of an ingest loses nothing and repeats nothing: the worker picks up
 * every ingest that was in progress, and each stage carries on from what is already committed.
 * Shown for a clean stop (the cluster stopped mid-scan and mid-upload) and for a crash (the cluster
 * process SIGKILLed mid-upload), counting the reads on moto's request log.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCluster, type ClusterOptions} from '../../src/cluster/server.js'
import {clusterApi, seedDicomBucket, type SeededSource} from '../helpers/cluster.js'
import {clusterOnMoto, ROOT_CREDENTIALS, startMoto, type Moto, type RequestLine} from '../helpers/moto.js'

const KEY = 'restart-test-key'
let moto: Moto
let src: SeededSource

beforeAll(async () => {
  moto = await startMoto()
  src = await seedDicomBucket(moto, {pixelBytes: 200_000})
}, 60_000)

afterAll(async () => {
  await moto?.stop()
})

function walk(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]))
}

const baseOptions = (dataDir: string): ClusterOptions => ({
  dataDir,
  apiKey: KEY,
  ...clusterOnMoto(moto, ROOT_CREDENTIALS),
})

/** GETs of the source's objects since `mark`, by key: ranged (header reads) and whole (uploads). */
function reads(mark: number): {ranged: Map<string, number>; whole: Map<string, number>} {
  const ranged = new Map<string, number>()
  const whole = new Map<string, number>()
  for (const r of moto.requestsSince(mark) as RequestLine[]) {
    if (r.method !== 'GET' || r.bucket !== src.bucket || !r.key) continue
    const m = r.range ? ranged : whole
    m.set(r.key, (m.get(r.key) ?? 0) + 1)
  }
  return {ranged, whole}
}

/** The finished ingest's results are exactly those of an uninterrupted one. */
async function expectComplete(api: ReturnType<typeof clusterApi>, id: string, dataDir: string) {
  const done = await api.waitFor(id, ['finished', 'failed'], 60_000)
  expect(done.status).toBe('finished')
  const dest = join(dataDir, 'dest')
  const files = walk(dest)
  expect(files).toHaveLength(26)
  for (const d of src.dicom) {
    const path = join(dest, 'grp/prj', d.patientId, d.studyDate, d.seriesDescription, d.key.split('/').pop()!)
    expect(readFileSync(path).equals(d.body), path).toBe(true)
  }
  expect(walk(join(dataDir, 'tmp'))).toEqual([])
  const audit = (await api.call('GET', `/ingests/${id}/audit`)).text.trim().split('\n').slice(1)
  expect(audit).toHaveLength(31)
  expect(new Set(audit.map((l) => l.split(',')[0])).size).toBe(31)
  const report = await api.get(`/ingests/${id}/report`)
  expect(report.errors.map((e: any) => e.code).sort()).toEqual(['SC01', 'SC02', 'SC02', 'SC04'])
  expect(report.warnings.map((e: any) => e.code)).toEqual(['SC03'])
  const p = await api.get(`/ingests/${id}/progress`)
  expect(p.files).toMatchObject({total: 31, completed: 26, failed: 4, skipped: 1})
  expect(await api.get(`/ingests/${id}/summary`)).toMatchObject({subjects: 5, sessions: 8, acquisitions: 14, files: 26})
  return done
}

/** A cluster that holds every `stage` file after the first `after` until it is stopped. */
function startStallingCluster(dataDir: string, stage: 'scanning' | 'uploading', after: number) {
  let passed = 0
  return startCluster({
    ...baseOptions(dataDir),
    hooks: {
      async beforeFile(event) {
        if (event.stage === stage && ++passed > after) await new Promise((r) => event.signal.addEventListener('abort', r))
      },
    },
  })
}

describe('restart mid-ingest', () => {
  it('stopped while scanning: the next start scans only what was left, each header once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ig-restart-scan-'))
    const mark = moto.markLog()
    const first = await startStallingCluster(dataDir, 'scanning', 10)
    const api1 = clusterApi(first.url, KEY)
    const ing = await api1.create(src.url)
    await api1.call('POST', `/ingests/${ing.id}/start`)
    await api1.waitProgress(ing.id, (p) => p.scans.finished === 10)
    await first.stop()

    const second = await startCluster(baseOptions(dataDir))
    try {
      const api2 = clusterApi(second.url, KEY)
      const done = await expectComplete(api2, ing.id, dataDir)
      // One history: the restart continued the same scanning status, it did not start over.
      expect(done.history.map((h: any) => h[0])).toEqual(['created', 'configuring', 'scanning', 'resolving', 'in_review', 'preparing', 'uploading', 'finalizing', 'finished'])
      const {ranged, whole} = reads(mark)
      for (const d of src.dicom) expect(ranged.get(`${src.prefix}/${d.key}`), d.key).toBe(1)
      expect(ranged.get(`${src.prefix}/${src.special.longHeader}`)).toBe(2)
      expect([...whole.values()].every((n) => n === 1)).toBe(true)
      expect(whole.size).toBe(26)
    } finally {
      await second.stop()
    }
  })

  it('stopped while uploading: the next start copies only the files not yet copied', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ig-restart-upload-'))
    const mark = moto.markLog()
    const first = await startStallingCluster(dataDir, 'uploading', 7)
    const api1 = clusterApi(first.url, KEY)
    const ing = await api1.create(src.url)
    await api1.call('POST', `/ingests/${ing.id}/start`)
    await api1.waitProgress(ing.id, (p) => p.files.completed === 7)
    expect((await api1.get(`/ingests/${ing.id}`)).status).toBe('uploading')
    await first.stop()
    expect(walk(join(dataDir, 'dest'))).toHaveLength(7)

    const second = await startCluster(baseOptions(dataDir))
    try {
      await expectComplete(clusterApi(second.url, KEY), ing.id, dataDir)
      const {whole} = reads(mark)
      expect(whole.size).toBe(26)
      expect([...whole.values()].every((n) => n === 1)).toBe(true)
    } finally {
      await second.stop()
    }
  })

  it('killed (SIGKILL) while uploading: the next start finishes with every file once and no partial file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ig-restart-crash-'))
    const mark = moto.markLog()
    const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'slow-cluster.mjs')], {
      env: {...process.env, SLOW_CLUSTER_OPTIONS: JSON.stringify(baseOptions(dataDir)), SLOW_MS: '150'},
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise((r) => child.once('exit', r))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout!.on('data', (d) => {
          out += d
          if (out.includes('\n')) resolve(out.trim())
        })
        child.once('exit', (code) => reject(new Error(`the cluster process exited (${code})`)))
      })
      const api1 = clusterApi(url, KEY)
      const ing = await api1.create(src.url)
      await api1.call('POST', `/ingests/${ing.id}/start`)
      await api1.waitProgress(ing.id, (p) => p.files.completed >= 5, 30_000)
      child.kill('SIGKILL')
      await exited
      expect(walk(join(dataDir, 'dest')).length).toBeLessThan(26) // really in the middle

      // The lock of the dead process does not keep the data directory closed.
      const second = await startCluster(baseOptions(dataDir))
      try {
        const api2 = clusterApi(second.url, KEY)
        await expectComplete(api2, ing.id, dataDir)
        const {whole} = reads(mark)
        expect(whole.size).toBe(26)
        // At most the downloads in flight at the kill (4 lanes) were read twice.
        const again = [...whole.values()].filter((n) => n > 1)
        expect(again.length).toBeLessThanOrEqual(4)
        expect(again.every((n) => n === 2)).toBe(true)
      } finally {
        await second.stop()
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })

  it('refuses a second cluster on a data directory in use', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ig-restart-lock-'))
    const first = await startCluster(baseOptions(dataDir))
    try {
      await expect(startCluster(baseOptions(dataDir))).rejects.toMatchObject({code: 'DATA_DIR_IN_USE'})
    } finally {
      await first.stop()
    }
    const again = await startCluster(baseOptions(dataDir))
    await again.stop()
  })
})
