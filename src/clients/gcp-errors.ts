/**
 * The one place that reads Google's errors: @google-cloud/storage ApiErrors (`code`, `errors[]`),
 * gaxios errors from IAM Credentials and OAuth2, google-auth-library's "no credentials", and Node's
 * network errors, classified into typed AppErrors with the neutral `kind`. Telling some 412 and 400
 * causes apart needs the message text: Cloud Storage gives them the same status and reason, so the
 * matching is kept here and nowhere else.
 */
import {AppError, ConfigError, RemoteError, type SourceErrorKind} from '../errors.js'
import {redact} from '../output/redact.js'

/** What a failed call was, for check rows and remedies. */
export interface GcpFailure {
  /** A stable cause code: access-denied, not-found, stale-etag, ubla-required, org-constraint, ... */
  cause: string
  kind: SourceErrorKind
  httpStatus?: number
  /** The GCS `errors[0].reason` (forbidden, notFound, conditionNotMet, required, ...). */
  reason?: string
  /** The permission GCS names in a 403 ("Permission 'storage.objects.get' denied"). */
  permission?: string
  message: string
}

interface ErrorLike {
  code?: number | string
  status?: number
  message?: string
  errors?: Array<{reason?: string; message?: string}>
  response?: {status?: number; data?: unknown}
  cause?: unknown
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET', 'ERR_SOCKET_CONNECTION_TIMEOUT'])

function networkCode(e: unknown, depth = 0): string | undefined {
  if (!e || typeof e !== 'object' || depth > 4) return undefined
  const x = e as ErrorLike & {errno?: unknown}
  if (typeof x.code === 'string' && NETWORK_CODES.has(x.code)) return x.code
  const m = typeof x.message === 'string' ? /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH)\b/.exec(x.message) : null
  if (m) return m[1]
  return networkCode(x.cause, depth + 1)
}

/** Read status, reason and message from whichever error shape this is. */
function parts(error: unknown): {status?: number; reason?: string; message: string} {
  const e = (error ?? {}) as ErrorLike
  let status = typeof e.code === 'number' ? e.code : typeof e.status === 'number' ? e.status : e.response?.status
  let reason = e.errors?.[0]?.reason
  let message = typeof e.message === 'string' ? e.message : String(error)
  const data = e.response?.data as {error?: {code?: number; message?: string; status?: string; errors?: Array<{reason?: string}>} | string; error_description?: string} | undefined
  if (data && typeof data === 'object' && data.error && typeof data.error === 'object') {
    status ??= data.error.code
    reason ??= data.error.errors?.[0]?.reason ?? data.error.status
    if (data.error.message) message = data.error.message
  } else if (data && typeof data === 'object' && typeof data.error === 'string') {
    message = `${data.error}${data.error_description ? `: ${data.error_description}` : ''}`
  }
  return {status, reason, message: redact(message)}
}

