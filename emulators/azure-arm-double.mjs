#!/usr/bin/env node
/**
 * A test double of the Azure Resource Manager paths ingestgate uses, over HTTPS on 127.0.0.1:
 * Microsoft.Authorization roleAssignments (PUT 201/200, 409 RoleAssignmentExists, GET, DELETE,
 * list with $filter at a scope and its parents), roleDefinitions, denyAssignments, and
 * Microsoft.Storage storageAccounts (get, list by subscription and resource group). The caller is
 * the identity its bearer token names (see azure-common.mjs), and its own RBAC is enforced: a
 * write without Microsoft.Authorization/roleAssignments/write is a 403 AuthorizationFailed, a
 * listing without read a 403, exactly as ARM words them.
 *
 * Bodies and error codes follow the REST reference (api-version 2022-04-01 for authorization,
 * 2025-08-01 for storage); the shapes were checked against the real SDK clients
 * (@azure/arm-authorization 9, @azure/arm-storage 20) in test/emulators/azure-arm-double.test.ts.
 *
 * Run alone: `node emulators/azure-arm-double.mjs [--seed FILE]` prints one JSON ready line
 * ({"arm": "https://127.0.0.1:PORT", "ca": "/path/cert.pem"}); or import startArmDouble().
 */
import {randomUUID} from 'node:crypto'
import {readFileSync} from 'node:fs'

import {BUILT_IN_ROLES, compileCondition, permitsAction, scopeCovers, serveHttps, verifyToken} from './azure-common.mjs'

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const ARM_AUDIENCES = ['https://management.azure.com', 'https://management.azure.com/', 'https://management.core.windows.net', 'https://management.core.windows.net/']
const AUTH = 'Microsoft.Authorization'

/**
 * @typedef {{oid: string, key: string, displayName?: string, appId?: string, type?: 'ServicePrincipal'|'User'|'Group', inDirectory?: boolean}} Identity
 * @typedef {{name: string, resourceGroup: string, location?: string, isHnsEnabled?: boolean, publicNetworkAccess?: 'Enabled'|'Disabled', networkAcls?: {defaultAction: 'Allow'|'Deny', bypass?: string, ipRules?: Array<{value: string, action?: string}>, virtualNetworkRules?: Array<{id: string, action?: string, state?: string}>}, containers?: string[], blobEndpoint?: string}} AccountSeed
 * @typedef {{tenantId: string, subscriptionId: string, identities: Identity[], accounts: AccountSeed[], assignments?: Array<{scope: string, role: string, principalId: string, name?: string, condition?: string, principalType?: string}>, customRoles?: Array<{name: string, roleName: string, actions?: string[], notActions?: string[], dataActions?: string[], notDataActions?: string[], scope?: string}>, denyAssignments?: Array<{scope: string, principalIds: string[], dataActions?: string[], actions?: string[], notDataActions?: string[], excludePrincipalIds?: string[], name?: string}>}} ArmSeed
 */

/** The state both doubles read: identities, role definitions and assignments, accounts. */
export class AzureWorld {
  /** @param {ArmSeed} seed */
  constructor(seed) {
    this.tenantId = seed.tenantId
    this.subscriptionId = seed.subscriptionId
    /** @type {Map<string, Identity>} */
    this.identities = new Map(seed.identities.map((i) => [i.oid.toLowerCase(), {type: 'ServicePrincipal', inDirectory: true, ...i}]))
    /** Principals that are reported missing for this many more PUTs (directory replication). */
    this.notYetReplicated = new Map()
    /** How long after creation an assignment starts to be enforced by the data plane (ms). */
    this.propagationMs = 0
    /** Every request, for tests that count writes. */
    this.requests = []
    this.pageSize = 50
    this.roleDefinitions = new Map()
    for (const r of BUILT_IN_ROLES) this.addRoleDefinition({...r, builtIn: true})
    for (const r of seed.customRoles ?? []) this.addRoleDefinition(r)
    /** @type {Map<string, any>} by lower-case id */
    this.assignments = new Map()
    this.accounts = new Map(seed.accounts.map((a) => [a.name, {publicNetworkAccess: 'Enabled', isHnsEnabled: false, containers: [], ...a}]))
    this.denyAssignments = (seed.denyAssignments ?? []).map((d) => ({name: d.name ?? randomUUID(), ...d}))
    for (const a of seed.assignments ?? []) this.assign(a)
  }

