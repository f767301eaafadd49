import {GrantChangeCommand} from '../../grant-change-command.js'

export default class GrantApply extends GrantChangeCommand {
  static override summary = 'Grant the ingest principal read access to a bucket, merging into what is there.'
  static override description =
    'Reads the bucket policy, merges the ingest statements into it (every other statement is kept), finds the KMS keys in use and plans a Decrypt grant for each, shows the plan, asks, backs up the previous policy, writes, and verifies by reading back. A second apply changes nothing.'
  static override examples = [
    '<%= config.bin %> grant apply s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest',
    '<%= config.bin %> grant apply s3://acme-imaging --site site.json --profile admin --yes',
    '<%= config.bin %> grant apply s3://acme-imaging --site site.json --dry-run --json',
  ]
  protected readonly verb = 'apply'
}
