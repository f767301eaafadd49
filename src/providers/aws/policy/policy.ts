/**
 * The bucket-policy document: parse and validate what GetBucketPolicy returns, upsert and remove the
 * tool's own statements without touching anyone else's, compare, size, diff, and find the statements
 * that make a PutBucketPolicy fail or trip Block Public Access.
 * Pure: no SDK, no fs, no network; the AWS provider does the reads and writes around it.
 */
import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'

import {diffDocuments, type DiffLine} from '../../../core/diff.js'

export type {DiffLine} from '../../../core/diff.js'
import {ConfigError} from '../../../errors.js'
import type {IamPolicy, IamStatement, PrincipalBlock, StringOrList} from './types.js'

/** PutBucketPolicy refuses documents larger than 20 KB. */
export const BUCKET_POLICY_MAX_BYTES = 20_480

/** One edit to the statement list, keyed by the tool-owned Sid it concerns. */
export interface PolicyChange {
  kind: 'add' | 'replace' | 'remove'
  sid: string
  before?: IamStatement
  after?: IamStatement
}

/** One line of a readable diff; `{op: ' ', text: '...'}` stands for unchanged lines left out. */

/** A statement found by a lint, by its 0-based position in the Statement list. */
export interface StatementRef {
  index: number
  sid?: string
}

/** The canonical form semantic comparison works on: lists sorted and deduplicated, case folded where IAM ignores case. */
export interface NormalisedStatement {
  Sid?: string
  Effect: 'Allow' | 'Deny'
  Principal?: '*' | Record<string, string[]>
  NotPrincipal?: '*' | Record<string, string[]>
  Action?: string[]
  NotAction?: string[]
  Resource?: string[]
  NotResource?: string[]
  Condition?: Record<string, Record<string, string[]>>
}

const stringOrList = {type: ['string', 'array'], minItems: 1, items: {type: 'string'}}
const principalBlock = {
  type: ['string', 'object'],
  if: {type: 'string'},
  then: {const: '*'},
  else: {
    minProperties: 1,
    additionalProperties: false,
    properties: {AWS: stringOrList, Service: stringOrList, Federated: stringOrList, CanonicalUser: stringOrList},
  },
}

/** The bucket-policy grammar; the rules that relate two fields are checked in code after it. */
const POLICY_SCHEMA = {
  type: 'object',
  required: ['Statement'],
  additionalProperties: false,
  properties: {
    Version: {type: 'string', enum: ['2012-10-17', '2008-10-17']},
    Id: {type: 'string'},
    Statement: {
      type: ['object', 'array'],
      if: {type: 'array'},
      then: {minItems: 1, items: {$ref: '#/$defs/statement'}},
      else: {$ref: '#/$defs/statement'},
    },
  },
  $defs: {
    statement: {
      type: 'object',
      required: ['Effect'],
      additionalProperties: false,
      properties: {
        // Empty is allowed: Terraform's aws_iam_policy_document wrote "Sid": "" for years, and S3 kept it.
        // S3 bucket policies accept free-text Sids (AWS's own examples use sentences with spaces and
        // dots); only identity policies restrict them to letters and digits. Refusing them would lock
        // customers out; the tool's own Sids are alphanumeric anyway.
        Sid: {type: 'string'},
        Effect: {type: 'string', enum: ['Allow', 'Deny']},
        Principal: principalBlock,
        NotPrincipal: principalBlock,
        Action: stringOrList,
        NotAction: stringOrList,
        Resource: stringOrList,
        NotResource: stringOrList,
        Condition: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: {type: ['string', 'number', 'boolean', 'array'], items: {type: ['string', 'number', 'boolean']}},
          },
        },
      },
    },
  },
}

let validatePolicy: ValidateFunction | undefined

/** Compiled on first use so that importing this module (e.g. for `grant render`) costs no compile. */
function policyValidator(): ValidateFunction {
  validatePolicy ??= new Ajv({strict: true, allowUnionTypes: true, verbose: true}).compile(POLICY_SCHEMA)
  return validatePolicy
}

