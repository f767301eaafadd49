/**
 * The blob double against Azurite (npm devDependency), for the protocol shape on the paths both
 * serve: the same @azure/storage-blob calls, with the same bearer tokens (Azurite's OAuth mode
 * checks the token's shape, issuer, audience and lifetime; it has no RBAC), must give the same
 * answers: list XML and paging, ranged and full reads, and the error codes BlobNotFound,
 * ContainerNotFound and InvalidRange. Then what only the double does: RBAC from the ARM world's
 * assignments, ABAC prefix conditions, deny assignments, propagation delay, and network rules.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {createServer} from 'node:net'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createAzureClients, type BlobPort} from '../../src/clients/azure/index.js'
import {AppError} from '../../src/errors.js'
import {prefixCondition} from '../../src/providers/azure/spec.js'
import type {ArmSeed} from '../../emulators/azure-arm-double.mjs'
import {putBlob, startAzureDoubles, type AzureDoubles} from '../../emulators/azure-blob-double.mjs'
import {ROOT} from '../helpers/cli.js'
import {ADMIN, INGEST, SUBSCRIPTION, TENANT, useIdentityInProcess} from '../helpers/azure.js'

const DEV = 'devstoreaccount1'
const C = 'images'
const BLOBS: Array<[string, Buffer]> = [
  ['dicom/a/1.dcm', Buffer.alloc(3000, 1)],
  ['dicom/a/2.dcm', Buffer.alloc(10, 2)],
  ['dicom/b/3.dcm', Buffer.from('0123456789abcdef')],
  ['dicom/empty.dcm', Buffer.alloc(0)],
  ['dicom-phi/x.dcm', Buffer.from('phi')],
  ['other.txt', Buffer.from('other')],
]

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as {port: number}).port
      s.close(() => resolve(port))
    })
  })
}

let doubles: AzureDoubles
let azurite: ChildProcess
let azuriteUrl: string

function seed(): ArmSeed {
  return {
    tenantId: TENANT,
    subscriptionId: SUBSCRIPTION,
    identities: [
      {oid: ADMIN.oid, key: ADMIN.key, type: 'User'},
      {oid: INGEST.oid, key: INGEST.key},
    ],
    accounts: [{name: DEV, resourceGroup: 'rg', containers: [C]}],
    assignments: [{scope: `/subscriptions/${SUBSCRIPTION}`, role: 'Storage Blob Data Owner', principalId: ADMIN.oid, principalType: 'User'}],
  }
}

async function blobPort(endpoint: string, who = ADMIN): Promise<BlobPort> {
  useIdentityInProcess(who)
  return (await createAzureClients({caCertificate: doubles.ca}, process.env)).blob(endpoint)
}

beforeAll(async () => {
  doubles = await startAzureDoubles(seed())
  for (const [name, body] of BLOBS) putBlob(doubles.world, DEV, C, name, body)
  const port = await freePort()
  // Azurite's OAuth mode needs HTTPS: it serves the doubles' certificate.
  azurite = spawn(join(ROOT, 'node_modules/.bin/azurite-blob'), ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--oauth', 'basic', '--cert', doubles.caPath, '--key', join(doubles.caPath, '..', 'key.pem')], {stdio: ['ignore', 'pipe', 'pipe']})
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Azurite did not start in 20 s')), 20_000)
    azurite.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('successfully listens')) {
        clearTimeout(timer)
        resolve()
      }
    })
    azurite.on('exit', (code) => reject(new Error(`Azurite exited with ${code}`)))
  })
  azuriteUrl = `https://127.0.0.1:${port}/${DEV}`
  // Seed Azurite through the SDK with the same bearer tokens.
  useIdentityInProcess(ADMIN)
  const {BlobServiceClient, newPipeline} = await import('@azure/storage-blob')
  const {DefaultAzureCredential} = await import('@azure/identity')
  const https = await import('node:https')
  const agent = new https.Agent({ca: doubles.ca})
  const pipeline = newPipeline(new DefaultAzureCredential())
  pipeline.factories.push({create: (next) => ({sendRequest: (r) => ((r.agent = agent), next.sendRequest(r))})})
  const svc = new BlobServiceClient(azuriteUrl, pipeline)
  await svc.getContainerClient(C).create()
  for (const [name, body] of BLOBS) await svc.getContainerClient(C).getBlockBlobClient(name).uploadData(body)
}, 60_000)

afterAll(async () => {
  azurite?.kill('SIGTERM')
  await doubles?.stop()
})

const failure = async (p: Promise<unknown>) => {
  const e = await p.then(() => undefined, (error: unknown) => error)
  expect(e, 'expected a failure').toBeInstanceOf(AppError)
  return {code: (e as AppError).code, azure: (e as AppError).data?.azureCode, status: (e as AppError).data?.httpStatus}
}

describe('the blob double answers like Azurite (same SDK calls, same tokens)', () => {
  const endpoints = () => ({double: doubles.blob.endpoint(DEV), azurite: azuriteUrl})

  it('List Blobs with a prefix, whole and in pages', async () => {
    const answers: Record<string, unknown> = {}
    for (const [which, url] of Object.entries(endpoints())) {
      const port = await blobPort(url)
      const all = await port.listPage(C, 'dicom/')
      const pages: string[][] = []
      let token: string | undefined
      do {
        const page = await port.listPage(C, 'dicom/', token, 2)
        pages.push(page.objects.map((o) => o.key))
        token = page.nextToken
      } while (token)
      answers[which] = {all: all.objects, nextToken: all.nextToken, pages, everything: (await port.listPage(C, '')).objects.length}
    }
    expect(answers.double).toEqual(answers.azurite)
    expect(answers.double).toMatchObject({all: [{key: 'dicom/a/1.dcm', size: 3000}, {key: 'dicom/a/2.dcm', size: 10}, {key: 'dicom/b/3.dcm', size: 16}, {key: 'dicom/empty.dcm', size: 0}], pages: [['dicom/a/1.dcm', 'dicom/a/2.dcm'], ['dicom/b/3.dcm', 'dicom/empty.dcm']], everything: 6})
  })

  it('the list XML has the same elements, in the same order', async () => {
    const tags = async (url: string) => {
      useIdentityInProcess(ADMIN)
      const {DefaultAzureCredential} = await import('@azure/identity')
      const token = (await new DefaultAzureCredential().getToken('https://storage.azure.com/.default'))!.token
      const https = await import('node:https')
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get(`${url}/${C}?restype=container&comp=list&prefix=dicom/b/&maxresults=5`, {ca: doubles.ca, headers: {authorization: `Bearer ${token}`, 'x-ms-version': '2025-11-05'}}, (res) => {
            let text = ''
            res.on('data', (c) => (text += c))
            res.on('end', () => resolve(text))
          })
          .on('error', reject)
      })
      return [...body.matchAll(/<([A-Za-z-]+)[\s/>]/g)].map((m) => m[1])
    }
    const [mine, theirs] = [await tags(doubles.blob.endpoint(DEV)), await tags(azuriteUrl)]
    // The skeleton and every property the SDK maps must match; Azurite adds a few newer properties.
    const skeleton = (t: string[]) => t.filter((x) => ['EnumerationResults', 'Prefix', 'MaxResults', 'Blobs', 'Blob', 'Name', 'Properties', 'NextMarker'].includes(x))
    expect(skeleton(mine)).toEqual(skeleton(theirs))
    // (Content-MD5: Azure computes it for a Put Blob, Azurite only stores one it is given; the double does as Azure.)
    for (const t of ['Creation-Time', 'Last-Modified', 'Etag', 'Content-Length', 'Content-Type', 'BlobType', 'LeaseStatus', 'LeaseState', 'ServerEncrypted']) {
      expect(theirs, t).toContain(t)
      expect(mine, t).toContain(t)
    }
  })

  it('ranged and full reads, and a range past the end of an empty blob', async () => {
    const answers: Record<string, unknown> = {}
    for (const [which, url] of Object.entries(endpoints())) {
      const port = await blobPort(url)
      const range = Buffer.from(await port.getRange(C, 'dicom/b/3.dcm', 2, 5)).toString()
      const beyond = Buffer.from(await port.getRange(C, 'dicom/b/3.dcm', 10, 99)).toString()
      const empty = (await port.getRange(C, 'dicom/empty.dcm', 0, 1023)).length
      const chunks: Buffer[] = []
      for await (const c of await port.openStream(C, 'dicom/a/1.dcm')) chunks.push(Buffer.from(c as Buffer))
      answers[which] = {range, beyond, empty, full: Buffer.concat(chunks).length}
    }
    expect(answers.double).toEqual(answers.azurite)
    expect(answers.double).toEqual({range: '2345', beyond: 'abcdef', empty: 0, full: 3000})
  })

  it('BlobNotFound and ContainerNotFound', async () => {
    const answers: Record<string, unknown> = {}
    for (const [which, url] of Object.entries(endpoints())) {
      const port = await blobPort(url)
      answers[which] = {blob: await failure(port.getRange(C, 'dicom/nope.dcm', 0, 10)), container: await failure(port.listPage('nocontainer', 'x/'))}
    }
    expect(answers.double).toEqual(answers.azurite)
    expect(answers.double).toEqual({blob: {code: 'NO_SUCH_BLOB', azure: 'BlobNotFound', status: 404}, container: {code: 'NO_SUCH_CONTAINER', azure: 'ContainerNotFound', status: 404}})
  })
})

describe('what only the double does: RBAC, conditions, deny assignments, propagation, network rules', () => {
  const scope = () => doubles.world.containerScope(DEV, C)
  const resetAssignments = () => {
    for (const [id, a] of doubles.world.assignments) if (a.properties.principalId === INGEST.oid) doubles.world.assignments.delete(id)
    doubles.world.denyAssignments = []
    doubles.world.propagationMs = 0
    const acct = doubles.world.accounts.get(DEV)!
    acct.networkAcls = undefined
    acct.publicNetworkAccess = 'Enabled'
  }

  it('without a role the principal gets AuthorizationPermissionMismatch; Owner-like control roles do not read data', async () => {
    resetAssignments()
    const port = await blobPort(doubles.blob.endpoint(DEV), INGEST)
    expect(await failure(port.listPage(C, 'dicom/'))).toMatchObject({code: 'ACCESS_DENIED', azure: 'AuthorizationPermissionMismatch', status: 403})
    doubles.world.assign({scope: scope(), role: 'Owner', principalId: INGEST.oid})
    expect((await failure(port.getRange(C, 'dicom/b/3.dcm', 0, 3))).azure).toBe('AuthorizationPermissionMismatch')
  })

  it('the prefix condition ingestgate writes: dicom/ is readable and listable, dicom-phi/ and the whole container are not', async () => {
    resetAssignments()
    doubles.world.assign({scope: scope(), role: 'Storage Blob Data Reader', principalId: INGEST.oid, condition: prefixCondition('dicom/')})
    const port = await blobPort(doubles.blob.endpoint(DEV), INGEST)
    expect((await port.listPage(C, 'dicom/')).objects).toHaveLength(4)
    expect((await port.listPage(C, 'dicom/a/')).objects).toHaveLength(2)
    expect(Buffer.from(await port.getRange(C, 'dicom/b/3.dcm', 0, 3)).toString()).toBe('0123')
    expect((await failure(port.listPage(C, 'dicom'))).azure).toBe('AuthorizationPermissionMismatch')
    expect((await failure(port.listPage(C, ''))).azure).toBe('AuthorizationPermissionMismatch')
    expect((await failure(port.getRange(C, 'dicom-phi/x.dcm', 0, 3))).azure).toBe('AuthorizationPermissionMismatch')
  })

  it('a deny assignment overrides the role; a new assignment counts only after the propagation delay', async () => {
    resetAssignments()
    doubles.world.assign({scope: scope(), role: 'Storage Blob Data Reader', principalId: INGEST.oid})
    doubles.world.denyAssignments = [{name: 'lock', scope: `/subscriptions/${SUBSCRIPTION}`, principalIds: [INGEST.oid], dataActions: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*']}]
    const port = await blobPort(doubles.blob.endpoint(DEV), INGEST)
    expect((await failure(port.listPage(C, 'dicom/'))).azure).toBe('AuthorizationPermissionMismatch')
    resetAssignments()
    doubles.world.propagationMs = 60_000
    doubles.world.assign({scope: scope(), role: 'Storage Blob Data Reader', principalId: INGEST.oid, createdOn: new Date()})
    expect((await failure(port.listPage(C, 'dicom/'))).azure).toBe('AuthorizationPermissionMismatch')
    doubles.world.propagationMs = 0
    expect((await port.listPage(C, 'dicom/')).objects).toHaveLength(4)
  })

  it('network rules: AuthorizationFailure for a denying firewall or disabled public access, even with the role', async () => {
    resetAssignments()
    doubles.world.assign({scope: scope(), role: 'Storage Blob Data Reader', principalId: INGEST.oid})
    const port = await blobPort(doubles.blob.endpoint(DEV), INGEST)
    const acct = doubles.world.accounts.get(DEV)!
    acct.networkAcls = {defaultAction: 'Deny', ipRules: [{value: '198.51.100.0/24'}]}
    expect(await failure(port.listPage(C, 'dicom/'))).toMatchObject({code: 'NETWORK_RULES', azure: 'AuthorizationFailure', status: 403})
    // The double sees every caller as 203.0.113.10 (its clientAddress); a rule for it lets them in.
    acct.networkAcls = {defaultAction: 'Deny', ipRules: [{value: '203.0.113.0/24'}]}
    expect((await port.listPage(C, 'dicom/')).objects).toHaveLength(4)
    acct.publicNetworkAccess = 'Disabled'
    expect((await failure(port.getRange(C, 'dicom/b/3.dcm', 0, 1))).azure).toBe('AuthorizationFailure')
  })

  it('expired or foreign tokens are refused with InvalidAuthenticationInfo (401)', async () => {
    resetAssignments()
    process.env.INGESTGATE_AZ_TOKEN_LIFETIME = '-120'
    try {
      const port = await blobPort(doubles.blob.endpoint(DEV), INGEST)
      expect(await failure(port.listPage(C, 'dicom/'))).toMatchObject({code: 'INVALID_CREDENTIALS', azure: 'InvalidAuthenticationInfo', status: 401})
    } finally {
      delete process.env.INGESTGATE_AZ_TOKEN_LIFETIME
    }
  })
})
