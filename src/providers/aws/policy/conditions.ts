/**
 * The Condition block of an IAM policy statement, decided against a request context with
 * three-valued logic: a key whose value cannot be known makes the condition 'unknown', never true.
 */

import {cidrContains, parseCidr, parseIp} from './cidr.js'
import {expandVariables, matchPattern, type Tri, type VariableResolver} from './wildcard.js'

/** How a condition key resolves for one request. */
export type KeyLookup =
  | {kind: 'value'; values: string[]}
  | {kind: 'absent'}
  | {kind: 'unknown'}

/** What the condition evaluator needs from the request. */
export interface ConditionEnv {
  /** Condition key (any case) -> its value(s), absence, or unknowability. */
  lookup(key: string): KeyLookup
  /** Policy variables inside condition values. */
  resolve: VariableResolver
}

type Family = 'string' | 'string-ci' | 'string-like' | 'numeric' | 'date' | 'bool' | 'binary' | 'ip' | 'arn'
type Compare = 'eq' | 'lt' | 'le' | 'gt' | 'ge'

interface BaseOperator {
  family: Family
  compare: Compare
  /** A negated operator is NOT(its positive form): NOR over the policy values, true on a missing key. */
  negated: boolean
}

const BASE: Record<string, BaseOperator> = {}
function def(name: string, family: Family, compare: Compare, negated = false): void {
  BASE[name.toLowerCase()] = {family, compare, negated}
}
def('StringEquals', 'string', 'eq')
def('StringNotEquals', 'string', 'eq', true)
def('StringEqualsIgnoreCase', 'string-ci', 'eq')
def('StringNotEqualsIgnoreCase', 'string-ci', 'eq', true)
def('StringLike', 'string-like', 'eq')
def('StringNotLike', 'string-like', 'eq', true)
def('NumericEquals', 'numeric', 'eq')
def('NumericNotEquals', 'numeric', 'eq', true)
def('NumericLessThan', 'numeric', 'lt')
def('NumericLessThanEquals', 'numeric', 'le')
def('NumericGreaterThan', 'numeric', 'gt')
def('NumericGreaterThanEquals', 'numeric', 'ge')
def('DateEquals', 'date', 'eq')
def('DateNotEquals', 'date', 'eq', true)
def('DateLessThan', 'date', 'lt')
def('DateLessThanEquals', 'date', 'le')
def('DateGreaterThan', 'date', 'gt')
def('DateGreaterThanEquals', 'date', 'ge')
def('Bool', 'bool', 'eq')
def('BinaryEquals', 'binary', 'eq')
def('IpAddress', 'ip', 'eq')
def('NotIpAddress', 'ip', 'eq', true)
def('ArnEquals', 'arn', 'eq')
def('ArnLike', 'arn', 'eq')
def('ArnNotEquals', 'arn', 'eq', true)
def('ArnNotLike', 'arn', 'eq', true)

type Qualifier = 'none' | 'all' | 'any'

interface ParsedOperator {
  qualifier: Qualifier
  ifExists: boolean
  /** null for the Null operator */
  base: BaseOperator | null
}

const opCache = new Map<string, ParsedOperator | undefined>()

/** Parses `ForAllValues:StringLikeIfExists` and friends; undefined for an operator AWS does not define. */
export function parseOperator(name: string): ParsedOperator | undefined {
  if (opCache.has(name)) return opCache.get(name)
  let rest = name
  let qualifier: Qualifier = 'none'
  const colon = rest.indexOf(':')
  if (colon >= 0) {
    const q = rest.slice(0, colon).toLowerCase()
    if (q === 'forallvalues') qualifier = 'all'
    else if (q === 'foranyvalue') qualifier = 'any'
    else {
      opCache.set(name, undefined)
      return undefined
    }
    rest = rest.slice(colon + 1)
  }
  let parsed: ParsedOperator | undefined
  if (rest.toLowerCase() === 'null') {
    parsed = qualifier === 'none' ? {qualifier, ifExists: false, base: null} : undefined
  } else {
    let ifExists = false
    if (/ifexists$/i.test(rest)) {
      ifExists = true
      rest = rest.slice(0, -'IfExists'.length)
    }
    const base = BASE[rest.toLowerCase()]
    parsed = base === undefined ? undefined : {qualifier, ifExists, base}
  }
  opCache.set(name, parsed)
  return parsed
}

/** Kleene AND / OR / NOT over Tri. */
export function triAnd(a: Tri, b: Tri): Tri {
  if (a === false || b === false) return false
  if (a === 'unknown' || b === 'unknown') return 'unknown'
  return true
}
export function triOr(a: Tri, b: Tri): Tri {
  if (a === true || b === true) return true
  if (a === 'unknown' || b === 'unknown') return 'unknown'
  return false
}
export function triNot(a: Tri): Tri {
  return a === 'unknown' ? 'unknown' : !a
}

/** Normalises a policy or context scalar to the string IAM compares. */
export function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return undefined
}

function policyValues(raw: unknown): string[] {
  const list = Array.isArray(raw) ? raw : [raw]
  const out: string[] = []
  for (const v of list) {
    const s = scalarText(v)
    if (s !== undefined) out.push(s)
  }
  return out
}

function parseNumber(s: string): number {
  return s.trim() === '' ? NaN : Number(s)
}

/** ISO 8601 text or epoch seconds, as IAM accepts for Date operators; NaN when neither. */
export function parseDate(s: string): number {
  const t = s.trim()
  if (t === '') return NaN
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t) * 1000
  return Date.parse(t)
}

