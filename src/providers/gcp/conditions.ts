/**
 * IAM Conditions on bucket bindings: the expressions ingestgate writes, and a small three-valued
 * evaluator for the CEL subset Cloud Storage conditions commonly use on read paths. Pure.
 *
 * Facts (GCS IAM Conditions documentation): object operations see `resource.name` =
 * `projects/_/buckets/BUCKET/objects/OBJECT`; bucket operations, including objects.list, see
 * `projects/_/buckets/BUCKET`, and a listing exposes the requested prefix as
 * `api.getAttribute("storage.googleapis.com/objectListPrefix", "")`. `resource.type` is
 * `storage.googleapis.com/Bucket` or `.../Object`. Anything the evaluator does not know (request
 * time, resource tags, other attributes, other functions) makes the result `unknown`, never true.
 */
import {backslashEscape, unicodeEscape} from '../../core/literals.js'

export interface IamCondition {
  title?: string
  description?: string
  expression: string
}

/** The attributes a Cloud Storage request carries, as far as the walker's calls go. */
export interface RequestAttributes {
  /** resource.name */
  name: string
  /** resource.type */
  type: 'storage.googleapis.com/Bucket' | 'storage.googleapis.com/Object'
  /** The objects.list prefix (only on listings). */
  listPrefix?: string
}

export type Tri = true | false | 'unknown'

const LIST_PREFIX_ATTRIBUTE = 'storage.googleapis.com/objectListPrefix'

/** A CEL double-quoted string literal that evaluates to exactly `value`. */
export function celString(value: string): string {
  return `"${backslashEscape(value, {'"': '\\"'}, (cp) => cp < 0x20 || cp === 0x7f, unicodeEscape)}"`
}

/** `projects/_/buckets/B/objects/` + name: what resource.name is for an object. */
export function objectResourceName(bucket: string, name: string): string {
  return `projects/_/buckets/${bucket}/objects/${name}`
}

/** What resource.name is for a bucket operation (objects.list included). */
export function bucketResourceName(bucket: string): string {
  return `projects/_/buckets/${bucket}`
}

/**
 * The condition ingestgate puts on the objectViewer binding for a prefix: object names under the
 * directory prefix, and listings whose prefix is under it. `dirPrefix` ends in '/'.
 */
export function prefixCondition(bucket: string, dirPrefix: string): IamCondition {
  const shown = dirPrefix.length <= 70 ? dirPrefix : `${[...dirPrefix].slice(0, 60).join('')}...`
  return {
    title: `ingestgate: ${shown}`.slice(0, 100),
    description: 'Objects under this prefix only, and listings of it (written by ingestgate for the ingest cluster).',
    expression:
      `resource.name.startsWith(${celString(objectResourceName(bucket, dirPrefix))}) || ` +
      `api.getAttribute(${celString(LIST_PREFIX_ATTRIBUTE)}, "").startsWith(${celString(dirPrefix)})`,
  }
}

/** Two conditions are the same binding key when title, description and expression are all equal. */
export function sameCondition(a: IamCondition | undefined, b: IamCondition | undefined): boolean {
  if (!a || !b) return !a && !b
  return a.expression === b.expression && (a.title ?? '') === (b.title ?? '') && (a.description ?? '') === (b.description ?? '')
}

// ----------------------------------------------------------------------------------------------
// Evaluation.

type Tok = {t: 'str'; v: string} | {t: 'id'; v: string} | {t: 'num'; v: string} | {t: '&&' | '||' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '(' | ')' | '!' | ',' | '.'}
/** Inside the evaluator "unknown" is a symbol, so it can never be mistaken for a string value. */
const UNK: unique symbol = Symbol('unknown')
type B3 = boolean | typeof UNK
type Val = string | B3

class Unsupported extends Error {}

function tokenize(src: string): Tok[] {
  const out: Tok[] = []
  let i = 0
  const ESC: Record<string, string> = {n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', "'": "'"}
  while (i < src.length) {
    const c = src[i]
    if (/\s/.test(c)) {
      i++
      continue
    }
    if (c === '"' || c === "'") {
      let j = i + 1
      let s = ''
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') {
          const n = src[j + 1]
          if (n in ESC) {
            s += ESC[n]
            j += 2
          } else if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(j + 2, j + 6))) {
            s += String.fromCodePoint(Number.parseInt(src.slice(j + 2, j + 6), 16))
            j += 6
          } else throw new Unsupported(`escape \\${n}`)
        } else s += src[j++]
      }
      if (j >= src.length) throw new Unsupported('unterminated string')
      out.push({t: 'str', v: s})
      i = j + 1
      continue
    }
    const two = src.slice(i, i + 2)
    if (two === '&&' || two === '||' || two === '==' || two === '!=' || two === '<=' || two === '>=') {
      out.push({t: two})
      i += 2
      continue
    }
    if (c === '<' || c === '>') {
      out.push({t: c})
      i++
      continue
    }
    const num = /^\d+(\.\d+)?/.exec(src.slice(i))
    if (num) {
      out.push({t: 'num', v: num[0]})
      i += num[0].length
      continue
    }
    if ('()!,.'.includes(c)) {
      out.push({t: c as '(' | ')' | '!' | ',' | '.'})
      i++
      continue
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))
    if (!m) throw new Unsupported(`character ${JSON.stringify(c)}`)
    out.push({t: 'id', v: m[0]})
    i += m[0].length
  }
  return out
}

/**
 * Evaluate a condition for a request: true, false, or 'unknown' (with the reason) when the
 * expression uses anything outside the subset. `||` and `&&` follow CEL's commutative rules:
 * `unknown || true` is true, `unknown && false` is false.
 */
