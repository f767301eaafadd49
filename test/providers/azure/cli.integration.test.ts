/**
 * az:// end to end through the built CLI, as real processes against the Azure doubles (HTTPS on
 * 127.0.0.1, the stand-in `az` for AzureCliCredential, NODE_EXTRA_CA_CERTS): render, apply,
 * re-apply with zero PUTs, an equivalent assignment already there, revoke, a static check with a
 * denying firewall, the live check before and after the assignment, bad input, no credentials,
 * and an ingest on the reference cluster reading az:// as the principal.
 */
import type {ChildProcess} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {makeDicomSet} from '../../../src/demo/dicom.js'
import {assignmentName, BLOB_DATA_READER_ROLE} from '../../../src/providers/azure/spec.js'
import {putBlob, type AzureDoubles} from '../../../emulators/azure-blob-double.mjs'
import {ACCOUNT, ADMIN, azureEnv, CONTAINER, doubleFlags, INGEST, RESOURCE_GROUP, SOURCE, spawnAzureCluster, startDoubles, SUBSCRIPTION} from '../../helpers/azure.js'
import {baseEnv, ROOT, runCli, type CliResult} from '../../helpers/cli.js'
import {ingestEnv, isolatedHome, KEY} from '../../ingest/helpers.js'

let d: AzureDoubles
let state: string
const puts = () => d.world.requests.filter((r) => r.method === 'PUT').length
const ours = () => assignmentName(d.world.containerScope(ACCOUNT, CONTAINER), BLOB_DATA_READER_ROLE, INGEST.oid)
const cli = (args: string[], who = ADMIN, extra: NodeJS.ProcessEnv = {}) => runCli(args, {env: azureEnv(d, who, {INGESTGATE_STATE_DIR: state, ...extra})})
const who = ['--principal', INGEST.oid]
/** No output of any command may carry a token (the doubles' tokens are JWTs: "eyJ..."). */
const noSecrets = (r: CliResult) => expect(`${r.stdout}${r.stderr}`).not.toMatch(/eyJ[\w-]{10,}\.eyJ/)

beforeAll(async () => {
  d = await startDoubles()
  state = mkdtempSync(join(tmpdir(), 'ig-az-cli-'))
})
afterAll(async () => {
  await d?.stop()
  rmSync(state, {recursive: true, force: true})
})
beforeEach(() => {
  for (const [id, a] of d.world.assignments) if (a.properties.principalId === INGEST.oid) d.world.assignments.delete(id)
  d.world.accounts.get(ACCOUNT)!.networkAcls = undefined
})

describe('grant through the CLI', () => {
  it('render needs no network and no credentials; an unknown format is exit 2', async () => {
    const r = await runCli(['grant', 'render', SOURCE, ...who, '--subscription', SUBSCRIPTION, '--resource-group', RESOURCE_GROUP, '--format', 'json', '--json'])
    expect(r.code).toBe(0)
    expect(r.json?.result.documents.roleAssignment).toMatchObject({name: ours(), properties: {principalId: INGEST.oid, conditionVersion: '2.0'}})
    const bad = await runCli(['grant', 'render', SOURCE, ...who, '--format', 'cloudformation'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/json, terraform, bicep, cli/)
    expect(bad.stderr).not.toMatch(/\n\s+at /)
  })

  it('render and --help load no cloud SDK (traced imports)', async () => {
    for (const args of [['grant', 'render', SOURCE, ...who, '--format', 'bicep'], ['grant', 'apply', '--help']]) {
      const trace = join(state, `trace-${args[1]}.txt`)
      const r = await runCli(args, {env: baseEnv({IG_TRACE_IMPORTS: trace}), nodeArgs: ['--import', join(ROOT, 'test/helpers/trace-imports.mjs')]})
      expect(r.code).toBe(0)
      const urls = readFileSync(trace, 'utf8').split('\n').filter(Boolean)
      expect(urls.length).toBeGreaterThan(10)
      expect(urls.filter((u) => /@azure|@aws-sdk|@google-cloud|google-auth-library/.test(u))).toEqual([])
    }
  })

  it('a principal that is not an object id is exit 3, saying what it is', async () => {
    const r = await cli(['grant', 'apply', SOURCE, '--principal', 'arn:aws:iam::123456789012:role/ingest', ...doubleFlags(d), '--yes'])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/an AWS ARN; az:\/\/ needs the object id/)
  })

  it('a flag of another cloud is refused', async () => {
    const r = await cli(['grant', 'apply', SOURCE, ...who, '--profile', 'admin', '--yes'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--profile is a flag of AWS/)
  })

  it('apply writes once; apply again makes no write; revoke removes exactly that assignment', async () => {
    const first = await cli(['grant', 'apply', SOURCE, ...who, ...doubleFlags(d), '--yes', '--json'])
    expect(first.code).toBe(0)
    expect(first.json?.result).toMatchObject({changed: true, changes: [{kind: 'role-assignment', action: 'create', id: ours()}]})
    noSecrets(first)
    const status = await cli(['grant', 'status', SOURCE, ...doubleFlags(d)])
    expect(status.code, status.stderr).toBe(0)
    expect(status.stdout).toContain(`${INGEST.oid}\n  IN PLACE  role-assignment ${ours()}`)
    noSecrets(status)
    const before = puts()
    const again = await cli(['grant', 'apply', SOURCE, ...who, ...doubleFlags(d, {resourceGroup: false}), '--yes'])
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(/No changes/)
    expect(puts()).toBe(before)
    const revoke = await cli(['grant', 'revoke', SOURCE, ...who, ...doubleFlags(d), '--yes'])
    expect(revoke.code).toBe(0)
    expect(revoke.stderr).toMatch(/Previous document backed up to .*backups\/az\//)
    expect([...d.world.assignments.values()].some((a) => a.properties.principalId === INGEST.oid)).toBe(false)
    expect((await cli(['grant', 'status', SOURCE, ...who, ...doubleFlags(d)])).code).toBe(5)
  })

  it('an equivalent assignment made by someone else: success with no write; revoke leaves it and says so', async () => {
    d.world.assign({scope: d.world.containerScope(ACCOUNT, CONTAINER), role: BLOB_DATA_READER_ROLE, principalId: INGEST.oid, name: '0badc0de-0000-4000-8000-000000000409'})
    const before = puts()
    const r = await cli(['grant', 'apply', SOURCE, ...who, ...doubleFlags(d), '--yes'])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/existing role assignment 0badc0de-0000-4000-8000-000000000409 \(Storage Blob Data Reader\)/)
    expect(puts()).toBe(before)
    const revoke = await cli(['grant', 'revoke', SOURCE, ...who, ...doubleFlags(d), '--yes'])
    expect(revoke.code).toBe(0)
    expect(revoke.stderr).toMatch(/Left alone: role assignment 0badc0de/)
  })

  it('without credentials: exit 3 with what to do, no stack trace, no managed-identity probe', async () => {
    const r = await runCli(['grant', 'apply', SOURCE, ...who, ...doubleFlags(d), '--yes'], {env: azureEnv(d, undefined, {INGESTGATE_STATE_DIR: state})})
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/No Azure credentials/)
    expect(r.stderr).toMatch(/az login/)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })
})

