/**
 * Wildcard and policy-variable matching for IAM policy strings: Action, Resource and the string/ARN
 * condition operators. Pure and cached: the same pattern text compiles to one RegExp once.
 */

/** How a key used by a policy variable resolves against the request context. */
export type VariableLookup =
  | {kind: 'value'; value: string}
  /** The request carries no value for the key (AWS: the variable resolves to nothing). */
  | {kind: 'absent'}
  /** The key exists in the real request but its value cannot be known here. */
  | {kind: 'unknown'}

/** Resolves a policy variable's key (as written in the policy) against the request. */
export type VariableResolver = (key: string) => VariableLookup

/**
 * The outcome of expanding a policy string: a RegExp to test with, `null` when the string can match
 * nothing (a variable with no value and no default), or the keys that make the string unknowable.
 */
export type Compiled = {kind: 'regex'; re: RegExp} | {kind: 'never'} | {kind: 'unknown'; keys: string[]}

/** Matching flavour: plain glob (Action, StringLike) or ARN-aware (Resource, ArnLike). */
export type GlobMode = 'glob' | 'glob-ci' | 'arn' | 'literal' | 'literal-ci'

const NEVER: Compiled = {kind: 'never'}
const cache = new Map<string, RegExp>()
const CACHE_LIMIT = 20_000

function cachedRegExp(source: string, flags: string): RegExp {
  const k = flags + '\u0000' + source
  let re = cache.get(k)
  if (re === undefined) {
    if (cache.size >= CACHE_LIMIT) cache.clear()
    re = new RegExp(source, flags)
    cache.set(k, re)
  }
  return re
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/-]/g
function escapeRegex(s: string): string {
  return s.replace(REGEX_SPECIAL, '\\$&')
}

/** One piece of a policy string after variable expansion. */
type Token = {t: 'lit'; s: string} | {t: 'star'} | {t: 'qmark'}

/**
 * Splits a policy string into literal text, wildcards and variables, resolving variables.
 * `${*}`, `${?}` and `${$}` are the documented escapes for a literal `*`, `?` and `$`.
 * `${key, 'default'}` uses the default when the key has no value (`''` inside it is one quote).
 * A `${` without a closing brace is literal text.
 */
function tokenize(text: string, resolve: VariableResolver | undefined, wildcards: boolean): Token[] | Compiled {
  const out: Token[] = []
  let lit = ''
  let unknownKeys: string[] | undefined
  let never = false
  const flush = (): void => {
    if (lit !== '') out.push({t: 'lit', s: lit})
    lit = ''
  }
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === '$' && text[i + 1] === '{' && resolve !== undefined) {
      const close = findClose(text, i + 2)
      if (close < 0) {
        lit += c
        i++
        continue
      }
      const body = text.slice(i + 2, close)
      i = close + 1
      if (body === '*' || body === '?' || body === '$') {
        lit += body
        continue
      }
      const {key, fallback} = parseVariable(body)
      const found = resolve(key)
      if (found.kind === 'value') lit += found.value
      else if (found.kind === 'unknown') (unknownKeys ??= []).push(key)
      else if (fallback !== undefined) lit += fallback
      else never = true
      continue
    }
    if (wildcards && (c === '*' || c === '?')) {
      flush()
      out.push(c === '*' ? {t: 'star'} : {t: 'qmark'})
      i++
      continue
    }
    lit += c
    i++
  }
  flush()
  // A variable with no value makes the whole string match nothing, whatever the unknown ones hold.
  if (never) return NEVER
  if (unknownKeys !== undefined) return {kind: 'unknown', keys: unknownKeys}
  return out
}

/** Index of the `}` closing a variable body starting at `from`, honouring quoted defaults. */
function findClose(text: string, from: number): number {
  let quoted = false
  for (let j = from; j < text.length; j++) {
    const ch = text[j]
    if (ch === "'") {
      if (quoted && text[j + 1] === "'") {
        j++
        continue
      }
      quoted = !quoted
    } else if (ch === '}' && !quoted) return j
  }
  return -1
}

