/**
 * The admin's lifecycle on Azure, in-process against the ARM double (the real SDK over HTTPS):
 * grant status after apply, after a condition changed by hand, with ingestgate's assignment at
 * another scope, after revoke; backups and restore of a revoked assignment, the refusal once the
 * assignment changed since, and --force.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {createAzureClients} from '../../../src/clients/azure/index.js'
import {createContext, type AppContext} from '../../../src/context.js'
import {createUi} from '../../../src/output/ui.js'
import {runGrantPlan} from '../../../src/providers/grant-flow.js'
import {azureProvider} from '../../../src/providers/azure/index.js'
import {assignmentName, BLOB_DATA_READER_ROLE, prefixCondition} from '../../../src/providers/azure/spec.js'
import {parseSource} from '../../../src/source.js'
import {listBackups, readBackup} from '../../../src/state.js'
import type {AzureDoubles} from '../../../emulators/azure-blob-double.mjs'
import {ACCOUNT, ADMIN, CONTAINER, INGEST, RESOURCE_GROUP, SOURCE, startDoubles, SUBSCRIPTION, useIdentityInProcess} from '../../helpers/azure.js'

let d: AzureDoubles
let stateDir: string

function ctx(): AppContext {
  useIdentityInProcess(ADMIN)
  const sink = {write: () => true, isTTY: false}
  const env = {...process.env, INGESTGATE_STATE_DIR: stateDir, NO_COLOR: '1'}
  return createContext({env, ui: createUi(sink as never, sink as never, env), stateDir, confirm: async () => true, clients: {azure: (o) => createAzureClients({...o, caCertificate: d.ca}, env)}})
}
const options = () => azureProvider.readOptions({flags: {subscription: SUBSCRIPTION, 'resource-group': RESOURCE_GROUP, 'arm-endpoint': d.arm.url}, env: {}, purpose: 'grant'})
const req = (principal = INGEST.oid, source = SOURCE) => ({source: parseSource(source), principal, options: options()})
const status = (principal?: string, source = SOURCE) => azureProvider.status(ctx(), {source: parseSource(source), principal, options: options()})
const run = async (verb: 'apply' | 'revoke') => {
  const c = ctx()
  const plan = verb === 'apply' ? await azureProvider.planApply(c, req()) : await azureProvider.planRevoke(c, req())
  return runGrantPlan(c, plan, {verb, dryRun: false, yes: true, source: SOURCE, principal: INGEST.oid})
}
const restore = async (path: string, force = false) => {
  const c = ctx()
  return runGrantPlan(c, await azureProvider.planRestore(c, {backup: await readBackup(path), options: options(), force}), {verb: 'restore', dryRun: false, yes: true, source: path})
}
const scope = () => d.world.containerScope(ACCOUNT, CONTAINER)
const ours = () => d.world.assignments.get(`${scope()}/providers/Microsoft.Authorization/roleAssignments/${assignmentName(scope(), BLOB_DATA_READER_ROLE, INGEST.oid)}`.toLowerCase())

beforeAll(async () => {
  d = await startDoubles()
})
afterAll(async () => d?.stop())
beforeEach(() => {
  stateDir && rmSync(stateDir, {recursive: true, force: true})
  stateDir = mkdtempSync(join(tmpdir(), 'ig-az-life-'))
  for (const [id, a] of d.world.assignments) if (a.properties.principalId === INGEST.oid) d.world.assignments.delete(id)
})

describe('grant status on Azure', () => {
  it('nothing before apply; in place after it, the principal found from the deterministic name', async () => {
    expect(await status()).toMatchObject({principals: [], items: []})
    await run('apply')
    const s = await status()
    expect(s.principals).toEqual([INGEST.oid])
    expect(s.items).toMatchObject([{kind: 'role-assignment', state: 'in-place', target: scope()}])
  })

  it('a condition changed by hand is drifted; a wider one of ingestgate covers the source, as apply sees it', async () => {
    await run('apply')
    ours()!.properties.condition = prefixCondition('dicom/2024/')
    expect((await status()).items[0]).toMatchObject({state: 'drifted', detail: expect.stringMatching(/the prefix dicom\/2024\//)})
    ours()!.properties.condition = undefined
    expect((await status()).items[0]).toMatchObject({state: 'in-place', detail: expect.stringMatching(/the whole container, which covers the prefix dicom\//)})
  })

  it("ingestgate's assignment at the account scope: in place when it covers the source (apply writes nothing), drifted when it does not", async () => {
    const account = d.world.accountScope(ACCOUNT)
    const name = assignmentName(account, BLOB_DATA_READER_ROLE, INGEST.oid)
    d.world.assign({scope: account, role: BLOB_DATA_READER_ROLE, principalId: INGEST.oid, name})
    const s = await status()
    expect(s.principals).toEqual([INGEST.oid])
    expect(s.items[0]).toMatchObject({state: 'in-place', id: name, target: account})
    expect((await azureProvider.planApply(ctx(), req())).changes).toEqual([])

    ;[...d.world.assignments.values()].find((a) => a.name === name)!.properties.condition = prefixCondition('other/')
    expect((await status()).items[0]).toMatchObject({state: 'drifted', detail: expect.stringContaining(`at ${account}, which does not cover this source`)})
  })

  it('an assignment someone else made (another name) is not ingestgate\'s: missing for the principal', async () => {
    d.world.assign({scope: scope(), role: BLOB_DATA_READER_ROLE, principalId: INGEST.oid, name: '7c0ffee0-0000-4000-8000-0000000000aa'})
    expect((await status()).principals).toEqual([])
    expect((await status(INGEST.oid)).items).toMatchObject([{state: 'missing'}])
  })
})

describe('grant backups and restore on Azure', () => {
  it('restore brings a revoked assignment back; refused once it changed since, unless --force', async () => {
    await run('apply')
    await run('revoke')
    expect(ours()).toBeUndefined()
    const {backups} = await listBackups(stateDir)
    expect(backups.map((b) => [b.record.cloud, b.record.verb, b.record.document, b.record.successor?.fingerprint])).toEqual([['az', 'revoke', 'role-assignment', 'absent']])

    const back = await restore(backups[0].path)
    expect(back).toMatchObject({changed: true, changes: [{kind: 'role-assignment', action: 'create'}]})
    expect(ours()!.properties).toMatchObject({principalId: INGEST.oid, condition: prefixCondition('dicom/')})
    expect((await status()).items[0].state).toBe('in-place')
    expect((await restore(backups[0].path)).changed).toBe(false)

    // Someone deletes it again by hand and creates it with another condition: the revoke's record no longer matches.
    ours()!.properties.condition = prefixCondition('dicom/2024/')
    const refused = await restore(backups[0].path).catch((e) => e)
    expect(refused).toMatchObject({code: 'CONCURRENT_CHANGE', exitCode: 4})
    expect(ours()!.properties.condition).toBe(prefixCondition('dicom/2024/'))
    const forced = await restore(backups[0].path, true)
    expect(forced.changed).toBe(true)
    expect(ours()!.properties.condition).toBe(prefixCondition('dicom/'))
    expect((await listBackups(stateDir)).backups.map((b) => b.record.verb)).toEqual(['revoke', 'restore'])
  })

  it('an assignment changed between the plan and the write (ARM has no etag) is refused, not overwritten', async () => {
    await run('apply')
    await run('revoke')
    const [backup] = (await listBackups(stateDir)).backups
    const c = ctx()
    const plan = await azureProvider.planRestore(c, {backup: await readBackup(backup.path), options: options(), force: false})
    expect(plan.changes).toMatchObject([{action: 'create'}])
    d.world.assign({scope: scope(), role: BLOB_DATA_READER_ROLE, principalId: INGEST.oid, name: assignmentName(scope(), BLOB_DATA_READER_ROLE, INGEST.oid)})
    await expect(plan.execute()).rejects.toMatchObject({code: 'CONCURRENT_CHANGE', exitCode: 4})
    expect(ours()!.properties.condition).toBeUndefined()
  })
})
