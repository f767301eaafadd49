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

/** Whether an assignment's reads cover a prefix ('' = the whole container): what apply's covering check decides. */
function covers(a: RoleAssignmentInfo, prefix: string): boolean {
  if (!a.condition) return true
  const p = parsePrefixCondition(a.condition)
  return p !== undefined && prefix.startsWith(p)
}

/**
 * Status of one source: ingestgate's assignment for each principal. One at the container scope
 * apply writes (or a wider one of ingestgate's above it) that covers the source is in place, as
 * apply then writes nothing; one that does not cover it, or sits below the source's scope, is drifted.
 */
export async function azureGrantStatus(ctx: AppContext, req: StatusRequest<AzureOptions>): Promise<GrantStatus> {
  // The scope does not depend on the principal; a placeholder stands in until one is known.
  const {arm, spec: where} = await resolveSource(ctx, {...req, principal: req.principal ?? '00000000-0000-0000-0000-000000000000'})
  // ARM lists the assignments at the scope, above it and below it.
  const listed = await denyToRead(() => arm.listRoleAssignments(where.scope, req.principal), where.scope, 'Microsoft.Authorization/roleAssignments/read')
  const ours = listed.filter((a) => isOurs(a) && (inheritsTo(a.scope, where.scope) || inheritsTo(where.scope, a.scope)))
  const principals = req.principal ? [req.principal.toLowerCase()] : [...new Set(ours.map((a) => a.principalId.toLowerCase()))]
  const items: GrantStatusItem[] = []
  for (const principal of principals) {
    const spec = grantSpec(req.source, principal, {subscriptionId: where.subscriptionId, resourceGroup: where.resourceGroup})
    const base = {principal, kind: 'role-assignment', id: spec.name!, target: spec.scope}
    const mine = ours.filter((a) => a.principalId.toLowerCase() === principal)
    const here = mine.find((a) => a.scope.toLowerCase() === spec.scope.toLowerCase())
    const above = mine.find((a) => a !== here && inheritsTo(a.scope, spec.scope) && covers(a, spec.prefix))
    const wanted = spec.prefix ? `the prefix ${spec.prefix}` : 'the whole container'
    if (here && (here.condition ?? undefined) === spec.condition) items.push({...base, state: 'in-place', detail: `Storage Blob Data Reader, reads ${whatItReads(here)}, as apply writes it`})
    else if (here && covers(here, spec.prefix)) items.push({...base, state: 'in-place', detail: `reads ${whatItReads(here)}, which covers ${wanted}; apply writes nothing while it is there`})
    else if (here) items.push({...base, state: 'drifted', detail: `its condition now allows ${whatItReads(here)}, not ${wanted}`})
    else if (above) items.push({...base, id: above.name, target: above.scope, state: 'in-place', detail: `ingestgate's assignment at ${above.scope} covers this source; apply writes nothing while it is there`})
    else if (mine.length > 0) {
      items.push({...base, state: 'drifted', detail: `ingestgate's assignment for this principal is at ${mine.map((a) => a.scope).join(' and ')}, which does not cover this source; apply creates one at the container scope`})
    } else items.push({...base, state: 'missing', detail: 'no role assignment of ingestgate for this principal at the container; apply creates it'})
  }
  return {source: req.source.url, principals, items, notes: []}
}
