/**
 * The plan-then-change flow shared by every cloud's apply and revoke: show the plan, stop on
 * --dry-run, ask unless --yes, then execute and report. Providers only build plans.
 */
import type {AppContext} from '../context.js'
import {RemoteError} from '../errors.js'
import {formatDiff} from '../output/ui.js'
import type {BackupRecord} from '../state.js'
import type {GrantChange, GrantPlan} from './types.js'

export interface GrantOutcome {
  /** True when something was written. */
  changed: boolean
  dryRun: boolean
  /** The user said no at the prompt. */
  cancelled: boolean
  source: string
  /** The principal granted or revoked (restore writes a whole document, for whoever it names). */
  principal?: string
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
  opts: {verb: 'apply' | 'revoke' | 'restore'; dryRun: boolean; yes: boolean; source: string; principal?: string},
): Promise<GrantOutcome> {
  const {ui} = ctx
  const base = {source: opts.source, principal: opts.principal, changes: plan.changes, dryRun: opts.dryRun, cancelled: false}
  for (const note of plan.notes) ui.info(note)
  if (plan.changes.length === 0) {
    const why = {apply: 'the grant is already in place', revoke: 'nothing of ingestgate is left to remove', restore: 'the document is already what the backup holds'}[opts.verb]
    ui.info(ui.color.green(`No changes: ${why}.`))
    return {...base, changed: false, notes: plan.notes}
  }
  ui.info(ui.color.bold(`Plan (${opts.verb} ${opts.source}${opts.principal ? ` for ${opts.principal}` : ''}):`))
  for (const c of plan.changes) ui.info(`  ${c.action === 'add' || c.action === 'create' ? '+' : c.action === 'replace' ? '~' : '-'} ${describeChange(c)}`)
  if (plan.diff.length > 0) ui.info(formatDiff(plan.diff, ui.color))
  if (opts.dryRun) {
    ui.info('Dry run: nothing was changed.')
    return {...base, changed: false, notes: plan.notes}
  }
  if (!opts.yes && !(await ctx.confirm(`${opts.verb[0].toUpperCase()}${opts.verb.slice(1)} these ${plan.changes.length} change(s)?`))) {
    ui.info('Cancelled: nothing was changed.')
    return {...base, changed: false, cancelled: true, notes: plan.notes}
  }
  const done = await plan.execute()
  if (done.backup) ui.info(`Previous document backed up to ${done.backup}`)
  for (const note of done.notes) ui.info(note)
  ui.info(ui.color.green(`Done: ${plan.changes.length} change(s) made.`))
  return {...base, changed: true, backup: done.backup, notes: [...plan.notes, ...done.notes]}
}

/** What one cloud's restore found: the document now, the change that writes the backup back. */
export interface RestoreChange {
  /** Names the document in messages: "the bucket policy of b". */
  what: string
  /** The document already means what the backup holds. */
  same: boolean
  /** The fingerprint of the document now. */
  current: string
  change: GrantChange
  diff: GrantPlan['diff']
  execute: GrantPlan['execute']
}

/**
 * The plan of a restore, the same for every cloud. A document that already is the backup is no
 * change (a restore run twice), whatever happened in between. Otherwise the document must still be
 * what the backed-up change wrote, or a change made since (by a person or another tool) would be
 * overwritten unseen; `force` overrides that.
 * @throws RemoteError CONCURRENT_CHANGE (exit 4)
 */
export function restorePlan(record: BackupRecord, force: boolean, found: RestoreChange): GrantPlan {
  const what = `${found.what[0].toUpperCase()}${found.what.slice(1)}`
  if (found.same) return {changes: [], diff: [], notes: [`${what} already is what the backup holds.`], execute: async () => ({notes: []})}
  if (!force && !record.successor) {
    throw new RemoteError('CONCURRENT_CHANGE', `The ${record.verb} that made this backup (${record.time}) was not confirmed, so ingestgate cannot tell whether ${found.what} changed since; nothing was written.`, {
      suggestions: ['Compare the current document with the backup yourself, then restore with --force.'],
    })
  }
  if (!force && record.successor!.fingerprint !== found.current) {
    throw new RemoteError('CONCURRENT_CHANGE', `${what} changed after the ${record.verb} of ${record.successor!.time} that made this backup; restoring would overwrite that later change. Nothing was written.`, {
      suggestions: ['Look at what changed (ingestgate grant status, or the cloud console), restore a later backup (ingestgate grant backups), or restore this one anyway with --force.'],
    })
  }
  return {changes: [found.change], diff: found.diff, notes: [], execute: found.execute}
}
