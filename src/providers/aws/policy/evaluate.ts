/**
 * A static AWS IAM policy evaluator: given one request (principal, action, resource, known
 * condition keys) and the resource-based and identity-based policies that apply, it decides
 * allowed / implicit-deny / explicit-deny, or 'unknown' when the answer hangs on something that
 * cannot be seen from here. Pure: no SDK, no I/O.
 *
 * Not modelled: SCPs, RCPs, permissions boundaries and session policies (the caller reports those
 * as unseen), and service-specific authorisation beyond the policy documents.
 */

import {evaluateConditionBlock, scalarText, triAnd, triOr, type ConditionEnv, type KeyLookup} from './conditions.js'
import {matchPrincipalBlock, notPrincipalApplies, parseRequestPrincipal, type RequestPrincipal} from './principal.js'
import type {IamPolicy, IamStatement, StringOrList} from './types.js'
import {matchPattern, type Tri, type VariableLookup} from './wildcard.js'

export type {Tri} from './wildcard.js'

/** A condition-context value as the caller knows it; `undefined` (or JSON `null`) means "known to be absent". */
export type ContextValue = string | string[] | boolean | number | null | undefined

/** One request to authorise. */
export interface EvalRequest {
  principal: {
    /**
     * The requester: an IAM role ARN (standing for its sessions), an STS assumed-role session ARN
     * `arn:aws:sts::ACC:assumed-role/NAME/SESSION` (matches policies naming the role ARN), or an
     * IAM user ARN.
     */
    arn: string
    accountId: string
  }
  /** e.g. `s3:GetObject` */
  action: string
  /** e.g. `arn:aws:s3:::bucket/key` */
  resource: string
  /**
   * Owner of the resource. When missing (S3 ARNs carry no account), the account segment of the
   * resource ARN is used; failing that the request is treated as cross-account, the stricter case.
   */
  resourceAccountId?: string
  /**
   * Known condition keys (names case-insensitive). A key listed with value `undefined` or `null`
   * is known to be absent (a policy variable on it then uses its default or matches nothing). `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username` and
   * `aws:ResourceAccount` are derived from the request when not given.
   */
  context: Record<string, ContextValue>
  /**
   * Keys present in the real request whose value cannot be known here, even if `context` has one.
   * UNKNOWABLE_KEYS always count too, unless `context` supplies the key. A condition or policy
   * variable on such a key makes its statement 'unknown'. Entries ending in `/*` cover a prefix
   * (`aws:PrincipalTag/*`).
   */
  unknownKeys?: string[]
}

/** The network path a request comes by: unknowable from the resource owner's side, and the usual Deny conditions. */
export const NETWORK_KEYS: readonly string[] = ['aws:SourceVpce', 'aws:SourceVpc', 'aws:SourceVpcArn', 'aws:SourceIp', 'aws:VpcSourceIp']
/** The requester's organisation. */
export const ORG_KEYS: readonly string[] = ['aws:PrincipalOrgID', 'aws:PrincipalOrgPaths']

/**
 * Keys that every real request carries but that a static check from the resource owner's side
 * cannot know: the network path, the requester's organisation and tags, its unique id, the time.
 * A key from this list that the caller supplies in `context` is known after all.
 */
export const UNKNOWABLE_KEYS: readonly string[] = Object.freeze([
  ...NETWORK_KEYS,
  ...ORG_KEYS,
  'aws:PrincipalTag/*',
  'aws:userid',
  'aws:SourceIdentity',
  'aws:CurrentTime',
  'aws:EpochTime',
  'aws:TokenIssueTime',
  'aws:MultiFactorAuthPresent',
  'aws:MultiFactorAuthAge',
  'aws:Ec2InstanceSourceVpc',
  'aws:Ec2InstanceSourcePrivateIPv4',
])

export type Decision = 'allowed' | 'implicit-deny' | 'explicit-deny' | 'unknown'
export type PolicyKind = 'resource' | 'identity'

/** A statement that decided (or left undecided) the verdict. */
export interface DecidingStatement {
  kind: PolicyKind
  /** the policy's name as the caller gave it */
  policy: string
  /** 0-based index in the policy's Statement list */
  index: number
  sid?: string
  effect: 'Allow' | 'Deny'
}