/** The statements as a list, whichever form the document uses. */
export function statementList(p: IamPolicy): IamStatement[] {
  return Array.isArray(p.Statement) ? p.Statement : [p.Statement]
}

/**
 * Parse and validate a bucket policy as S3 accepts it. Strict where a read-modify-write could go
 * wrong: unknown fields and duplicate JSON keys are refused rather than silently dropped on the way
 * back, because PutBucketPolicy replaces the whole document.
 * @param where names the document in messages, e.g. "the bucket policy of s3://data".
 * @throws ConfigError MALFORMED_POLICY (exit 3) naming the statement (index and Sid) and the field.
 */
export function parsePolicyDocument(text: string, where: string): IamPolicy {
  const fail = (detail: string, hint?: string): never => {
    throw new ConfigError('MALFORMED_POLICY', `${where}: ${detail}.`, {
      suggestions: [...(hint ? [hint] : []), `Fix ${where} (the S3 console shows a bucket policy under Permissions > Bucket policy), then run the command again.`],
    })
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (error) {
    fail(`not valid JSON (${(error as Error).message})`)
  }
  const duplicate = findDuplicateKey(text)
  if (duplicate !== undefined) {
    fail(`the key "${duplicate}" appears twice in one object`, 'Merge the two entries into one; only one of them is in effect.')
  }
  const validate = policyValidator()
  if (!validate(data)) {
    const error = validate.errors![0]
    fail(describeSchemaError(data, error))
  }
  const policy = data as IamPolicy
  const firstUse = new Map<string, number>()
  statementList(policy).forEach((s, index) => {
    const at = statementLabel(index, s.Sid)
    for (const [a, b] of [['Action', 'NotAction'], ['Resource', 'NotResource'], ['Principal', 'NotPrincipal']] as const) {
      if (s[a] !== undefined && s[b] !== undefined) fail(`${at} has both "${a}" and "${b}"; keep one of them`)
      if (s[a] === undefined && s[b] === undefined) fail(`${at} needs "${a}" or "${b}" (a bucket policy statement must say ${a === 'Principal' ? 'whom it applies to' : 'what it applies to'})`)
    }
    if (!s.Sid) return
    const first = firstUse.get(s.Sid)
    if (first !== undefined) fail(`${at}: field "Sid": "${s.Sid}" is already used by statement ${first}; Sids must be unique`)
    firstUse.set(s.Sid, index)
  })
  return policy
}

function statementLabel(index: number, sid: unknown): string {
  return typeof sid === 'string' && sid ? `statement ${index} (Sid "${sid}")` : `statement ${index}`
}

/** One sentence for the first schema error: which statement, which field (by path), what is wrong. */
function describeSchemaError(data: unknown, error: ErrorObject): string {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
  const params = error.params as Record<string, unknown>
  if (error.keyword === 'required') path.push(String(params.missingProperty))
  if (error.keyword === 'additionalProperties') path.push(String(params.additionalProperty))
  let subject = ''
  if (path[0] === 'Statement' && path.length > 1) {
    const statements = (data as {Statement: unknown}).Statement
    const index = Array.isArray(statements) ? Number(path[1]) : 0
    const statement = Array.isArray(statements) ? statements[index] : statements
    subject = `${statementLabel(index, (statement as {Sid?: unknown} | null)?.Sid)}: `
    path.splice(0, Array.isArray(statements) ? 2 : 1)
  }
  const field = path.reduce((acc, segment) => (/^\d+$/.test(segment) ? `${acc}[${segment}]` : acc ? `${acc}.${segment}` : segment), '')
  const what = field ? `field "${field}"` : subject ? 'the statement' : 'the document'
  switch (error.keyword) {
    case 'required':
      return `${subject}missing required ${what}`
    case 'additionalProperties':
      return `${subject}unknown ${what}`
    case 'type':
      return `${subject}${what} must be ${oneOf(String(params.type).split(',').map((t) => TYPE_NAMES[t] ?? t))}`
    case 'enum':
      return `${subject}${what} must be ${oneOf((params.allowedValues as unknown[]).map((v) => JSON.stringify(v)))}`
    case 'const': // only Principal uses const ("*")
      return `${subject}${what} must be ${JSON.stringify(params.allowedValue)} or an object such as {"AWS": "<ARN>"}`
    case 'minItems':
    case 'minProperties':
      return `${subject}${what} must not be empty`
    case 'pattern':
      return `${subject}${what} may contain ${(error.parentSchema as {description: string}).description}`
    default:
      return `${subject}${what} ${error.message ?? 'is not valid'}`
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  array: 'a list',
  object: 'an object',
  number: 'a number',
  boolean: 'a boolean',
}

function oneOf(choices: string[]): string {
  return choices.length < 2 ? choices.join('') : `${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`
}

/**
 * The first key that occurs twice in one JSON object, if any. JSON.parse keeps the last silently, so
 * writing the parsed document back would drop the others. `text` must already be valid JSON.
 */
function findDuplicateKey(text: string): string | undefined {
  const keys: (Set<string> | null)[] = [] // one entry per open object (a key set) or array (null)
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '"') {
      let end = i + 1
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      const open = keys.at(-1)
      if (open && expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string
        if (open.has(key)) return key
        open.add(key)
        expectKey = false
      }
      i = end
    } else if (c === '{') {
      keys.push(new Set())
      expectKey = true
    } else if (c === '[') {
      keys.push(null)
    } else if (c === '}' || c === ']') {
      keys.pop()
    } else if (c === ',') {
      expectKey = Boolean(keys.at(-1))
    }
  }
  return undefined
}

