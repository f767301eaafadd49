import {Flags} from '@oclif/core'

import {apiKeyFlag, IngestCommand, ingestUrlArg} from '../../cli/ingest-command.js'
import {abortIngest} from '../../ingest/service.js'

export default class IngestAbort extends IngestCommand<{url: string; id: string; status: string; aborted: boolean; message: string}> {
  static override summary = 'Abort an ingest (asks first unless -y); an ingest that already ended is left alone.'
  static override description = 'Prints `Ingest already <status>` when the ingest has ended; otherwise asks, then asks the cluster to abort it (POST /abort).'
  static override examples = [
    '<%= config.bin %> ingest abort',
    '<%= config.bin %> ingest abort https://site.example.io/ingest/ingests/0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11 -y',
  ]
  static override args = {url: ingestUrlArg}
  static override flags = {
    ...apiKeyFlag,
    yes: Flags.boolean({char: 'y', description: 'Abort without asking.'}),
  }

  async run() {
    const {args, flags} = await this.parse(IngestAbort)
    const {result, exit} = await abortIngest(this.session, args.url, {apiKey: flags['api-key'], yes: flags.yes})
    this.setExitStatus(exit)
    return result
  }
}
