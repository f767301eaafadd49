/**
 * The ARM double checked against the real SDK clients (@azure/arm-authorization 9,
 * @azure/arm-storage 20, @azure/identity through the stand-in `az`), via ingestgate's own port:
 * every path the product uses, including the refusals, answers in the shape the SDKs parse.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createAzureClients, type ArmPort} from '../../src/clients/azure/index.js'
import {AppError} from '../../src/errors.js'
import {assignmentName, BLOB_DATA_READER_ROLE, containerScope, roleDefinitionId} from '../../src/providers/azure/spec.js'
import type {AzureDoubles} from '../../emulators/azure-blob-double.mjs'
import {ACCOUNT, ADMIN, CONTAINER, CONTRIBUTOR, INGEST, RESOURCE_GROUP, standardSeed, startDoubles, SUBSCRIPTION, useIdentityInProcess} from '../helpers/azure.js'
import {ROOT} from '../helpers/cli.js'

let d: AzureDoubles
const scope = containerScope({subscriptionId: SUBSCRIPTION, resourceGroup: RESOURCE_GROUP, account: ACCOUNT, container: CONTAINER})
const roleId = roleDefinitionId(SUBSCRIPTION)

async function armAs(who: typeof ADMIN): Promise<ArmPort> {
  useIdentityInProcess(who)
  const clients = await createAzureClients({subscriptionId: SUBSCRIPTION, armEndpoint: d.arm.url, caCertificate: d.ca}, process.env)
  return clients.arm()
}

const codeOf = async (p: Promise<unknown>) => {
  const e = await p.then(() => undefined, (error: unknown) => error)
  expect(e).toBeInstanceOf(AppError)
  return {code: (e as AppError).code, azure: (e as AppError).data?.azureCode, status: (e as AppError).data?.httpStatus, message: (e as AppError).message}
}

beforeAll(async () => {
  d = await startDoubles(
    standardSeed({
      accounts: [
        {name: ACCOUNT, resourceGroup: RESOURCE_GROUP, containers: [CONTAINER], networkAcls: {defaultAction: 'Deny', ipRules: [{value: '198.51.100.0/24'}]}, isHnsEnabled: true},
        {name: 'otheraccount', resourceGroup: 'rg-other', containers: ['c1'], publicNetworkAccess: 'Disabled'},
      ],
      denyAssignments: [{scope: `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-other`, principalIds: ['00000000-0000-0000-0000-000000000000'], dataActions: ['*/read'], name: 'managed-app-lock'}],
    }),
  )
})
afterAll(async () => d?.stop())

