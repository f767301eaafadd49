import {Flags} from '@oclif/core'

import {apiKeyFlag, IngestCommand, ingestUrlArg, saveFlags} from '../../cli/ingest-command.js'
import {parseDuration} from '../../core/duration.js'
import {connectToIngest, followWithSession, type FollowSummary} from '../../ingest/service.js'

export default class IngestFollow extends IngestCommand<FollowSummary> {
  static override summary = 'Follow an ingest to its end: status lines, progress, the review, the final report.'
  static override description =
    'Prints what `fw ingest follow` prints (the same texts), asks `Confirm upload?` when the ingest waits for review (-y approves), and ends with the final report. Survives a dropped connection or a cluster restart (retries and resumes). Ctrl-C detaches without aborting and prints the command that resumes. Without a terminal to answer the review on, it exits 68 and prints the `ingest review` commands that answer it. Exit 0 only when the ingest finished with no errors; 6 when it failed, was aborted or finished with errors; 68 when detached.'
  static override examples = [
    '<%= config.bin %> ingest follow',
    '<%= config.bin %> ingest follow https://site.example.io/ingest/ingests/0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11 -y',
    '<%= config.bin %> ingest follow --save-audit-logs ./logs/ --json',
    '<%= config.bin %> ingest follow --retry-for 30s',
  ]
  static override args = {url: ingestUrlArg}
  static override flags = {
    ...apiKeyFlag,
    yes: Flags.boolean({char: 'y', description: 'Approve the review without asking.'}),
    'retry-for': Flags.string({
      description: 'How long to keep retrying while the cluster is unreachable or restarting, e.g. 30s, 5m (default: 10m, or INGESTGATE_RETRY_BUDGET_MS).',
      helpValue: 'DURATION',
      helpGroup: 'CLUSTER',
    }),
    ...saveFlags,
  }

  protected override streamsEvents = true

  async run(): Promise<FollowSummary> {
    const {args, flags} = await this.parse(IngestFollow)
    const retryForMs = flags['retry-for'] === undefined ? undefined : parseDuration(flags['retry-for'], '--retry-for')
    const {client, ref} = await connectToIngest(this.session, args.url, flags['api-key'])
    const {summary, exit} = await followWithSession(this.session, client, ref, {...flags, retryForMs})
    this.setExitStatus(exit)
    return summary
  }
}
