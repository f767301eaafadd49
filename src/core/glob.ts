/**
 * The include/exclude filters of an ingest config, with the semantics of Python's fnmatch (the
 * vendor CLI's patterns such as `*.[dD][cC][mM]` and `[0-9]*[0-9.]*[0-9]` are fnmatch patterns,
 * matched case-sensitively against the file name; the *_dirs filters against directory names).
 */

/** Translate one fnmatch pattern to an anchored RegExp (`*`, `?`, `[seq]`, `[!seq]`). */
export function fnmatchToRegExp(pattern: string): RegExp {
  let out = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*') out += '.*'
    else if (c === '?') out += '.'
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 2)
      if (close === -1) {
        out += '\\['
        continue
      }
      let body = pattern.slice(i + 1, close)
      i = close
      const negate = body.startsWith('!')
      if (negate) body = body.slice(1)
      body = body.replace(/\\/g, '\\\\').replace(/\^/g, '\\^').replace(/\[/g, '\\[')
      out += `[${negate ? '^' : ''}${body}]`
    } else out += c.replace(/[.+^${}()|\\/]/g, '\\$&')
  }
  return new RegExp(`^${out}$`, 's')
}

export interface PathFilter {
  include: string[]
  exclude: string[]
  include_dirs: string[]
  exclude_dirs: string[]
}

/** Decide whether a source path (relative, `/`-separated) is part of the ingest. */
export function compileFilter(filter: Partial<PathFilter>): (relPath: string) => boolean {
  const include = (filter.include ?? []).map(fnmatchToRegExp)
  const exclude = (filter.exclude ?? []).map(fnmatchToRegExp)
  const includeDirs = (filter.include_dirs ?? []).map(fnmatchToRegExp)
  const excludeDirs = (filter.exclude_dirs ?? []).map(fnmatchToRegExp)
  return (relPath) => {
    const parts = relPath.split('/')
    const name = parts.pop() ?? ''
    if (include.length > 0 && !include.some((re) => re.test(name))) return false
    if (exclude.some((re) => re.test(name))) return false
    if (excludeDirs.length > 0 && parts.some((d) => excludeDirs.some((re) => re.test(d)))) return false
    if (includeDirs.length > 0 && !parts.some((d) => includeDirs.some((re) => re.test(d)))) return false
    return true
  }
}
