/** The preflight gate in-process: a failing access check refuses the start and creates nothing. */
import {afterEach, describe, expect, it} from 'vitest'

import {createContext} from '../../src/context.js'
import {ClusterClient} from '../../src/ingest/http.js'
import {checkOutcome, preflight, type PreflightResult} from '../../src/ingest/preflight.js'
import {fullScript, startScriptedCluster, type ScriptedCluster} from '../helpers/scripted-cluster.js'

let cluster: ScriptedCluster | undefined
afterEach(async () => {
  await cluster?.stop()
  cluster = undefined
})

const row = (outcome: 'pass' | 'fail' | 'unknown', operation: 'list' | 'get' = 'list') => ({
  operation,
  resource: 's3://acme-imaging/dicom',
  layer: 'static' as const,
  outcome,
  code: outcome === 'fail' ? 'implicit-deny' : 'allowed',
  cause: outcome === 'fail' ? 'No statement allows s3:GetObject for the ingest role.' : 'Allowed.',
  decidedBy: [],
  remedy: outcome === 'fail' ? 'ingestgate grant apply s3://acme-imaging/dicom --principal ROLE' : '',
})

describe('preflight', () => {
  it('a failing check refuses with the failing rows (exit 5); the listing gives objects, bytes and matches', async () => {
    cluster = await startScriptedCluster({steps: fullScript()})
    const shown: PreflightResult[] = []
    const input = {
      ctx: createContext({env: {}}),
      src: 's3://acme-imaging/dicom',
      client: new ClusterClient(cluster.url, 'k:preflight-key'),
      filter: {include: ['*.dcm']},
      cloudFlags: {},
      live: false,
      check: async () => ({status: 'fail' as const, detail: 'access is not as the ingest cluster needs it', rows: ['FAIL  static get s3://acme-imaging/dicom: denied']}),
      lister: async () => ({objects: [{key: 'dicom/a.dcm', size: 1000}, {key: 'dicom/b.txt', size: 24}], truncated: false}),
      locator: async () => ({known: true as const, location: 'eu-west-1', locationType: 'region', via: 'HeadBucket x-amz-bucket-region'}),
    }
    await expect(preflight(input, (r) => shown.push(r))).rejects.toMatchObject({code: 'PREFLIGHT_FAILED', exitCode: 5, message: expect.stringContaining('denied')})
    expect(shown[0]).toMatchObject({passed: false, objects: 2, bytes: 1024, matching: {objects: 1, bytes: 1000}, truncated: false})
    expect(shown[0].steps.map((s) => [s.name, s.status])).toEqual([
      ['source', 'pass'],
      ['cluster', 'pass'],
      ['check', 'fail'],
      ['listing', 'pass'],
      ['estimate', 'pass'],
    ])
    // The estimate is of the matching bytes only, at the table's price for the bucket's Region.
    expect(shown[0].estimate).toMatchObject({cloud: 'AWS', provider: 's3', location: {known: true, location: 'eu-west-1'}, bytes: 1000, pricePerUnit: 0.09, priceFrom: 'table', atLeast: false})
    expect(cluster.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['GET /ingest/ingests'])

    const ok = await preflight({...input, check: async () => ({status: 'pass' as const, detail: 'fine'}), lister: async () => {
      throw new Error('no credentials')
    }}, () => {})
    expect(ok.passed).toBe(true)
    expect(ok.steps.at(-2)).toMatchObject({name: 'listing', status: 'skip', detail: expect.stringContaining('no credentials')})
    expect(ok.steps.at(-1)).toMatchObject({name: 'estimate', status: 'skip', detail: 'no egress estimate: the source could not be listed (it is in eu-west-1)'})
    expect(ok.estimate).toBeUndefined()

    // The cluster's filter: directory patterns apply to the directories below the source, not to its prefix.
    const dirs = await preflight(
      {
        ...input,
        filter: {include: ['*.dcm'], exclude_dirs: ['tmp']},
        check: async () => ({status: 'pass' as const, detail: 'fine'}),
        lister: async () => ({objects: [{key: 'dicom/a.dcm', size: 1}, {key: 'dicom/tmp/b.dcm', size: 2}, {key: 'dicom/sub/c.dcm', size: 4}], truncated: false}),
      },
      () => {},
    )
    expect(dirs.matching).toEqual({objects: 2, bytes: 5})
    const underPrefix = await preflight({...input, filter: {include_dirs: ['dicom']}, check: async () => ({status: 'pass' as const, detail: 'fine'})}, () => {})
    expect(underPrefix.matching).toEqual({objects: 0, bytes: 0})
  })

  it('--max-bytes: within passes; over it, or truncated below it, or unlisted, refuses with exit 5 and nothing is created', async () => {
    cluster = await startScriptedCluster({steps: fullScript()})
    const objects = [{key: 'dicom/a.dcm', size: 600}, {key: 'dicom/b.dcm', size: 500}, {key: 'dicom/c.txt', size: 10_000}]
    const base = {
      ctx: createContext({env: {}}),
      src: 's3://acme-imaging/dicom',
      client: new ClusterClient(cluster.url, 'k:preflight-key'),
      filter: {include: ['*.dcm']},
      cloudFlags: {},
      live: false,
      check: async () => ({status: 'pass' as const, detail: 'fine'}),
      lister: async () => ({objects, truncated: false}),
      locator: async () => ({known: false as const, reason: 'not asked in this test'}),
    }
    // Only the matching bytes count (1100), not the .txt.
    const within = await preflight({...base, maxBytes: 1100}, () => {})
    expect(within).toMatchObject({passed: true, limit: {maxBytes: 1100, verdict: 'within'}})
    expect(within.steps.at(-1)).toMatchObject({name: 'size-limit', status: 'pass'})

    const shown: PreflightResult[] = []
    await expect(preflight({...base, maxBytes: 1099}, (r) => shown.push(r))).rejects.toMatchObject({
      code: 'MAX_BYTES_EXCEEDED',
      exitCode: 5,
      message: expect.stringContaining('size-limit: 1.1 kB (1,100 bytes) match, more than --max-bytes 1.1 kB (1,099 bytes)'),
      suggestions: [expect.stringContaining('raise --max-bytes')],
    })
    expect(shown[0]).toMatchObject({passed: false, limit: {verdict: 'exceeded'}})

    await expect(preflight({...base, maxBytes: 5000, lister: async () => ({objects, truncated: true})}, () => {})).rejects.toMatchObject({
      code: 'MAX_BYTES_UNVERIFIED',
      exitCode: 5,
      suggestions: [expect.stringContaining('fewer than 200,000 objects')],
    })
    await expect(preflight({...base, maxBytes: 5000, lister: async () => Promise.reject(new Error('AccessDenied'))}, () => {})).rejects.toMatchObject({code: 'MAX_BYTES_UNVERIFIED', exitCode: 5})

    // With a limit the listing may go on to 200 pages, and is told to stop once the limit is passed.
    let seen: {pages: number; stopAfterFirst: boolean} | undefined
    await expect(
      preflight({...base, maxBytes: 550, lister: async (_c, _s, _o, maxPages, stop) => ((seen = {pages: maxPages, stopAfterFirst: stop!([objects[0]])}), {objects: [objects[0]], truncated: true})}, () => {}),
    ).rejects.toMatchObject({code: 'MAX_BYTES_EXCEEDED', message: expect.stringContaining('at least 600 B')})
    expect(seen).toEqual({pages: 200, stopAfterFirst: true})

    // A failing check and a limit: the check's refusal, with the size's fix, and no --no-preflight advice that would be refused.
    const both = await preflight({...base, maxBytes: 1, check: async () => ({status: 'fail' as const, detail: 'denied', rows: ['FAIL  static get: denied']})}, () => {}).catch((e) => e)
    expect(both).toMatchObject({code: 'PREFLIGHT_FAILED', exitCode: 5})
    expect(both.suggestions.join('\n')).toMatch(/raise --max-bytes/)
    expect(both.suggestions.join('\n')).toMatch(/without --max-bytes/)
    expect(cluster.requests.filter((q) => q.method === 'POST')).toEqual([])
  })

  it('maps a check result: fail rows block, unknown rows are shown but do not', () => {
    const base = {ok: false, source: 's3://acme-imaging/dicom', principal: 'arn:aws:iam::1:role/ingest', layers: ['static' as const], identities: {}, findings: []}
    const failing = checkOutcome({...base, operations: [row('pass'), row('fail', 'get')], summary: {pass: 1, fail: 1, unknown: 0, skip: 0}})
    expect(failing.status).toBe('fail')
    expect(failing.rows).toEqual(['FAIL  static get s3://acme-imaging/dicom: No statement allows s3:GetObject for the ingest role. Fix: ingestgate grant apply s3://acme-imaging/dicom --principal ROLE'])
    const unknown = checkOutcome({...base, operations: [row('pass'), row('unknown', 'get')], summary: {pass: 1, fail: 0, unknown: 1, skip: 0}})
    expect(unknown.status).toBe('pass')
    expect(unknown.rows).toHaveLength(1)
  })
})
