import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {parseDuration} from '../core/duration.js'
import type {CheckResult} from '../core/verdict.js'
import {ExitCode, UsageError} from '../errors.js'
import {cloudFlags, grantRequest, principalFlags, sourceArg} from '../cli/flags.js'
import {renderCheckTable, stdoutColor} from '../output/table.js'

export default class Check extends BaseCommand<CheckResult> {
  static override summary = 'Prove, operation by operation, that the ingest principal can read the source, and say what to fix when it cannot.'
  static override description = `For each call the ingest cluster makes one row: pass, fail, unknown or skip, what decided it, and the fix. AWS: list with the prefix, bucket region, get object, get object attributes, KMS decrypt of each key in use. GCP: bucket metadata, list, get. Azure: list, get.

The AWS layers:

The static layer (default) reads the bucket policy, Block Public Access, Object Ownership, default encryption, a spread sample of objects' encryption, and the key policy and grants of every KMS key in use, with your own (admin) credentials, and evaluates them for the principal; the principal's identity policies too when it is in your account. A condition that cannot be known from here (a VPC endpoint, the caller's organisation) makes a verdict unknown, never allowed. Across accounts, the principal's own side cannot be seen: the static verdicts then cover the bucket owner's side only, and say so.

The live layer (--live) makes the cluster's real calls as the principal: a role to assume (--assume-role, with the operator's or --principal-profile's credentials), a profile that is the principal (--principal-profile), or the ambient credentials when they are the principal. --no-static runs it alone (vendor support, who cannot read the customer's configuration). --wait retries failing calls with backoff while grants propagate (KMS: up to about 5 minutes).

Exit 0 when every operation passes (or has nothing to read), 5 when any fails or is unknown, 3 or 4 when the check itself cannot run.`
  static override examples = [
    {description: 'As the bucket admin, after grant apply:', command: '<%= config.bin %> check s3://acme-imaging/dicom --site site.json --profile admin'},
    {
      description: 'Vendor support, as the ingest role only, waiting up to 5 minutes for a new KMS grant:',
      command: '<%= config.bin %> check s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest --live --no-static --assume-role arn:aws:iam::111122223333:role/ingest --external-id acme-1234 --wait 5m',
    },
    {description: 'Both layers, as JSON:', command: '<%= config.bin %> check s3://acme-imaging/dicom --site site.json --profile admin --live --principal-profile ingest --json'},
  ]
  static override args = {source: sourceArg}
  static override flags = {
    ...principalFlags,
    live: Flags.boolean({description: 'Also make the cluster\'s real calls as the principal (the live layer).'}),
    static: Flags.boolean({
      description: 'Evaluate the access documents with your own credentials (the static layer); --no-static skips it.',
      default: true,
      allowNo: true,
    }),
    sample: Flags.integer({description: 'How many objects to check, spread across the listing.', default: 20, min: 1, max: 1000}),
    wait: Flags.string({description: 'Retry failing live calls with backoff for up to this long, e.g. 30s or 5m (KMS grants take up to ~5 minutes, GCP IAM minutes, Azure up to ~10).', dependsOn: ['live']}),
    ...cloudFlags('cloud', 'grant', 'live'),
  }

  async run(): Promise<CheckResult> {
    const {args, flags} = await this.parse(Check)
    if (!flags.static && !flags.live) {
      throw new UsageError('NOTHING_TO_CHECK', '--no-static without --live leaves nothing to check.', {suggestions: ['Add --live to run the live layer alone, or drop --no-static.']})
    }
    const waitMs = flags.wait === undefined ? 0 : parseDuration(flags.wait)
    const {provider, req} = await grantRequest(args.source, flags, {purpose: 'check', groups: ['cloud', 'grant', 'live'], env: this.ctx.env})
    const result = await provider.check(this.ctx, req, {static: flags.static, live: flags.live, sample: flags.sample, waitMs})
    for (const f of result.findings) if (f.severity === 'warning') this.warn(f.message)
    if (!this.jsonEnabled()) this.ctx.ui.out(renderCheckTable(result, stdoutColor(this.ctx.env)))
    if (!result.ok) this.setExitStatus(ExitCode.CHECK_FAILED)
    return result
  }
}
