/**
 * The static evaluator for Cloud Storage: does a member hold a permission on a request, according
 * to a bucket IAM policy, the predefined-role table and the custom roles that could be read? Pure.
 *
 * Allowed when a binding whose role includes the permission names the member (or allUsers /
 * allAuthenticatedUsers) and its condition is true. Not allowed when no binding can grant it.
 * Unknown when the answer depends on something not seen: a custom role that could not be read, a
 * condition outside the evaluated subset, a group or domain the member may belong to. Project and
 * folder bindings, IAM deny policies and VPC Service Controls are outside the bucket policy: the
 * caller reports them as such.
 */
import {evaluateCondition, type RequestAttributes} from './conditions.js'
import type {BucketIamPolicy, IamBinding} from './policy.js'
import {isCustomRole, PREDEFINED_ROLES} from './roles.js'

export interface Verdict {
  outcome: 'allowed' | 'not-allowed' | 'unknown'
  /** The bindings that decided it, as `role` or `role [condition title]`. */
  decidedBy: string[]
  /** Why it is unknown (one line each). */
  reasons: string[]
}

export interface EvaluationInput {
  policy: BucketIamPolicy
  member: string
  permission: string
  request: RequestAttributes
  /** Custom roles that were read: name -> included permissions. Absent: could not be read. */
  customRoles?: ReadonlyMap<string, readonly string[]>
}

function label(b: IamBinding): string {
  return b.condition ? `${b.role} [${b.condition.title || b.condition.expression}]` : b.role
}

function memberApplies(m: string, member: string): true | false | 'unknown' {
  if (m.toLowerCase() === member.toLowerCase()) return true
  if (m === 'allUsers' || m === 'allAuthenticatedUsers') return true
  // Group membership, a domain (only for Google Workspace / Cloud Identity accounts, which a
  // service account is not) and principal sets cannot be resolved from the bucket policy.
  if (m.startsWith('group:') || m.startsWith('principalSet:')) return 'unknown'
  return false
}

/** Decide one permission for one member on one request. */
export function evaluatePermission(input: EvaluationInput): Verdict {
  const unknown: string[] = []
  const unknownBy: string[] = []
  for (const b of input.policy.bindings ?? []) {
    let perms: readonly string[] | undefined = PREDEFINED_ROLES[b.role]
    if (!perms && isCustomRole(b.role)) perms = input.customRoles?.get(b.role)
    const applies = b.members.map((m) => memberApplies(m, input.member))
    const names = applies.includes(true)
    const maybe = !names && applies.includes('unknown')
    if (!names && !maybe) continue
    if (!perms) {
      unknown.push(
        isCustomRole(b.role)
          ? `${b.role} is a custom role whose permissions could not be read`
          : `${b.role} is not in ingestgate's table of predefined roles`,
      )
      unknownBy.push(label(b))
      continue
    }
    if (!perms.includes(input.permission)) continue
    const cond = b.condition ? evaluateCondition(b.condition.expression, input.request) : {value: true as const}
    if (cond.value === false) continue
    if (cond.value === 'unknown') {
      unknown.push(`the condition of ${label(b)} cannot be decided: ${cond.reason}`)
      unknownBy.push(label(b))
      continue
    }
    if (maybe) {
      const who = b.members.filter((m) => memberApplies(m, input.member) === 'unknown')
      unknown.push(`${label(b)} grants it to ${who.join(', ')}; whether ${input.member} is a member cannot be seen from the bucket`)
      unknownBy.push(label(b))
      continue
    }
    return {outcome: 'allowed', decidedBy: [label(b)], reasons: []}
  }
  if (unknown.length > 0) return {outcome: 'unknown', decidedBy: unknownBy, reasons: unknown}
  return {outcome: 'not-allowed', decidedBy: [], reasons: []}
}
