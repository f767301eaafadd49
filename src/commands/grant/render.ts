import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {cloudFlags, grantRequest, principalFlags, sourceArg} from '../../cli/flags.js'
import {UsageError} from '../../errors.js'
import type {RenderResult} from '../../providers/types.js'

export default class GrantRender extends BaseCommand<RenderResult> {
  static override summary = 'Print the grant for the ingest principal without touching anything.'
  static override description = `Renders what "grant apply" would grant, in the cloud's native JSON, as a Terraform snippet, or as the cloud's own CLI commands (and, per cloud, its other template language: CloudFormation for AWS, Bicep for Azure). Needs no credentials and makes no network call.

The cloud flags (--profile, --region, --endpoint-url, ...) are the same as apply's, so one flag set can be copied between render, apply and check; here they only shape the printed commands.`
  static override examples = [
    '<%= config.bin %> grant render s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest',
    '<%= config.bin %> grant render s3://acme-imaging --site site.json --kms-key arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab --format terraform',
    '<%= config.bin %> grant render gs://acme-imaging/dicom --principal serviceAccount:ingest@vendor.iam.gserviceaccount.com --format cli',
  ]
  static override args = {source: sourceArg}
  static override flags = {
    ...principalFlags,
    format: Flags.string({char: 'f', description: 'Output format: json, terraform, cli, and per cloud cloudformation (AWS) or bicep (Azure).', default: 'json', helpValue: 'FORMAT'}),
    ...cloudFlags('cloud', 'grant'),
  }

  async run(): Promise<RenderResult> {
    const {args, flags} = await this.parse(GrantRender)
    const {provider, req} = await grantRequest(args.source, {...flags}, {purpose: 'render', groups: ['cloud', 'grant'], env: this.ctx.env})
    if (!provider.renderFormats.includes(flags.format)) {
      throw new UsageError('BAD_FORMAT', `--format ${flags.format} is not a format for ${req.source.provider}:// sources.`, {
        suggestions: [`Use one of: ${provider.renderFormats.join(', ')}.`],
      })
    }
    const rendered = await provider.render(req, flags.format)
    // The rendered text carries its notes (as comments); --json users get them as warnings.
    for (const note of rendered.notes ?? []) this.noteWarning(note)
    if (!this.jsonEnabled()) this.ctx.ui.out(rendered.text)
    return rendered
  }
}