export interface Verdict {
  decision: Decision
  /**
   * explicit-deny: the Deny statements that apply. allowed: the Allow statements that grant.
   * unknown: the statements whose applicability is unknown (plus, when only the hidden identity
   * side is missing, the resource statements that grant). implicit-deny: empty.
   */
  decidedBy: DecidingStatement[]
  /** Condition keys (or variables) whose values would change the decision; empty unless 'unknown'. */
  unknownKeys: string[]
  /** One or two sentences a person can act on. */
  reason: string
  /** Whether the cross-account rule (both sides must allow) was applied. */
  crossAccount: boolean
  /** What each side contributes (resource: grants that count under the account rule applied); identity is 'unknown' when not visible. */
  sides: {identity: Tri; resource: Tri}
}

export interface NamedPolicy {
  name: string
  policy: IamPolicy
}

export interface PolicySet {
  /** Resource-based policies on the target (bucket policy, key policy). */
  resource?: NamedPolicy[]
  /** The requester's identity-based policies. */
  identity?: NamedPolicy[]
  /** false when the identity side cannot be read (the vendor's role, seen from the customer side). */
  identityVisible: boolean
}

/** Applicability of one statement to one request. */
export interface StatementResult {
  result: 'match' | 'nomatch' | 'unknown'
  /** keys that left the statement undecided (only for 'unknown') */
  unknownKeys: string[]
  /** other reasons for 'unknown' (NotPrincipal subtleties, unsupported operators) */
  notes: string[]
  /**
   * Resource policies: 'principal' when the Principal names the requester itself (or everyone),
   * 'account' when it names only the requester's account (which delegates to identity policies).
   */
  grantee?: 'principal' | 'account'
}

/** Everything derived from a request once, shared by all statements. */
interface Env extends ConditionEnv {
  req: EvalRequest
  principal: RequestPrincipal
  action: string
}

function list(v: StringOrList | undefined): string[] {
  if (v === undefined) return []
  return Array.isArray(v) ? v : [v]
}

function statementsOf(policy: IamPolicy): IamStatement[] {
  const s = policy.Statement
  if (s === undefined || s === null) return []
  return Array.isArray(s) ? s : [s]
}

function arnAccount(arn: string): string | undefined {
  if (!arn.startsWith('arn:')) return undefined
  const parts = arn.split(':', 6)
  return parts.length >= 6 && /^\d{12}$/.test(parts[4]!) ? parts[4] : undefined
}

/** Case-insensitive membership in a key list whose `/*` entries cover a prefix. */
function keyMatcher(keys: readonly string[]): (lowerKey: string) => boolean {
  const exact = new Set<string>()
  const prefixes: string[] = []
  for (const k of keys) {
    const lk = k.toLowerCase()
    if (lk.endsWith('/*')) prefixes.push(lk.slice(0, -1))
    else exact.add(lk)
  }
  if (prefixes.length === 0) return (lk) => exact.has(lk)
  return (lk) => exact.has(lk) || prefixes.some((p) => lk.startsWith(p))
}

const defaultUnknown = keyMatcher(UNKNOWABLE_KEYS)

