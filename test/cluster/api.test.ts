/**
 * The reference cluster's HTTP surface: authorisation, and bad input answered with a 4xx that says
 * what is wrong while the state stays as it was. No cloud is needed: ingests that start fail fast
 * against an endpoint nothing listens on.
 */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCluster, type ClusterHandle} from '../../src/cluster/server.js'
import {clusterApi, vendorCreateBody, type Api} from '../helpers/cluster.js'
import {clusterOnMoto} from '../helpers/moto.js'

const KEY = 'cluster.example.org:k3y-for-tests-5678'
let handle: ClusterHandle
let api: Api

beforeAll(async () => {
  handle = await startCluster({
    dataDir: mkdtempSync(join(tmpdir(), 'ig-cluster-api-')),
    apiKey: KEY,
    // Nothing listens on port 9: a started ingest fails at its first AWS call (no cloud needed here).
    ...clusterOnMoto({endpoint: 'http://127.0.0.1:9', region: 'us-east-1'}, {accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x'.repeat(40)}, undefined, {AWS_MAX_ATTEMPTS: '1'}),
  })
  api = clusterApi(handle.url, KEY)
})

afterAll(async () => {
  await handle?.stop()
})

async function snapshot() {
  return JSON.stringify(await api.get('/ingests'))
}

describe('authorisation', () => {
  it.each([
    ['no Authorization header', undefined, /API key is required/],
    ['a wrong key', 'cluster.example.org:wrong', /not valid/],
    ['a wrong bearer token', 'Bearer nope', /not valid/],
    ['an empty scitran-user', 'scitran-user ', /not valid/],
  ])('answers 401 to %s, without echoing what was sent', async (_what, header, message) => {
    const res = await fetch(`${handle.url}/ingests`, {headers: header === undefined ? {} : {Authorization: header}})
    expect(res.status).toBe(401)
    const body = await res.json()
    expect(body.message).toMatch(message)
    expect(JSON.stringify(body)).not.toContain('wrong')
    expect(JSON.stringify(body)).not.toContain(KEY)
  })

  it('refuses every endpoint without the key, even the unknown ones and a POST with a body', async () => {
    for (const [method, path] of [
      ['GET', '/ingests/00000000-0000-0000-0000-000000000000'],
      ['POST', '/ingests'],
      ['GET', '/no/such/thing'],
    ]) {
      const res = await fetch(`${handle.url}${path}`, {method, body: method === 'POST' ? '{}' : undefined})
      expect(res.status, `${method} ${path}`).toBe(401)
    }
  })

  it.each([
    ['the raw key, as fw login stores it', KEY],
    ['scitran-user <key> (the oldest protocol)', `scitran-user ${KEY}`],
    ['Bearer <key>', `Bearer ${KEY}`],
    ['the key without its host part', 'k3y-for-tests-5678'],
  ])('accepts %s', async (_what, header) => {
    const res = await fetch(`${handle.url}/ingests`, {headers: {Authorization: header}})
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual(expect.any(Array))
  })
})

describe('bad input: a 4xx with a clear message, and nothing changes', () => {
  it.each([
    ['malformed JSON', '{"config": {', 400, /not valid JSON/],
    ['an empty body', '', 400, /body is empty/],
    ['an unknown strategy', vendorCreateBody('s3://bkt/dir', {strategy_name: 'magic'}), 400, /strategy_name: "magic" is not one of "dicom", "folder", "template", "project"/],
    ['a missing group', {...vendorCreateBody('s3://bkt/dir'), strategy_config: {strategy_name: 'dicom', project: 'prj'}}, 400, /strategy_config\.group: required field is missing/],
    ['a missing project', {...vendorCreateBody('s3://bkt/dir'), strategy_config: {strategy_name: 'dicom', group: 'grp'}}, 400, /strategy_config\.project: required field is missing/],
    ['an invalid group id', vendorCreateBody('s3://bkt/dir', {group: 'Bad Group!'}), 400, /strategy_config\.group: "Bad Group!" is not valid \(a group id is 2 to 32 lower-case/],
    ['a one-letter group id', vendorCreateBody('s3://bkt/dir', {group: 'g'}), 400, /strategy_config\.group/],
    ['no config', {strategy_config: {strategy_name: 'dicom', group: 'grp', project: 'prj'}}, 400, /config: required field is missing/],
    ['a source that is not a URL', vendorCreateBody('bucket/dir'), 400, /config\.src_fs/],
    ['a source URL with a bad bucket', vendorCreateBody('s3://Bad_Bucket/dir'), 400, /src_fs: Invalid source URL/],
    ['the project strategy (no vendor platform here)', {...vendorCreateBody('fw://radiology/mri'), strategy_config: {strategy_name: 'project', group: 'radiology', project: 'mri', no_metadata: false, deid_log_exists: false}}, 400, /cannot rehearse a project ingest: it copies from fw:\/\/radiology\/mri/],
    ['a config field of the wrong type', vendorCreateBody('s3://bkt/dir', {}, {assume_yes: 'yes'}), 400, /config\.assume_yes: "yes" must be boolean/],
  ])('POST /ingests with %s', async (_what, body, status, message) => {
    const before = await snapshot()
    const r = await api.call('POST', '/ingests', body, {'Content-Type': 'application/json'})
    expect(r.status).toBe(status)
    expect(r.json.message).toMatch(message)
    expect(r.json.detail).toBe(r.json.message)
    expect(await snapshot()).toBe(before)
  })

  it('/start twice: the second is a 409 and changes nothing', async () => {
    const ing = await api.create('s3://bkt/dir')
    const first = await api.call('POST', `/ingests/${ing.id}/start`)
    expect(first.status).toBe(200)
    expect(first.json.status).toBe('configuring')
    const settled = await api.waitFor(ing.id, ['failed'])
    const second = await api.call('POST', `/ingests/${ing.id}/start`)
    expect(second.status).toBe(409)
    expect(second.json.message).toMatch(/is failed; only an ingest in created can be started/)
    expect(await api.get(`/ingests/${ing.id}`)).toEqual(settled)
    // The failure itself is reported as a network problem of the cluster (GE07), not a crash.
    expect((await api.get(`/ingests/${ing.id}/report`)).errors.map((e: any) => e.code)).toEqual(['GE07'])
  })

  it('/review before the ingest is in review: a 409, state unchanged', async () => {
    const ing = await api.create('s3://bkt/dir')
    const r = await api.call('POST', `/ingests/${ing.id}/review`)
    expect(r.status).toBe(409)
    expect(r.json.message).toMatch(/is created, not in_review/)
    expect(await api.get(`/ingests/${ing.id}`)).toEqual(ing)
  })

  it('/review with a body that is not a review list: a 400', async () => {
    const ing = await api.create('s3://bkt/dir')
    const r = await api.call('POST', `/ingests/${ing.id}/review`, [{skip: 'yes'}])
    expect(r.status).toBe(400)
    expect(r.json.message).toMatch(/0\.path: required field is missing/)
    expect(await api.get(`/ingests/${ing.id}`)).toEqual(ing)
  })

  it('the subject map is taken only before start, and only as subject_csv', async () => {
    const ing = await api.create('s3://bkt/dir')
    const noField = await fetch(`${handle.url}/ingests/${ing.id}/subjects`, {method: 'POST', headers: {Authorization: KEY}, body: new FormData()})
    expect(noField.status).toBe(400)
    await api.call('POST', `/ingests/${ing.id}/start`)
    const form = new FormData()
    form.append('subject_csv', new Blob(['code,PatientID\nA,P1\n']), 'subjects.csv')
    const late = await fetch(`${handle.url}/ingests/${ing.id}/subjects`, {method: 'POST', headers: {Authorization: KEY}, body: form})
    expect(late.status).toBe(409)
  })

  it.each([
    ['GET', '/ingests/6f1c0c1e-0000-4000-8000-000000000000', 404, /No ingest/],
    ['GET', '/ingests/not-a-uuid/progress', 404, /No ingest/],
    ['GET', '/ingests/6f1c0c1e-0000-4000-8000-000000000000/report', 404, /No ingest/],
    ['DELETE', '/ingests', 405, /DELETE is not allowed/],
    ['GET', '/nothing-here', 404, /No such endpoint/],
  ])('%s %s: %i', async (method, path, status, message) => {
    const r = await api.call(method, path)
    expect(r.status).toBe(status)
    expect(r.json.message).toMatch(message)
  })

  it('GET on an action that is a POST is a 405 naming the method to use', async () => {
    const ing = await api.create('s3://bkt/dir')
    const r = await api.call('GET', `/ingests/${ing.id}/start`)
    expect(r.status).toBe(405)
    expect(r.headers.get('allow')).toBe('POST')
  })

  it('serves only under /ingest (the site URL plus /ingest)', async () => {
    const root = handle.url.replace(/\/ingest$/, '')
    const r = await fetch(`${root}/ingests`, {headers: {Authorization: KEY}})
    expect(r.status).toBe(404)
    expect(handle.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ingest$/)
  })
})
