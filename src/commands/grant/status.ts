import {BaseCommand} from '../../cli/base-command.js'
import {cloudFlags, principalFlags, sourceArg, statusRequest} from '../../cli/flags.js'
import {ExitCode} from '../../errors.js'
import {renderGrantStatus, stdoutColor} from '../../output/table.js'
import type {GrantStatus} from '../../providers/types.js'

export default class GrantStatusCommand extends BaseCommand<GrantStatus & {inPlace: boolean}> {
  static override summary = 'Show what ingestgate has granted on a source, and whether it is still what apply would write.'
  static override description = `Reads only. For each principal ingestgate has granted on the source (or the one given with --principal or --site), each thing apply writes, with its state: in place, drifted (there, but edited by hand, at another scope, or with another condition) or missing (never written, revoked, or a KMS grant retired).

AWS: the bucket-policy statements by Sid and each KMS key in use's Decrypt grant by name. GCP: the two bucket IAM bindings by role and member. Azure: the role assignment by ingestgate's deterministic name.

Exit 0 when everything is in place, 5 when anything is drifted or missing, or nothing of ingestgate is on the source.`
  static override examples = [
    '<%= config.bin %> grant status s3://acme-imaging/dicom --profile admin',
    '<%= config.bin %> grant status gs://acme-imaging/dicom --principal serviceAccount:ingest@vendor.iam.gserviceaccount.com --json',
    '<%= config.bin %> grant status az://acmeimaging/dicom --site site.json --subscription 00000000-0000-0000-0000-000000000000',
  ]
  static override args = {source: sourceArg}
  static override flags = {
    ...principalFlags,
    ...cloudFlags('cloud', 'grant'),
  }

  async run(): Promise<GrantStatus & {inPlace: boolean}> {
    const {args, flags} = await this.parse(GrantStatusCommand)
    const {provider, req} = await statusRequest(args.source, flags, {purpose: 'grant', groups: ['cloud', 'grant'], env: this.ctx.env})
    const status = await provider.status(this.ctx, req)
    for (const note of status.notes) this.ctx.ui.info(note)
    const inPlace = status.items.length > 0 && status.items.every((i) => i.state === 'in-place')
    if (!this.jsonEnabled()) this.ctx.ui.out(renderGrantStatus(status, stdoutColor(this.ctx.env)))
    if (!inPlace) this.setExitStatus(ExitCode.CHECK_FAILED)
    return {...status, inPlace}
  }
}
