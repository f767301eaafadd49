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
    }
    await expect(preflight(input, (r) => shown.push(r))).rejects.toMatchObject({code: 'PREFLIGHT_FAILED', exitCode: 5, message: expect.stringContaining('denied')})
    expect(shown[0]).toMatchObject({passed: false, objects: 2, bytes: 1024, matching: {objects: 1, bytes: 1000}, truncated: false})
    expect(shown[0].steps.map((s) => [s.name, s.status])).toEqual([
      ['source', 'pass'],
      ['cluster', 'pass'],
      ['check', 'fail'],
      ['listing', 'pass'],
    ])
    expect(cluster.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['GET /ingest/ingests'])

    const ok = await preflight({...input, check: async () => ({status: 'pass' as const, detail: 'fine'}), lister: async () => {
      throw new Error('no credentials')
    }}, () => {})
    expect(ok.passed).toBe(true)
    expect(ok.steps.at(-1)).toMatchObject({name: 'listing', status: 'skip', detail: expect.stringContaining('no credentials')})

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