function compareNumbers(a: number, b: number, c: Compare): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return false
  switch (c) {
    case 'eq':
      return a === b
    case 'lt':
      return a < b
    case 'le':
      return a <= b
    case 'gt':
      return a > b
    case 'ge':
      return a >= b
  }
}

function isArnLike(v: string): boolean {
  // arn:partition:service:region:account:resource needs five separators.
  let colons = 0
  for (let i = 0; i < v.length && colons < 5; i++) if (v.charCodeAt(i) === 58) colons++
  return colons >= 5 && v.startsWith('arn:')
}

/** The positive (non-negated) test of one context value against one policy value. */
function positiveMatch(op: BaseOperator, ctx: string, pol: string, env: ConditionEnv, unknownKeys: string[]): Tri {
  switch (op.family) {
    case 'string':
    case 'string-ci':
    case 'bool': {
      const p = expandVariables(pol, env.resolve)
      if (p === null) return false
      if (typeof p === 'object') {
        unknownKeys.push(...p.unknown)
        return 'unknown'
      }
      if (op.family === 'string') return ctx === p
      return ctx.toLowerCase() === p.toLowerCase()
    }
    case 'string-like':
      return matchPattern(pol, ctx, 'glob', env.resolve, unknownKeys)
    case 'arn':
      if (!isArnLike(ctx)) return false
      return matchPattern(pol, ctx, 'arn', env.resolve, unknownKeys)
    case 'numeric':
      return compareNumbers(parseNumber(ctx), parseNumber(pol), op.compare)
    case 'date':
      return compareNumbers(parseDate(ctx), parseDate(pol), op.compare)
    case 'binary':
      return ctx === pol
    case 'ip': {
      const net = parseCidr(pol)
      const ip = parseIp(ctx)
      return net !== null && ip !== null && cidrContains(net, ip)
    }
  }
}

/**
 * Decides one operator/key pair. Multiple policy values are OR-ed (NOR for negated operators); a
 * missing key is false, except for negated operators (true), `...IfExists` (true) and
 * `ForAllValues` (true; `ForAnyValue` false). A key that cannot be known is 'unknown'.
 */
export function evaluateConditionKey(
  operator: string,
  key: string,
  rawValues: unknown,
  env: ConditionEnv,
  unknownKeys: string[],
  notes: string[],
): Tri {
  const local: string[] = []
  const r = decideKey(operator, key, rawValues, env, local, notes)
  // Keys met on the way to a definite answer did not matter: report them only for 'unknown'.
  if (r === 'unknown') for (const k of local) if (!unknownKeys.includes(k)) unknownKeys.push(k)
  return r
}

function decideKey(
  operator: string,
  key: string,
  rawValues: unknown,
  env: ConditionEnv,
  unknownKeys: string[],
  notes: string[],
): Tri {
  const op = parseOperator(operator)
  if (op === undefined) {
    notes.push(`unsupported condition operator ${operator}`)
    return 'unknown'
  }
  const state = env.lookup(key)
  if (state.kind === 'unknown') {
    unknownKeys.push(key)
    return 'unknown'
  }
  const present = state.kind === 'value' && state.values.length > 0
  const pols = policyValues(rawValues)

  if (op.base === null) {
    // Null: "true" asks for the key to be absent, "false" for it to be present.
    let r: Tri = false
    for (const p of pols) r = triOr(r, p.toLowerCase() === 'true' ? !present : p.toLowerCase() === 'false' ? present : false)
    return r
  }
  const base = op.base
  if (!present) {
    if (op.ifExists || op.qualifier === 'all') return true
    if (op.qualifier === 'any') return false
    return base.negated
  }
  const values = (state as {values: string[]}).values

  const anyPolicyMatches = (v: string): Tri => {
    let r: Tri = false
    for (const p of pols) {
      r = triOr(r, positiveMatch(base, v, p, env, unknownKeys))
      if (r === true) return true
    }
    return r
  }
  const single = (v: string): Tri => (base.negated ? triNot(anyPolicyMatches(v)) : anyPolicyMatches(v))

  if (op.qualifier === 'all') {
    let r: Tri = true
    for (const v of values) {
      r = triAnd(r, single(v))
      if (r === false) return false
    }
    return r
  }
  if (op.qualifier === 'any') {
    let r: Tri = false
    for (const v of values) {
      r = triOr(r, single(v))
      if (r === true) return true
    }
    return r
  }
  if (values.length === 1) return single(values[0]!)
  // No set operator on a multivalued value: the positive form holds when any value matches, and the
  // negated form is its complement.
  let anyMatch: Tri = false
  for (const v of values) anyMatch = triOr(anyMatch, anyPolicyMatches(v))
  return base.negated ? triNot(anyMatch) : anyMatch
}

/**
 * Decides a whole Condition block: operators AND-ed, keys within an operator AND-ed. Returns true,
 * false, or 'unknown' with the keys (and any notes) that left it undecided.
 */
export function evaluateConditionBlock(
  condition: Record<string, Record<string, unknown>> | undefined,
  env: ConditionEnv,
  unknownKeys: string[],
  notes: string[],
): Tri {
  if (condition === undefined || condition === null) return true
  let result: Tri = true
  const localKeys: string[] = []
  const localNotes: string[] = []
  for (const operator of Object.keys(condition)) {
    const block = condition[operator]
    if (block === null || typeof block !== 'object') continue
    for (const key of Object.keys(block)) {
      const r = evaluateConditionKey(operator, key, block[key], env, localKeys, localNotes)
      // A definite false decides the block; unknowns met on the way no longer matter.
      if (r === false) return false
      result = triAnd(result, r)
    }
  }
  if (result === 'unknown') {
    unknownKeys.push(...localKeys)
    notes.push(...localNotes)
  }
  return result
}
