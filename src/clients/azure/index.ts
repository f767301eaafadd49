/**
 * Narrow ports over the Azure SDKs: only the calls ingestgate makes. The SDK modules are imported
 * inside createAzureClients, so commands that need no Azure (help, grant render) never load them.
 *
 * Credentials: DefaultAzureCredential (environment, workload identity, managed identity, Azure
 * CLI, ...), which honours AZURE_TOKEN_CREDENTIALS to pick one of them; `tenantId` scopes it.
 * Tokens are registered as secrets and never leave this module; who they belong to is read from
 * the token's claims (object id, tenant, application id).
 */
import type {Agent} from 'node:https'

import type {AccountInfo, DenyAssignmentInfo, RoleAssignmentInfo, RoleDefinitionInfo} from '../../providers/azure/evaluate.js'
import {ConfigError} from '../../errors.js'
import {registerSecret} from '../../output/redact.js'
import {classifyAzureError} from './errors.js'

export const PUBLIC_ARM_ENDPOINT = 'https://management.azure.com'

export interface AzureClientOptions {
  subscriptionId?: string
  tenantId?: string
  /** The management endpoint (sovereign clouds, Azure Stack, test doubles). */
  armEndpoint?: string
  /**
   * An extra trust anchor (PEM) for HTTPS endpoints, for in-process callers such as tests. The CLI
   * itself relies on NODE_EXTRA_CA_CERTS.
   */
  caCertificate?: string
}

/** Who a set of credentials is, from the token's claims (never the token). */
export interface AzureIdentity {
  objectId: string
  tenantId?: string
  appId?: string
}

export interface ArmPort {
  getStorageAccount(resourceGroup: string, account: string): Promise<AccountInfo>
  /** Find an account by name in the subscription (when no resource group was given). */
  findStorageAccount(account: string): Promise<AccountInfo | undefined>
  /** The principal's assignments at the scope, above it and below it (ARM's principalId filter). */
  /** At the scope, above and below it; only the principal's when one is given. */
  listRoleAssignments(scope: string, principalId?: string): Promise<RoleAssignmentInfo[]>
  getRoleAssignment(scope: string, name: string): Promise<RoleAssignmentInfo | undefined>
  /** PUT; `created` is false when ARM answered 200 (the same name existed). */
  createRoleAssignment(scope: string, name: string, body: {roleDefinitionId: string; principalId: string; condition?: string; description?: string}): Promise<{assignment: RoleAssignmentInfo; created: boolean}>
  /** DELETE; undefined when there was nothing to delete (204). */
  deleteRoleAssignment(scope: string, name: string): Promise<RoleAssignmentInfo | undefined>
  /** A role definition by its full id; undefined when it does not exist. */
  getRoleDefinition(id: string): Promise<RoleDefinitionInfo | undefined>
  /** Deny assignments that apply at the scope (inherited ones included). */
  listDenyAssignments(scope: string): Promise<DenyAssignmentInfo[]>
}

export interface BlobObject {
  key: string
  size: number
}

export interface BlobPort {
  listPage(container: string, prefix: string, token?: string, max?: number): Promise<{objects: BlobObject[]; nextToken?: string}>
  /** Bytes [start, end] inclusive; fewer (or none) when the blob is shorter. */
  getRange(container: string, key: string, start: number, end: number): Promise<Uint8Array>
  openStream(container: string, key: string): Promise<NodeJS.ReadableStream>
}

export interface AzureClients {
  identity(): Promise<AzureIdentity>
  arm(): Promise<ArmPort>
  /** The blob data plane of one account endpoint (https://ACCOUNT.blob.core.windows.net). */
  blob(endpoint: string): Promise<BlobPort>
}

/**
 * The token audience of a management endpoint. The public and sovereign clouds have their own;
 * for any other endpoint (Azure Stack, a private link, a test double) the public one is asked for.
 * (arm-authorization would otherwise ask for `${endpoint}/.default`, which no tenant issues.)
 */
