/**
 * What the Azure grant is, as pure data: the role (Storage Blob Data Reader), the scope (the
 * container), the deterministic assignment name, and the ABAC condition that narrows it to a
 * prefix. render, apply, revoke and check all take these from here, so they agree byte for byte.
 * No SDK, no network.
 */
import {ConfigError} from '../../errors.js'
import {directoryPrefix, type Source} from '../../source.js'
import {uuidV5} from './uuid.js'

/** Storage Blob Data Reader, the built-in role ingestgate assigns. */
export const BLOB_DATA_READER_ROLE = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
export const BLOB_DATA_READER_NAME = 'Storage Blob Data Reader'
/** The data action List Blobs and Get Blob are authorised by. */
export const BLOB_READ_ACTION = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
export const ROLE_ASSIGNMENT_WRITE = 'Microsoft.Authorization/roleAssignments/write'
/** Built-in roles that carry roleAssignments/write (what a 403 on apply tells the admin to get). */
export const ROLES_THAT_CAN_ASSIGN = ['Owner', 'User Access Administrator', 'Role Based Access Control Administrator'] as const

/**
 * The UUIDv5 namespace of ingestgate's assignment names: uuidv5('https://ingestgate.dev/azure/role-assignment', URL).
 * Fixed forever: changing it would orphan every assignment made before.
 */
export const ASSIGNMENT_NAMESPACE = 'b8cefd3e-be29-5b02-a58c-ddee43b29d6a'

/** Marks a value the admin must fill in when render was given no --subscription / --resource-group. */
export const PLACEHOLDER_SUBSCRIPTION = '<SUBSCRIPTION_ID>'
export const PLACEHOLDER_RESOURCE_GROUP = '<RESOURCE_GROUP>'

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isGuid(value: string): boolean {
  return GUID.test(value)
}

export interface ScopeParts {
  subscriptionId: string
  resourceGroup: string
  account: string
  container: string
}

/** `/subscriptions/S/resourceGroups/G/providers/Microsoft.Storage/storageAccounts/A`. */
export function accountScope(p: Omit<ScopeParts, 'container'>): string {
  return `/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroup}/providers/Microsoft.Storage/storageAccounts/${p.account}`
}

/** The container scope the assignment is made at. */
export function containerScope(p: ScopeParts): string {
  return `${accountScope(p)}/blobServices/default/containers/${p.container}`
}

/**
 * The scopes an assignment can be inherited from, innermost first: container, account, resource
 * group, subscription (management groups and the root are above what a subscription admin sees).
 */
export function scopeChain(p: ScopeParts): string[] {
  return [containerScope(p), accountScope(p), `/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroup}`, `/subscriptions/${p.subscriptionId}`]
}

/** `outer` is `inner` or one of its parents (ARM compares scopes case-insensitively). */
export function scopeCovers(outer: string, inner: string): boolean {
  const o = outer.replace(/\/+$/, '').toLowerCase()
  const i = inner.replace(/\/+$/, '').toLowerCase()
  return o === '' || o === i || i.startsWith(`${o}/`)
}

/**
 * Whether an assignment (or deny assignment) made at `assignmentScope` applies at `scope`. A
 * management group is above every subscription in it, which its id does not show; ARM lists an
 * assignment at a management group for a scope only when it applies there, so one that came back
 * from a listing counts.
 */
export function inheritsTo(assignmentScope: string, scope: string): boolean {
  return /^\/providers\/Microsoft\.Management\/managementGroups\//i.test(assignmentScope) || scopeCovers(assignmentScope, scope)
}