  get subscriptionScope() {
    return `/subscriptions/${this.subscriptionId}`
  }

  accountScope(account) {
    const a = this.accounts.get(account)
    if (!a) throw new Error(`no storage account ${account} in the seed`)
    return `${this.subscriptionScope}/resourceGroups/${a.resourceGroup}/providers/Microsoft.Storage/storageAccounts/${a.name}`
  }

  containerScope(account, container) {
    return `${this.accountScope(account)}/blobServices/default/containers/${container}`
  }

  addRoleDefinition(r) {
    const id = r.builtIn ? `${this.subscriptionScope}/providers/${AUTH}/roleDefinitions/${r.name}` : `${r.scope ?? this.subscriptionScope}/providers/${AUTH}/roleDefinitions/${r.name}`
    this.roleDefinitions.set(r.name.toLowerCase(), {
      id,
      name: r.name,
      type: `${AUTH}/roleDefinitions`,
      properties: {
        roleName: r.roleName,
        type: r.builtIn ? 'BuiltInRole' : 'CustomRole',
        description: r.roleName,
        assignableScopes: [r.builtIn ? '/' : r.scope ?? this.subscriptionScope],
        permissions: [{actions: r.actions ?? [], notActions: r.notActions ?? [], dataActions: r.dataActions ?? [], notDataActions: r.notDataActions ?? []}],
      },
    })
  }

  roleByName(roleName) {
    for (const d of this.roleDefinitions.values()) if (d.properties.roleName.toLowerCase() === roleName.toLowerCase()) return d
    return undefined
  }

  /** Add an assignment directly (the seed, or a test making "someone else's" assignment). */
  assign({scope, role, principalId, name, condition, principalType = 'ServicePrincipal', createdOn = new Date(0)}) {
    const def = GUID.test(role) ? this.roleDefinitions.get(role.toLowerCase()) : this.roleByName(role)
    if (!def) throw new Error(`no role ${role}`)
    const n = name ?? randomUUID()
    const a = {
      id: `${scope}/providers/${AUTH}/roleAssignments/${n}`,
      name: n,
      type: `${AUTH}/roleAssignments`,
      properties: {
        roleDefinitionId: def.id,
        principalId,
        principalType,
        scope,
        ...(condition ? {condition, conditionVersion: '2.0'} : {}),
        createdOn: createdOn.toISOString(),
        updatedOn: createdOn.toISOString(),
        createdBy: null,
        updatedBy: null,
      },
    }
    this.assignments.set(a.id.toLowerCase(), a)
    return a
  }

  roleDefinitionOf(assignment) {
    const guid = assignment.properties.roleDefinitionId.split('/').pop()
    return this.roleDefinitions.get(guid.toLowerCase())
  }

  /** Assignments of a principal that cover `scope`; `effectiveAt` drops those not yet propagated. */
  assignmentsCovering(principalId, scope, effectiveAt) {
    return [...this.assignments.values()].filter(
      (a) =>
        a.properties.principalId.toLowerCase() === principalId.toLowerCase() &&
        scopeCovers(a.properties.scope, scope) &&
        (effectiveAt === undefined || Date.parse(a.properties.createdOn) + this.propagationMs <= effectiveAt),
    )
  }

  /** Whether a control-plane action is allowed for the caller at the scope (no conditions there). */
  canDo(principalId, action, scope) {
    return this.assignmentsCovering(principalId, scope).some((a) => permitsAction(this.roleDefinitionOf(a)?.properties.permissions ?? [], action, false))
  }

  denyAssignmentsCovering(scope) {
    return this.denyAssignments.filter((d) => scopeCovers(d.scope, scope))
  }

