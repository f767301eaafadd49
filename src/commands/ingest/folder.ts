import {Args, Flags} from '@oclif/core'

import {forceScanFlag, IngestCommand, levelFlags, sizeFlags, startFlags} from '../../cli/ingest-command.js'
import type {StartSummary} from '../../ingest/service.js'

export default class IngestFolder extends IngestCommand<StartSummary> {
  static override summary = 'Start a folder ingest on the cluster (fw ingest folder syntax), after a preflight gate.'
  static override description =
    'The folder structure gives the hierarchy (group/project/subject/session/acquisition); -g/-p supply the levels the folders do not. Same flow, gate and exit codes as `ingest dicom`.'
  static override examples = [
    '<%= config.bin %> ingest folder s3://acme-imaging/study-7 --cluster https://site.example.io/ingest -g radiology -p study-7 --follow',
    '<%= config.bin %> ingest folder s3://acme-imaging/export --site site.json --root-dirs 1 --no-subjects -y',
  ]
  static override args = {src: Args.string({name: 'SRC', required: true, description: 'The source: s3://BUCKET[/PREFIX].'})}
  static override flags = {
    ...startFlags,
    ...sizeFlags,
    ...levelFlags,
    dicom: Flags.string({description: 'The name of DICOM subfolders to be zipped prior to upload (default: dicom).', helpValue: 'NAME'}),
    'pack-acquisitions': Flags.string({description: 'Acquisition folders only contain acquisitions of TYPE and are zipped prior to upload.', helpValue: 'TYPE'}),
    'root-dirs': Flags.integer({description: 'The number of directories to discard before matching (default: 0).'}),
    ...forceScanFlag,
  }

  protected override streamsEvents = true

  async run(): Promise<StartSummary> {
    const {args, flags} = await this.parse(IngestFolder)
    return this.startFromFlags('folder', args.src, flags)
  }
}
