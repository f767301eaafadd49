/**
 * The one place AWS SDK errors are told apart (by error name and HTTP status, never by message
 * text) and turned into AppErrors with a cause and a remedy.
 */
import {AppError, ConfigError, RemoteError} from '../../errors.js'

export interface AwsErrorContext {
  /** What we were doing, e.g. "reading the bucket policy of my-bucket". */
  doing: string
  profile?: string
  endpointUrl?: string
  /** The credentials were given directly (an assumed role, the emulator's keys), not from a chain. */
  explicitCredentials?: boolean
  /** The credentials are the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. */
  environmentKeys?: boolean
}

interface SdkErrorShape {
  name?: string
  code?: string
  Code?: string
  $metadata?: {httpStatusCode?: number}
  message?: string
}

/** The AWS error code of an SDK error ('' when it is not one). */
export function awsErrorCode(error: unknown): string {
  const e = error as SdkErrorShape
  const code = e?.Code ?? e?.name ?? e?.code ?? ''
  // The SDK names an error with no code in the body (a bare 403 from a proxy or a policy) "Unknown".
  return code === 'Unknown' || code === 'UnknownError' ? '' : code
}

/** "403 Forbidden" for an HTTP status, so an answer with no error code still says what it was. */
export function httpStatusText(status: number | undefined): string {
  if (status === undefined) return 'no HTTP status'
  const text = STATUS_TEXT[status]
  return text ? `${status} ${text}` : `HTTP ${status}`
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
  412: 'Precondition Failed', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}

export function awsHttpStatus(error: unknown): number | undefined {
  return (error as SdkErrorShape)?.$metadata?.httpStatusCode
}

/** Which credential sources the default chain tried, said in the user's terms. */
export function credentialSourcesTried(profile: string | undefined, env: NodeJS.ProcessEnv): string {
  const named = profile ?? env.AWS_PROFILE
  if (named) return `profile "${named}" (${env.AWS_SHARED_CREDENTIALS_FILE ?? '~/.aws/credentials'}, ${env.AWS_CONFIG_FILE ?? '~/.aws/config'})`
  return 'environment variables (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), the default profile, SSO, web identity and instance metadata'
}

