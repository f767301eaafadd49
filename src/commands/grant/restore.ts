import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {cloudFlags, refuseForeignFlags} from '../../cli/flags.js'
import {runGrantPlan, type GrantOutcome} from '../../providers/grant-flow.js'
import {parseSource} from '../../source.js'
import {readBackup} from '../../state.js'

export default class GrantRestore extends BaseCommand<GrantOutcome> {
  static override summary = 'Put a backed-up document back: show the difference, ask, back up what it replaces, write.'
  static override description = `BACKUP is a path grant backups lists. The document there (a bucket policy, a bucket IAM policy, a role assignment) is compared with what is there now, the difference shown, and after you confirm it is written back, with the same guard as apply: the current document is backed up first.

Refused (exit 4, CONCURRENT_CHANGE) when the document changed after the command that made the backup wrote it, because restoring would undo that later change unseen; --force restores anyway. KMS grants (AWS) are not documents and are not restored: run grant apply to create them again.`
  static override examples = [
    '<%= config.bin %> grant restore ~/.local/state/ingestgate/backups/s3/2026-12-01T101500Z-acme-imaging-policy.json --profile admin',
    '<%= config.bin %> grant restore BACKUP --dry-run',
    '<%= config.bin %> grant restore BACKUP --force --yes',
  ]
  static override args = {
    backup: Args.string({name: 'BACKUP', required: true, description: 'The path of a backup (see grant backups).'}),
  }
  static override flags = {
    'dry-run': Flags.boolean({description: 'Show the difference and make no write call.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
    force: Flags.boolean({description: 'Restore even when the document changed after the backed-up change.'}),
    ...cloudFlags('cloud'),
  }

  async run(): Promise<GrantOutcome> {
    const {args, flags} = await this.parse(GrantRestore)
    const backup = await readBackup(args.backup)
    const source = parseSource(backup.record.source)
    refuseForeignFlags(source, flags, ['cloud'])
    const {getProvider} = await import('../../providers/index.js')
    const provider = await getProvider(source.provider)
    const options = provider.readOptions({flags, env: this.ctx.env, purpose: 'grant'})
    const plan = await provider.planRestore(this.ctx, {backup, options, force: flags.force})
    for (const w of plan.warnings ?? []) this.warn(w)
    return runGrantPlan(this.ctx, plan, {verb: 'restore', dryRun: flags['dry-run'], yes: flags.yes, source: `${backup.record.document} of ${source.url} from ${backup.path}`})
  }
}
