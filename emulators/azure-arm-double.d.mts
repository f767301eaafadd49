// Types of azure-arm-double.mjs for the TypeScript callers (tests, the demo).
export interface Identity {
  oid: string
  key: string
  displayName?: string
  appId?: string
  type?: 'ServicePrincipal' | 'User' | 'Group'
  inDirectory?: boolean
}
export interface AccountSeed {
  name: string
  resourceGroup: string
  location?: string
  isHnsEnabled?: boolean
  publicNetworkAccess?: 'Enabled' | 'Disabled'
  networkAcls?: {defaultAction: 'Allow' | 'Deny'; bypass?: string; ipRules?: Array<{value: string; action?: string}>; virtualNetworkRules?: Array<{id: string; action?: string; state?: string}>}
  containers?: string[]
  blobEndpoint?: string
}
export interface ArmSeed {
  tenantId: string
  subscriptionId: string
  identities: Identity[]
  accounts: AccountSeed[]
  assignments?: Array<{scope: string; role: string; principalId: string; name?: string; condition?: string; principalType?: string}>
  customRoles?: Array<{name: string; roleName: string; actions?: string[]; notActions?: string[]; dataActions?: string[]; notDataActions?: string[]; scope?: string}>
  denyAssignments?: Array<{scope: string; principalIds: string[]; dataActions?: string[]; actions?: string[]; notDataActions?: string[]; excludePrincipalIds?: string[]; name?: string}>
}
export interface RoleAssignmentResource {
  id: string
  name: string
  type: string
  properties: {roleDefinitionId: string; principalId: string; principalType: string; scope: string; condition?: string; conditionVersion?: string; createdOn: string; updatedOn: string; createdBy: string | null; updatedBy: string | null; description?: string}
}
export class AzureWorld {
  constructor(seed: ArmSeed)
  tenantId: string
  subscriptionId: string
  identities: Map<string, Identity>
  notYetReplicated: Map<string, number>
  propagationMs: number
  requests: Array<{plane?: string; method: string; path: string; query: string}>
  pageSize: number
  assignments: Map<string, RoleAssignmentResource>
  accounts: Map<string, AccountSeed & {containers: string[]}>
  denyAssignments: Array<{name: string; scope: string; principalIds: string[]; dataActions?: string[]; actions?: string[]; notDataActions?: string[]; excludePrincipalIds?: string[]}>
  readonly subscriptionScope: string
  accountScope(account: string): string
  containerScope(account: string, container: string): string
  assign(a: {scope: string; role: string; principalId: string; name?: string; condition?: string; principalType?: string; createdOn?: Date}): RoleAssignmentResource
  addRoleDefinition(r: {name: string; roleName: string; actions?: string[]; notActions?: string[]; dataActions?: string[]; notDataActions?: string[]; scope?: string; builtIn?: boolean}): void
}
export function startArmDouble(opts: {world: AzureWorld; tls?: {cert: string; key: string; certPath?: string}; port?: number}): Promise<{url: string; port: number; world: AzureWorld; ca: string; caPath?: string; stop(): Promise<void>}>
