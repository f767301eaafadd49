import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {grantRequest, principalFlags, sourceArg} from '../../flags.js'
import type {RenderResult} from '../../providers/types.js'

export default class GrantRender extends BaseCommand<RenderResult> {
  static override summary = 'Print the grant for the ingest principal without touching anything.'
  static override description =
    'Renders the bucket-policy statements and KMS Decrypt grants that "grant apply" would make, as native JSON, a Terraform or CloudFormation snippet, or aws CLI commands. Needs no credentials and makes no network call.'
  static override examples = [
    '<%= config.bin %> grant render s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest',
    '<%= config.bin %> grant render s3://acme-imaging --site site.json --kms-key arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab --format terraform',
  ]
  static override args = {source: sourceArg}
  static override flags = {
    ...principalFlags,
    format: Flags.string({char: 'f', description: 'Output format.', options: ['json', 'terraform', 'cloudformation', 'cli'], default: 'json'}),
  }

  async run(): Promise<RenderResult> {
    const {args, flags} = await this.parse(GrantRender)
    const {provider, req} = await grantRequest(args.source, {...flags})
    const rendered = await provider.render(req, flags.format)
    if (!this.jsonEnabled()) this.ctx.ui.out(rendered.text)
    return rendered
  }
}
