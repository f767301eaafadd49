/**
 * The verifier's result, the same shape for every cloud: one row per operation the ingest cluster
 * performs and resource it performs it on, per layer (static evaluation, live probe), plus findings
 * about settings that defeat a correct grant. Pure: no SDK, no I/O.
 */

/** What the ingest cluster does with a source: each provider names its operations (`Provider.operations`). */
export type OperationId = string

/** static: the documents evaluated with the admin's credentials; live: real calls as the principal. */
export type Layer = 'static' | 'live'

/**
 * pass: the call will succeed (static: as far as can be seen, see `cause`); fail: it will not;
 * unknown: it depends on something that cannot be seen from here; skip: nothing to check (and why).
 */
export type Outcome = 'pass' | 'fail' | 'unknown' | 'skip'

export interface CheckRow {
  operation: OperationId
  /** What the operation is performed on: the source, an object's URL, a key or setting the cloud names. */
  resource: string
  layer: Layer
  outcome: Outcome
  /** A stable short code for the cause (allowed, implicit-deny, explicit-deny, access-denied, ...). */
  code: string
  /** One sentence a person can act on; never contains the resource (rows group by it). */
  cause: string
  /** What decided it: statements (by Sid or #index), grants, settings, the cloud's error code. */
  decidedBy: string[]
  /** The exact fix: usually a command to run, or the statement to remove. '' when nothing to do. */
  remedy: string
}

export type Severity = 'error' | 'warning' | 'info'

/** A setting or statement that matters beyond one row (it may explain several). */
export interface Finding {
  code: string
  severity: Severity
  message: string
  /** The bucket, key or statement it is about. */
  resource?: string
  remedy?: string
}

export interface CheckSummary {
  pass: number
  fail: number
  unknown: number
  skip: number
}

export interface CheckResult {
  /** True only when every row passes or is skipped (and there is at least one row). */
  ok: boolean
  source: string
  principal: string
  layers: Layer[]
  /** Who each layer ran as (ARNs from the cloud, never credentials). */
  identities: Partial<Record<Layer, string>>
  operations: CheckRow[]
  findings: Finding[]
  summary: CheckSummary
}

/** Exit 0 needs every required operation to pass; a skip (nothing to read) does not fail the check. */
export function isOk(rows: readonly CheckRow[]): boolean {
  return rows.length > 0 && rows.every((r) => r.outcome === 'pass' || r.outcome === 'skip')
}

export function summarise(rows: readonly CheckRow[]): CheckSummary {
  const s: CheckSummary = {pass: 0, fail: 0, unknown: 0, skip: 0}
  for (const r of rows) s[r.outcome]++
  return s
}

const OUTCOME_RANK: Record<Outcome, number> = {fail: 3, unknown: 2, pass: 1, skip: 0}

/** The worse of two outcomes: fail > unknown > pass > skip. */
export function worstOutcome(a: Outcome, b: Outcome): Outcome {
  return OUTCOME_RANK[a] >= OUTCOME_RANK[b] ? a : b
}

/** Order rows for reading: by layer (static first), then by operation in the provider's order, keeping input order inside. */
export function sortRows(rows: readonly CheckRow[], order: readonly OperationId[] = []): CheckRow[] {
  const rank = (op: OperationId) => (order.includes(op) ? order.indexOf(op) : order.length)
  const layerRank = (l: Layer) => (l === 'static' ? 0 : 1)
  return rows
    .map((row, i) => ({row, i}))
    .sort(
      (a, b) =>
        layerRank(a.row.layer) - layerRank(b.row.layer) ||
        rank(a.row.operation) - rank(b.row.operation) ||
        a.i - b.i,
    )
    .map((x) => x.row)
}

export interface RowGroup {
  row: CheckRow
  /** Every resource of the group, the first being `row.resource`. */
  resources: string[]
}

/**
 * Collapse rows that say the same thing about different resources (the same operation, layer,
 * outcome, cause, deciding statements and remedy), so twenty sampled objects read as one line.
 * Rows are grouped wherever they are; the first occurrence keeps its place.
 */
export function groupRows(rows: readonly CheckRow[]): RowGroup[] {
  const groups: RowGroup[] = []
  const byKey = new Map<string, RowGroup>()
  for (const row of rows) {
    const key = JSON.stringify([row.operation, row.layer, row.outcome, row.code, row.cause, row.decidedBy, row.remedy])
    const g = byKey.get(key)
    if (g) g.resources.push(row.resource)
    else {
      const ng = {row, resources: [row.resource]}
      byKey.set(key, ng)
      groups.push(ng)
    }
  }
  return groups
}

/** Assemble the result: rows sorted (in the provider's operation order), summary and `ok` derived from the rows alone. */
export function buildResult(input: Omit<CheckResult, 'ok' | 'summary'>, order: readonly OperationId[] = []): CheckResult {
  const operations = sortRows(input.operations, order)
  return {...input, operations, ok: isOk(operations), summary: summarise(operations)}
}