function ownedSid(s: IamStatement): string {
  if (!s.Sid) throw new Error('an owned statement has no Sid; the tool only writes statements it can find again')
  return s.Sid
}

/**
 * Upsert the tool's statements by Sid. A statement with an owned Sid is replaced in place only when
 * it means something different (so a re-apply changes nothing); owned statements not yet present are
 * appended in order. Every other statement stays the same object at the same position, and the
 * document keeps Version, Id and its single-object Statement form unless something is appended.
 * Returns `existing` itself when nothing changes; a new document gets Version 2012-10-17.
 */
export function mergeStatements(existing: IamPolicy | null, owned: IamStatement[]): {policy: IamPolicy; changes: PolicyChange[]} {
  const statements = existing ? [...statementList(existing)] : []
  const changes: PolicyChange[] = []
  for (const after of owned) {
    const sid = ownedSid(after)
    const at = statements.findIndex((s) => s.Sid === sid)
    if (at < 0) {
      statements.push(after)
      changes.push({kind: 'add', sid, after})
    } else if (statementKey(statements[at]) !== statementKey(after)) {
      changes.push({kind: 'replace', sid, before: statements[at], after})
      statements[at] = after
    }
  }
  if (!existing) return {policy: {Version: '2012-10-17', Statement: statements}, changes}
  if (changes.length === 0) return {policy: existing, changes}
  const keepSingle = !Array.isArray(existing.Statement) && statements.length === 1
  return {policy: {...existing, Statement: keepSingle ? statements[0] : statements}, changes}
}

/**
 * Remove exactly the statements with these Sids and nothing else. Returns a null policy when no
 * statement remains (S3 refuses an empty Statement list: the caller deletes the bucket policy), and
 * `existing` itself when nothing matched.
 */
export function removeStatements(existing: IamPolicy | null, sids: string[]): {policy: IamPolicy | null; changes: PolicyChange[]} {
  if (!existing) return {policy: null, changes: []}
  const drop = new Set(sids)
  const kept: IamStatement[] = []
  const changes: PolicyChange[] = []
  for (const s of statementList(existing)) {
    if (s.Sid && drop.has(s.Sid)) changes.push({kind: 'remove', sid: s.Sid, before: s})
    else kept.push(s)
  }
  if (kept.length === 0) return {policy: null, changes}
  // A single-object Statement is either kept whole (no change) or removed (null above), so `kept` is a list here.
  return changes.length === 0 ? {policy: existing, changes} : {policy: {...existing, Statement: kept}, changes}
}

export function toList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v]
}

function sortedSet(values: string[]): string[] {
  return [...new Set(values)].sort()
}