function buildEnv(req: EvalRequest): Env {
  const principal = parseRequestPrincipal(req.principal.arn, req.principal.accountId)
  const ctx = new Map<string, ContextValue>()
  for (const [k, v] of Object.entries(req.context ?? {})) ctx.set(k.toLowerCase(), v === null ? undefined : v)
  const derive = (k: string, v: ContextValue): void => {
    if (!ctx.has(k)) ctx.set(k, v)
  }
  if (principal.kind === 'role' || principal.kind === 'session') {
    derive('aws:principalarn', principal.roleArn)
    derive('aws:principaltype', 'AssumedRole')
    derive('aws:username', undefined)
  } else if (principal.kind === 'user') {
    derive('aws:principalarn', principal.arn)
    derive('aws:principaltype', 'User')
    derive('aws:username', principal.arn.slice(principal.arn.lastIndexOf('/') + 1))
  }
  derive('aws:principalaccount', principal.accountId)
  const resourceAccount = req.resourceAccountId ?? arnAccount(req.resource)
  if (resourceAccount !== undefined) derive('aws:resourceaccount', resourceAccount)

  const explicit = keyMatcher(req.unknownKeys ?? [])
  const isUnknown = (lk: string): boolean => explicit(lk) || (!ctx.has(lk) && defaultUnknown(lk))

  const lookup = (key: string): KeyLookup => {
    const lk = key.toLowerCase()
    if (isUnknown(lk)) return {kind: 'unknown'}
    const v = ctx.get(lk)
    if (v === undefined) return {kind: 'absent'}
    if (Array.isArray(v)) return {kind: 'value', values: v.map((x) => scalarText(x) ?? '')}
    const s = scalarText(v)
    return s === undefined ? {kind: 'absent'} : {kind: 'value', values: [s]}
  }
  const resolve = (key: string): VariableLookup => {
    const lk = key.toLowerCase()
    if (isUnknown(lk)) return {kind: 'unknown'}
    // A variable needs an answer: a key the caller did not mention at all cannot be resolved.
    if (!ctx.has(lk)) return {kind: 'unknown'}
    const v = ctx.get(lk)
    // Multivalued keys cannot be policy variables; an absent key has no value.
    if (v === undefined || Array.isArray(v)) return {kind: 'absent'}
    const s = scalarText(v)
    return s === undefined ? {kind: 'absent'} : {kind: 'value', value: s}
  }
  return {req, principal, action: req.action, lookup, resolve}
}

function anyMatches(patterns: string[], value: string, mode: 'glob-ci' | 'arn', env: Env, keys: string[]): Tri {
  let r: Tri = false
  for (const p of patterns) {
    r = triOr(r, matchPattern(p, value, mode, mode === 'arn' ? env.resolve : undefined, keys))
    if (r === true) return true
  }
  return r
}

function decideStatement(st: IamStatement, env: Env, kind: PolicyKind): StatementResult {
  const keys: string[] = []
  const notes: string[] = []
  const nomatch: StatementResult = {result: 'nomatch', unknownKeys: [], notes: []}

  // Action / NotAction: case-insensitive wildcards.
  let applies: Tri
  if (st.Action !== undefined) applies = anyMatches(list(st.Action), env.action, 'glob-ci', env, keys)
  else if (st.NotAction !== undefined) {
    const m = anyMatches(list(st.NotAction), env.action, 'glob-ci', env, keys)
    applies = m === 'unknown' ? 'unknown' : !m
  } else return nomatch
  if (applies === false) return nomatch

  // Resource / NotResource: case-sensitive, ARN-segment-aware wildcards, policy variables.
  if (st.Resource !== undefined) {
    applies = triAnd(applies, anyMatches(list(st.Resource), env.req.resource, 'arn', env, keys))
  } else if (st.NotResource !== undefined) {
    const m = anyMatches(list(st.NotResource), env.req.resource, 'arn', env, keys)
    applies = triAnd(applies, m === 'unknown' ? 'unknown' : !m)
  }
  if (applies === false) return nomatch

  let grantee: StatementResult['grantee']
  if (kind === 'resource') {
    if (st.Principal !== undefined) {
      const m = matchPrincipalBlock(st.Principal, env.principal)
      if (m === 'none') return nomatch
      if (m === 'unknown') {
        notes.push('the Principal names an assumed-role session; whether it is the requesting session depends on the session name')
        applies = triAnd(applies, 'unknown')
      } else grantee = m === 'direct' ? 'principal' : 'account'
    } else if (st.NotPrincipal !== undefined) {
      const m = notPrincipalApplies(st.NotPrincipal, env.principal, notes)
      if (m === false) return nomatch
      applies = triAnd(applies, m)
      grantee = 'principal'
    } else {
      // A resource-based statement without a principal names nobody.
      return nomatch
    }
  }

  const cond = evaluateConditionBlock(st.Condition, env, keys, notes)
  applies = triAnd(applies, cond)
  if (applies === false) return nomatch
  if (applies === true) return {result: 'match', unknownKeys: [], notes: [], grantee}
  return {result: 'unknown', unknownKeys: dedupe(keys), notes: dedupe(notes), grantee}
}

