import {GrantChangeCommand} from '../../grant-change-command.js'

export default class GrantRevoke extends GrantChangeCommand {
  static override summary = 'Take back exactly what grant apply added, and nothing else.'
  static override description =
    'Removes the ingest statements that apply wrote (by their Sids) from the bucket policy, deleting the policy only when nothing else remains, and retires the KMS grants apply created (by their names). Every other statement and grant is left as it is.'
  static override examples = [
    '<%= config.bin %> grant revoke s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest',
    '<%= config.bin %> grant revoke s3://acme-imaging --site site.json --yes --json',
  ]
  protected readonly verb = 'revoke'
}
