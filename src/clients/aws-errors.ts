/**
 * The one place AWS SDK errors are told apart (by error name and HTTP status, never by message
 * text) and turned into AppErrors with a cause and a remedy.
 */
import {AppError, ConfigError, RemoteError} from '../errors.js'

export interface AwsErrorContext {
  /** What we were doing, e.g. "reading the bucket policy of my-bucket". */
  doing: string
  profile?: string
  endpointUrl?: string
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
  return e?.Code ?? e?.name ?? e?.code ?? ''
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
  const tried = credentialSourcesTried(ctx.profile, env)

  if (code === 'CredentialsProviderError' || code === 'ProviderError') {
    return new ConfigError('NO_CREDENTIALS', `No AWS credentials found while ${ctx.doing}; tried ${tried}.`, {
      suggestions: ['Run "aws configure" or "aws sso login", or pass --profile NAME.'],
    })
  }
  if (['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired'].includes(code)) {
    return new ConfigError('EXPIRED_CREDENTIALS', `The AWS credentials from ${tried} have expired (while ${ctx.doing}).`, {
      suggestions: ['Refresh them ("aws sso login", or new keys) and re-run.'],
    })
  }
  if (['InvalidAccessKeyId', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException'].includes(code)) {
    return new ConfigError('INVALID_CREDENTIALS', `AWS rejected the credentials from ${tried} (${code}) while ${ctx.doing}.`, {
      suggestions: ['Check the access key and secret of that profile, or pass another --profile.'],
    })
  }
  if (code === 'NoSuchBucket' || (code === 'NotFound' && status === 404)) {
    return new RemoteError('NO_SUCH_BUCKET', `The bucket does not exist (while ${ctx.doing}).`, {
      suggestions: ['Check the bucket name in the source URL.'],
    })
  }
  if (code === 'AccessDenied' || code === 'AccessDeniedException' || code === 'Forbidden' || status === 403) {
    return new RemoteError('ACCESS_DENIED', `Access denied while ${ctx.doing} (${code || 'HTTP 403'}).`, {
      suggestions: [`The identity from ${tried} needs permission for this; run as an admin of the bucket's account.`],
    })
  }
  if (code === 'NotFoundException') {
    return new RemoteError('KMS_KEY_NOT_FOUND', `KMS key not found while ${ctx.doing}.`, {
      suggestions: ['Check the key ARN and its region; keys are regional.'],
    })
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'].includes(sysCode ?? '') || code === 'TimeoutError') {
    const where = ctx.endpointUrl ? `the endpoint ${ctx.endpointUrl}` : 'AWS'
    return new RemoteError('NETWORK', `Could not reach ${where} while ${ctx.doing} (${sysCode ?? code}).`, {
      suggestions: ['Check the network, --endpoint-url and --region.'],
    })
  }
  const message = (error as SdkErrorShape)?.message ?? String(error)
  return new RemoteError('AWS_ERROR', `AWS answered ${code || 'an error'}${status ? ` (HTTP ${status})` : ''} while ${ctx.doing}: ${message}`, {
    suggestions: ['Re-run with DEBUG=ingestgate* for details; if it persists, check the AWS service health.'],
  })
}
