import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {alignColumns} from '../../output/table.js'
import {parseSource, type Source} from '../../source.js'
import {listBackups, type BackupEntry, type BackupRecord} from '../../state.js'

/** Whether a backup is of the document that holds this source's grant (its bucket's or container's, in its account if any). */
function isFor(record: BackupRecord, source: Source): boolean {
  return record.cloud === source.provider && record.target.bucket === source.bucket && record.target.account === source.account
}

export default class GrantBackups extends BaseCommand<BackupEntry[]> {
  static override summary = 'List the backups grant apply, revoke and restore wrote, oldest first.'
  static override description = `Each backup is the document as it was before a change (a bucket policy, a bucket IAM policy, a role assignment), with when, which source and which command replaced it. Give one of the paths to grant restore to put it back.

With SOURCE, only the backups of that bucket's (or container's) document. The backups are in the state directory ($INGESTGATE_STATE_DIR, else $XDG_STATE_HOME/ingestgate, else ~/.local/state/ingestgate).`
  static override examples = [
    '<%= config.bin %> grant backups',
    '<%= config.bin %> grant backups s3://acme-imaging --json',
  ]
  static override args = {
    source: Args.string({name: 'SOURCE', required: false, description: 'Only the backups for this bucket or container: s3://BUCKET, gs://BUCKET or az://ACCOUNT/CONTAINER (a prefix is allowed and ignored).'}),
  }

  async run(): Promise<BackupEntry[]> {
    const {args} = await this.parse(GrantBackups)
    const source = args.source === undefined ? undefined : parseSource(args.source)
    const {backups, skipped} = await listBackups(this.ctx.stateDir)
    for (const s of skipped) this.warn(s)
    const shown = source ? backups.filter((b) => isFor(b.record, source)) : backups
    if (!this.jsonEnabled()) {
      if (shown.length === 0) this.ctx.ui.info(`No backups${source ? ` for ${source.url}` : ''} in ${this.ctx.stateDir}.`)
      else {
        const rows = shown.map(({path, record: r}) => [r.time.replace(/\.\d+Z$/, 'Z'), r.verb, r.source, r.document, path])
        for (const line of alignColumns([['TIME', 'VERB', 'SOURCE', 'DOCUMENT', 'PATH'], ...rows])) this.ctx.ui.out(line)
      }
    }
    return shown
  }
}
