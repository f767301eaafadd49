import {Flags} from '@oclif/core'

import {apiKeyFlag, clusterFlag, IngestCommand} from '../../cli/ingest-command.js'
import {loadConfigFile, resolveCluster} from '../../ingest/config.js'
import {ingestListLines} from '../../ingest/format.js'
import {INGEST_STATUSES, type Ingest} from '../../ingest/protocol.js'
import {listIngests} from '../../ingest/service.js'

export default class IngestList extends IngestCommand<Array<Ingest & {url: string}>> {
  static override summary = 'List the ingests on a cluster, newest first, with the URL to follow, inspect or abort each.'
  static override examples = [
    '<%= config.bin %> ingest list --cluster https://site.example.io/ingest',
    '<%= config.bin %> ingest list --site site.json --status in_review --status scanning --limit 5',
    '<%= config.bin %> ingest list --site site.json --json',
  ]
  static override flags = {
    ...clusterFlag,
    ...apiKeyFlag,
    site: Flags.string({description: 'Site file (JSON) from support with the cluster URL.', helpGroup: 'CLUSTER'}),
    status: Flags.string({description: 'Only the ingests in this status (repeatable).', multiple: true, options: [...INGEST_STATUSES]}),
    limit: Flags.integer({description: 'At most this many ingests (the newest).', min: 1, helpValue: 'N'}),
  }

  async run() {
    const {flags} = await this.parse(IngestList)
    const cluster = await resolveCluster({cluster: flags.cluster, site: flags.site, config: await loadConfigFile(undefined, this.ctx.env)}, this.ctx.env)
    const ingests = await listIngests(this.session, cluster.url, flags['api-key'], {statuses: flags.status, limit: flags.limit})
    if (!this.jsonEnabled()) {
      if (ingests.length === 0) this.ctx.ui.info(`No ingests on ${cluster.url}${flags.status?.length ? ` in status ${flags.status.join(' or ')}` : ''}.`)
      else for (const line of ingestListLines(ingests)) this.ctx.ui.out(line)
    }
    return ingests
  }
}