function dedupe(a: string[]): string[] {
  return a.length < 2 ? a : [...new Set(a)]
}

/**
 * Decides whether one statement applies to the request: Action/NotAction, Resource/NotResource,
 * (for resource policies) Principal/NotPrincipal, and the Condition block. 'unknown' names the keys
 * or notes that left it undecided. The statement's Effect is not considered here.
 */
export function evaluateStatement(st: IamStatement, req: EvalRequest, policyKind: PolicyKind): StatementResult {
  return decideStatement(st, buildEnv(req), policyKind)
}

interface Evaluated {
  ref: DecidingStatement
  res: StatementResult
  /** position over all policies (resource first), for a stable decidedBy order */
  seq: number
}

function collect(kind: PolicyKind, policies: NamedPolicy[] | undefined, env: Env, out: Evaluated[], seqBase: number): void {
  for (const np of policies ?? []) {
    const sts = statementsOf(np.policy)
    for (let i = 0; i < sts.length; i++) {
      const st = sts[i]!
      const res = decideStatement(st, env, kind)
      if (res.result === 'nomatch') continue
      const effect = st.Effect === 'Deny' ? 'Deny' : 'Allow'
      const ref: DecidingStatement = {kind, policy: np.name, index: i, effect}
      if (st.Sid !== undefined) ref.sid = st.Sid
      out.push({ref, res, seq: out.length + seqBase})
    }
  }
}

function sideOf(items: Evaluated[]): Tri {
  let r: Tri = false
  for (const e of items) {
    if (e.res.result === 'match') return true
    r = 'unknown'
  }
  return r
}

function describe(e: DecidingStatement): string {
  return `${e.kind} policy "${e.policy}" statement ${e.sid ? `"${e.sid}"` : `#${e.index}`}`
}

function keysOf(items: Evaluated[]): string[] {
  const s = new Set<string>()
  for (const e of items) for (const k of e.res.unknownKeys) s.add(k)
  return [...s].sort()
}

function notesOf(items: Evaluated[]): string[] {
  const s = new Set<string>()
  for (const e of items) for (const n of e.res.notes) s.add(n)
  return [...s]
}

/**
 * Decides one request the way AWS does for an IAM role or user calling a resource:
 * - an explicit Deny that applies, in any policy, wins;
 * - same account: allowed when an identity policy allows, or a resource policy allows naming the
 *   requester itself (role, session, user or `*`); a resource policy naming only the account
 *   delegates to identity policies and grants nothing by itself;
 * - cross account: allowed only when both an identity policy and the resource policy allow (the
 *   resource policy may name the requester or its account);
 * - identity policies not visible: 'unknown' whenever they are needed, with a reason saying so;
 * - a statement left 'unknown' by an unknowable key never yields 'allowed': an Allow that matches
 *   without unknowns gives 'allowed' only when no Deny is unknown, and an unknown Deny cannot turn
 *   an implicit deny into anything else.
 */
