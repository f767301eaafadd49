import {Flags} from '@oclif/core'

import {apiKeyFlag, IngestCommand, ingestUrlArg} from '../../cli/ingest-command.js'
import {reviewIngest, type ReviewResult} from '../../ingest/service.js'

export default class IngestReview extends IngestCommand<ReviewResult> {
  static override summary = 'Answer an ingest that waits for review, without a terminal: approve (upload) or reject (abort).'
  static override description =
    'What `Confirm upload?` asks while following, for scripts and for a follow that had no terminal to ask on (it exits 68 and prints this command). --approve lets the ingest go on to upload (POST /review); --reject aborts it (POST /abort). An ingest that is not in review is left alone (exit 3).'
  static override examples = [
    '<%= config.bin %> ingest review --approve',
    '<%= config.bin %> ingest review https://site.example.io/ingest/ingests/0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11 --reject --json',
  ]
  static override args = {url: ingestUrlArg}
  static override flags = {
    ...apiKeyFlag,
    approve: Flags.boolean({description: 'Approve the review: the ingest goes on to upload.', exactlyOne: ['approve', 'reject']}),
    reject: Flags.boolean({description: 'Reject the review: the ingest is aborted.', exactlyOne: ['approve', 'reject']}),
  }

  async run(): Promise<ReviewResult> {
    const {args, flags} = await this.parse(IngestReview)
    const {result, exit} = await reviewIngest(this.session, args.url, {apiKey: flags['api-key'], decision: flags.approve ? 'approve' : 'reject'})
    this.setExitStatus(exit)
    return result
  }
}
