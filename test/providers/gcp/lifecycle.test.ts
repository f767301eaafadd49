/**
 * The admin's lifecycle on GCS, in-process against the GCS double (the real Google client): grant
 * status after apply, after a binding's condition was changed by hand, after revoke; grant backups;
 * grant restore round trip with the etag, its refusal after a later change, and --force.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createContext} from '../../../src/context.js'
import {gcpProvider} from '../../../src/providers/gcp/index.js'
import {readBackup} from '../../../src/state.js'
import {runInProcess} from '../../helpers/in-process.js'
import {ADMIN_TOKEN, gcsEnv, INGEST_MEMBER, startGcs, type GcsDouble} from '../../helpers/gcs.js'

const BUCKET = 'life-scans'
const SRC = `gs://${BUCKET}/dicom`
const VIEWER = 'roles/storage.objectViewer'
const LEGACY = 'roles/storage.legacyBucketReader'

let double: GcsDouble
let state: string
const cli = async (args: string[]) => {
  const r = await runInProcess(args[1] === 'backups' ? args : [...args, '--endpoint-url', double.url], {env: gcsEnv(double, ADMIN_TOKEN, {INGESTGATE_STATE_DIR: state})})
  expect(r.stdout + r.stderr).not.toContain(ADMIN_TOKEN)
  return r
}
const bindings = () => double.getPolicy(BUCKET).bindings as Array<{role: string; members: string[]; condition?: {title?: string; expression: string}}>
const memberOf = (role: string) => bindings().filter((b) => b.role === role && b.members.includes(INGEST_MEMBER))

beforeAll(async () => {
  double = await startGcs()
  double.createBucket(BUCKET)
  double.putObject(BUCKET, 'dicom/a.dcm', 'a')
  state = mkdtempSync(join(tmpdir(), 'ig-gcs-life-'))
})
afterAll(async () => {
  await double?.stop()
  rmSync(state, {recursive: true, force: true})
})

describe('grant status, backups and restore on GCS', () => {
  it('before apply nothing is found (exit 5); after apply both bindings are in place (exit 0)', async () => {
    const before = await cli(['grant', 'status', SRC, '--json'])
    expect(before.code).toBe(5)
    expect(before.json?.result.principals).toEqual([])
    expect((await cli(['grant', 'apply', SRC, '--principal', INGEST_MEMBER, '--yes'])).code).toBe(0)
    const r = await cli(['grant', 'status', SRC, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json?.result.principals).toEqual([INGEST_MEMBER])
    expect(r.json?.result.items.map((i: any) => [i.id, i.state])).toEqual([
      [VIEWER, 'in-place'],
      [LEGACY, 'in-place'],
    ])
  })

  it("a binding whose condition was changed by hand is drifted; another prefix's status finds no principal", async () => {
    const edited = bindings().map((b) => (b.condition ? {...b, condition: {...b.condition, expression: b.condition.expression.replaceAll('dicom/', 'dicom/2024/')}} : b))
    double.setPolicy(BUCKET, edited)
    const r = await cli(['grant', 'status', SRC, '--json'])
    expect(r.code).toBe(5)
    const viewer = r.json?.result.items.find((i: any) => i.id.startsWith(VIEWER))
    expect(viewer).toMatchObject({state: 'drifted'})
    expect(viewer.detail).toMatch(/dicom\/2024\//)
    const human = await cli(['grant', 'status', SRC])
    expect(human.stdout).toMatch(/DRIFTED\s+iam-binding roles\/storage.objectViewer/)
    expect(human.stdout).toMatch(/1 drifted, 0 missing, 1 in place/)
    expect((await cli(['grant', 'status', `gs://${BUCKET}/other`, '--json'])).json?.result.principals).toEqual([])
  })

  it('restore puts the policy before the apply back only with --force once it changed since; the etag guards the write', async () => {
    const listed = await cli(['grant', 'backups', SRC, '--json'])
    expect(listed.json?.result.map((b: any) => [b.record.cloud, b.record.verb, b.record.document])).toEqual([['gs', 'apply', 'iam-policy']])
    const backup = listed.json?.result[0].path
    const refused = await cli(['grant', 'restore', backup, '--yes', '--json'])
    expect(refused.code).toBe(4)
    expect(refused.json?.error?.code).toBe('CONCURRENT_CHANGE')
    const sets = double.count('storage.buckets.setIamPolicy')
    const r = await cli(['grant', 'restore', backup, '--yes', '--force', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(double.count('storage.buckets.setIamPolicy')).toBe(sets + 1)
    expect(memberOf(VIEWER)).toEqual([])
    expect(memberOf(LEGACY)).toEqual([])
    // What it replaced (the hand-edited policy) was backed up first, and can be put back without --force.
    const all = (await cli(['grant', 'backups', `gs://${BUCKET}`, '--json'])).json?.result
    expect(all.map((b: any) => b.record.verb)).toEqual(['apply', 'restore'])
    expect((await cli(['grant', 'restore', all[1].path, '--yes'])).code).toBe(0)
    expect(memberOf(VIEWER)[0].condition?.expression).toMatch(/dicom\/2024\//)
  })

  it('after revoke the member is gone from both bindings: exit 5, missing', async () => {
    expect((await cli(['grant', 'revoke', SRC, '--principal', INGEST_MEMBER, '--yes'])).code).toBe(0)
    const r = await cli(['grant', 'status', SRC, '--principal', INGEST_MEMBER, '--json'])
    expect(r.code).toBe(5)
    expect(r.json?.result.items.map((i: any) => i.state)).toEqual(['drifted', 'missing'])
  })

  it('a backup whose document was damaged is refused before any call (exit 3, BAD_BACKUP)', async () => {
    const [first] = (await cli(['grant', 'backups', SRC, '--json'])).json?.result
    writeFileSync(first.path, JSON.stringify({bindings: [{role: 'roles/storage.objectViewer', members: 'allUsers'}]}))
    const sets = double.count('storage.buckets.setIamPolicy')
    const r = await cli(['grant', 'restore', first.path, '--yes', '--force', '--json'])
    expect(r.code).toBe(3)
    expect(r.json?.error?.code).toBe('BAD_BACKUP')
    expect(r.json?.error?.message).toMatch(/bindings\.0\.members/)
    expect(double.count('storage.buckets.setIamPolicy')).toBe(sets)
  })

  it('a write racing the restore (stale etag) is refused, not merged: the other writer\'s policy stays', async () => {
    expect((await cli(['grant', 'apply', SRC, '--principal', INGEST_MEMBER, '--yes'])).code).toBe(0)
    const latest = (await cli(['grant', 'backups', SRC, '--json'])).json?.result.at(-1)
    const ctx = createContext({env: gcsEnv(double, ADMIN_TOKEN), quiet: true, stateDir: state})
    const options = gcpProvider.readOptions({flags: {'endpoint-url': double.url}, env: ctx.env, purpose: 'grant'})
    const plan = await gcpProvider.planRestore(ctx, {backup: await readBackup(latest.path), options, force: false})
    expect(plan.changes).toHaveLength(1)
    const other = [{role: 'roles/storage.objectViewer', members: ['user:late@customer.example']}]
    double.interleaveWrite(BUCKET, other)
    await expect(plan.execute()).rejects.toMatchObject({code: 'CONCURRENT_CHANGE', exitCode: 4})
    expect(bindings()).toEqual(other)
  })
})
