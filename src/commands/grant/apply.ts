import {GrantChangeCommand} from '../../cli/grant-change-command.js'

export default class GrantApply extends GrantChangeCommand {
  static override summary = 'Grant the ingest principal read access to a bucket, merging into what is there.'
  static override description =
    `Reads what is there, merges the ingest principal's read access into it (everything else is kept), shows the plan, asks, backs up the previous document, writes, and detects a concurrent change. A second apply changes nothing.

AWS: bucket-policy statements, verified by reading back, and a KMS Decrypt grant for each key in use. GCP: the bucket IAM bindings, written with the policy's etag. Azure: a role assignment at the container, under a deterministic name.`
  static override examples = [
    '<%= config.bin %> grant apply s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest',
    '<%= config.bin %> grant apply s3://acme-imaging --site site.json --profile admin --yes',
    '<%= config.bin %> grant apply s3://acme-imaging --site site.json --dry-run --json',
    '<%= config.bin %> grant apply gs://acme-imaging/dicom --principal serviceAccount:ingest@vendor.iam.gserviceaccount.com',
  ]
  protected readonly verb = 'apply'
}
