/**
 * The readable diff of a document that apply or revoke rewrites (a bucket policy, an IAM policy):
 * pretty-printed JSON, a few lines of context, and unified-diff hunk headers saying where. Pure.
 */
export interface DiffLine {
  op: ' ' | '+' | '-'
  text: string
}

const DIFF_CONTEXT = 3

/**
 * A line diff of the two documents pretty-printed with 2 spaces, showing 3 unchanged lines around
 * each change under a hunk header (@@ -a,n +b,m @@). Empty when the documents print the same;
 * null prints as nothing, so creating or deleting a document shows as all `+` or all `-`.
 */
export function diffDocuments(before: unknown | null, after: unknown | null): DiffLine[] {
  const lines = (p: unknown | null) => (p ? JSON.stringify(p, null, 2).split('\n') : [])
  const all = lineDiff(lines(before), lines(after))
  const near = all.map(() => false)
  all.forEach((line, i) => {
    if (line.op === ' ') return
    for (let k = Math.max(0, i - DIFF_CONTEXT); k <= Math.min(all.length - 1, i + DIFF_CONTEXT); k++) near[k] = true
  })
  if (!near.includes(true)) return []
  // Line numbers in the document before and after, so each hunk says where it is (@@ -a,n +b,m @@).
  const at: Array<{a: number; b: number}> = []
  let a = 1
  let b = 1
  for (const line of all) {
    at.push({a, b})
    if (line.op !== '+') a++
    if (line.op !== '-') b++
  }
  const out: DiffLine[] = []
  let i = 0
  while (i < all.length) {
    if (!near[i]) {
      i++
      continue
    }
    let end = i
    while (end < all.length && near[end]) end++
    const hunk = all.slice(i, end)
    const aLen = hunk.filter((l) => l.op !== '+').length
    const bLen = hunk.filter((l) => l.op !== '-').length
    // As in unified diffs, an empty side names the line before it.
    out.push({op: ' ', text: `@@ -${aLen ? at[i].a : at[i].a - 1},${aLen} +${bLen ? at[i].b : at[i].b - 1},${bLen} @@`}, ...hunk)
    i = end
  }
  return out
}

/**
 * Longest-common-subsequence line diff, removals before additions within a change. The common head
 * and tail are cut first, so the quadratic table only covers the changed middle (documents are at
 * most 20 KB anyway).
 */
function lineDiff(a: string[], b: string[]): DiffLine[] {
  let head = 0
  while (head < a.length && head < b.length && a[head] === b[head]) head++
  let endA = a.length
  let endB = b.length
  while (endA > head && endB > head && a[endA - 1] === b[endB - 1]) {
    endA--
    endB--
  }
  const n = endA - head
  const m = endB - head
  const width = m + 1
  // common[i * width + j]: LCS length of a[head+i .. endA) and b[head+j .. endB)
  const common = new Uint32Array((n + 1) * width)
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      common[i * width + j] =
        a[head + i] === b[head + j] ? common[(i + 1) * width + j + 1] + 1 : Math.max(common[(i + 1) * width + j], common[i * width + j + 1])
    }
  }
  const same = (text: string): DiffLine => ({op: ' ', text})
  const out = a.slice(0, head).map(same)
  let i = 0
  let j = 0
  while (i < n || j < m) {
    if (i < n && j < m && a[head + i] === b[head + j]) {
      out.push(same(a[head + i]))
      i++
      j++
    } else if (j >= m || (i < n && common[(i + 1) * width + j] >= common[i * width + j + 1])) {
      out.push({op: '-', text: a[head + i++]})
    } else {
      out.push({op: '+', text: b[head + j++]})
    }
  }
  return out.concat(a.slice(endA).map(same))
}