/** Classify any error from a Google call. */
export function classifyGcpError(error: unknown): GcpFailure {
  if (error instanceof AppError && error.data?.gcp) return error.data.gcp as GcpFailure
  const net = networkCode(error)
  const {status, reason, message} = parts(error)
  const f = (cause: string, kind: SourceErrorKind): GcpFailure => ({cause, kind, httpStatus: status, reason, message, permission: /Permission '([a-z]+(?:\.[a-zA-Z]+)+)'/.exec(message)?.[1] ?? /have ([a-z]+\.[a-zA-Z]+\.[a-zA-Z]+) access/.exec(message)?.[1]})
  if (net) return {...f('network', 'network'), message: `${net}: ${message}`}
  if (/Could not load the default credentials|could not refresh access token|No access, refresh token|^The file at .* does not exist|Unable to parse|GOOGLE_APPLICATION_CREDENTIALS/i.test(message)) return f('no-credentials', 'credentials')
  if (/permitted customer|domain restricted|allowedPolicyMemberDomains/i.test(message)) return f('org-domain-restricted', 'access-denied')
  if (/requester pays/i.test(message)) return f('requester-pays', 'access-denied')
  switch (status) {
    case 400:
      if (/Requested policy version/i.test(message)) return f('policy-version', 'unknown')
      return f('bad-request', 'unknown')
    case 401:
      return f('unauthenticated', 'credentials')
    case 403:
      if (/iam\.serviceAccounts\.getAccessToken/.test(message)) return f('impersonation-denied', 'credentials')
      if (/VPC Service Controls|vpcServiceControls/i.test(message) || reason === 'vpcServiceControls') return f('vpc-service-controls', 'access-denied')
      if (/billing account|accountDisabled|userProjectAccountProblem/i.test(message)) return f('billing', 'access-denied')
      return f('access-denied', 'access-denied')
    case 404:
      return f(/bucket does not exist|Not Found$/i.test(message) ? 'no-such-bucket' : 'no-such-object', 'not-found')
    case 409:
      return f('conflict', 'unknown')
    case 412:
      if (/uniform bucket-level access/i.test(message)) return f('ubla-required', 'unknown')
      if (/public access prevention/i.test(message)) return f('public-access-prevention', 'unknown')
      if (/constraints\//i.test(message) || /organization policy/i.test(message)) return f('org-constraint', 'unknown')
      return f('stale-etag', 'unknown')
    case 416:
      return f('invalid-range', 'unknown')
    case 429:
      return f('throttled', 'throttled')
    default:
      if (status !== undefined && status >= 500) return f('server-error', 'throttled')
      return f('unknown', 'unknown')
  }
}

/**
 * The typed error for a failed call `what` (e.g. "reading the IAM policy of gs://b"), with the
 * remedy that fits the cause. `kind` is set; `data.gcp` keeps the classification for check rows.
 */
export function gcpError(error: unknown, what: string): AppError {
  if (error instanceof AppError) return error
  const g = classifyGcpError(error)
  const data = {gcp: g, httpStatus: g.httpStatus}
  const opts = (suggestions: string[]) => ({suggestions, kind: g.kind, cause: error, data})
  const status = g.httpStatus ? ` (HTTP ${g.httpStatus})` : ''
  switch (g.cause) {
    case 'no-credentials':
      return new ConfigError('NO_CREDENTIALS', `No usable Google credentials: ${g.message}`, opts([
        'Run gcloud auth application-default login, set GOOGLE_APPLICATION_CREDENTIALS to a key file, or set GOOGLE_OAUTH_ACCESS_TOKEN (e.g. from gcloud auth print-access-token).',
      ]))
    case 'unauthenticated':
      return new ConfigError('UNAUTHENTICATED', `Google did not accept the credentials for ${what}${status}: ${g.message}`, opts([
        'The access token is invalid or expired: refresh it (gcloud auth print-access-token) or re-run gcloud auth application-default login.',
      ]))
    case 'impersonation-denied':
      return new ConfigError('IMPERSONATION_DENIED', `Your credentials may not impersonate the service account for ${what}${status}: ${g.message}`, opts([
        'Grant yourself roles/iam.serviceAccountTokenCreator on that service account: gcloud iam service-accounts add-iam-policy-binding SA_EMAIL --member=user:YOU --role=roles/iam.serviceAccountTokenCreator',
      ]))
    case 'network':
      return new RemoteError('NETWORK', `Could not reach Google for ${what}: ${g.message}`, opts(['Check the network and --endpoint-url, then re-run.']))
    case 'no-such-bucket':
      return new RemoteError('NO_SUCH_BUCKET', `The bucket does not exist (${what})${status}.`, opts(['Check the bucket name in the source URL (gcloud storage ls shows the buckets of a project).']))
    case 'requester-pays':
      return new RemoteError('REQUESTER_PAYS', `The bucket is requester-pays: ${what} needs a billing project${status}.`, opts(['Pass --billing-project PROJECT_ID (you need serviceusage.services.use on it).']))
    case 'access-denied':
      return new RemoteError('ACCESS_DENIED', `Access denied ${what}${status}: ${g.message}`, opts([
        g.permission ? `The caller lacks ${g.permission}; a role that has it on the bucket is needed.` : 'Check the caller\'s roles on the bucket.',
      ]))
    default:
      return new RemoteError(g.cause === 'throttled' || g.cause === 'server-error' ? 'UNAVAILABLE' : 'GCP_ERROR', `Google answered an error for ${what}${status}: ${g.message}`, opts(['Re-run; if it persists, re-run with DEBUG=ingestgate* for details.']))
  }
}
