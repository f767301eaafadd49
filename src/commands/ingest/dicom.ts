import {Args} from '@oclif/core'

import {forceScanFlag, IngestCommand, sizeFlags, startFlags, strictUidFlag} from '../../cli/ingest-command.js'
import type {StartSummary} from '../../ingest/service.js'
import {Flags} from '@oclif/core'

export default class IngestDicom extends IngestCommand<StartSummary> {
  static override summary = 'Start a DICOM ingest on the cluster (fw ingest dicom syntax), after a preflight gate.'
  static override description =
    'Creates the ingest with every config field the vendor CLI sends, remembers it as the last ingest (~/.config/flywheel/ingest.yaml), starts it and, with --follow, follows it to the end. Before that, the preflight gate checks that the source parses, the cluster answers and accepts the key, and (with your credentials) that the ingest principal can read the source; it prints the objects and bytes to be read. Exit 0 when started (or, with --follow, finished without errors), 6 when the followed ingest ended badly, 68 when detached with Ctrl-C.'
  static override examples = [
    '<%= config.bin %> ingest dicom s3://acme-imaging/dicom radiology mri-2024 --cluster https://site.example.io/ingest --follow',
    '<%= config.bin %> ingest dicom s3://acme-imaging/dicom radiology mri-2024 --site site.json -y',
    '<%= config.bin %> ingest dicom s3://acme-imaging/dicom radiology mri-2024 --cluster https://site.example.io -f -y --save-audit-logs audit.csv --json',
  ]
  static override args = {
    src: Args.string({name: 'SRC', required: true, description: 'The source: s3://BUCKET[/PREFIX].'}),
    group: Args.string({name: 'GROUP_ID', required: false, description: 'The id of the group.'}),
    project: Args.string({name: 'PROJECT_LABEL', required: false, description: 'The label of the project.'}),
  }
  static override flags = {
    ...startFlags,
    ...sizeFlags,
    subject: Flags.string({description: 'Override value for the subject label.', helpValue: 'LABEL'}),
    session: Flags.string({description: 'Override value for the session label.', helpValue: 'LABEL'}),
    ...forceScanFlag,
    repack: Flags.boolean({description: 'Extract and scan the first DICOM from zips for the hierarchy, then upload all DICOMs.'}),
    ...strictUidFlag,
  }

  protected override streamsEvents = true

  async run(): Promise<StartSummary> {
    const {args, flags} = await this.parse(IngestDicom)
    return this.startFromFlags('dicom', args.src, flags, {group: args.group, project: args.project})
  }
}
