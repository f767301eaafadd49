/**
 * The plan-then-change flow shared by every cloud's apply and revoke: show the plan, stop on
 * --dry-run, ask unless --yes, then execute and report. Providers only build plans.
 */
import type {AppContext} from '../context.js'
import {formatDiff} from '../output/ui.js'
import type {GrantChange, GrantPlan} from './types.js'

export interface GrantOutcome {
  /** True when something was written. */
  changed: boolean
  dryRun: boolean
  /** The user said no at the prompt. */
  cancelled: boolean
  source: string
  principal: string
  changes: GrantChange[]
  backup?: string
  notes: string[]
}

export function describeChange(c: GrantChange): string {
  return `${c.action} ${c.kind} ${c.id}${c.target ? ` on ${c.target}` : ''}`
}

/** Show the plan, confirm, execute. A second run with nothing to do makes no write at all. */
export async function runGrantPlan(
  ctx: AppContext,
  plan: GrantPlan,
  opts: {verb: 'apply' | 'revoke'; dryRun: boolean; yes: boolean; source: string; principal: string},
): Promise<GrantOutcome> {
  const {ui} = ctx
  const base = {source: opts.source, principal: opts.principal, changes: plan.changes, dryRun: opts.dryRun, cancelled: false}
  for (const note of plan.notes) ui.info(note)
  if (plan.changes.length === 0) {
    ui.info(ui.color.green(`No changes: ${opts.verb === 'apply' ? 'the grant is already in place' : 'nothing of ingestgate is left to remove'}.`))
    return {...base, changed: false, notes: plan.notes}
  }
  ui.info(ui.color.bold(`Plan (${opts.verb} ${opts.source} for ${opts.principal}):`))
  for (const c of plan.changes) ui.info(`  ${c.action === 'add' || c.action === 'create' ? '+' : c.action === 'replace' ? '~' : '-'} ${describeChange(c)}`)
  if (plan.diff.length > 0) ui.info(formatDiff(plan.diff, ui.color))
  if (opts.dryRun) {
    ui.info('Dry run: nothing was changed.')
    return {...base, changed: false, notes: plan.notes}
  }
  if (!opts.yes && !(await ctx.confirm(`${opts.verb === 'apply' ? 'Apply' : 'Revoke'} these ${plan.changes.length} change(s)?`))) {
    ui.info('Cancelled: nothing was changed.')
    return {...base, changed: false, cancelled: true, notes: plan.notes}
  }
  const done = await plan.execute()
  if (done.backup) ui.info(`Previous document backed up to ${done.backup}`)
  for (const note of done.notes) ui.info(note)
  ui.info(ui.color.green(`Done: ${plan.changes.length} change(s) made.`))
  return {...base, changed: true, backup: done.backup, notes: [...plan.notes, ...done.notes]}
}