describe('the ARM double, through the real SDK clients', () => {
  it('serves storage accounts with their network rules, endpoint and namespace flag', async () => {
    const arm = await armAs(ADMIN)
    const a = await arm.getStorageAccount(RESOURCE_GROUP, ACCOUNT)
    expect(a).toMatchObject({name: ACCOUNT, resourceGroup: RESOURCE_GROUP, isHnsEnabled: true, publicNetworkAccess: 'Enabled', blobEndpoint: `${d.blob.endpoint(ACCOUNT)}/`})
    expect(a.networkRuleSet).toMatchObject({defaultAction: 'Deny', ipRules: [{iPAddressOrRange: '198.51.100.0/24'}]})
    expect(await arm.findStorageAccount('otheraccount')).toMatchObject({resourceGroup: 'rg-other', publicNetworkAccess: 'Disabled'})
    expect(await arm.findStorageAccount('nosuchaccount')).toBeUndefined()
    expect(await codeOf(arm.getStorageAccount('rg-wrong', ACCOUNT))).toMatchObject({code: 'NOT_FOUND', azure: 'ResourceNotFound', status: 404})
  })

  it('creates (201), re-puts (200), refuses the same trio under another name (409), lists, gets and deletes', async () => {
    const arm = await armAs(ADMIN)
    const name = assignmentName(scope, BLOB_DATA_READER_ROLE, INGEST.oid)
    const first = await arm.createRoleAssignment(scope, name, {roleDefinitionId: roleId, principalId: INGEST.oid})
    expect(first.created).toBe(true)
    expect(first.assignment).toMatchObject({name, scope, principalId: INGEST.oid, principalType: 'ServicePrincipal'})
    expect((await arm.createRoleAssignment(scope, name, {roleDefinitionId: roleId, principalId: INGEST.oid})).created).toBe(false)
    expect(await codeOf(arm.createRoleAssignment(scope, '9d7c3b1a-0000-4000-8000-000000000001', {roleDefinitionId: roleId, principalId: INGEST.oid}))).toMatchObject({code: 'ROLE_ASSIGNMENT_EXISTS', status: 409})

    // Listing at the container shows the principal's assignments there and above (and below).
    d.world.assign({scope: `/subscriptions/${SUBSCRIPTION}`, role: 'Reader', principalId: INGEST.oid})
    const listed = await arm.listRoleAssignments(scope, INGEST.oid)
    expect(listed.map((a) => a.scope).sort()).toEqual([`/subscriptions/${SUBSCRIPTION}`, scope])
    expect(await arm.getRoleAssignment(scope, name)).toMatchObject({name})
    expect(await arm.getRoleAssignment(scope, '9d7c3b1a-0000-4000-8000-000000000002')).toBeUndefined()
    expect(await arm.deleteRoleAssignment(scope, name)).toMatchObject({name})
    expect(await arm.deleteRoleAssignment(scope, name)).toBeUndefined()
  })

  it('pages listings with nextLink, which the SDK follows', async () => {
    const arm = await armAs(ADMIN)
    for (let i = 0; i < 3; i++) d.world.assign({scope: `/subscriptions/${SUBSCRIPTION}`, role: i === 0 ? 'Reader' : i === 1 ? 'Contributor' : 'Storage Blob Data Owner', principalId: '0dd0dd0d-0000-4000-8000-00000000000' + i, name: `0dd0dd0d-0000-4000-8000-0000000000a${i}`})
    d.world.pageSize = 1
    try {
      for (let i = 0; i < 3; i++) expect(await arm.listRoleAssignments(scope, '0dd0dd0d-0000-4000-8000-00000000000' + i)).toHaveLength(1)
      expect(d.world.requests.some((r) => r.query.includes('skipToken'))).toBe(false) // one principal, one page
      // Two accounts, one per page: the second is found on the page nextLink points to.
      expect((await arm.findStorageAccount('otheraccount'))?.name).toBe('otheraccount')
      expect(d.world.requests.some((r) => r.query.includes('%24skipToken') || r.query.includes('$skipToken'))).toBe(true)
    } finally {
      d.world.pageSize = 50
    }
  })

  it('reads role definitions by full id (the leading slash is stripped, or ARM would see //subscriptions)', async () => {
    const arm = await armAs(ADMIN)
    expect(await arm.getRoleDefinition(roleId)).toMatchObject({roleName: 'Storage Blob Data Reader', permissions: [{dataActions: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read']}]})
    expect(await arm.getRoleDefinition(roleDefinitionId(SUBSCRIPTION, '00000000-1111-4222-8333-444444444444'))).toBeUndefined()
    expect(d.world.requests.some((r) => r.path.startsWith('//'))).toBe(false)
  })

  it('lists deny assignments inherited from a parent scope', async () => {
    const arm = await armAs(ADMIN)
    const deny = await arm.listDenyAssignments(containerScope({subscriptionId: SUBSCRIPTION, resourceGroup: 'rg-other', account: 'otheraccount', container: 'c1'}))
    expect(deny).toMatchObject([{name: 'managed-app-lock', principals: [{id: '00000000-0000-0000-0000-000000000000'}], permissions: [{dataActions: ['*/read']}]}])
    expect(await arm.listDenyAssignments(scope)).toEqual([])
  })

  it('enforces the caller\'s own right to write assignments: a Contributor gets 403 AuthorizationFailed', async () => {
    const arm = await armAs(CONTRIBUTOR)
    const e = await codeOf(arm.createRoleAssignment(scope, assignmentName(scope, BLOB_DATA_READER_ROLE, INGEST.oid), {roleDefinitionId: roleId, principalId: INGEST.oid}))
    expect(e).toMatchObject({code: 'ACCESS_DENIED', azure: 'AuthorizationFailed', status: 403})
    // Reading is fine for a Contributor.
    expect((await arm.getStorageAccount(RESOURCE_GROUP, ACCOUNT)).name).toBe(ACCOUNT)
  })

  it('answers PrincipalNotFound for an unknown principal, and for a known one while it is "replicating"', async () => {
    const arm = await armAs(ADMIN)
    const unknown = 'deadbeef-0000-4000-8000-00000000beef'
    expect(await codeOf(arm.createRoleAssignment(scope, assignmentName(scope, BLOB_DATA_READER_ROLE, unknown), {roleDefinitionId: roleId, principalId: unknown}))).toMatchObject({code: 'PRINCIPAL_NOT_FOUND', status: 400})
    d.world.notYetReplicated.set(INGEST.oid, 2)
    const name = assignmentName(scope, BLOB_DATA_READER_ROLE, INGEST.oid)
    for (let i = 0; i < 2; i++) expect((await codeOf(arm.createRoleAssignment(scope, name, {roleDefinitionId: roleId, principalId: INGEST.oid}))).code).toBe('PRINCIPAL_NOT_FOUND')
    expect((await arm.createRoleAssignment(scope, name, {roleDefinitionId: roleId, principalId: INGEST.oid})).created).toBe(true)
    await arm.deleteRoleAssignment(scope, name)
  })

  it('refuses a condition without version 2.0 or with a syntax error, at write time', async () => {
    useIdentityInProcess(ADMIN)
    const {AuthorizationManagementClient} = await import('@azure/arm-authorization')
    const {DefaultAzureCredential} = await import('@azure/identity')
    const {createDefaultHttpClient} = await import('@azure/core-rest-pipeline')
    const https = await import('node:https')
    const agent = new https.Agent({ca: d.ca})
    const base = createDefaultHttpClient()
    const httpClient = {sendRequest: (r: import('@azure/core-rest-pipeline').PipelineRequest) => ((r.agent = agent), base.sendRequest(r))}
    const client = new AuthorizationManagementClient(new DefaultAzureCredential(), SUBSCRIPTION, {endpoint: d.arm.url, credentialScopes: ['https://management.azure.com/.default'], httpClient})
    const put = (condition: string, conditionVersion: string) =>
      client.roleAssignments.create(scope.slice(1), '9d7c3b1a-0000-4000-8000-0000000000c0', {roleDefinitionId: roleId, principalId: INGEST.oid, principalType: 'ServicePrincipal', condition, conditionVersion}).then(
        () => 'ok',
        (e: {code?: string}) => e.code,
      )
    expect(await put("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringStartsWith 'a/'", '1.0')).toBe('InvalidRoleAssignmentCondition')
    expect(await put("@Resource[x] StringStartsWith", '2.0')).toBe('InvalidRoleAssignmentCondition')

    // Without credentialScopes the SDK asks for `${endpoint}/.default`: ARM refuses that audience.
    const wrongAudience = new AuthorizationManagementClient(new DefaultAzureCredential(), SUBSCRIPTION, {endpoint: d.arm.url, httpClient})
    const e = await wrongAudience.roleDefinitions.getById(roleId.slice(1)).then(() => undefined, (err: {code?: string; statusCode?: number}) => err)
    expect(e).toMatchObject({code: 'InvalidAuthenticationTokenAudience', statusCode: 401})
  })
})

describe('the certificate', () => {
  it('is made with openssl, and its absence is said plainly', async () => {
    const {generateCertificate} = await import('../../emulators/azure-common.mjs')
    const {mkdtempSync} = await import('node:fs')
    const {tmpdir} = await import('node:os')
    const {join} = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'az-cert-'))
    expect(() => generateCertificate(dir, '/nonexistent/openssl')).toThrow(/made by \/nonexistent\/openssl, which is missing\. Install openssl/)
    const {X509Certificate} = await import('node:crypto')
    const cert = new X509Certificate(generateCertificate(dir).cert)
    expect(cert.subjectAltName).toMatch(/IP Address:127\.0\.0\.1/)
  })
})

describe('the doubles as a process', () => {
  it('prints one ready line with the ports and the CA, serves, and stops on SIGTERM', async () => {
    const {spawn} = await import('node:child_process')
    const {mkdtempSync, writeFileSync} = await import('node:fs')
    const {tmpdir} = await import('node:os')
    const {join} = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'az-double-proc-'))
    const seedFile = join(dir, 'seed.json')
    writeFileSync(seedFile, JSON.stringify({...standardSeed(), blobs: {[`${ACCOUNT}/${CONTAINER}/dicom/a.dcm`]: 'hello'}}))
    const child = spawn(process.execPath, [join(ROOT, 'emulators/azure-blob-double.mjs'), '--seed', seedFile], {stdio: ['ignore', 'pipe', 'inherit']})
    const ready = await new Promise<{arm: string; blob: string; ca: string}>((resolve, reject) => {
      let out = ''
      child.stdout!.on('data', (c: Buffer) => {
        out += c
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]))
      })
      child.on('exit', (code) => reject(new Error(`exited with ${code}`)))
    })
    expect(ready.arm).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(ready.blob).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const {readFileSync} = await import('node:fs')
    useIdentityInProcess(INGEST)
    const clients = await createAzureClients({caCertificate: readFileSync(ready.ca, 'utf8')}, process.env)
    // No role yet: the blob double refuses the principal, in Azure's words.
    const e = await (await clients.blob(`${ready.blob}/${ACCOUNT}`)).listPage(CONTAINER, 'dicom/').then(() => undefined, (err: AppError) => err)
    expect(e?.data?.azureCode).toBe('AuthorizationPermissionMismatch')
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})
