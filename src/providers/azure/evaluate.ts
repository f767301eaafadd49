/**
 * The Azure access model as pure functions: does a principal's set of role assignments (with their
 * role definitions and conditions), after deny assignments, allow the data action the ingest
 * cluster's List Blobs and Get Blob need? And do the account's network rules let the cluster in?
 * Plain data in, a decision out; the provider does the ARM reads around it.
 *
 * What it decides honestly and what it cannot: conditions of the form ingestgate writes are
 * evaluated; any other condition makes the answer `unknown` (never `pass`). Role definitions that
 * could not be read are `unknown`. ACLs of a hierarchical-namespace account are not visible here:
 * when RBAC refuses, they might still allow, which is `unknown` too.
 */
import type {Finding} from '../../core/verdict.js'
import {BLOB_READ_ACTION, parsePrefixCondition, roleGuidOf, inheritsTo} from './spec.js'

export interface Permission {
  actions?: string[]
  notActions?: string[]
  dataActions?: string[]
  notDataActions?: string[]
}

export interface RoleAssignmentInfo {
  id: string
  name: string
  scope: string
  roleDefinitionId: string
  principalId: string
  principalType?: string
  condition?: string
  conditionVersion?: string
  /** When it was made (ISO 8601): Azure takes up to 10 minutes to enforce a new one. */
  createdOn?: string
}

export interface RoleDefinitionInfo {
  id: string
  roleName: string
  /** BuiltInRole or CustomRole. */
  type?: string
  permissions: Permission[]
}

export interface DenyAssignmentInfo {
  id: string
  name: string
  scope: string
  principals: Array<{id: string; type?: string}>
  excludePrincipals?: Array<{id: string; type?: string}>
  permissions: Permission[]
  doNotApplyToChildScopes?: boolean
}

export interface NetworkRuleSet {
  defaultAction?: string
  bypass?: string
  ipRules?: Array<{iPAddressOrRange: string; action?: string}>
  virtualNetworkRules?: Array<{virtualNetworkResourceId: string; action?: string; state?: string}>
  resourceAccessRules?: Array<{tenantId?: string; resourceId?: string}>
}

export interface AccountInfo {
  name: string
  id: string
  resourceGroup: string
  /** The account's region as ARM names it (`westeurope`). */
  location?: string
  blobEndpoint?: string
  publicNetworkAccess?: string
  isHnsEnabled?: boolean
  networkRuleSet?: NetworkRuleSet
}

/** What the cluster asks for: a listing with a prefix, or a read of one blob. */
export type DataRequest = {operation: 'list'; prefix: string} | {operation: 'get'; path: string}

export interface Decision {
  outcome: 'pass' | 'fail' | 'unknown'
  code: string
  cause: string
  decidedBy: string[]
}

/** The "Everyone" principal of system deny assignments. */
export const EVERYONE = '00000000-0000-0000-0000-000000000000'

/** Azure's action wildcard match: `*` matches any run of characters, without case. */
export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`, 'i')
  return re.test(action)
}

/** Whether one of the permission blocks allows a data action (dataActions minus notDataActions, per block). */
export function permitsDataAction(permissions: readonly Permission[], action: string): boolean {
  return permissions.some((p) => (p.dataActions ?? []).some((a) => actionMatches(a, action)) && !(p.notDataActions ?? []).some((a) => actionMatches(a, action)))
}

/** Whether one of the permission blocks allows a control-plane action. */
export function permitsAction(permissions: readonly Permission[], action: string): boolean {
  return permissions.some((p) => (p.actions ?? []).some((a) => actionMatches(a, action)) && !(p.notActions ?? []).some((a) => actionMatches(a, action)))
}

/**
 * What an assignment's condition says about a request: true/false for the form ingestgate writes,
 * undefined for anything else (it cannot be decided here).
 */
export function conditionAllows(condition: string | undefined, req: DataRequest): boolean | undefined {
  if (!condition) return true
  const prefix = parsePrefixCondition(condition)
  if (prefix === undefined) return undefined
  return req.operation === 'list' ? req.prefix.startsWith(prefix) : req.path.startsWith(prefix)
}

function label(a: RoleAssignmentInfo, def?: RoleDefinitionInfo): string {
  return `role assignment ${a.name} (${def?.roleName ?? roleGuidOf(a.roleDefinitionId)}) at ${a.scope}${a.condition ? ' with a condition' : ''}`
}

function denyApplies(d: DenyAssignmentInfo, principalId: string, scope: string): boolean {
  if (!inheritsTo(d.scope, scope)) return false
  if (d.doNotApplyToChildScopes && d.scope.toLowerCase() !== scope.toLowerCase()) return false
  const pid = principalId.toLowerCase()
  const named = d.principals.some((p) => p.id.toLowerCase() === pid || p.id === EVERYONE)
  const excluded = (d.excludePrincipals ?? []).some((p) => p.id.toLowerCase() === pid)
  return named && !excluded
}

export interface AccessInput {
  principalId: string
  /** The container scope. */
  scope: string
  assignments: readonly RoleAssignmentInfo[]
  /** By lower-case role definition GUID; a missing one could not be read. */
  definitions: ReadonlyMap<string, RoleDefinitionInfo>
  denyAssignments: readonly DenyAssignmentInfo[]
}

/**
 * Decide one request: a deny assignment that covers it refuses; otherwise an assignment of a role
 * with the data action, at the scope or above, whose condition allows the request, grants it.
 */
export function evaluateDataAccess(input: AccessInput, req: DataRequest): Decision {
  const pid = input.principalId.toLowerCase()
  for (const d of input.denyAssignments) {
    if (denyApplies(d, pid, input.scope) && permitsDataAction(d.permissions, BLOB_READ_ACTION)) {
      return {outcome: 'fail', code: 'deny-assignment', cause: `the deny assignment ${d.name} at ${d.scope} refuses ${BLOB_READ_ACTION} (deny assignments override every role assignment)`, decidedBy: [`deny assignment ${d.name} at ${d.scope}`]}
    }
  }
  const mine = input.assignments.filter((a) => a.principalId.toLowerCase() === pid && inheritsTo(a.scope, input.scope))
  const undecided: string[] = []
  const narrowed: string[] = []
  for (const a of mine) {
    const def = input.definitions.get(roleGuidOf(a.roleDefinitionId))
    if (!def) {
      undecided.push(`${label(a)}: its role definition could not be read`)
      continue
    }
    if (!permitsDataAction(def.permissions, BLOB_READ_ACTION)) continue
    const allowed = conditionAllows(a.condition, req)
    if (allowed === true) {
      return {outcome: 'pass', code: 'allowed', cause: `${def.roleName} grants ${BLOB_READ_ACTION}${a.condition ? ' and its prefix condition allows this request' : ''}`, decidedBy: [label(a, def)]}
    }
    if (allowed === undefined) undecided.push(`${label(a, def)}: a condition ingestgate does not evaluate`)
    else narrowed.push(label(a, def))
  }
  if (undecided.length > 0) {
    return {outcome: 'unknown', code: 'undecidable', cause: `it depends on something that cannot be evaluated here (${undecided.length} assignment(s))`, decidedBy: undecided}
  }
  if (narrowed.length > 0) {
    return {outcome: 'fail', code: 'condition-not-met', cause: `the principal's assignment grants blob reads, but its condition does not cover this ${req.operation === 'list' ? 'listing prefix' : 'blob'}`, decidedBy: narrowed}
  }
  return {outcome: 'fail', code: 'no-role', cause: `no role assignment of the principal at this container or above grants ${BLOB_READ_ACTION}`, decidedBy: mine.length ? mine.map((a) => label(a, input.definitions.get(roleGuidOf(a.roleDefinitionId)))) : ['no role assignments of the principal cover the container']}
}