  denyAssignmentResource(d) {
    return {
      id: `${d.scope}/providers/${AUTH}/denyAssignments/${d.name}`,
      name: d.name,
      type: `${AUTH}/denyAssignments`,
      properties: {
        denyAssignmentName: d.name,
        description: 'test double deny assignment',
        permissions: [{actions: d.actions ?? [], notActions: [], dataActions: d.dataActions ?? [], notDataActions: d.notDataActions ?? []}],
        scope: d.scope,
        doNotApplyToChildScopes: false,
        principals: d.principalIds.map((id) => ({id, type: id === '00000000-0000-0000-0000-000000000000' ? 'SystemDefined' : 'ServicePrincipal'})),
        excludePrincipals: (d.excludePrincipalIds ?? []).map((id) => ({id, type: 'ServicePrincipal'})),
        isSystemProtected: true,
      },
    }
  }

  accountResource(a) {
    const id = this.accountScope(a.name)
    return {
      id,
      name: a.name,
      type: 'Microsoft.Storage/storageAccounts',
      location: a.location ?? 'westeurope',
      kind: 'StorageV2',
      sku: {name: 'Standard_LRS', tier: 'Standard'},
      properties: {
        provisioningState: 'Succeeded',
        primaryEndpoints: {blob: a.blobEndpoint ?? `https://${a.name}.blob.core.windows.net/`, dfs: `https://${a.name}.dfs.core.windows.net/`},
        primaryLocation: a.location ?? 'westeurope',
        statusOfPrimary: 'available',
        isHnsEnabled: a.isHnsEnabled,
        publicNetworkAccess: a.publicNetworkAccess,
        networkAcls: {bypass: 'AzureServices', virtualNetworkRules: [], ipRules: [], defaultAction: 'Allow', ...(a.networkAcls ?? {})},
        allowBlobPublicAccess: false,
        minimumTlsVersion: 'TLS1_2',
      },
    }
  }
}

/** The wire form of an ARM error. */
function armError(res, status, code, message, extra = {}) {
  const body = JSON.stringify({error: {code, message, ...extra}})
  res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': randomUUID(), 'x-ms-failure-cause': 'gateway'})
  res.end(body)
}

function send(res, status, body) {
  res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': randomUUID()})
  res.end(body === undefined ? '' : JSON.stringify(body))
}

/**
 * The $filter forms the roleAssignments list takes: atScope(), principalId eq '...',
 * assignedTo('...'), and "atScope() and assignedTo('...')".
 */
