import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {cloudFlags, grantRequest, principalFlags, sourceArg} from '../../flags.js'
import {runGrantPlan, type GrantOutcome} from '../../providers/grant-flow.js'

export default class GrantApply extends BaseCommand<GrantOutcome> {
  static override summary = "Grant the ingest principal read access to a bucket, merging into what is there."
  static override description =
    'Reads the bucket policy, merges the ingest statements into it (every other statement is kept), finds the KMS keys in use and plans a Decrypt grant for each, shows the plan, asks, backs up the previous policy, writes, and verifies by reading back. A second apply changes nothing.'
  static override examples = [
    '<%= config.bin %> grant apply s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest',
    '<%= config.bin %> grant apply s3://acme-imaging --site site.json --profile admin --yes',
    '<%= config.bin %> grant apply s3://acme-imaging --site site.json --dry-run --json',
  ]
  static override args = {source: sourceArg}
  static override flags = {
    ...principalFlags,
    ...cloudFlags,
    'dry-run': Flags.boolean({description: 'Show the plan and make no write call.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
  }

  async run(): Promise<GrantOutcome> {
    const {args, flags} = await this.parse(GrantApply)
    const {provider, req} = await grantRequest(args.source, flags)
    const plan = await provider.planApply(this.ctx, req)
    return runGrantPlan(this.ctx, plan, {verb: 'apply', dryRun: flags['dry-run'], yes: flags.yes, source: req.source.url, principal: req.principal})
  }
}
