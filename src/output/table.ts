/**
 * The check result as a person reads it: one line per operation and resource (rows that say the
 * same thing about several sampled objects are folded into one, "+N more"), the cause and the fix
 * under every row that is not a pass, then the findings and a one-line verdict. Colour comes from
 * the ChalkInstance given (green/red on a terminal, none without one or with NO_COLOR).
 */
import {Chalk, type ChalkInstance} from 'chalk'

import {groupRows, type CheckResult, type Outcome, type Severity} from '../core/verdict.js'
import type {GrantStatus, GrantStatusItem} from '../providers/types.js'
import {colorLevel, type Writer} from './ui.js'

/** Colour for data written to stdout: on when stdout (not stderr) is a terminal, never with NO_COLOR. */
export function stdoutColor(env: NodeJS.ProcessEnv, stdout: Writer = process.stdout): ChalkInstance {
  return new Chalk({level: colorLevel(stdout, env)})
}

const OUTCOME_TEXT: Record<Outcome, string> = {pass: 'PASS', fail: 'FAIL', unknown: 'UNKNOWN', skip: 'SKIP'}

function paintOutcome(o: Outcome, color: ChalkInstance): (s: string) => string {
  switch (o) {
    case 'pass':
      return color.green
    case 'fail':
      return color.red.bold
    case 'unknown':
      return color.yellow
    case 'skip':
      return color.dim
  }
}

function paintSeverity(s: Severity, color: ChalkInstance): (t: string) => string {
  return s === 'error' ? color.red : s === 'warning' ? color.yellow : color.cyan
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - text.length))
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function alignColumns(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? []
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd())
}

const RESOURCE_WIDTH = 44

/** Cut a cell into pieces of at most `width` characters, preferring to cut after a `/`. */
function wrap(text: string, width: number): string[] {
  const parts: string[] = []
  let rest = text
  while (rest.length > width) {
    const slash = rest.lastIndexOf('/', width - 1)
    const cut = slash > width / 2 ? slash + 1 : width
    parts.push(rest.slice(0, cut))
    rest = rest.slice(cut)
  }
  parts.push(rest)
  return parts
}