function parseAssignmentFilter(filter) {
  if (!filter) return {atScope: false}
  const f = filter.trim()
  const parts = f.split(/\s+and\s+/i)
  const out = {atScope: false}
  for (const p of parts) {
    let m
    if (/^atScope\(\)$/i.test(p)) out.atScope = true
    else if ((m = /^principalId\s+eq\s+'([^']+)'$/i.exec(p))) out.principalId = m[1]
    else if ((m = /^assignedTo\('([^']+)'\)$/i.exec(p))) out.principalId = m[1]
    else return undefined
  }
  return out
}

/**
 * Start the ARM double.
 * @param {{world: AzureWorld, tls?: {cert: string, key: string, certPath?: string}, port?: number}} opts
 * @returns {Promise<{url: string, port: number, world: AzureWorld, ca: string, caPath?: string, stop(): Promise<void>}>}
 */
export async function startArmDouble(opts) {
  const {world} = opts
  const served = await serveHttps(
    opts,
    (req, res, body) => handle(world, req, res, body.toString()),
    (res, error) => armError(res, 500, 'InternalServerError', String(error?.message ?? error)),
  )
  return {...served, world}
}

function handle(world, req, res, body) {
  const url = new URL(req.url, 'https://127.0.0.1')
  // The SDKs send the scope without a leading slash; a doubled one ("//subscriptions") is what a
  // caller that forgot to strip it sends, and ARM answers it with 404.
  const path = decodeURIComponent(url.pathname)
  world.requests.push({method: req.method, path, query: url.search})
  if (path.startsWith('//')) return armError(res, 404, 'InvalidResourceNamespace', `The resource path '${path}' is not valid.`)
  const apiVersion = url.searchParams.get('api-version')
  if (!apiVersion) return armError(res, 400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.")

  const auth = verifyToken(req.headers.authorization, world.identities, (aud) => ARM_AUDIENCES.includes(aud))
  if (!auth.ok) {
    if (auth.why === 'missing') return armError(res, 401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.")
    if (auth.why === 'expired') return armError(res, 401, 'ExpiredAuthenticationToken', 'The access token expiry UTC time is earlier than current UTC time.')
    if (auth.why === 'audience') {
      return armError(res, 401, 'InvalidAuthenticationTokenAudience', `The access token has been obtained for wrong audience or resource '${auth.claims?.aud}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.`)
    }
    return armError(res, 401, 'InvalidAuthenticationToken', 'The access token is invalid.')
  }
  if (String(auth.claims.tid).toLowerCase() !== world.tenantId.toLowerCase()) {
    return armError(res, 401, 'InvalidAuthenticationTokenTenant', `The access token is from the wrong issuer '${auth.claims.iss}'. It must match the tenant 'https://sts.windows.net/${world.tenantId}/' associated with this subscription.`)
  }
  const caller = auth.identity.oid
  const denied = (action, scope) =>
    armError(res, 403, 'AuthorizationFailed', `The client '${caller}' with object id '${caller}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`)

  let m
  // Role assignments.
  if ((m = /^(\/.*)\/providers\/Microsoft\.Authorization\/roleAssignments\/([^/]+)$/i.exec(path))) {
    const [, scope, name] = m
    const notFoundScope = missingScope(world, scope)
    if (notFoundScope) return armError(res, 404, 'ResourceNotFound', notFoundScope)
    if (req.method === 'PUT') return putAssignment(world, res, caller, scope, name, body, denied)
    const id = `${scope}/providers/${AUTH}/roleAssignments/${name}`
    const existing = world.assignments.get(id.toLowerCase())
    if (req.method === 'GET') {
      if (!world.canDo(caller, `${AUTH}/roleAssignments/read`, scope)) return denied(`${AUTH}/roleAssignments/read`, scope)
      if (!existing) return armError(res, 404, 'RoleAssignmentNotFound', `The role assignment '${name}' is not found.`)
      return send(res, 200, existing)
    }
    if (req.method === 'DELETE') {
      if (!world.canDo(caller, `${AUTH}/roleAssignments/delete`, scope)) return denied(`${AUTH}/roleAssignments/delete`, scope)
      if (!existing) return send(res, 204)
      world.assignments.delete(id.toLowerCase())
      return send(res, 200, existing)
    }
    return armError(res, 405, 'MethodNotAllowed', `The method ${req.method} is not allowed.`)
  }
  if ((m = /^(\/.*?)?\/providers\/Microsoft\.Authorization\/roleAssignments$/i.exec(path)) && req.method === 'GET') {
    const scope = m[1] ?? '/'
    if (!world.canDo(caller, `${AUTH}/roleAssignments/read`, scope)) return denied(`${AUTH}/roleAssignments/read`, scope)
    const filter = parseAssignmentFilter(url.searchParams.get('$filter'))
    if (!filter) return armError(res, 400, 'InvalidFilterInQueryString', `The filter '${url.searchParams.get('$filter')}' is not supported.`)
    const all = [...world.assignments.values()].filter((a) => {
      if (filter.principalId && a.properties.principalId.toLowerCase() !== filter.principalId.toLowerCase()) return false
      const s = a.properties.scope
      // At the scope and above; without atScope() also below it, as ARM lists.
      return scopeCovers(s, scope) || (!filter.atScope && scopeCovers(scope, s))
    })
    return sendPage(world, res, url, all)
  }

  // Role definitions: by id at any scope, or a listing with roleName eq '...'.
  if ((m = /^(\/.*?)?\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)$/i.exec(path)) && req.method === 'GET') {
    const def = world.roleDefinitions.get(m[2].toLowerCase())
    if (!def) return armError(res, 404, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${m[2]}' does not exist.`)
    return send(res, 200, def)
  }
  if ((m = /^(\/.*?)?\/providers\/Microsoft\.Authorization\/roleDefinitions$/i.exec(path)) && req.method === 'GET') {
    const filter = url.searchParams.get('$filter')
    const rn = filter ? /^roleName\s+eq\s+'([^']+)'$/i.exec(filter.trim()) : null
    if (filter && !rn) return armError(res, 400, 'InvalidFilterInQueryString', `The filter '${filter}' is not supported.`)
    const defs = [...world.roleDefinitions.values()].filter((d) => !rn || d.properties.roleName.toLowerCase() === rn[1].toLowerCase())
    return sendPage(world, res, url, defs)
  }

  // Deny assignments at a scope (with those inherited from parents).
  if ((m = /^(\/.*?)?\/providers\/Microsoft\.Authorization\/denyAssignments$/i.exec(path)) && req.method === 'GET') {
    const scope = m[1] ?? '/'
    if (!world.canDo(caller, `${AUTH}/denyAssignments/read`, scope)) return denied(`${AUTH}/denyAssignments/read`, scope)
    const filter = url.searchParams.get('$filter')
    const atScope = filter && /^atScope\(\)$/i.test(filter.trim())
    if (filter && !atScope) return armError(res, 400, 'InvalidFilterInQueryString', `The filter '${filter}' is not supported.`)
    const list = world.denyAssignments.filter((d) => scopeCovers(d.scope, scope) || (!atScope && scopeCovers(scope, d.scope)))
    return sendPage(world, res, url, list.map((d) => world.denyAssignmentResource(d)))
  }

  // Storage accounts.
  if ((m = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?\/providers\/Microsoft\.Storage\/storageAccounts(?:\/([^/]+))?$/i.exec(path)) && req.method === 'GET') {
    const [, sub, group, name] = m
    if (sub.toLowerCase() !== world.subscriptionId.toLowerCase()) return armError(res, 404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`)
    if (name) {
      const a = world.accounts.get(name)
      if (!a || a.resourceGroup.toLowerCase() !== group.toLowerCase()) {
        return armError(res, 404, 'ResourceNotFound', `The Resource 'Microsoft.Storage/storageAccounts/${name}' under resource group '${group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`)
      }
      const accountScope = world.accountScope(name)
      if (!world.canDo(caller, 'Microsoft.Storage/storageAccounts/read', accountScope)) return denied('Microsoft.Storage/storageAccounts/read', accountScope)
      return send(res, 200, world.accountResource(a))
    }
    if (group && ![...world.accounts.values()].some((a) => a.resourceGroup.toLowerCase() === group.toLowerCase())) {
      return armError(res, 404, 'ResourceGroupNotFound', `Resource group '${group}' could not be found.`)
    }
    // A listing shows only the accounts the caller may read, as ARM filters it.
    const visible = [...world.accounts.values()].filter(
      (a) => (!group || a.resourceGroup.toLowerCase() === group.toLowerCase()) && world.canDo(caller, 'Microsoft.Storage/storageAccounts/read', world.accountScope(a.name)),
    )
    return sendPage(world, res, url, visible.map((a) => world.accountResource(a)))
  }

  return armError(res, 404, 'InvalidResourceType', `The resource type could not be found for path '${path}' (the ARM test double serves only the paths ingestgate uses).`)
}

