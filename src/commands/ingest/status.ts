import {apiKeyFlag, IngestCommand, ingestUrlArg} from '../../cli/ingest-command.js'
import {statusHeader} from '../../ingest/format.js'
import type {Ingest} from '../../ingest/protocol.js'
import {ingestStatus} from '../../ingest/service.js'

export default class IngestStatus extends IngestCommand<{url: string; ingest: Ingest; progress: unknown}> {
  static override summary = 'Show an ingest\'s status, its history and its progress counts, once (no following).'
  static override examples = [
    '<%= config.bin %> ingest status',
    '<%= config.bin %> ingest status https://site.example.io/ingest/ingests/0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11 --json',
  ]
  static override args = {url: ingestUrlArg}
  static override flags = {...apiKeyFlag}

  async run() {
    const {args, flags} = await this.parse(IngestStatus)
    const result = await ingestStatus(this.session, args.url, flags['api-key'])
    if (!this.jsonEnabled()) {
      const {ingest} = result
      this.ctx.ui.out(`Ingest ${result.url}`)
      this.ctx.ui.out(`Status: ${ingest.status}`)
      for (const [status, at] of ingest.history ?? []) {
        const h = statusHeader(status, at)
        this.ctx.ui.out(`  ${h.name}${h.stamp}`)
      }
      const p = result.progress as {files?: {total?: number}; bytes?: {total?: number}; items?: Record<string, number>} | undefined
      if (p?.items) this.ctx.ui.out(`Items: ${Object.entries(p.items).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`)
    }
    return result
  }
}