export function evaluate(req: EvalRequest, policies: PolicySet): Verdict {
  const env = buildEnv(req)
  const resourceAccount = req.resourceAccountId ?? arnAccount(req.resource)
  const crossAccount = resourceAccount === undefined || resourceAccount !== env.principal.accountId
  const accountNote = resourceAccount === undefined ? ' (resource owner not given: treated as cross-account)' : ''

  const resourceHits: Evaluated[] = []
  const identityHits: Evaluated[] = []
  collect('resource', policies.resource, env, resourceHits, 0)
  if (policies.identityVisible) collect('identity', policies.identity, env, identityHits, 1_000_000)
  const all = [...resourceHits, ...identityHits]

  const denies = all.filter((e) => e.ref.effect === 'Deny')
  const hardDenies = denies.filter((e) => e.res.result === 'match')
  const unknownDenies = denies.filter((e) => e.res.result === 'unknown')

  const identityAllows = identityHits.filter((e) => e.ref.effect === 'Allow')
  const resourceAllowsAny = resourceHits.filter((e) => e.ref.effect === 'Allow')
  const resourceAllowsDirect = resourceAllowsAny.filter((e) => e.res.grantee !== 'account')

  const identitySide: Tri = policies.identityVisible ? sideOf(identityAllows) : 'unknown'
  const resourceRelevant = crossAccount ? resourceAllowsAny : resourceAllowsDirect
  const resourceSide: Tri = sideOf(resourceRelevant)
  const sides = {identity: identitySide, resource: resourceSide}

  if (hardDenies.length > 0) {
    return {
      decision: 'explicit-deny',
      decidedBy: refsInOrder(hardDenies),
      unknownKeys: [],
      reason: `explicitly denied by ${hardDenies.map((e) => describe(e.ref)).join(', ')}`,
      crossAccount,
      sides,
    }
  }

  const allow: Tri = crossAccount ? triAnd(identitySide, resourceSide) : triOr(identitySide, resourceSide)

  if (allow === false) {
    let reason: string
    if (crossAccount) {
      const missing: string[] = []
      if (identitySide === false) missing.push('no identity policy of the requester allows it')
      if (resourceSide === false) missing.push('no resource policy statement grants it to the requester or its account')
      reason = `implicitly denied across accounts${accountNote}: ${missing.join(' and ')}`
    } else {
      const delegated = resourceAllowsAny.some((e) => e.res.grantee === 'account' && e.res.result === 'match')
      reason =
        'implicitly denied: no identity policy allows it and no resource policy statement grants it to the requester' +
        (delegated ? ' (a resource statement names only the account, which delegates to identity policies)' : '')
    }
    return {decision: 'implicit-deny', decidedBy: [], unknownKeys: [], reason, crossAccount, sides}
  }

  const hiddenIdentityNeeded = !policies.identityVisible && (crossAccount || resourceSide !== true)

  if (allow === true) {
    if (unknownDenies.length > 0) {
      const keys = keysOf(unknownDenies)
      const notes = notesOf(unknownDenies)
      return {
        decision: 'unknown',
        decidedBy: refsInOrder(unknownDenies),
        unknownKeys: keys,
        reason:
          `allowed unless ${unknownDenies.map((e) => describe(e.ref)).join(', ')} applies` +
          (keys.length ? `, which depends on ${keys.join(', ')}` : '') +
          (notes.length ? `; ${notes.join('; ')}` : ''),
        crossAccount,
        sides,
      }
    }
    const granting = crossAccount
      ? [...resourceAllowsAny, ...identityAllows]
      : [...resourceAllowsDirect, ...identityAllows]
    const decidedBy = refsInOrder(granting.filter((e) => e.res.result === 'match'))
    return {
      decision: 'allowed',
      decidedBy,
      unknownKeys: [],
      reason: `allowed by ${decidedBy.map(describe).join(', ')}`,
      crossAccount,
      sides,
    }
  }

  // allow === 'unknown': collect what leaves it open.
  const open: Evaluated[] = []
  if (identitySide === 'unknown') open.push(...identityAllows.filter((e) => e.res.result === 'unknown'))
  if (resourceSide === 'unknown') open.push(...resourceRelevant.filter((e) => e.res.result === 'unknown'))
  const pending = [...open, ...unknownDenies]
  const keys = keysOf(pending)
  const notes = notesOf(pending)
  const parts: string[] = []
  if (hiddenIdentityNeeded) {
    parts.push(
      crossAccount
        ? `the requester's own (vendor-side) identity policies cannot be seen from here, and across accounts they must allow the call too${accountNote}`
        : `the requester's identity policies cannot be seen from here and no resource policy grants it to the requester directly`,
    )
  }
  if (keys.length) parts.push(`it depends on ${keys.join(', ')}`)
  if (notes.length) parts.push(notes.join('; '))
  const shown = [...pending]
  if (hiddenIdentityNeeded && resourceSide === true) shown.push(...resourceRelevant.filter((e) => e.res.result === 'match'))
  return {
    decision: 'unknown',
    decidedBy: refsInOrder(shown),
    unknownKeys: keys,
    reason: `cannot be decided: ${parts.join('; ')}`,
    crossAccount,
    sides,
  }
}

function refsInOrder(items: Evaluated[]): DecidingStatement[] {
  return [...new Set(items)].sort((a, b) => a.seq - b.seq).map((e) => e.ref)
}