export function evaluateCondition(expression: string, req: RequestAttributes): {value: Tri; reason?: string} {
  let toks: Tok[]
  try {
    toks = tokenize(expression)
  } catch (error) {
    return {value: 'unknown', reason: `the condition cannot be read (${(error as Error).message})`}
  }
  let p = 0
  const reasons: string[] = []
  const peek = () => toks[p]
  const eat = (t: Tok['t']): Tok => {
    const tk = toks[p]
    if (tk?.t !== t) throw new Unsupported(`expected ${t}`)
    p++
    return tk
  }
  const str = () => (eat('str') as {v: string}).v
  const unknown = (why: string): typeof UNK => {
    reasons.push(why)
    return UNK
  }
  const skipCall = () => {
    // An unknown function's arguments: skip balanced parentheses.
    let depth = 0
    do {
      const tk = toks[p++]
      if (!tk) throw new Unsupported('unbalanced parentheses')
      if (tk.t === '(') depth++
      if (tk.t === ')') depth--
    } while (depth > 0)
  }
  const primary = (): Val => {
    const tk = peek()
    if (!tk) throw new Unsupported('unexpected end')
    if (tk.t === 'str') {
      p++
      return tk.v
    }
    if (tk.t === 'num') {
      p++
      return unknown('a number, which only appears in comparisons this check does not evaluate')
    }
    if (tk.t === '(') {
      p++
      const v = or()
      eat(')')
      return v
    }
    if (tk.t === '!') {
      p++
      const v = postfix()
      if (typeof v === 'string') throw new Unsupported('! of a string')
      return v === UNK ? UNK : !v
    }
    if (tk.t === 'id') {
      p++
      if (tk.v === 'true') return true
      if (tk.v === 'false') return false
      if (tk.v === 'resource' && peek()?.t === '.') {
        p++
        const f = (eat('id') as {v: string}).v
        if (f === 'name') return req.name
        if (f === 'type') return req.type
        if (f === 'service') return 'storage.googleapis.com'
        // resource.matchTag(...) and the like depend on tags this check cannot see.
        if (peek()?.t === '(') skipCall()
        return unknown(`resource.${f} is not known to this check`)
      }
      if (tk.v === 'api' && peek()?.t === '.') {
        p++
        const f = (eat('id') as {v: string}).v
        if (f !== 'getAttribute') {
          if (peek()?.t === '(') skipCall()
          return unknown(`api.${f} is not known to this check`)
        }
        eat('(')
        const key = str()
        eat(',')
        const dflt = str()
        eat(')')
        if (key === LIST_PREFIX_ATTRIBUTE) return req.listPrefix ?? dflt
        return unknown(`the attribute ${key} is not known to this check`)
      }
      // request.time, timestamp(...), other identifiers and functions.
      while (peek()?.t === '.') {
        p++
        eat('id')
      }
      if (peek()?.t === '(') skipCall()
      return unknown(`${tk.v} is not something this check can evaluate`)
    }
    throw new Unsupported(`unexpected ${tk.t}`)
  }
  const postfix = (): Val => {
    let v = primary()
    while (peek()?.t === '.') {
      p++
      const fn = (eat('id') as {v: string}).v
      eat('(')
      if (peek()?.t !== 'str') {
        skipCall0()
        v = unknown(`.${fn}() with a non-literal argument`)
        continue
      }
      const arg = str()
      eat(')')
      if (v === UNK) continue
      if (typeof v !== 'string') throw new Unsupported(`.${fn}() on a boolean`)
      if (fn === 'startsWith') v = v.startsWith(arg)
      else if (fn === 'endsWith') v = v.endsWith(arg)
      else if (fn === 'contains') v = v.includes(arg)
      else v = unknown(`.${fn}() is not something this check can evaluate`)
    }
    return v
  }
  const skipCall0 = () => {
    let depth = 1
    while (depth > 0) {
      const tk = toks[p++]
      if (!tk) throw new Unsupported('unbalanced parentheses')
      if (tk.t === '(') depth++
      if (tk.t === ')') depth--
    }
  }
  const cmp = (): Val => {
    const a = postfix()
    const op = peek()?.t
    if (op === '<' || op === '<=' || op === '>' || op === '>=') {
      p++
      postfix()
      return unknown(`an ordering comparison (${op}), e.g. on request.time, which this check does not evaluate`)
    }
    if (op !== '==' && op !== '!=') return a
    p++
    const b = postfix()
    if (a === UNK || b === UNK) return UNK
    const eq = a === b
    return op === '==' ? eq : !eq
  }
  const bool = (v: Val): B3 => {
    if (typeof v === 'string') throw new Unsupported('a string where a condition was expected')
    return v
  }
  const and = (): B3 => {
    let v = bool(cmp())
    while (peek()?.t === '&&') {
      p++
      const w = bool(cmp())
      v = v === false || w === false ? false : v === UNK || w === UNK ? UNK : true
    }
    return v
  }
  const or = (): B3 => {
    let v = and()
    while (peek()?.t === '||') {
      p++
      const w = and()
      v = v === true || w === true ? true : v === UNK || w === UNK ? UNK : false
    }
    return v
  }
  try {
    const value = or()
    if (p !== toks.length) throw new Unsupported('unexpected text after the expression')
    return value === UNK ? {value: 'unknown', reason: reasons[0] ?? 'the condition cannot be decided'} : {value}
  } catch (error) {
    return {value: 'unknown', reason: `the condition uses a form this check does not evaluate (${(error as Error).message})`}
  }
}