/** The full id of a role definition as seen from a subscription. */
export function roleDefinitionId(subscriptionId: string, roleGuid = BLOB_DATA_READER_ROLE): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`
}

/** The role definition GUID of a full role definition id (the last path segment). */
export function roleGuidOf(id: string): string {
  return id.split('/').pop()!.toLowerCase()
}

/**
 * The assignment name: UUIDv5 of `scope|roleGuid|principalId`, all lower-case (ARM compares scopes
 * and ids without case, so `rg-Data` and `rg-data` must give the same name). Deterministic, so a
 * second apply finds its own assignment and revoke deletes exactly that one.
 */
export function assignmentName(scope: string, roleGuid: string, principalId: string): string {
  return uuidV5(`${scope.toLowerCase()}|${roleGuid.toLowerCase()}|${principalId.toLowerCase()}`, ASSIGNMENT_NAMESPACE)
}

/**
 * The ABAC condition (version 2.0) that limits the role to a directory prefix, in the form of the
 * Azure documentation's "read or list blobs in named folders" example: a blob read (not a listing)
 * needs the blob's path to start with the prefix; a listing needs the request's prefix to start
 * with it. Everything else the role allows is untouched. The prefix is the directory form
 * (`dicom/`), so `dicom-phi/` is not covered.
 * @throws ConfigError when the prefix cannot be written into a condition string literal.
 */
export function prefixCondition(prefix: string): string {
  if (prefix.includes("'")) {
    throw new ConfigError('PREFIX_NOT_EXPRESSIBLE', `The prefix ${JSON.stringify(prefix)} contains a single quote, which an Azure ABAC condition string cannot carry.`, {
      suggestions: ['Grant a parent prefix without the quote, or the whole container (az://ACCOUNT/CONTAINER).'],
    })
  }
  return [
    '(',
    ' (',
    `  !(ActionMatches{'${BLOB_READ_ACTION}'} AND NOT SubOperationMatches{'Blob.List'})`,
    ' )',
    ' OR',
    ' (',
    `  @Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringStartsWith '${prefix}'`,
    ' )',
    ')',
    'AND',
    '(',
    ' (',
    `  !(ActionMatches{'${BLOB_READ_ACTION}'} AND SubOperationMatches{'Blob.List'})`,
    ' )',
    ' OR',
    ' (',
    `  @Request[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:prefix] StringStartsWith '${prefix}'`,
    ' )',
    ')',
  ].join('\n')
}

function normaliseCondition(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/\s*([()])\s*/g, '$1').trim()
}

const CONDITION_SHAPE = (() => {
  const marker = '\u0000PREFIX\u0000'
  const escaped = normaliseCondition(prefixCondition(marker)).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`^${escaped.split(marker).join("([^']*)")}$`)
})()

/**
 * Recognise a condition of the form ingestgate writes (whitespace aside) and return its prefix;
 * undefined for any other condition, which the evaluator then reports as unknown.
 */
export function parsePrefixCondition(condition: string): string | undefined {
  const m = CONDITION_SHAPE.exec(normaliseCondition(condition))
  if (!m || m[1] !== m[2]) return undefined
  return m[1]
}

/** Everything a grant of one source to one principal consists of. */
export interface AzureGrantSpec {
  account: string
  container: string
  /** Directory form ('' for the whole container). */
  prefix: string
  principalId: string
  subscriptionId: string
  resourceGroup: string
  /** True when subscription or resource group are placeholders (render without them). */
  placeholders: boolean
  scope: string
  roleDefinitionId: string
  /** The deterministic name; undefined with placeholders (it depends on the real scope). */
  name?: string
  condition?: string
}

/**
 * The grant for a source. The principal must already be validated (a GUID).
 * Render may pass no subscription or resource group: placeholders take their place, clearly marked.
 */
export function grantSpec(source: Source, principalId: string, where: {subscriptionId?: string; resourceGroup?: string}): AzureGrantSpec {
  if (source.provider !== 'az' || !source.account) throw new Error('grantSpec needs an az:// source')
  const subscriptionId = where.subscriptionId?.toLowerCase() ?? PLACEHOLDER_SUBSCRIPTION
  const resourceGroup = where.resourceGroup ?? PLACEHOLDER_RESOURCE_GROUP
  const placeholders = !where.subscriptionId || !where.resourceGroup
  const scope = containerScope({subscriptionId, resourceGroup, account: source.account, container: source.bucket})
  const prefix = directoryPrefix(source)
  return {
    account: source.account,
    container: source.bucket,
    prefix,
    principalId: principalId.toLowerCase(),
    subscriptionId,
    resourceGroup,
    placeholders,
    scope,
    roleDefinitionId: roleDefinitionId(subscriptionId),
    name: placeholders ? undefined : assignmentName(scope, BLOB_DATA_READER_ROLE, principalId),
    condition: prefix ? prefixCondition(prefix) : undefined,
  }
}
