import {Args, Flags} from '@oclif/core'

import {IngestCommand, startFlags} from '../../cli/ingest-command.js'
import {RemoteError} from '../../errors.js'
import {ClusterHttpError} from '../../ingest/http.js'
import {registerApiKey} from '../../output/redact.js'
import type {StartSummary} from '../../ingest/service.js'

export default class IngestProject extends IngestCommand<StartSummary> {
  static override summary = 'Start a project ingest on the cluster: copy a project from a Flywheel site (fw ingest project syntax).'
  static override description =
    'SRC is fw://GROUP/PROJECT on the source site and KEY that site\'s API key (kept out of every output). The destination group and project default to the source\'s. The preflight gate checks the cluster and key; there is no bucket to check.'
  static override examples = [
    '<%= config.bin %> ingest project fw://radiology/mri-2023 other.example.io:KEY --cluster https://site.example.io/ingest --follow',
    '<%= config.bin %> ingest project fw://radiology/mri-2023 other.example.io:KEY -g archive -p mri-2023 --site site.json -y',
  ]
  static override args = {
    src: Args.string({name: 'SRC', required: true, description: 'The source project: fw://GROUP/PROJECT.'}),
    key: Args.string({name: 'KEY', required: true, description: 'API key for the source site (e.g. other.example.io:abc123).'}),
  }
  static override flags = {
    ...startFlags,
    group: Flags.string({char: 'g', description: 'The id of the destination group (default comes from SRC).', helpValue: 'ID'}),
    project: Flags.string({char: 'p', description: 'The label of the destination project (default comes from SRC).', helpValue: 'LABEL'}),
    'no-metadata': Flags.boolean({description: 'Skip copying file and container metadata from the source project.'}),
    'deid-log-exists': Flags.boolean({description: 'The data has already been de-identified and contains a valid file.deid_log_id.', exclusive: ['de-identify']}),
  }

  protected override streamsEvents = true

  async run(): Promise<StartSummary> {
    const {args, flags} = await this.parse(IngestProject)
    registerApiKey(args.key)
    // The source site's key travels in the config as the vendor's field (an inference, see docs).
    try {
      return await this.startFromFlags('project', args.src, flags, {}, {configExtras: {fw_walker_api_key: args.key}, secrets: [args.key]})
    } catch (error) {
      // A cluster without the vendor's platform (the reference cluster) refuses the strategy itself:
      // say that, not "the cluster rejected the request (400)".
      if (error instanceof ClusterHttpError && error.serverCode === 'STRATEGY_NOT_SUPPORTED') {
        throw new RemoteError('STRATEGY_NOT_SUPPORTED', error.serverSaid ?? 'This cluster cannot run a project ingest.', {
          suggestions: [
            'A project ingest copies a project from a Flywheel site: run it against that site\'s own cluster (--cluster https://SITE/ingest).',
            'To rehearse an ingest of a bucket on the reference cluster, use ingest dicom, ingest folder or ingest template.',
          ],
        })
      }
      throw error
    }
  }
}
