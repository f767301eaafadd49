/**
 * Throughput of the IAM evaluator over every JSON case: `npx tsx bench/evaluate.ts`.
 * Runs evaluate() over the whole case set for about two seconds and prints decisions per second.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {evaluate, type EvalRequest, type PolicySet} from '../src/providers/aws/policy/evaluate.js'

interface CaseFile {
  defaults?: {request?: Record<string, unknown>; policies?: Partial<PolicySet>}
  cases: Array<{name: string; request?: Record<string, unknown>; policies?: Partial<PolicySet>; expected: {decision: string}}>
}

const caseDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'core', 'iam', 'evaluate-cases')

// Same merge rule as the test: case over file defaults, context merged, top-level null removes a default.
function mergeRequest(base: Record<string, unknown> | undefined, over: Record<string, unknown> | undefined): EvalRequest {
  const out: Record<string, unknown> = {...base, ...over}
  out.context = {...(base?.context as object), ...(over?.context as object)}
  for (const [k, v] of Object.entries(out)) if (v === null) delete out[k]
  return out as unknown as EvalRequest
}

const work: Array<{req: EvalRequest; set: PolicySet; expected: string; name: string}> = []
for (const file of readdirSync(caseDir).filter((f) => f.endsWith('.json')).sort()) {
  const data = JSON.parse(readFileSync(join(caseDir, file), 'utf8')) as CaseFile
  for (const c of data.cases) {
    work.push({
      name: `${file}/${c.name}`,
      req: mergeRequest(data.defaults?.request, c.request),
      set: {identityVisible: true, ...data.defaults?.policies, ...c.policies},
      expected: c.expected.decision,
    })
  }
}

// One checked pass first, so a fast wrong evaluator does not look good.
const wrong = work.filter((w) => evaluate(w.req, w.set).decision !== w.expected)
if (wrong.length > 0) {
  console.error(`${wrong.length} case(s) disagree with their expected decision, e.g. ${wrong[0]!.name}`)
  process.exitCode = 1
}

const budgetMs = 2000
let decisions = 0
let sink = 0
const start = performance.now()
let elapsed = 0
while (elapsed < budgetMs) {
  for (const w of work) {
    if (evaluate(w.req, w.set).decision === 'allowed') sink++
  }
  decisions += work.length
  elapsed = performance.now() - start
}
const perSecond = Math.round((decisions / elapsed) * 1000)
console.log(`${work.length} cases, ${decisions} decisions in ${(elapsed / 1000).toFixed(2)} s: ${perSecond.toLocaleString('en-US')} decisions/s (allowed ${sink})`)
