/**
 * The ingest principal on GCP: a service-account IAM member. Pure: no SDK, no network.
 *
 * Bucket IAM names members with a type prefix (`serviceAccount:`, `user:`, ...) and rejects a bare
 * e-mail; ingestgate accepts the bare e-mail of a service account for convenience and prefixes it.
 * Anything that is not one service account is refused before any call: a user, group or domain
 * would grant people rather than the cluster, and allUsers/allAuthenticatedUsers would make the
 * bucket public.
 */
import {ConfigError} from '../../errors.js'

export interface GcpMember {
  /** `serviceAccount:NAME@DOMAIN` */
  member: string
  email: string
  /** The project of a user-managed service account (NAME@PROJECT.iam.gserviceaccount.com). */
  project?: string
}

const HELP = 'Give the ingest service account, e.g. serviceAccount:ingest@vendor-project.iam.gserviceaccount.com (support sends it in the site file as gcp.principal).'
// Service-account ids are 6-30 characters; Google-managed agents use other domains
// (developer.gserviceaccount.com, gcp-sa-*.iam.gserviceaccount.com, appspot.gserviceaccount.com).
const SA_EMAIL = /^([a-z][a-z0-9-]{4,28}[a-z0-9]|\d+-compute|service-\d+)@([a-z0-9-]+(?:\.[a-z0-9-]+)*\.gserviceaccount\.com)$/
const USER_MANAGED = /^([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/

function refuse(value: string, why: string, more: string[] = []): never {
  throw new ConfigError('BAD_PRINCIPAL', `Refusing principal "${value}": ${why}`, {suggestions: [...more, HELP]})
}

/**
 * Validate the ingest principal for gs:// and return it as a bucket IAM member.
 * @throws ConfigError BAD_PRINCIPAL (exit 3) saying what the value is and what gs:// needs.
 */
export function parseMember(input: string): GcpMember {
  const value = input.trim()
  if (value === '') refuse(value, 'it is empty.')
  if (value === 'allUsers' || value === 'allAuthenticatedUsers') {
    refuse(value, `${value} is a public member: it would open the bucket to ${value === 'allUsers' ? 'everyone on the internet' : 'every Google account'}.`)
  }
  if (/^arn:/.test(value)) refuse(value, 'this is an AWS ARN; gs:// needs a GCP service-account member.')
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
    refuse(value, 'this looks like an Azure object id (a GUID); gs:// needs a GCP service-account member.')
  }
  const typed = /^([A-Za-z]+):(.*)$/.exec(value)
  let email = value
  if (typed) {
    const [, kind, rest] = typed
    if (kind === 'user' || kind === 'group') refuse(value, `a ${kind} would grant people, not the ingest cluster, which runs as a service account.`)
    if (kind === 'domain') refuse(value, 'a domain member would grant every account of that domain.')
    if (kind.startsWith('project')) refuse(value, `${kind} is a project convenience member (everyone with a basic role on the project), not the ingest service account.`)
    if (kind === 'principal' || kind === 'principalSet') refuse(value, 'workload or workforce identity principals are not what the ingest cluster runs as; it runs as a service account.')
    if (kind === 'deleted') refuse(value, 'this names a deleted member.')
    if (kind !== 'serviceAccount') refuse(value, `"${kind}:" is not an IAM member type.`)
    email = rest
  }
  if (email.includes('*')) refuse(value, 'wildcards are not allowed in a member.')
  if (!EMAIL.test(email)) refuse(value, 'it is not a well-formed e-mail address.')
  const lower = email.toLowerCase()
  const m = SA_EMAIL.exec(lower)
  if (!m) {
    refuse(value, `${email} is not a service-account e-mail (NAME@PROJECT.iam.gserviceaccount.com); a user's or group's e-mail would grant people, not the ingest cluster.`)
  }
  const project = USER_MANAGED.exec(m[2])?.[1]
  return {member: `serviceAccount:${lower}`, email: lower, project}
}
