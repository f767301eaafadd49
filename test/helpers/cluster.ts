/**
 * Helpers for tests that talk to the reference cluster (src/cluster/) over real HTTP: a tiny API
 * client (deliberately not the product's client, so a bug there cannot hide one here), polling,
 * and a seeded S3 bucket of generated DICOM on moto with the broken files a scanner meets.
 */
import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {CreateKeyCommand} from '@aws-sdk/client-kms'

import {makeDicom, makeDicomSet, notDicom, truncated, type GeneratedObject} from './dicom.js'
import type {Moto} from './moto.js'

export interface ApiAnswer {
  status: number
  text: string
  json: any
  headers: Headers
}

export interface Api {
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer>
  get(path: string): Promise<any>
  /** Create an ingest of `src` with the vendor CLI's default body (override any field). */
  create(src: string, strategy?: Record<string, unknown>, config?: Record<string, unknown>): Promise<any>
  /** Poll GET /ingests/{id} until its status is one of `statuses`. */
  waitFor(id: string, statuses: string[], timeoutMs?: number): Promise<any>
  /** Poll until `fn(progress)` is true. */
  waitProgress(id: string, fn: (p: any) => boolean, timeoutMs?: number): Promise<any>
}

/** The create body the vendor CLI sends for `ingest dicom SRC GROUP PROJECT` (protocol doc). */
export function vendorCreateBody(src: string, strategy: Record<string, unknown> = {}, config: Record<string, unknown> = {}) {
  return {
    config: {
      src_fs: src,
      symlinks: false,
      include_dirs: [],
      exclude_dirs: [],
      include: ['*.[dD][cC][mM]', '*.[dD][cC][mM].[gG][zZ]', '*.[dD][iI][cC][oO][mM]', '*.[dD][iI][cC][oO][mM].[gGzZ]', '*.[iI][mM][aA]', '*.[iI][mM][aA].[gG][zZ]', '[0-9]*[0-9.]*[0-9]'],
      exclude: [],
      compression_level: -1,
      ignore_unknown_tags: false,
      encodings: [],
      de_identify: false,
      deid_profile: 'minimal',
      deid_profiles: [],
      skip_existing: false,
      no_audit_log: false,
      max_retries: 3,
      assume_yes: true,
      detect_duplicates: false,
      copy_duplicates: false,
      require_project: false,
      enable_project_files: false,
      detect_duplicates_project: [],
      force_scan: false,
      detect_duplicates_override: [],
      repack: false,
      zip_single_dicom: false,
      strict_uid: false,
      detect_duplicates_project_ids: [],
      deid_is_from_server: false,
      ...config,
    },
    strategy_config: {strategy_name: 'dicom', group: 'grp', project: 'prj', ...strategy},
  }
}

