import {apiKeyFlag, IngestCommand, ingestUrlArg, saveFlags} from '../../cli/ingest-command.js'
import {ingestReport} from '../../ingest/service.js'

export default class IngestReport extends IngestCommand<Awaited<ReturnType<typeof ingestReport>>['result']> {
  static override summary = 'Print an ingest\'s final report (errors, warnings, elapsed time) and save its logs.'
  static override description = 'Exit 0 when the ingest finished with no errors, 6 when it ended badly, 68 when it is still running.'
  static override examples = [
    '<%= config.bin %> ingest report',
    '<%= config.bin %> ingest report https://site.example.io/ingest/ingests/0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11 --save-audit-logs audit.csv',
  ]
  static override args = {url: ingestUrlArg}
  static override flags = {...apiKeyFlag, ...saveFlags}

  async run() {
    const {args, flags} = await this.parse(IngestReport)
    const {result, exit} = await ingestReport(this.session, args.url, {apiKey: flags['api-key'], ...flags})
    this.setExitStatus(exit)
    return result
  }
}