/** ARM answers 404 for a scope below a storage account that does not exist. */
function missingScope(world, scope) {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Storage\/storageAccounts\/([^/]+)(?:\/blobServices\/default\/containers\/([^/]+))?$/i.exec(scope)
  if (!m) return undefined
  const a = world.accounts.get(m[3])
  if (!a || a.resourceGroup.toLowerCase() !== m[2].toLowerCase()) return `The Resource 'Microsoft.Storage/storageAccounts/${m[3]}' under resource group '${m[2]}' was not found.`
  if (m[4] && !a.containers.includes(m[4])) return `The Resource 'Microsoft.Storage/storageAccounts/${m[3]}/blobServices/default/containers/${m[4]}' under resource group '${m[2]}' was not found.`
  return undefined
}

function sendPage(world, res, url, items) {
  const skip = Number(url.searchParams.get('$skipToken') ?? '0')
  const page = items.slice(skip, skip + world.pageSize)
  const out = {value: page}
  if (skip + world.pageSize < items.length) {
    const next = new URL(url.toString())
    next.host = `127.0.0.1:${res.socket?.localPort}`
    next.searchParams.set('$skipToken', String(skip + world.pageSize))
    out.nextLink = next.toString()
  }
  send(res, 200, out)
}

function putAssignment(world, res, caller, scope, name, body, denied) {
  const action = `${AUTH}/roleAssignments/write`
  if (!world.canDo(caller, action, scope)) return denied(action, scope)
  if (!GUID.test(name)) return armError(res, 400, 'InvalidRoleAssignmentId', `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`)
  let parsed
  try {
    parsed = JSON.parse(body)
  } catch {
    return armError(res, 400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.')
  }
  const p = parsed?.properties ?? {}
  if (typeof p.roleDefinitionId !== 'string' || typeof p.principalId !== 'string') {
    return armError(res, 400, 'InvalidRequestContent', 'The request content was invalid: properties.roleDefinitionId and properties.principalId are required.')
  }
  const roleGuid = p.roleDefinitionId.split('/').pop()
  const def = world.roleDefinitions.get(String(roleGuid).toLowerCase())
  if (!def || !/\/providers\/Microsoft\.Authorization\/roleDefinitions\/[^/]+$/i.test(p.roleDefinitionId)) {
    return armError(res, 400, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${roleGuid}' does not exist.`)
  }
  if (p.condition !== undefined && p.condition !== null) {
    if (p.conditionVersion !== '2.0') return armError(res, 400, 'InvalidRoleAssignmentCondition', 'The given role assignment condition is invalid. Only condition version 2.0 is supported.')
    try {
      // Conditions are parsed at write time; a syntax error is refused then.
      compileCondition(p.condition)
    } catch (error) {
      return armError(res, 400, 'InvalidRoleAssignmentCondition', `The given role assignment condition is invalid: ${error.message}`)
    }
  }
  const principal = world.identities.get(p.principalId.toLowerCase())
  const pending = world.notYetReplicated.get(p.principalId.toLowerCase()) ?? 0
  if (!principal || principal.inDirectory === false || pending > 0) {
    if (pending > 0) world.notYetReplicated.set(p.principalId.toLowerCase(), pending - 1)
    return armError(res, 400, 'PrincipalNotFound', `Principal ${p.principalId.replaceAll('-', '')} does not exist in the directory ${world.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`)
  }
  const id = `${scope}/providers/${AUTH}/roleAssignments/${name}`
  const existing = world.assignments.get(id.toLowerCase())
  if (existing) {
    if (existing.properties.principalId.toLowerCase() !== p.principalId.toLowerCase() || existing.properties.roleDefinitionId.split('/').pop().toLowerCase() !== roleGuid.toLowerCase()) {
      return armError(res, 400, 'RoleAssignmentUpdateNotPermitted', 'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.')
    }
    existing.properties.condition = p.condition ?? undefined
    existing.properties.conditionVersion = p.condition ? '2.0' : undefined
    existing.properties.updatedOn = new Date().toISOString()
    existing.properties.updatedBy = caller
    return send(res, 200, existing)
  }
  const same = [...world.assignments.values()].find(
    (a) => a.properties.scope.toLowerCase() === scope.toLowerCase() && a.properties.principalId.toLowerCase() === p.principalId.toLowerCase() && a.properties.roleDefinitionId.split('/').pop().toLowerCase() === roleGuid.toLowerCase(),
  )
  if (same) return armError(res, 409, 'RoleAssignmentExists', 'The role assignment already exists.')
  const now = new Date()
  const created = {
    id,
    name,
    type: `${AUTH}/roleAssignments`,
    properties: {
      roleDefinitionId: def.id,
      principalId: p.principalId,
      principalType: p.principalType ?? principal.type,
      scope,
      ...(p.condition ? {condition: p.condition, conditionVersion: '2.0'} : {}),
      ...(p.description ? {description: p.description} : {}),
      createdOn: now.toISOString(),
      updatedOn: now.toISOString(),
      createdBy: caller,
      updatedBy: caller,
    },
  }
  world.assignments.set(id.toLowerCase(), created)
  return send(res, 201, created)
}


// Run as a process: one ready line on stdout, stop on SIGTERM/SIGINT.
if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--seed')
  if (i === -1) {
    process.stderr.write('usage: azure-arm-double.mjs --seed SEED.json\n')
    process.exit(2)
  }
  const world = new AzureWorld(JSON.parse(readFileSync(process.argv[i + 1], 'utf8')))
  const arm = await startArmDouble({world})
  process.stdout.write(JSON.stringify({arm: arm.url, ca: arm.caPath}) + '\n')
  const stop = () => arm.stop().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