export function clusterApi(url: string, key: string): Api {
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> => {
    const res = await fetch(url + path, {
      method,
      headers: {Authorization: key, ...(body === undefined ? {} : {'Content-Type': 'application/json'}), ...headers},
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await res.text()
    let json: any
    try {
      json = JSON.parse(text)
    } catch {}
    return {status: res.status, text, json, headers: res.headers}
  }
  const get = async (path: string) => {
    const r = await call('GET', path)
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`)
    return r.json ?? r.text
  }
  const api: Api = {
    call,
    get,
    async create(src, strategy, config) {
      const r = await call('POST', '/ingests', vendorCreateBody(src, strategy, config))
      if (r.status !== 200) throw new Error(`create: ${r.status} ${r.text}`)
      return r.json
    },
    async waitFor(id, statuses, timeoutMs = 25_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const ingest = await get(`/ingests/${id}`)
        if (statuses.includes(ingest.status)) return ingest
        if (Date.now() > deadline) throw new Error(`ingest ${id} is ${ingest.status}, not ${statuses.join('|')} after ${timeoutMs} ms`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async waitProgress(id, fn, timeoutMs = 25_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const p = await get(`/ingests/${id}/progress`)
        if (fn(p)) return p
        if (Date.now() > deadline) throw new Error(`progress of ${id} never matched: ${JSON.stringify(p)}`)
        await new Promise((r) => setTimeout(r, 25))
      }
    },
  }
  return api
}

export interface SeededSource {
  bucket: string
  prefix: string
  url: string
  kmsKeyArn: string
  /** Every object put under the prefix (relative key -> body). */
  objects: Map<string, Buffer>
  /** The good DICOM files (relative keys), with their tags. */
  dicom: GeneratedObject[]
  /** Relative keys of the special files. */
  special: {zero: string; notDicom: string; truncatedPixels: string; truncatedHeader: string; noSeries: string; kms: string; longHeader: string; filtered: string}
  totalBytes: number
}

/**
 * A bucket with generated DICOM under `prefix`: `patients` x 2 studies x 2 series x 2 instances
 * (1 MB each by default), plus one of each broken kind, an SSE-KMS encrypted DICOM (patient P900),
 * a DICOM with a 40 KB header (P901), a .txt the include filter leaves out, and an object outside
 * the prefix.
 */
export async function seedDicomBucket(
  moto: Moto,
  opts: {bucket?: string; prefix?: string; patients?: number; pixelBytes?: number; instancesPerSeries?: number} = {},
): Promise<SeededSource> {
  const bucket = opts.bucket ?? 'imaging'
  const prefix = opts.prefix ?? 'study'
  const {s3, kms} = moto.clients()
  await s3.send(new CreateBucketCommand({Bucket: bucket}))
  const kmsKeyArn = (await kms.send(new CreateKeyCommand({Description: 'imaging data key'}))).KeyMetadata!.Arn!
  const pixelBytes = opts.pixelBytes ?? 1_000_000
  const dicom = makeDicomSet({patients: opts.patients ?? 3, studiesPerPatient: 2, seriesPerStudy: 2, instancesPerSeries: opts.instancesPerSeries ?? 2, pixelBytes})
  const objects = new Map<string, Buffer>()
  for (const d of dicom) objects.set(d.key, d.body)
  const one = (patientId: string, uidTail: string, extra: object = {}) =>
    makeDicom({
      patientId,
      studyInstanceUid: `1.2.826.0.1.3680043.10.1234.9.${uidTail}`,
      seriesInstanceUid: `1.2.826.0.1.3680043.10.1234.9.${uidTail}.1`,
      sopInstanceUid: `1.2.826.0.1.3680043.10.1234.9.${uidTail}.1.1`,
      seriesDescription: 'Localizer',
      pixelBytes,
      ...extra,
    })
  const special = {
    zero: 'broken/empty.dcm',
    notDicom: 'broken/export-log.dcm',
    truncatedPixels: 'broken/cut-in-pixels.dcm',
    truncatedHeader: 'broken/cut-in-header.dcm',
    noSeries: 'broken/no-series-uid.dcm',
    kms: 'encrypted/IM0001.dcm',
    longHeader: 'long/IM0001.dcm',
    filtered: 'notes/readme.txt',
  }
  objects.set(special.zero, Buffer.alloc(0))
  objects.set(special.notDicom, notDicom())
  objects.set(special.truncatedPixels, truncated(dicom[0].body, 5000))
  objects.set(special.truncatedHeader, truncated(dicom[0].body, 300))
  objects.set(special.noSeries, one('P800', '800', {omit: ['SeriesInstanceUID']}))
  objects.set(special.longHeader, one('P901', '901', {headerPadding: 40_000}))
  objects.set(special.filtered, Buffer.from('not part of the ingest\n'))
  for (const [key, body] of objects) await s3.send(new PutObjectCommand({Bucket: bucket, Key: `${prefix}/${key}`, Body: body}))
  const kmsBody = one('P900', '900')
  objects.set(special.kms, kmsBody)
  await s3.send(new PutObjectCommand({Bucket: bucket, Key: `${prefix}/${special.kms}`, Body: kmsBody, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyArn}))
  await s3.send(new PutObjectCommand({Bucket: bucket, Key: `${prefix}-other/IM0001.dcm`, Body: dicom[0].body}))
  s3.destroy()
  kms.destroy()
  let totalBytes = 0
  for (const [key, body] of objects) if (key !== special.filtered) totalBytes += body.length
  return {bucket, prefix, url: `s3://${bucket}/${prefix}`, kmsKeyArn, objects, dicom, special, totalBytes}
}