function parseVariable(body: string): {key: string; fallback?: string} {
  const comma = body.indexOf(',')
  if (comma < 0) return {key: body.trim()}
  const key = body.slice(0, comma).trim()
  const rest = body.slice(comma + 1).trim()
  if (rest.length >= 2 && rest.startsWith("'") && rest.endsWith("'")) {
    return {key, fallback: rest.slice(1, -1).replace(/''/g, "'")}
  }
  return {key}
}

function tokensToSource(tokens: Token[], mode: GlobMode): string {
  let src = '^'
  if (mode !== 'arn') {
    for (const tk of tokens) {
      if (tk.t === 'lit') src += escapeRegex(tk.s)
      else src += tk.t === 'star' ? '.*' : '.'
    }
    return src + '$'
  }
  // ARN mode: a wildcard stays inside its colon-separated segment, except in the resource part
  // (the sixth segment, which may itself contain colons) and except a `*` that ends a segment,
  // which AWS documents may expand across the colon boundary.
  let segment = 0
  for (let k = 0; k < tokens.length; k++) {
    const tk = tokens[k]!
    if (tk.t === 'lit') {
      for (const ch of tk.s) {
        if (ch === ':' && segment < 5) segment++
        src += escapeRegex(ch)
      }
    } else if (tk.t === 'qmark') {
      src += segment < 5 ? '[^:]' : '.'
    } else {
      const next = tokens[k + 1]
      const endsSegment = next === undefined || (next.t === 'lit' && next.s.startsWith(':'))
      src += segment >= 5 || endsSegment ? '.*' : '[^:]*'
    }
  }
  return src + '$'
}

const plainCache = new Map<string, Compiled>()

/**
 * Compiles a policy string into a matcher. Decides wildcards (`*` any run, `?` one character),
 * policy variables and their escapes; `glob-ci`/`literal-ci` ignore case. A string without `${`
 * is compiled once and cached.
 */
export function compilePattern(text: string, mode: GlobMode, resolve?: VariableResolver): Compiled {
  const hasVar = resolve !== undefined && text.includes('${')
  if (!hasVar) {
    const k = mode + '\u0000' + text
    const hit = plainCache.get(k)
    if (hit !== undefined) return hit
    const compiled = build(text, mode, undefined)
    if (plainCache.size >= CACHE_LIMIT) plainCache.clear()
    plainCache.set(k, compiled)
    return compiled
  }
  return build(text, mode, resolve)
}

function build(text: string, mode: GlobMode, resolve: VariableResolver | undefined): Compiled {
  const wildcards = mode === 'glob' || mode === 'glob-ci' || mode === 'arn'
  const tokens = tokenize(text, resolve, wildcards)
  if (!Array.isArray(tokens)) return tokens
  const flags = mode === 'glob-ci' || mode === 'literal-ci' ? 'is' : 's'
  return {kind: 'regex', re: cachedRegExp(tokensToSource(tokens, mode), flags)}
}

/** Three-valued truth: a definite answer, or unknown because of the listed keys. */
export type Tri = true | false | 'unknown'

/**
 * Tests `value` against one policy string. Returns true/false, or 'unknown' (pushing the keys to
 * `unknownKeys`) when a policy variable in the string cannot be resolved.
 */
export function matchPattern(
  text: string,
  value: string,
  mode: GlobMode,
  resolve: VariableResolver | undefined,
  unknownKeys: string[],
): Tri {
  if (text === '*' && (mode === 'glob' || mode === 'glob-ci' || mode === 'arn')) return true
  const c = compilePattern(text, mode, resolve)
  if (c.kind === 'regex') return c.re.test(value)
  if (c.kind === 'never') return false
  for (const k of c.keys) unknownKeys.push(k)
  return 'unknown'
}

/**
 * Resolves a policy string's variables to plain text (no wildcard meaning), as used by the exact
 * string, numeric, date and bool operators. Returns null when a variable has no value.
 */
export function expandVariables(text: string, resolve: VariableResolver | undefined): string | null | {unknown: string[]} {
  if (resolve === undefined || !text.includes('${')) return text
  const tokens = tokenize(text, resolve, false)
  if (!Array.isArray(tokens)) {
    if (tokens.kind === 'unknown') return {unknown: tokens.keys}
    return null
  }
  let s = ''
  for (const tk of tokens) if (tk.t === 'lit') s += tk.s
  return s
}