/** Turn any error thrown by an AWS call into an AppError (AppErrors pass through). */
export function classifyAwsError(error: unknown, ctx: AwsErrorContext, env: NodeJS.ProcessEnv = process.env): AppError {
  if (error instanceof AppError) return error
  const code = awsErrorCode(error)
  const status = awsHttpStatus(error)
  const sysCode = (error as NodeJS.ErrnoException)?.code
  const tried = ctx.explicitCredentials
    ? 'the credentials given to this command (an assumed role or explicit keys)'
    : ctx.environmentKeys
      ? 'the environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY'
      : credentialSourcesTried(ctx.profile, env)
  // Every AppError made here keeps the SDK error (as `cause`, never printed) and its code, so a
  // caller that must tell failures apart (the live check) can, without matching message text.
  const keep = {cause: error, data: {awsCode: code, httpStatus: status}}

  if (code === 'CredentialsProviderError' || code === 'ProviderError') {
    return new ConfigError('NO_CREDENTIALS', `No AWS credentials found while ${ctx.doing}; tried ${tried}.`, {
      ...keep,
      kind: 'credentials',
      suggestions: ['Run "aws configure" or "aws sso login", or pass --profile NAME.'],
    })
  }
  if (['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired'].includes(code)) {
    return new ConfigError('EXPIRED_CREDENTIALS', `The AWS credentials from ${tried} have expired (while ${ctx.doing}).`, {
      ...keep,
      kind: 'credentials',
      suggestions: ['Refresh them ("aws sso login", or new keys) and re-run.'],
    })
  }
  if (['InvalidAccessKeyId', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException'].includes(code)) {
    return new ConfigError('INVALID_CREDENTIALS', `AWS rejected the credentials from ${tried} (${code}) while ${ctx.doing}.`, {
      ...keep,
      kind: 'credentials',
      suggestions: [ctx.environmentKeys ? 'Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or unset them and pass --profile NAME.' : 'Check the access key and secret of that profile, or pass another --profile.'],
    })
  }
  if (code === 'NoSuchBucket' || (code === 'NotFound' && status === 404)) {
    return new RemoteError('NO_SUCH_BUCKET', `The bucket does not exist (while ${ctx.doing}).`, {
      ...keep,
      kind: 'not-found',
      suggestions: ['Check the bucket name in the source URL.'],
    })
  }
  if (code === 'AccessDenied' || code === 'AccessDeniedException' || code === 'Forbidden' || status === 403) {
    return new RemoteError('ACCESS_DENIED', `Access denied while ${ctx.doing} (${code || httpStatusText(status)}).`, {
      ...keep,
      kind: 'access-denied',
      suggestions: [`The identity from ${tried} needs permission for this; run as an admin of the bucket's account.`],
    })
  }
  if (['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded'].includes(code) || status === 429) {
    return new RemoteError('THROTTLED', `AWS is throttling the requests (${code || httpStatusText(status)}) while ${ctx.doing}.`, {
      ...keep,
      kind: 'throttled',
      suggestions: ['Wait a minute and re-run; the SDK has already retried with backoff.'],
    })
  }
  if (code === 'NoSuchEntity' || code === 'NoSuchEntityException') {
    return new RemoteError('NO_SUCH_ENTITY', `The IAM role, user or policy does not exist (while ${ctx.doing}).`, {
      ...keep,
      kind: 'not-found',
      suggestions: ['Check the principal ARN: the role may have been deleted (and recreated under a new unique id).'],
    })
  }
  if (code === 'NotFoundException') {
    return new RemoteError('KMS_KEY_NOT_FOUND', `KMS key not found while ${ctx.doing}.`, {
      ...keep,
      kind: 'not-found',
      suggestions: ['Check the key ARN and its region; keys are regional.'],
    })
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'].includes(sysCode ?? '') || code === 'TimeoutError') {
    const where = ctx.endpointUrl ? `the endpoint ${ctx.endpointUrl}` : 'AWS'
    return new RemoteError('NETWORK', `Could not reach ${where} while ${ctx.doing} (${sysCode ?? code}).`, {
      ...keep,
      kind: 'network',
      suggestions: ['Check the network, --endpoint-url and --region.'],
    })
  }
  const message = (error as SdkErrorShape)?.message ?? String(error)
  return new RemoteError('AWS_ERROR', `AWS answered ${code || httpStatusText(status)}${code && status ? ` (HTTP ${status})` : ''} while ${ctx.doing}${message && message !== 'UnknownError' && message !== code ? `: ${message}` : ''}`, {
    ...keep,
    kind: 'unknown',
    suggestions: ['Re-run with DEBUG=ingestgate* for details; if it persists, check the AWS service health.'],
  })
}

/** Why a probe (a real call made as the ingest principal) failed, in the terms `check` reports. */
export type ProbeCause =
  | 'access-denied'
  | 'kms-access-denied'
  | 'kms-disabled'
  | 'kms-invalid-state'
  | 'kms-not-found'
  | 'no-such-key'
  | 'no-such-bucket'
  | 'region-mismatch'
  | 'expired-token'
  | 'invalid-credentials'
  | 'no-credentials'
  | 'network'
  | 'throttled'
  | 'invalid-range'
  | 'other'

export interface ProbeFailure {
  cause: ProbeCause
  /** The AWS error code as sent ('' when none, e.g. a HEAD request's bare 403). */
  awsCode: string
  httpStatus?: number
  /** The service's own message, for the report (AWS messages carry no secrets). */
  message: string
}

// S3 reports a KMS refusal on GetObject as a plain AccessDenied; only its message names KMS
// ("... not authorized to perform: kms:Decrypt ...", "The ciphertext refers to a customer master
// key that does not exist, does not exist in this region, or you are not allowed to access").
// This is the one place message text is looked at, because S3 leaves no other way.
const KMS_DENIAL_TEXT = /\bkms:|ciphertext refers to a customer (master|managed) key|\bKMS\b/i

/**
 * Classify a failed probe. Takes what an S3/STS port threw (an AppError from classifyAwsError,
 * which keeps the SDK error as `cause`) or a raw SDK error.
 */
export function classifyProbeError(error: unknown): ProbeFailure {
  const raw = error instanceof AppError && error.cause !== undefined ? error.cause : error
  const code = awsErrorCode(raw)
  const status = awsHttpStatus(raw)
  const sysCode = (raw as NodeJS.ErrnoException)?.code
  const message = (raw as SdkErrorShape)?.message ?? String(raw)
  const r = (cause: ProbeCause): ProbeFailure => ({cause, awsCode: code === 'Unknown' ? '' : code, httpStatus: status, message})
  if (code === 'KMS.DisabledException') return r('kms-disabled')
  if (code === 'KMS.KMSInvalidStateException') return r('kms-invalid-state')
  if (code === 'KMS.NotFoundException' || code === 'KMS.InvalidKeyUsageException') return r('kms-not-found')
  if (code.startsWith('KMS.') || code === 'AccessDeniedException' || code === 'KMSAccessDeniedException') return r('kms-access-denied')
  if (code === 'NoSuchKey') return r('no-such-key')
  if (code === 'NoSuchBucket') return r('no-such-bucket')
  if (['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException', 'Redirect', 'TemporaryRedirect'].includes(code) || status === 301 || status === 307) {
    return r('region-mismatch')
  }
  if (['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired'].includes(code)) return r('expired-token')
  if (['InvalidAccessKeyId', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'InvalidToken'].includes(code)) return r('invalid-credentials')
  if (code === 'CredentialsProviderError' || code === 'ProviderError') return r('no-credentials')
  if (code === 'InvalidRange' || status === 416) return r('invalid-range')
  if (code === 'AccessDenied' || code === 'Forbidden' || status === 403) return r(KMS_DENIAL_TEXT.test(message) ? 'kms-access-denied' : 'access-denied')
  if (['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'ServiceUnavailable'].includes(code) || status === 503 || status === 429) return r('throttled')
  if (['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'].includes(sysCode ?? '') || code === 'TimeoutError') return r('network')
  return r('other')
}
