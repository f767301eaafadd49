/**
 * String literals for the formats grant render writes (JSON, HCL, YAML), one function per format.
 * Each returns the complete literal, quotes included, that reads back as exactly the value: the
 * values are a customer's bucket names and prefixes, and must never be interpreted.
 */

/** A JSON string literal. */
export function jsonString(value: string): string {
  return JSON.stringify(value)
}

/**
 * An HCL2 quoted string literal that evaluates to exactly `value`: `\` and `"` are escaped, control
 * characters become \n, \r, \t or \uNNNN, and the template introducers `${` and `%{` are doubled
 * (`$${`, `%%{`) so Terraform never interpolates them.
 */
export function hclString(value: string): string {
  return `"${escapeTemplateIntroducers(backslashEscape(value, {'"': '\\"'}, isUnsafeCodePoint, unicodeEscape))}"`
}

const C_ESCAPES: Readonly<Record<string, string>> = {'\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t'}

/**
 * The body of a backslash-escaped string literal, the form HCL, CEL and Bicep share: `\\`, `\n`,
 * `\r` and `\t`, plus the format's own `specials` (its quote, Bicep's `$`), and the code points
 * `unsafe` names written with the format's `escape`.
 */
export function backslashEscape(value: string, specials: Readonly<Record<string, string>>, unsafe: (cp: number) => boolean, escape: (cp: number) => string): string {
  let out = ''
  for (const ch of value) {
    const cp = ch.codePointAt(0)!
    out += specials[ch] ?? C_ESCAPES[ch] ?? (unsafe(cp) ? escape(cp) : ch)
  }
  return out
}

/** The body of an HCL heredoc: only `${` and `%{` are special there (backslashes are literal). */
export function hclHeredocBody(value: string): string {
  return escapeTemplateIntroducers(value)
}

function escapeTemplateIntroducers(s: string): string {
  // Function replacers: in a replacement string "$$" would mean a single "$".
  return s.replaceAll('${', () => '$${').replaceAll('%{', () => '%%{')
}

/**
 * A YAML double-quoted scalar that reads back as exactly `value`: JSON string syntax (valid YAML),
 * plus \u escapes for the characters YAML 1.1 readers treat as line breaks (U+0085, U+2028, U+2029)
 * or may reject (DEL, C1 controls, BOM, noncharacters).
 */
export function yamlString(value: string): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g, (ch) => unicodeEscape(ch.codePointAt(0)!))
}

function isUnsafeCodePoint(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029 || cp === 0xfeff
}

/** `\\uNNNN`, the escape JSON, HCL and CEL share for a code point of the basic plane. */
export function unicodeEscape(cp: number): string {
  return `\\u${cp.toString(16).padStart(4, '0')}`
}
