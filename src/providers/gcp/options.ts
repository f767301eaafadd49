/**
 * The GCP provider's options: from the flags, the environment and the purpose, validated before
 * any call. Pure.
 */
import {validateEndpointUrl} from '../endpoint.js'
import {ConfigError} from '../../errors.js'
import type {OptionInput} from '../types.js'
import {parseMember} from './member.js'

export interface GcpOptions {
  /** The JSON API root (without /storage/v1), when not the public endpoint. */
  endpointUrl?: string
  /** The operator acts as this service account (e-mail). */
  impersonateServiceAccount?: string
  /** userProject for requester-pays buckets. */
  project?: string
  /** The live layer impersonates the principal instead of using the ambient credentials. */
  impersonatePrincipal: boolean
  /** IAM Credentials endpoint (gcloud's CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS), for PSC. */
  iamCredentialsEndpoint?: string
  /** IAM API root (gcloud's CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM), for reading custom roles. */
  iamEndpoint?: string
  /** Where to ask who an access token belongs to (INGESTGATE_GCP_TOKENINFO_URL). */
  tokenInfoUrl?: string
  purpose: OptionInput['purpose']
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

/**
 * An endpoint URL credentials may be sent to: https, or http only to this machine (a bearer token
 * over plain http elsewhere could be read on the way).
 */
function endpointUrl(value: string, flag: string): string {
  const url = validateEndpointUrl(value, flag)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new ConfigError('BAD_ENDPOINT', `${flag} "${value}" must use https: ingestgate sends your access token to it.`, {
      suggestions: ['Use https://..., or http:// only for an endpoint on this machine (127.0.0.1).'],
    })
  }
  // The storage library appends /storage/v1 itself; accept the root with or without it.
  return `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/storage\/v1$/, '')}`
}

/**
 * Read the GCP options.
 * @throws ConfigError naming the flag (exit 3).
 */
export function readGcpOptions(input: OptionInput): GcpOptions {
  const f = input.flags
  const str = (k: string) => (typeof f[k] === 'string' && (f[k] as string).trim() !== '' ? (f[k] as string).trim() : undefined)
  const opts: GcpOptions = {impersonatePrincipal: f['impersonate-principal'] === true, purpose: input.purpose}
  const endpoint = str('endpoint-url')
  if (endpoint) opts.endpointUrl = endpointUrl(endpoint, '--endpoint-url')
  const sa = str('impersonate-service-account')
  if (sa) {
    try {
      opts.impersonateServiceAccount = parseMember(sa).email
    } catch (error) {
      throw new ConfigError('BAD_IMPERSONATION', `--impersonate-service-account "${sa}" is not a service account: ${(error as Error).message}`, {
        suggestions: ['Give the service account e-mail, e.g. admin-automation@customer-project.iam.gserviceaccount.com.'],
      })
    }
  }
  const project = str('billing-project')
  if (project) {
    if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project) && !/^[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(project)) {
      throw new ConfigError('BAD_PROJECT', `--billing-project "${project}" is not a GCP project id.`, {suggestions: ['A project id is 6 to 30 lower-case letters, digits and hyphens, e.g. customer-billing.']})
    }
    opts.project = project
  }
  const iam = input.env.CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS?.trim()
  if (iam) opts.iamCredentialsEndpoint = endpointUrl(iam, 'CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS').replace(/\/v1$/, '')
  const iamApi = input.env.CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM?.trim()
  if (iamApi) opts.iamEndpoint = endpointUrl(iamApi, 'CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM').replace(/\/v1$/, '')
  const tokenInfo = input.env.INGESTGATE_GCP_TOKENINFO_URL?.trim()
  if (tokenInfo) opts.tokenInfoUrl = endpointUrl(tokenInfo, 'INGESTGATE_GCP_TOKENINFO_URL')
  return opts
}
