import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {cloudFlags, grantRequest, principalFlags, sourceArg} from '../../flags.js'
import {runGrantPlan, type GrantOutcome} from '../../providers/grant-flow.js'

export default class GrantRevoke extends BaseCommand<GrantOutcome> {
  static override summary = "Take back exactly what grant apply added, and nothing else."
  static override description =
    'Removes the ingest statements that apply wrote (by their Sids) from the bucket policy, deleting the policy only when nothing else remains, and retires the KMS grants apply created (by their names). Every other statement and grant is left as it is.'
  static override examples = [
    '<%= config.bin %> grant revoke s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest',
    '<%= config.bin %> grant revoke s3://acme-imaging --site site.json --yes --json',
  ]
  static override args = {source: sourceArg}
  static override flags = {
    ...principalFlags,
    ...cloudFlags,
    'dry-run': Flags.boolean({description: 'Show the plan and make no write call.'}),
    yes: Flags.boolean({char: 'y', description: 'Do not ask for confirmation.'}),
  }

  async run(): Promise<GrantOutcome> {
    const {args, flags} = await this.parse(GrantRevoke)
    const {provider, req} = await grantRequest(args.source, flags)
    const plan = await provider.planRevoke(this.ctx, req)
    return runGrantPlan(this.ctx, plan, {verb: 'revoke', dryRun: flags['dry-run'], yes: flags.yes, source: req.source.url, principal: req.principal})
  }
}
