import {existsSync, readFileSync, statSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {ConfigError} from '../../errors.js'
import {forceScanFlag, IngestCommand, levelFlags, sizeFlags, startFlags, strictUidFlag} from '../../cli/ingest-command.js'
import type {StartSummary} from '../../ingest/service.js'

export default class IngestTemplate extends IngestCommand<StartSummary> {
  static override summary = 'Start a template ingest on the cluster (fw ingest template syntax), after a preflight gate.'
  static override description =
    'TEMPLATE is a template string or a YAML file holding the template; with a single argument it is the source and the template comes from the -C config file. Same flow, gate and exit codes as `ingest dicom`.'
  static override examples = [
    "<%= config.bin %> ingest template '{group}:{project}:{subject}:{session}' s3://acme-imaging/export --cluster https://site.example.io/ingest --follow",
    '<%= config.bin %> ingest template template.yml s3://acme-imaging/export --site site.json --set-var site=boston -y',
  ]
  static override args = {
    template: Args.string({name: 'TEMPLATE', required: false, description: 'Template string or a file containing the ingest template.'}),
    src: Args.string({name: 'SRC', required: false, description: 'The source: s3://BUCKET[/PREFIX].'}),
  }
  static override flags = {
    ...startFlags,
    ...sizeFlags,
    ...levelFlags,
    'set-var': Flags.string({description: 'Set arbitrary key=value pairs (repeatable).', multiple: true, helpValue: 'KEY=VALUE'}),
    ...forceScanFlag,
    ...strictUidFlag,
  }

  protected override streamsEvents = true

  async run(): Promise<StartSummary> {
    const {args, flags} = await this.parse(IngestTemplate)
    const [template, src] = args.src === undefined ? [undefined, args.template] : [args.template, args.src]
    if (!src) {
      throw new ConfigError('MISSING_SOURCE', 'A template ingest needs the source.', {
        suggestions: ['ingestgate ingest template TEMPLATE SRC'],
      })
    }
    return this.startFromFlags('template', src, flags, {template: template === undefined ? undefined : await readTemplate(template)})
  }
}

/** A template argument naming an existing file is read as YAML (the vendor CLI's rule). */
async function readTemplate(value: string): Promise<unknown> {
  if (!existsSync(value) || !statSync(value).isFile()) return value
  try {
    const YAML = await import('yaml')
    return YAML.parse(readFileSync(value, 'utf8'))
  } catch (error) {
    throw new ConfigError('BAD_TEMPLATE', `Cannot read the template file ${value}: ${(error as Error).message}.`, {
      suggestions: ['Fix the YAML in the template file, or give the template as a string.'],
    })
  }
}