export function armTokenScope(endpoint: string): string {
  const host = new URL(endpoint).host.toLowerCase()
  const known: Record<string, string> = {
    'management.azure.com': 'https://management.azure.com/.default',
    'management.usgovcloudapi.net': 'https://management.usgovcloudapi.net/.default',
    'management.chinacloudapi.cn': 'https://management.chinacloudapi.cn/.default',
  }
  return known[host] ?? 'https://management.azure.com/.default'
}

export const STORAGE_TOKEN_SCOPE = 'https://storage.azure.com/.default'

/** The claims of a JWT access token (the payload only; the signature is Azure's business). */
export function tokenClaims(token: string): Record<string, unknown> {
  const part = token.split('.')[1]
  if (!part) return {}
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    return {}
  }
}

const stripSlash = (s: string) => s.replace(/^\/+/, '')

/** Create the clients; nothing is called until a port is used. */
export async function createAzureClients(options: AzureClientOptions, env: NodeJS.ProcessEnv): Promise<AzureClients> {
  const armEndpoint = (options.armEndpoint ?? PUBLIC_ARM_ENDPOINT).replace(/\/+$/, '')
  const identityMod = await import('@azure/identity')
  void env
  const credential = new identityMod.DefaultAzureCredential(options.tenantId ? {tenantId: options.tenantId} : {})
  const httpClient = options.caCertificate ? await trustingHttpClient(options.caCertificate) : undefined
  const armScope = armTokenScope(armEndpoint)
  const ctx = (doing: string, endpoint = armEndpoint) => ({doing, endpoint})

  let identity: Promise<AzureIdentity> | undefined
  let arm: Promise<ArmPort> | undefined
  const blobs = new Map<string, Promise<BlobPort>>()

  return {
    identity() {
      identity ??= (async () => {
        try {
          const token = await credential.getToken(armScope)
          registerSecret(token.token)
          const c = tokenClaims(token.token)
          return {objectId: String(c.oid ?? ''), tenantId: c.tid ? String(c.tid) : undefined, appId: c.appid ? String(c.appid) : c.azp ? String(c.azp) : undefined}
        } catch (error) {
          throw classifyAzureError(error, ctx('getting an Azure token'))
        }
      })()
      return identity
    },
    arm() {
      arm ??= createArmPort(credential, options, armEndpoint, armScope, httpClient)
      return arm
    },
    blob(endpoint) {
      const key = endpoint.replace(/\/+$/, '')
      let port = blobs.get(key)
      if (!port) {
        port = createBlobPort(credential, key, options.caCertificate)
        blobs.set(key, port)
      }
      return port
    },
  }
}

/** An HTTPS agent that also trusts one extra CA (the test doubles' self-signed certificate). */
async function trustingAgent(ca: string): Promise<Agent> {
  const [https, tls] = await Promise.all([import('node:https'), import('node:tls')])
  return new https.Agent({ca: [...tls.rootCertificates, ca], keepAlive: true})
}

/** An HTTP client (core-rest-pipeline style, for the ARM clients) that also trusts one extra CA. */
async function trustingHttpClient(ca: string) {
  const [{createDefaultHttpClient}, agent] = await Promise.all([import('@azure/core-rest-pipeline'), trustingAgent(ca)])
  const base = createDefaultHttpClient()
  return {
    sendRequest(request: import('@azure/core-rest-pipeline').PipelineRequest) {
      request.agent ??= agent
      return base.sendRequest(request)
    },
  }
}

type Credential = import('@azure/identity').TokenCredential
type HttpClient = Awaited<ReturnType<typeof trustingHttpClient>> | undefined

function toAssignment(a: import('@azure/arm-authorization').RoleAssignment): RoleAssignmentInfo {
  return {
    id: a.id ?? '',
    name: a.name ?? '',
    scope: a.scope ?? '',
    roleDefinitionId: a.roleDefinitionId ?? '',
    principalId: a.principalId ?? '',
    principalType: a.principalType,
    condition: a.condition ?? undefined,
    conditionVersion: a.conditionVersion ?? undefined,
    createdOn: a.createdOn ? new Date(a.createdOn).toISOString() : undefined,
  }
}

