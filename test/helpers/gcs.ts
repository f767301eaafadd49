/**
 * Test harness for the GCS JSON-API double (emulators/gcs-double.mjs), started in-process on a free
 * loopback port, one per test file. Tokens name who calls: the customer admin (project owner) and
 * the vendor's ingest service account; the environment makes the CLI use them through the real
 * google-auth-library (GOOGLE_OAUTH_ACCESS_TOKEN) and never probe a metadata server.
 */
import {startGcsDouble, type GcsDouble} from '../../emulators/gcs-double.mjs'
import {baseEnv} from './cli.js'

export type {GcsDouble}

export const GCS_PROJECT = 'customer-project'
export const ADMIN_MEMBER = 'user:admin@customer.example'
export const ADMIN_TOKEN = 'ya29.admin-test-token'
export const INGEST_EMAIL = 'ingest@vendor-proj.iam.gserviceaccount.com'
export const INGEST_MEMBER = `serviceAccount:${INGEST_EMAIL}`
export const INGEST_TOKEN = 'ya29.ingest-test-token'
/** A vendor support engineer who may impersonate the ingest service account. */
export const SUPPORT_MEMBER = 'user:support@vendor.example'
export const SUPPORT_TOKEN = 'ya29.support-test-token'

/** Start the double with the admin, the ingest service account and a support engineer who may impersonate it. */
export async function startGcs(): Promise<GcsDouble> {
  const double = await startGcsDouble({
    tokens: {[ADMIN_TOKEN]: ADMIN_MEMBER, [INGEST_TOKEN]: INGEST_MEMBER, [SUPPORT_TOKEN]: SUPPORT_MEMBER},
    projects: {[GCS_PROJECT]: {owner: [ADMIN_MEMBER]}},
  })
  double.addServiceAccount(INGEST_EMAIL, [SUPPORT_MEMBER])
  return double
}

/** The CLI environment for calls to the double as `token`'s member. */
export function gcsEnv(double: GcsDouble, token: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = baseEnv({
    METADATA_SERVER_DETECTION: 'none',
    GOOGLE_OAUTH_ACCESS_TOKEN: token,
    CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS: `${double.url}/`,
    CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM: `${double.url}/`,
    INGESTGATE_GCP_TOKENINFO_URL: `${double.url}/tokeninfo`,
    AZURE_TOKEN_CREDENTIALS: 'AzureCliCredential',
    ...extra,
  })
  // Nothing of the machine's own Google configuration may leak in (an ADC file, a gcloud project).
  for (const k of Object.keys(env)) if ((k.startsWith('GOOGLE_') && k !== 'GOOGLE_OAUTH_ACCESS_TOKEN') || (k.startsWith('CLOUDSDK_') && !(k in extra) && k !== 'CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS' && k !== 'CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM')) delete env[k]
  if (extra.GOOGLE_OAUTH_ACCESS_TOKEN === undefined && 'GOOGLE_OAUTH_ACCESS_TOKEN' in extra) delete env.GOOGLE_OAUTH_ACCESS_TOKEN
  return env
}
