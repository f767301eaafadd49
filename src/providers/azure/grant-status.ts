/**
 * Azure grant status: ingestgate's role assignment for a source, compared with what apply would
 * write today. Reads only, with the operator's credentials.
 *
 * An assignment is ingestgate's when its name is the one apply derives from its own scope, role and
 * principal (assignmentName), so ownership needs no description or tag. Without a --principal the
 * principals are those of ingestgate's Storage Blob Data Reader assignments at the container or above.
 */
import type {AppContext} from '../../context.js'
import type {GrantStatus, GrantStatusItem, StatusRequest} from '../types.js'
import {denyToRead} from './grant.js'
import type {AzureOptions} from './options.js'
import {resolveSource} from './resolve.js'
import {assignmentName, BLOB_DATA_READER_ROLE, grantSpec, inheritsTo, parsePrefixCondition, roleGuidOf} from './spec.js'
import type {RoleAssignmentInfo} from './evaluate.js'

/** Whether apply would have named this assignment so: ingestgate made it. */
function isOurs(a: RoleAssignmentInfo): boolean {
  return roleGuidOf(a.roleDefinitionId) === BLOB_DATA_READER_ROLE && a.name.toLowerCase() === assignmentName(a.scope, BLOB_DATA_READER_ROLE, a.principalId)
}

function whatItReads(a: RoleAssignmentInfo): string {
  if (!a.condition) return 'the whole container'
  const prefix = parsePrefixCondition(a.condition)
  return prefix === undefined ? 'a condition ingestgate did not write' : `the prefix ${prefix}`
}

/** Status of one source: ingestgate's assignment at the container scope for each principal. */
export async function azureGrantStatus(ctx: AppContext, req: StatusRequest<AzureOptions>): Promise<GrantStatus> {
  // The scope does not depend on the principal; a placeholder stands in until one is known.
  const {arm, spec: where} = await resolveSource(ctx, {...req, principal: req.principal ?? '00000000-0000-0000-0000-000000000000'})
  const listed = await denyToRead(() => arm.listRoleAssignments(where.scope, req.principal), where.scope, 'Microsoft.Authorization/roleAssignments/read')
  const ours = listed.filter((a) => isOurs(a) && inheritsTo(a.scope, where.scope))
  const principals = req.principal ? [req.principal.toLowerCase()] : [...new Set(ours.map((a) => a.principalId.toLowerCase()))]
  const items: GrantStatusItem[] = []
  for (const principal of principals) {
    const spec = grantSpec(req.source, principal, {subscriptionId: where.subscriptionId, resourceGroup: where.resourceGroup})
    const base = {principal, kind: 'role-assignment', id: spec.name!, target: spec.scope}
    const mine = ours.filter((a) => a.principalId.toLowerCase() === principal)
    const here = mine.find((a) => a.scope.toLowerCase() === spec.scope.toLowerCase())
    const elsewhere = mine.filter((a) => a !== here)
    if (here && (here.condition ?? undefined) === spec.condition) items.push({...base, state: 'in-place', detail: `Storage Blob Data Reader, reads ${whatItReads(here)}, as apply writes it`})
    else if (here) items.push({...base, state: 'drifted', detail: `its condition now allows ${whatItReads(here)}, not ${spec.prefix ? `the prefix ${spec.prefix}` : 'the whole container'}`})
    else if (elsewhere.length > 0) {
      items.push({...base, state: 'drifted', detail: `ingestgate's assignment for this principal is at ${elsewhere.map((a) => a.scope).join(' and ')}, not at the container scope apply writes for this source`})
    } else items.push({...base, state: 'missing', detail: 'no role assignment of ingestgate for this principal at the container; apply creates it'})
  }
  return {source: req.source.url, principals, items, notes: []}
}