async function createArmPort(credential: Credential, options: AzureClientOptions, endpoint: string, scope: string, httpClient: HttpClient): Promise<ArmPort> {
  const [authz, storage] = await Promise.all([import('@azure/arm-authorization'), import('@azure/arm-storage')])
  const subscriptionId = options.subscriptionId ?? ''
  const common = {endpoint, ...(httpClient ? {httpClient} : {})}
  const auth = new authz.AuthorizationManagementClient(credential, subscriptionId, {...common, credentialScopes: [scope]})
  const st = new storage.StorageManagementClient(credential, subscriptionId, {...common, credentials: {scopes: [scope]}})
  const call = async <T>(doing: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (error) {
      throw classifyAzureError(error, {doing, endpoint})
    }
  }
  const toAccount = (a: import('@azure/arm-storage').StorageAccount): AccountInfo => ({
    name: a.name ?? '',
    id: a.id ?? '',
    resourceGroup: /\/resourceGroups\/([^/]+)/i.exec(a.id ?? '')?.[1] ?? '',
    location: a.location,
    blobEndpoint: a.primaryEndpoints?.blob,
    publicNetworkAccess: a.publicNetworkAccess,
    isHnsEnabled: a.isHnsEnabled,
    networkRuleSet: a.networkRuleSet
      ? {
          defaultAction: a.networkRuleSet.defaultAction,
          bypass: a.networkRuleSet.bypass,
          ipRules: (a.networkRuleSet.ipRules ?? []).map((r) => ({iPAddressOrRange: r.iPAddressOrRange, action: r.action})),
          virtualNetworkRules: (a.networkRuleSet.virtualNetworkRules ?? []).map((r) => ({virtualNetworkResourceId: r.virtualNetworkResourceId, action: r.action, state: r.state})),
          resourceAccessRules: a.networkRuleSet.resourceAccessRules,
        }
      : undefined,
  })
  return {
    getStorageAccount: (group, account) => call(`reading storage account ${account} in resource group ${group}`, async () => toAccount(await st.storageAccounts.getProperties(group, account))),
    findStorageAccount: (account) =>
      call(`looking for storage account ${account} in subscription ${subscriptionId}`, async () => {
        for await (const a of st.storageAccounts.list()) if (a.name === account) return toAccount(a)
        return undefined
      }),
    listRoleAssignments: (at, principalId) =>
      call(`listing the role assignments${principalId ? ` of ${principalId}` : ''} at ${at}`, async () => {
        const out: RoleAssignmentInfo[] = []
        for await (const a of auth.roleAssignments.listForScope(stripSlash(at), principalId ? {filter: `principalId eq '${principalId}'`} : {})) out.push(toAssignment(a))
        return out
      }),
    getRoleAssignment: (at, name) =>
      call(`reading role assignment ${name}`, async () => {
        try {
          return toAssignment(await auth.roleAssignments.get(stripSlash(at), name))
        } catch (error) {
          if ((error as {statusCode?: number}).statusCode === 404) return undefined
          throw error
        }
      }),
    createRoleAssignment: (at, name, body) =>
      call(`creating role assignment ${name} at ${at}`, async () => {
        let status = 0
        const a = await auth.roleAssignments.create(
          stripSlash(at),
          name,
          {
            roleDefinitionId: body.roleDefinitionId,
            principalId: body.principalId,
            // Set explicitly: ARM then skips the directory lookup that fails during replication.
            principalType: 'ServicePrincipal',
            description: body.description,
            ...(body.condition ? {condition: body.condition, conditionVersion: '2.0'} : {}),
          },
          {onResponse: (r) => (status = r.status)},
        )
        return {assignment: toAssignment(a), created: status === 201}
      }),
    deleteRoleAssignment: (at, name) =>
      call(`deleting role assignment ${name} at ${at}`, async () => {
        let status = 0
        const a = await auth.roleAssignments.delete(stripSlash(at), name, {onResponse: (r) => (status = r.status)})
        return status === 204 || !a?.id ? undefined : toAssignment(a)
      }),
    getRoleDefinition: (id) =>
      call(`reading role definition ${id}`, async () => {
        try {
          const d = await auth.roleDefinitions.getById(stripSlash(id))
          return {id: d.id ?? id, roleName: d.roleName ?? '', type: d.roleType, permissions: (d.permissions ?? []).map((p) => ({actions: p.actions, notActions: p.notActions, dataActions: p.dataActions, notDataActions: p.notDataActions}))}
        } catch (error) {
          if ((error as {statusCode?: number}).statusCode === 404) return undefined
          throw error
        }
      }),
    listDenyAssignments: (at) =>
      call(`listing deny assignments at ${at}`, async () => {
        const out: DenyAssignmentInfo[] = []
        for await (const d of auth.denyAssignments.listForScope(stripSlash(at))) {
          out.push({
            id: d.id ?? '',
            name: d.denyAssignmentName ?? d.name ?? '',
            scope: d.scope ?? '',
            principals: (d.principals ?? []).map((p) => ({id: p.id ?? '', type: p.type})),
            excludePrincipals: (d.excludePrincipals ?? []).map((p) => ({id: p.id ?? '', type: p.type})),
            permissions: (d.permissions ?? []).map((p) => ({actions: p.actions, notActions: p.notActions, dataActions: p.dataActions, notDataActions: p.notDataActions})),
            doNotApplyToChildScopes: d.doNotApplyToChildScopes,
          })
        }
        return out
      }),
  }
}

