import {GrantChangeCommand} from '../../cli/grant-change-command.js'

export default class GrantRevoke extends GrantChangeCommand {
  static override summary = 'Take back exactly what grant apply added, and nothing else.'
  static override description =
    `Removes what apply added and nothing else, backing up the document it changes. AWS: the statements by their Sids (the policy is deleted only when nothing else remains) and the KMS grants by their names. GCP: the member from the roles (and conditions) ingestgate grants. Azure: the role assignment by its deterministic name.`
  static override examples = [
    '<%= config.bin %> grant revoke s3://acme-imaging/dicom --principal arn:aws:iam::111122223333:role/ingest',
    '<%= config.bin %> grant revoke s3://acme-imaging --site site.json --yes --json',
  ]
  protected readonly verb = 'revoke'
}
