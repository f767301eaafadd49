/**
 * The Azure test doubles for the tests: a standard world (a tenant, a subscription, an admin, the
 * vendor's ingest service principal, a storage account with DICOM-ish blobs), started on HTTPS on
 * 127.0.0.1 and stopped by the caller, and the environment a CLI process needs to reach them
 * through the real @azure/identity path: the stand-in `az` first on PATH with
 * AZURE_TOKEN_CREDENTIALS=AzureCliCredential (never the managed-identity endpoint), and the
 * doubles' certificate in NODE_EXTRA_CA_CERTS.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {ArmSeed} from '../../emulators/azure-arm-double.mjs'
import {putBlob, startAzureDoubles, type AzureDoubles} from '../../emulators/azure-blob-double.mjs'
import {BIN, baseEnv} from './cli.js'

export const STANDIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'emulators', 'azure-cli-standin')

export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
export const SUBSCRIPTION = '3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8'
export const RESOURCE_GROUP = 'rg-imaging'
export const ACCOUNT = 'acmeimaging'
export const CONTAINER = 'scans'

export interface TestIdentity {
  oid: string
  key: string
  appId?: string
}

export const ADMIN: TestIdentity = {oid: '0f0e0d0c-0b0a-4909-8807-060504030201', key: 'admin-signing-key-7f3a'}
/** The vendor's multi-tenant app: its service principal object id in the customer tenant, and its application id. */
export const INGEST: TestIdentity = {oid: '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9', key: 'ingest-signing-key-91c2', appId: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'}
/** A Contributor: may manage the account but not assign roles. */
export const CONTRIBUTOR: TestIdentity = {oid: '11112222-3333-4444-8555-666677778888', key: 'contrib-signing-key-33'}

export const SOURCE = `az://${ACCOUNT}/${CONTAINER}/dicom`

export function standardSeed(extra: Partial<ArmSeed> = {}): ArmSeed {
  const sub = `/subscriptions/${SUBSCRIPTION}`
  return {
    tenantId: TENANT,
    subscriptionId: SUBSCRIPTION,
    identities: [
      {oid: ADMIN.oid, key: ADMIN.key, displayName: 'customer admin', type: 'User'},
      {oid: INGEST.oid, key: INGEST.key, displayName: 'vendor-ingest', appId: INGEST.appId},
      {oid: CONTRIBUTOR.oid, key: CONTRIBUTOR.key, displayName: 'contributor', type: 'User'},
    ],
    accounts: [{name: ACCOUNT, resourceGroup: RESOURCE_GROUP, containers: [CONTAINER]}],
    assignments: [
      {scope: sub, role: 'Owner', principalId: ADMIN.oid, principalType: 'User'},
      {scope: sub, role: 'Contributor', principalId: CONTRIBUTOR.oid, principalType: 'User'},
      // The admin also reads data (so the static layer can sample blobs).
      {scope: `${sub}/resourceGroups/${RESOURCE_GROUP}`, role: 'Storage Blob Data Reader', principalId: ADMIN.oid, principalType: 'User'},
    ],
    ...extra,
  }
}

/** Blobs under dicom/ (what the source names), one under dicom-phi/ (what it must not). */
export function seedBlobs(d: AzureDoubles, count = 4): void {
  for (let i = 0; i < count; i++) putBlob(d.world, ACCOUNT, CONTAINER, `dicom/sub-${i}/IM${i}.dcm`, Buffer.alloc(1500 + i, i))
  putBlob(d.world, ACCOUNT, CONTAINER, 'dicom-phi/secret.dcm', 'not for the vendor')
}

export async function startDoubles(seed: ArmSeed = standardSeed(), opts: {blobs?: number; clientAddress?: string} = {}): Promise<AzureDoubles> {
  const d = await startAzureDoubles(seed, {clientAddress: opts.clientAddress})
  seedBlobs(d, opts.blobs ?? 4)
  return d
}

/** What the stand-in `az` reads to be "logged in" as an identity. */
export function login(who: TestIdentity): string {
  return JSON.stringify({oid: who.oid, tid: TENANT, key: who.key, appid: who.appId, subscription: SUBSCRIPTION})
}

/** The environment of a CLI process talking to the doubles as `who`. */
export function azureEnv(d: AzureDoubles, who: TestIdentity | undefined, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = baseEnv()
  for (const k of Object.keys(env)) if (k.startsWith('AZURE_') || k === 'MSI_ENDPOINT' || k === 'IDENTITY_ENDPOINT') delete env[k]
  return {
    ...env,
    PATH: `${STANDIN_DIR}:${env.PATH ?? ''}`,
    AZURE_TOKEN_CREDENTIALS: 'AzureCliCredential',
    METADATA_SERVER_DETECTION: 'none',
    NODE_EXTRA_CA_CERTS: d.caPath,
    INGESTGATE_AZURE_PRINCIPAL_RETRY_MS: '400',
    ...(who ? {INGESTGATE_AZ_LOGIN: login(who)} : {}),
    ...extra,
  }
}

/** The flags that point a CLI command at the doubles. */
export function doubleFlags(d: AzureDoubles, opts: {resourceGroup?: boolean} = {}): string[] {
  return ['--subscription', SUBSCRIPTION, ...(opts.resourceGroup === false ? [] : ['--resource-group', RESOURCE_GROUP]), '--arm-endpoint', d.arm.url]
}

/**
 * Make this test process itself "logged in" as `who` for in-process SDK calls (the stand-in `az`
 * is run by AzureCliCredential with this process's environment).
 */
export function useIdentityInProcess(who: TestIdentity): void {
  process.env.AZURE_TOKEN_CREDENTIALS = 'AzureCliCredential'
  process.env.METADATA_SERVER_DETECTION = 'none'
  if (!process.env.PATH?.startsWith(STANDIN_DIR)) process.env.PATH = `${STANDIN_DIR}:${process.env.PATH ?? ''}`
  process.env.INGESTGATE_AZ_LOGIN = login(who)
}

/**
 * `cluster serve` in its own process, logged in as `who` (the Azure credential chain and the
 * doubles' certificate come from the process environment, as on the vendor's cluster), reading
 * the blob double, with a new data directory. Resolves once it listens; the caller kills the process.
 */
export async function spawnAzureCluster(d: AzureDoubles, who: TestIdentity, apiKey: string): Promise<{process: ChildProcess; url: string; dataDir: string}> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ig-az-cluster-'))
  const child = spawn(process.execPath, [BIN, 'cluster', 'serve', '--port', '0', '--data-dir', dataDir, '--api-key', apiKey, '--endpoint-url', d.blob.endpoint(ACCOUNT)], {
    env: azureEnv(d, who),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (c: Buffer) => {
      out += c
      const m = /^(http:\/\/127\.0\.0\.1:\d+\S*)$/m.exec(out)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`cluster serve exited with ${code}`)))
  })
  return {process: child, url, dataDir}
}