function sortedRecord<T>(entries: [string, T][]): Record<string, T> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

function normalisePrincipal(p: PrincipalBlock): '*' | Record<string, string[]> {
  return p === '*' ? '*' : sortedRecord(Object.entries(p).map(([type, ids]) => [type, sortedSet(toList(ids) as string[])]))
}

/**
 * The canonical form of a statement: a string and a one-element list are the same, order inside
 * value lists does not matter, action names and condition keys are case-insensitive (as IAM treats
 * them), and condition values compare as strings (IAM reads `false` and `"false"` alike). An empty
 * Sid counts as no Sid.
 */
export function normaliseStatement(s: IamStatement): NormalisedStatement {
  const n: NormalisedStatement = {Effect: s.Effect}
  if (s.Sid) n.Sid = s.Sid
  if (s.Principal !== undefined) n.Principal = normalisePrincipal(s.Principal)
  if (s.NotPrincipal !== undefined) n.NotPrincipal = normalisePrincipal(s.NotPrincipal)
  const lists = (v: StringOrList, fold: boolean) => sortedSet(toList(v).map((x) => (fold ? String(x).toLowerCase() : String(x))))
  if (s.Action !== undefined) n.Action = lists(s.Action, true)
  if (s.NotAction !== undefined) n.NotAction = lists(s.NotAction, true)
  if (s.Resource !== undefined) n.Resource = lists(s.Resource, false)
  if (s.NotResource !== undefined) n.NotResource = lists(s.NotResource, false)
  if (s.Condition !== undefined) {
    n.Condition = sortedRecord(
      Object.entries(s.Condition).map(([operator, keys]) => [
        operator,
        sortedRecord(Object.entries(keys).map(([key, values]) => [key.toLowerCase(), sortedSet(toList(values).map(String))])),
      ]),
    )
  }
  return n
}

function statementKey(s: IamStatement): string {
  return JSON.stringify(normaliseStatement(s))
}

/** Whether two statements mean the same (the comparison semanticallyEqual makes per statement). */
export function sameStatement(a: IamStatement, b: IamStatement): boolean {
  return statementKey(a) === statementKey(b)
}

/**
 * Whether two documents mean the same: statements compared as a multiset of normalised statements
 * (order is irrelevant to IAM), Version (absent means 2008-10-17, as IAM reads it) and Id compared.
 * Two nulls are equal; null never equals a document.
 */
export function semanticallyEqual(a: IamPolicy | null, b: IamPolicy | null): boolean {
  if (!a || !b) return a === b
  const canonical = (p: IamPolicy) => JSON.stringify([p.Version ?? '2008-10-17', p.Id ?? null, statementList(p).map(statementKey).sort()])
  return canonical(a) === canonical(b)
}

/**
 * Whether every statement that is not the tool's (Sid not in `ownedSids`) is still there, exactly as
 * written (same keys in the same order, same string-or-list forms), in the same relative order.
 * Semantics alone would not show a reordered or reformatted foreign statement, which the customer
 * would rightly read as the tool rewriting their policy.
 */
export function foreignOrderPreserved(before: IamPolicy | null, after: IamPolicy | null, ownedSids: string[]): boolean {
  const owned = new Set(ownedSids)
  const foreign = (p: IamPolicy | null) =>
    JSON.stringify(p ? statementList(p).filter((s) => !(s.Sid && owned.has(s.Sid))) : [])
  return foreign(before) === foreign(after)
}

/** The document as sent to PutBucketPolicy: compact JSON, so the 20 KB limit goes to content. */
export function serialisePolicy(p: IamPolicy): string {
  return JSON.stringify(p)
}

/** Size of the serialised document in UTF-8 bytes, the unit of BUCKET_POLICY_MAX_BYTES. */
export function policySizeBytes(p: IamPolicy): number {
  return Buffer.byteLength(serialisePolicy(p), 'utf8')
}

/** A readable diff of two policy documents (see core/diff.ts). */
export const diffPolicies: (before: IamPolicy | null, after: IamPolicy | null) => DiffLine[] = diffDocuments