/**
 * An existing assignment that already gives the principal everything the grant would (blob read
 * at the container or above, with no condition or one whose prefix covers the source's): apply
 * then writes nothing and names it.
 */
export function coveringAssignment(input: AccessInput, prefix: string): {assignment: RoleAssignmentInfo; role: string} | undefined {
  const pid = input.principalId.toLowerCase()
  for (const a of input.assignments) {
    if (a.principalId.toLowerCase() !== pid || !inheritsTo(a.scope, input.scope)) continue
    const def = input.definitions.get(roleGuidOf(a.roleDefinitionId))
    if (!def || !permitsDataAction(def.permissions, BLOB_READ_ACTION)) continue
    if (!a.condition) return {assignment: a, role: def.roleName}
    const p = parsePrefixCondition(a.condition)
    if (p !== undefined && prefix.startsWith(p)) return {assignment: a, role: def.roleName}
  }
  return undefined
}

export interface NetworkVerdict {
  /** open: nothing in the way; blocked: the cluster cannot get in; depends: rules the cluster may or may not match. */
  state: 'open' | 'blocked' | 'depends'
  findings: Finding[]
}

/**
 * The account's network rules as the cluster meets them. The cluster's egress address is not
 * known here, so a `Deny` default with rules is `depends`, never a pass.
 */
export function evaluateNetwork(account: AccountInfo): NetworkVerdict {
  const resource = `storage account ${account.name}`
  if ((account.publicNetworkAccess ?? '').toLowerCase() === 'disabled') {
    return {
      state: 'blocked',
      findings: [{code: 'public-network-disabled', severity: 'error', resource, message: `Public network access is Disabled on ${account.name}: only private endpoints reach it, and the ingest cluster is not on one.`, remedy: `az storage account update --name ${account.name} --resource-group ${account.resourceGroup} --public-network-access Enabled, then allow only the cluster's addresses with --default-action Deny and az storage account network-rule add --ip-address ADDRESS`}],
    }
  }
  const rules = account.networkRuleSet
  if (!rules || (rules.defaultAction ?? 'Allow').toLowerCase() !== 'deny') return {state: 'open', findings: []}
  const ipRules = (rules.ipRules ?? []).filter((r) => (r.action ?? 'Allow').toLowerCase() === 'allow')
  const vnetRules = rules.virtualNetworkRules ?? []
  const remedy = `az storage account network-rule add --account-name ${account.name} --resource-group ${account.resourceGroup} --ip-address CLUSTER_EGRESS_ADDRESS (support gives the cluster's egress addresses)`
  if (ipRules.length === 0 && vnetRules.length === 0) {
    return {
      state: 'blocked',
      findings: [{code: 'network-deny-all', severity: 'error', resource, message: `The firewall of ${account.name} denies by default and allows no address or virtual network: every request of the cluster is refused (AuthorizationFailure).`, remedy}],
    }
  }
  return {
    state: 'depends',
    findings: [{code: 'network-rules', severity: 'warning', resource, message: `The firewall of ${account.name} denies by default and allows ${ipRules.length} address range(s) (${ipRules.map((r) => r.iPAddressOrRange).join(', ') || 'none'}) and ${vnetRules.length} virtual network(s); whether the cluster's egress address is among them cannot be seen from here.`, remedy}],
  }
}
