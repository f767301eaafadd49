/**
 * Bucket IAM policies (version 3): the grant's bindings, merge, revoke and diff. Pure.
 *
 * A binding is keyed by role + condition (Cloud Storage treats the same role with a different
 * condition as another binding). Merge adds the member to the binding with the same key, creating
 * it when missing; revoke removes the member from exactly those bindings and drops a binding only
 * when it is left without members. Every other binding, member and field stays as it was.
 */
import {diffDocuments, type DiffLine} from '../../core/diff.js'
import {fingerprint} from '../../core/fingerprint.js'
import {type IamCondition, prefixCondition, sameCondition} from './conditions.js'
import {GRANTED_ROLES} from './roles.js'

export interface IamBinding {
  role: string
  members: string[]
  condition?: IamCondition
}

export interface BucketIamPolicy {
  version?: number
  bindings: IamBinding[]
  etag?: string
  /** Fields the tool does not interpret (kind, resourceId, auditConfigs) are carried as they are. */
  [key: string]: unknown
}

export interface WantedBinding {
  role: string
  member: string
  condition?: IamCondition
}

export interface BindingChange {
  action: 'add' | 'remove'
  role: string
  member: string
  condition?: string
  /** The binding itself is created (add) or dropped because it became empty (remove). */
  binding: 'existing' | 'created' | 'dropped'
}

export interface GrantSpec {
  bucket: string
  /** The directory prefix ('' for the whole bucket, else ending in '/'). */
  dirPrefix: string
  member: string
}

/**
 * The bindings of the grant: objectViewer (with the prefix condition when there is a prefix) for
 * objects.get and objects.list, and legacyBucketReader for storage.buckets.get, which the walker's
 * get_bucket needs and objectViewer lacks. legacyBucketReader stays unconditioned: its permissions
 * are evaluated on the bucket, where a condition cannot tell the walker's bucket read from a
 * listing without a prefix, so a condition would not narrow what it allows.
 */
export function grantBindings(spec: GrantSpec): WantedBinding[] {
  const condition = spec.dirPrefix ? prefixCondition(spec.bucket, spec.dirPrefix) : undefined
  return [
    {role: GRANTED_ROLES.objectViewer, member: spec.member, ...(condition ? {condition} : {})},
    {role: GRANTED_ROLES.legacyBucketReader, member: spec.member},
  ]
}

function describeCondition(c: IamCondition | undefined): string | undefined {
  return c ? (c.title ? `${c.title} (${c.expression})` : c.expression) : undefined
}

function findBinding(bindings: IamBinding[], w: Pick<WantedBinding, 'role' | 'condition'>): number {
  return bindings.findIndex((b) => b.role === w.role && sameCondition(b.condition, w.condition))
}

/** A policy's members compare case-insensitively for service accounts (IAM lower-cases e-mails). */
function hasMember(b: IamBinding, member: string): boolean {
  return b.members.some((m) => m.toLowerCase() === member.toLowerCase())
}

function clone(policy: BucketIamPolicy): BucketIamPolicy {
  return structuredClone(policy)
}

/**
 * Merge the wanted bindings into the policy. The result is written as version 3 when any binding
 * has a condition (required), else it keeps the version it had.
 */
export function mergeBindings(policy: BucketIamPolicy, wanted: WantedBinding[]): {policy: BucketIamPolicy; changes: BindingChange[]} {
  const next = clone(policy)
  next.bindings ??= []
  const changes: BindingChange[] = []
  for (const w of wanted) {
    const i = findBinding(next.bindings, w)
    if (i >= 0 && hasMember(next.bindings[i], w.member)) continue
    if (i >= 0) next.bindings[i].members.push(w.member)
    else next.bindings.push({role: w.role, members: [w.member], ...(w.condition ? {condition: {...w.condition}} : {})})
    changes.push({action: 'add', role: w.role, member: w.member, condition: describeCondition(w.condition), binding: i >= 0 ? 'existing' : 'created'})
  }
  if (next.bindings.some((b) => b.condition)) next.version = 3
  return {policy: next, changes}
}

/** Remove the member from exactly the wanted bindings; drop a binding only when it becomes empty. */
export function removeBindings(policy: BucketIamPolicy, wanted: WantedBinding[]): {policy: BucketIamPolicy; changes: BindingChange[]} {
  const next = clone(policy)
  next.bindings ??= []
  const changes: BindingChange[] = []
  for (const w of wanted) {
    const i = findBinding(next.bindings, w)
    if (i < 0 || !hasMember(next.bindings[i], w.member)) continue
    const b = next.bindings[i]
    b.members = b.members.filter((m) => m.toLowerCase() !== w.member.toLowerCase())
    const dropped = b.members.length === 0
    if (dropped) next.bindings.splice(i, 1)
    changes.push({action: 'remove', role: w.role, member: w.member, condition: describeCondition(w.condition), binding: dropped ? 'dropped' : 'existing'})
  }
  return {policy: next, changes}
}

/** The policy as it is compared and shown: without the etag and response-only fields. */
export function policyBody(policy: BucketIamPolicy): {version: number; bindings: IamBinding[]} {
  return {version: policy.version ?? 1, bindings: policy.bindings ?? []}
}

/**
 * The fingerprint of a policy's meaning (bindings by role and condition, members lower-cased, both
 * sorted; etag left out), so the answer to setIamPolicy and a later read compare equal.
 */
export function policyFingerprint(policy: BucketIamPolicy): string {
  const bindings = (policy.bindings ?? [])
    .map((b) => ({role: b.role, condition: b.condition ?? null, members: b.members.map((m) => m.toLowerCase()).sort()}))
    .filter((b) => b.members.length > 0)
    .sort((a, b) => (JSON.stringify([a.role, a.condition]) < JSON.stringify([b.role, b.condition]) ? -1 : 1))
  return fingerprint({version: policy.version ?? 1, bindings})
}

/** Same meaning: the same set of (role, condition) -> set of members, ignoring order and etag. */
export function samePolicy(a: BucketIamPolicy, b: BucketIamPolicy): boolean {
  const norm = (p: BucketIamPolicy) => {
    const map = new Map<string, Set<string>>()
    for (const x of p.bindings ?? []) {
      const key = JSON.stringify([x.role, x.condition?.expression ?? null, x.condition?.title ?? null, x.condition?.description ?? null])
      const set = map.get(key) ?? new Set<string>()
      for (const m of x.members) set.add(m.toLowerCase())
      map.set(key, set)
    }
    for (const [k, v] of map) if (v.size === 0) map.delete(k)
    return map
  }
  const x = norm(a)
  const y = norm(b)
  if (x.size !== y.size) return false
  for (const [k, v] of x) {
    const w = y.get(k)
    if (!w || w.size !== v.size || [...v].some((m) => !w.has(m))) return false
  }
  return true
}

/** A readable line diff of the policy bodies (pretty JSON), with a little context. */
export function diffBucketPolicies(before: BucketIamPolicy, after: BucketIamPolicy): DiffLine[] {
  return diffDocuments(policyBody(before), policyBody(after))
}