/** Render the whole report: header, table, findings, verdict. Plain text when `color` has level 0. */
export function renderCheckTable(result: CheckResult, color: ChalkInstance): string {
  const lines: string[] = []
  lines.push(color.bold(`Check of ${result.source} for ${result.principal}`))
  const as = (['static', 'live'] as const).filter((l) => result.identities[l]).map((l) => `${l} layer as ${result.identities[l]}`)
  if (as.length) lines.push(color.dim(`  ${as.join('; ')}`))
  lines.push('')

  const groups = groupRows(result.operations)
  const cells = groups.map((g) => ({
    g,
    operation: g.row.operation,
    resource: g.resources.length > 1 ? `${g.resources[0]} (+${g.resources.length - 1} more)` : g.resources[0],
    layer: g.row.layer,
    outcome: OUTCOME_TEXT[g.row.outcome],
    decidedBy: g.row.decidedBy.join(', ') || '-',
  }))
  const head = {operation: 'OPERATION', resource: 'RESOURCE', layer: 'LAYER', outcome: 'OUTCOME', decidedBy: 'DECIDED BY'}
  const w = {
    operation: Math.max(head.operation.length, ...cells.map((c) => c.operation.length)),
    // Long object URLs and key ARNs wrap inside their column, so the table fits 100 columns.
    resource: Math.min(RESOURCE_WIDTH, Math.max(head.resource.length, ...cells.map((c) => c.resource.length))),
    layer: Math.max(head.layer.length, ...cells.map((c) => c.layer.length)),
    outcome: Math.max(head.outcome.length, ...cells.map((c) => c.outcome.length)),
  }
  const indent = ' '.repeat(w.operation + 2)
  lines.push(color.bold([pad(head.operation, w.operation), pad(head.resource, w.resource), pad(head.layer, w.layer), pad(head.outcome, w.outcome), head.decidedBy].join('  ')))
  for (const c of cells) {
    const paint = paintOutcome(c.g.row.outcome, color)
    const [first, ...more] = wrap(c.resource, w.resource)
    lines.push([pad(c.operation, w.operation), pad(first, w.resource), pad(c.layer, w.layer), paint(pad(c.outcome, w.outcome)), c.decidedBy].join('  '))
    for (const part of more) lines.push(`${indent}${part}`)
    if (c.g.row.outcome !== 'pass') {
      lines.push(`${indent}${color.dim('cause:')}  ${c.g.row.cause}`)
      if (c.g.row.remedy) lines.push(`${indent}${color.dim('remedy:')} ${color.cyan(c.g.row.remedy)}`)
    }
  }

  if (result.findings.length > 0) {
    lines.push('', color.bold('Findings'))
    const sw = Math.max(...result.findings.map((f) => f.severity.length))
    for (const f of result.findings) {
      lines.push(`  ${paintSeverity(f.severity, color)(pad(f.severity, sw))}  ${f.message} ${color.dim(`[${f.code}]`)}`)
      if (f.remedy) lines.push(`  ${' '.repeat(sw)}  ${color.cyan('→')} ${f.remedy}`)
    }
  }

  // The summary counts checks (one per operation and resource), and says how many table rows they fold into.
  const s = result.summary
  const total = result.operations.length
  const checks = `${total} check${total === 1 ? '' : 's'} in ${groups.length} row${groups.length === 1 ? '' : 's'}`
  const counts = `${checks}: ${[`${s.pass} pass`, `${s.fail} fail`, `${s.unknown} unknown`, `${s.skip} skipped`].join(', ')}`
  lines.push('')
  if (result.ok) lines.push(color.green.bold(`OK: every operation the ingest cluster needs passes (${counts}).`))
  else {
    const what = s.fail > 0 ? `${s.fail} of ${total} checks fail` : `${s.unknown} of ${total} checks cannot be decided`
    lines.push(color.red.bold(`NOT OK: ${what} (${counts}). Apply the remedies above and re-run.`))
  }
  return lines.join('\n')
}

const STATE_TEXT = {'in-place': 'IN PLACE', drifted: 'DRIFTED', missing: 'MISSING'} as const

/**
 * `grant status` as a person reads it: per principal, one line per thing ingestgate grants with its
 * state, what differs under each line that is not in place, then a one-line verdict.
 */
export function renderGrantStatus(status: GrantStatus, color: ChalkInstance): string {
  const lines = [color.bold(`ingestgate's grant on ${status.source}`)]
  if (status.principals.length === 0) {
    lines.push('', 'Nothing ingestgate grants is on this source (no statement, grant, binding or assignment of its own).')
    return lines.join('\n')
  }
  const paint = {'in-place': color.green, drifted: color.yellow, missing: color.red.bold}
  for (const principal of status.principals) {
    lines.push('', principal)
    for (const item of status.items.filter((i) => i.principal === principal)) {
      lines.push(`  ${paint[item.state](pad(STATE_TEXT[item.state], 9))} ${item.kind} ${item.id}${item.target ? color.dim(` on ${item.target}`) : ''}`)
      if (item.state !== 'in-place') lines.push(`  ${' '.repeat(9)} ${item.detail}`)
    }
  }
  const count = (s: GrantStatusItem['state']) => status.items.filter((i) => i.state === s).length
  const off = count('drifted') + count('missing')
  lines.push(
    '',
    off === 0
      ? color.green(`In place: ${status.items.length} of ${status.items.length} as apply writes ${status.items.length === 1 ? 'it' : 'them'}.`)
      : color.red(`Not as apply writes it: ${count('drifted')} drifted, ${count('missing')} missing, ${count('in-place')} in place. grant apply puts it back; grant revoke removes it.`),
  )
  return lines.join('\n')
}