describe('check through the CLI', () => {
  it('static with a denying firewall: exit 5, a finding, and no row passes', async () => {
    await cli(['grant', 'apply', SOURCE, ...who, ...doubleFlags(d), '--yes'])
    d.world.accounts.get(ACCOUNT)!.networkAcls = {defaultAction: 'Deny', ipRules: []}
    const r = await cli(['check', SOURCE, ...who, ...doubleFlags(d), '--json'])
    expect(r.code).toBe(5)
    expect(r.json?.result.findings.map((f: {code: string}) => f.code)).toContain('network-deny-all')
    expect(r.json?.result.operations.some((o: {outcome: string}) => o.outcome === 'pass')).toBe(false)
  })

  it('live as the principal: exit 5 before the assignment, exit 0 after it (with --wait)', async () => {
    const live = ['check', SOURCE, ...who, '--live', '--no-static', '--endpoint-url', d.blob.endpoint(ACCOUNT), '--sample', '2']
    const before = await cli([...live, '--json'], INGEST)
    expect(before.code).toBe(5)
    expect(before.json?.result.operations[0]).toMatchObject({layer: 'live', operation: 'list', outcome: 'fail', code: 'permission-mismatch'})
    noSecrets(before)
    await cli(['grant', 'apply', SOURCE, ...who, ...doubleFlags(d), '--yes'])
    const after = await cli([...live, '--wait', '20s', '--json'], INGEST)
    expect(after.code).toBe(0)
    expect(after.json?.result).toMatchObject({ok: true, identities: {live: INGEST.oid}})
    noSecrets(after)
  })
})

describe('ingest from az:// on the reference cluster', () => {
  let cluster: ChildProcess | undefined
  afterAll(() => {
    cluster?.kill('SIGTERM')
  })

  it('the preflight checks az://, and the cluster reads it as the principal', async () => {
    for (const f of makeDicomSet({patients: 1, studiesPerPatient: 1, seriesPerStudy: 1, instancesPerSeries: 2})) putBlob(d.world, ACCOUNT, CONTAINER, `mri/${f.key}`, f.body)
    const src = `az://${ACCOUNT}/${CONTAINER}/mri`
    // The cluster is its own process, logged in as the ingest principal.
    const spawned = await spawnAzureCluster(d, INGEST, KEY)
    cluster = spawned.process
    const clusterUrl = spawned.url
    const home = isolatedHome()
    const env = {...ingestEnv(home), ...azureEnv(d, ADMIN, {HOME: home, FLYWHEEL_USER_HOME: home, INGESTGATE_STATE_DIR: join(home, 'state'), INGESTGATE_API_KEY: KEY, INGESTGATE_POLL_INTERVAL_MS: '50', TZ: 'UTC'})}
    const args = ['ingest', 'dicom', src, 'radiology', 'az-e2e', '--cluster', clusterUrl, '-y', '-f', ...who, ...doubleFlags(d)]
    const refused = await runCli(args, {env})
    expect(refused.code).toBe(5)
    expect(refused.stderr).toMatch(/FAIL {2}check/)
    expect((await runCli(['grant', 'apply', src, ...who, ...doubleFlags(d), '--yes'], {env})).code).toBe(0)
    const r = await runCli(args, {env, timeoutMs: 90_000})
    expect(r.stderr).toMatch(/PASS {2}check/)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/Finished/)
    noSecrets(r)
  }, 120_000)
})
