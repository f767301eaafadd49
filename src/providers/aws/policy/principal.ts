/**
 * Principal and NotPrincipal matching in resource-based policies, for a requester that is an IAM
 * role (or one of its assumed-role sessions), an IAM user, or any other ARN.
 */

import type {PrincipalBlock} from './types.js'
import type {Tri} from './wildcard.js'

/** The requesting principal, parsed once per evaluation. */
export interface RequestPrincipal {
  /** ARN as given */
  arn: string
  accountId: string
  partition: string
  kind: 'role' | 'session' | 'user' | 'other'
  /** role kinds: the role's name (last path element) */
  roleName?: string
  /** role kinds: the role ARN; without its path when the principal was given as a session ARN */
  roleArn?: string
  /** false when the role's path is unknown (the session ARN does not carry it) */
  rolePathKnown?: boolean
  /** session kind: the `arn:aws:sts::ACC:assumed-role/NAME/SESSION` ARN */
  sessionArn?: string
}

const ROLE_RE = /^arn:([^:]+):iam::(\d{12}):role\/(.+)$/
const SESSION_RE = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/
const USER_RE = /^arn:([^:]+):iam::(\d{12}):user\/(.+)$/
const ROOT_RE = /^arn:([^:]+):iam::(\d{12}):root$/
const ACCOUNT_RE = /^\d{12}$/

/**
 * Parses the requester. A role ARN stands for "some session of this role" (session name unknown);
 * the STS assumed-role form names one session of the role.
 */
export function parseRequestPrincipal(arn: string, accountId: string): RequestPrincipal {
  let m = SESSION_RE.exec(arn)
  if (m) {
    const [, partition, acc, name] = m as unknown as [string, string, string, string]
    return {
      arn,
      accountId: accountId || acc,
      partition,
      kind: 'session',
      roleName: name,
      roleArn: `arn:${partition}:iam::${acc}:role/${name}`,
      rolePathKnown: false,
      sessionArn: arn,
    }
  }
  m = ROLE_RE.exec(arn)
  if (m) {
    const [, partition, acc, rest] = m as unknown as [string, string, string, string]
    const name = rest.slice(rest.lastIndexOf('/') + 1)
    return {arn, accountId: accountId || acc, partition, kind: 'role', roleName: name, roleArn: arn, rolePathKnown: true}
  }
  m = USER_RE.exec(arn)
  if (m) return {arn, accountId: accountId || m[2]!, partition: m[1]!, kind: 'user'}
  const partition = /^arn:([^:]+):/.exec(arn)?.[1] ?? 'aws'
  return {arn, accountId, partition, kind: 'other'}
}

/** How one Principal entry relates to the requester. */
export type EntryMatch = 'direct' | 'account' | 'unknown' | 'none'

function isAccountEntry(entry: string, p: RequestPrincipal): boolean {
  if (ACCOUNT_RE.test(entry)) return entry === p.accountId
  const m = ROOT_RE.exec(entry)
  return m !== null && m[1] === p.partition && m[2] === p.accountId
}

function isRoleEntry(entry: string, p: RequestPrincipal): boolean {
  if (p.roleArn === undefined) return false
  if (p.rolePathKnown) return entry === p.roleArn
  const m = ROLE_RE.exec(entry)
  if (m === null || m[1] !== p.partition || m[2] !== p.accountId) return false
  const rest = m[3]!
  return rest.slice(rest.lastIndexOf('/') + 1) === p.roleName
}

/** Session entry: 'direct' when it names the requester's session, 'unknown' when the session name is not known. */
function sessionEntry(entry: string, p: RequestPrincipal): EntryMatch {
  if (p.kind === 'session') return entry === p.sessionArn ? 'direct' : 'none'
  if (p.kind !== 'role') return 'none'
  const m = SESSION_RE.exec(entry)
  if (m === null || m[1] !== p.partition || m[2] !== p.accountId || m[3] !== p.roleName) return 'none'
  return 'unknown'
}

/**
 * Decides how one `AWS` principal entry names the requester: `*` and the requester's own ARN (a
 * role ARN also covers its sessions) are direct; the account id or `:root` ARN names only the
 * account, which delegates to the account's identity policies; an assumed-role session ARN
 * matches only that session ('unknown' when the requester's session name is not known).
 * Wildcards inside an ARN are not principal patterns in IAM and match nothing.
 */
export function matchPrincipalEntry(entry: string, p: RequestPrincipal): EntryMatch {
  if (entry === '*') return 'direct'
  if (isAccountEntry(entry, p)) return 'account'
  if (SESSION_RE.test(entry)) return sessionEntry(entry, p)
  if (isRoleEntry(entry, p)) return 'direct'
  if (entry === p.arn) return 'direct'
  return 'none'
}

function awsEntries(block: PrincipalBlock): string[] | 'all' {
  if (block === '*') return 'all'
  if (block === null || typeof block !== 'object') return []
  const out: string[] = []
  for (const [k, v] of Object.entries(block)) {
    // Service, Federated and CanonicalUser principals never name an IAM role or user.
    if (k !== 'AWS') continue
    if (typeof v === 'string') out.push(v)
    else if (Array.isArray(v)) for (const e of v) if (typeof e === 'string') out.push(e)
  }
  return out
}

/** Best match of a Principal element: direct beats account beats unknown beats none. */
export function matchPrincipalBlock(block: PrincipalBlock, p: RequestPrincipal): EntryMatch {
  const entries = awsEntries(block)
  if (entries === 'all') return 'direct'
  let best: EntryMatch = 'none'
  for (const e of entries) {
    const m = matchPrincipalEntry(e, p)
    if (m === 'direct') return 'direct'
    if (m === 'account') best = 'account'
    else if (m === 'unknown' && best === 'none') best = 'unknown'
  }
  return best
}

/**
 * Decides whether a NotPrincipal statement applies to the requester (true = it applies).
 * AWS evaluates a session as the account, then the role, then the session: the requester escapes
 * the statement only when NotPrincipal lists its session ARN (a role ARN alone does not cover its
 * sessions here). When the session is listed but the role or account ARN is missing, AWS documents
 * that the statement might still apply: 'unknown', explained in `notes`.
 */
export function notPrincipalApplies(block: PrincipalBlock, p: RequestPrincipal, notes: string[]): Tri {
  const entries = awsEntries(block)
  if (entries === 'all') return false
  if (entries.includes('*')) return false
  const accountListed = entries.some((e) => isAccountEntry(e, p))
  if (p.kind === 'role' || p.kind === 'session') {
    let sessionListed: Tri = false
    for (const e of entries) {
      if (!SESSION_RE.test(e)) continue
      const m = sessionEntry(e, p)
      if (m === 'direct') {
        sessionListed = true
        break
      }
      if (m === 'unknown') sessionListed = 'unknown'
    }
    if (sessionListed === false) return true
    if (sessionListed === 'unknown') {
      notes.push('NotPrincipal names a session of this role; whether it is the requesting session depends on the session name')
      return 'unknown'
    }
    const roleListed = entries.some((e) => isRoleEntry(e, p))
    if (roleListed && accountListed) return false
    notes.push('NotPrincipal lists the session but not both its role ARN and its account ARN; AWS documents that the Deny may still apply')
    return 'unknown'
  }
  if (!entries.includes(p.arn)) return true
  if (p.kind === 'user' && !accountListed) {
    notes.push('NotPrincipal lists the user but not its account ARN; AWS documents that the Deny may still apply')
    return 'unknown'
  }
  return false
}
