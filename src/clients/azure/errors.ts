/**
 * The one place Azure SDK errors are told apart (by error name, HTTP status and the service's
 * error code, never by message text) and turned into AppErrors with a neutral `kind`, the Azure
 * code kept in `data`, and a remedy.
 */
import {AppError, ConfigError, RemoteError, type SourceErrorKind} from '../../errors.js'

export interface AzureErrorContext {
  /** What we were doing, e.g. "reading storage account acme". */
  doing: string
  /** The endpoint called, for network errors. */
  endpoint?: string
}

interface SdkErrorShape {
  name?: string
  code?: string
  statusCode?: number
  message?: string
  details?: {errorCode?: string}
  response?: {status?: number; headers?: {get(name: string): string | undefined}}
}

/** The Azure error code of an SDK error (ARM body code, or the storage x-ms-error-code); '' if none. */
export function azureErrorCode(error: unknown): string {
  const e = error as SdkErrorShape
  return e?.details?.errorCode ?? e?.response?.headers?.get('x-ms-error-code') ?? (typeof e?.code === 'string' ? e.code : '') ?? ''
}

export function azureHttpStatus(error: unknown): number | undefined {
  const e = error as SdkErrorShape
  return e?.statusCode ?? e?.response?.status
}

const NETWORK_CODES = ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'REQUEST_SEND_ERROR', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']
const CREDENTIAL_HELP = [
  'Sign in with "az login" (and "az account set --subscription ID"), or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal.',
  'AZURE_TOKEN_CREDENTIALS picks one credential of the chain (e.g. AzureCliCredential, EnvironmentCredential, ManagedIdentityCredential).',
]

/** Turn any error of an Azure call into an AppError (AppErrors pass through). */
export function classifyAzureError(error: unknown, ctx: AzureErrorContext): AppError {
  if (error instanceof AppError) return error
  const e = error as SdkErrorShape
  const code = azureErrorCode(error)
  const status = azureHttpStatus(error)
  const message = e?.message ?? String(error)
  const keep = (kind: SourceErrorKind) => ({cause: error, kind, data: {azureCode: code, httpStatus: status}})

  if (e?.name === 'CredentialUnavailableError' || e?.name === 'AggregateAuthenticationError') {
    return new ConfigError('NO_CREDENTIALS', `No Azure credentials available while ${ctx.doing}: ${firstLine(message)}`, {...keep('credentials'), suggestions: CREDENTIAL_HELP})
  }
  if (e?.name === 'AuthenticationError' || e?.name === 'AuthenticationRequiredError') {
    return new ConfigError('INVALID_CREDENTIALS', `Azure did not issue a token while ${ctx.doing}: ${firstLine(message)}`, {...keep('credentials'), suggestions: CREDENTIAL_HELP})
  }
  if (status === 401 || ['ExpiredAuthenticationToken', 'InvalidAuthenticationToken', 'InvalidAuthenticationTokenAudience', 'InvalidAuthenticationTokenTenant', 'InvalidAuthenticationInfo', 'NoAuthenticationInformation', 'AuthenticationFailed'].includes(code)) {
    return new ConfigError('INVALID_CREDENTIALS', `Azure refused the credentials (${code || 'HTTP 401'}) while ${ctx.doing}.`, {
      ...keep('credentials'),
      suggestions: ['Sign in again ("az login"), and pass --tenant when the storage account is in another tenant than your default one.', ...CREDENTIAL_HELP.slice(1)],
    })
  }
  if (code === 'AuthorizationFailure') {
    return new RemoteError('NETWORK_RULES', `The storage account's network rules refused the request (AuthorizationFailure) while ${ctx.doing}.`, {
      ...keep('access-denied'),
      suggestions: ['The account firewall (networkRuleSet) or disabled public network access blocks this address: allow it with az storage account network-rule add.'],
    })
  }
  if (status === 403 || code === 'AuthorizationFailed' || code === 'AuthorizationPermissionMismatch') {
    return new RemoteError('ACCESS_DENIED', `Access denied (${code || 'HTTP 403'}) while ${ctx.doing}.`, {
      ...keep('access-denied'),
      suggestions: ['The identity signed in needs a role that allows this at the scope (see the message); role assignments can take up to 10 minutes to apply.'],
    })
  }
  if (code === 'RoleAssignmentExists') {
    return new RemoteError('ROLE_ASSIGNMENT_EXISTS', `An equivalent role assignment already exists (while ${ctx.doing}).`, {...keep('unknown'), suggestions: ['List it with az role assignment list --scope SCOPE --assignee PRINCIPAL.']})
  }
  if (code === 'PrincipalNotFound') {
    return new RemoteError('PRINCIPAL_NOT_FOUND', `The principal does not exist in the directory (yet) while ${ctx.doing}.`, {...keep('not-found'), suggestions: ['See the remedy printed with this error.']})
  }
  if (code === 'InvalidRange' || status === 416) {
    return new RemoteError('INVALID_RANGE', `The requested range is beyond the end of the blob (while ${ctx.doing}).`, {...keep('unknown'), suggestions: ['Nothing to do: the blob is shorter than the range.']})
  }
  if (status === 404 || ['ResourceNotFound', 'ContainerNotFound', 'BlobNotFound', 'ResourceGroupNotFound', 'SubscriptionNotFound', 'RoleAssignmentNotFound', 'RoleDefinitionDoesNotExist'].includes(code)) {
    const what: Record<string, string> = {ContainerNotFound: 'NO_SUCH_CONTAINER', BlobNotFound: 'NO_SUCH_BLOB', ResourceGroupNotFound: 'NO_SUCH_RESOURCE_GROUP', SubscriptionNotFound: 'NO_SUCH_SUBSCRIPTION'}
    return new RemoteError(what[code] ?? 'NOT_FOUND', `Not found (${code || 'HTTP 404'}) while ${ctx.doing}: ${firstLine(message)}`, {
      ...keep('not-found'),
      suggestions: ['Check the account and container in the source URL, --subscription and --resource-group.'],
    })
  }
  if (status === 429 || status === 503 || ['ServerBusy', 'TooManyRequests', 'OperationTimedOut'].includes(code)) {
    return new RemoteError('THROTTLED', `Azure is throttling requests (${code || `HTTP ${status}`}) while ${ctx.doing}.`, {...keep('throttled'), suggestions: ['Wait a minute and re-run.']})
  }
  const sys = (error as NodeJS.ErrnoException)?.code ?? ''
  const causeCode = ((error as {cause?: NodeJS.ErrnoException})?.cause?.code) ?? ''
  if (NETWORK_CODES.includes(sys) || NETWORK_CODES.includes(causeCode) || NETWORK_CODES.includes(code)) {
    return new RemoteError('NETWORK', `Could not reach ${ctx.endpoint ?? 'Azure'} while ${ctx.doing} (${causeCode || sys || code}).`, {
      ...keep('network'),
      suggestions: ['Check the network, --arm-endpoint and --endpoint-url; a private endpoint with its own CA needs NODE_EXTRA_CA_CERTS.'],
    })
  }
  return new RemoteError('AZURE_ERROR', `Azure answered ${code || 'an error'}${status ? ` (HTTP ${status})` : ''} while ${ctx.doing}: ${firstLine(message)}`, {
    ...keep('unknown'),
    suggestions: ['Re-run with DEBUG=ingestgate* for details; if it persists, check the Azure status page.'],
  })
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim()
}