async function createBlobPort(credential: Credential, endpoint: string, caCertificate: string | undefined): Promise<BlobPort> {
  if (!endpoint.toLowerCase().startsWith('https://')) {
    throw new ConfigError('BAD_ENDPOINT', `The blob endpoint ${endpoint} is not https://; the Azure SDK sends bearer tokens only over HTTPS.`, {
      suggestions: ['Give --endpoint-url the https:// form of the blob endpoint (Azurite: start it with --cert and --key).'],
    })
  }
  const {BlobServiceClient, newPipeline} = await import('@azure/storage-blob')
  const pipeline = newPipeline(credential)
  if (caCertificate) {
    // storage-blob takes core-http style policies: one that hands each request the trusting agent.
    const agent = await trustingAgent(caCertificate)
    pipeline.factories.push({create: (next) => ({sendRequest: (request) => ((request.agent ??= agent), next.sendRequest(request))})})
  }
  const service = new BlobServiceClient(endpoint, pipeline)
  const call = async <T>(doing: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (error) {
      throw classifyAzureError(error, {doing, endpoint})
    }
  }
  const collect = async (stream: NodeJS.ReadableStream | undefined): Promise<Uint8Array> => {
    if (!stream) return new Uint8Array()
    const chunks: Buffer[] = []
    for await (const c of stream) chunks.push(Buffer.from(c as Buffer))
    return Buffer.concat(chunks)
  }
  return {
    listPage: (container, prefix, token, max = 1000) =>
      call(`listing blobs under ${prefix || '/'} in container ${container}`, async () => {
        const page = await service
          .getContainerClient(container)
          .listBlobsFlat(prefix ? {prefix} : {})
          .byPage({continuationToken: token, maxPageSize: max})
          .next()
        if (page.done) return {objects: []}
        const objects = page.value.segment.blobItems.map((b) => ({key: b.name, size: Number(b.properties.contentLength ?? 0)}))
        return {objects, nextToken: page.value.continuationToken || undefined}
      }),
    getRange: (container, key, start, end) =>
      call(`reading blob ${key} in container ${container}`, async () => {
        try {
          const r = await service.getContainerClient(container).getBlobClient(key).download(start, end - start + 1)
          return await collect(r.readableStreamBody)
        } catch (error) {
          // A range that starts past the end (an empty blob): there are no bytes to give.
          if ((error as {statusCode?: number}).statusCode === 416) return new Uint8Array()
          throw error
        }
      }),
    openStream: (container, key) =>
      call(`reading blob ${key} in container ${container}`, async () => {
        const r = await service.getContainerClient(container).getBlobClient(key).download()
        if (!r.readableStreamBody) throw new Error('the blob download returned no body')
        return r.readableStreamBody
      }),
  }
}
