/**
 * The Azure provider's options, read from its flags, the site file and the environment, and
 * validated before any network call: a subscription that is not a GUID, an http:// endpoint (the
 * SDKs send bearer tokens only over HTTPS) or a principal that is not an object id are
 * configuration errors naming what to give instead.
 */
import type {AzureClientOptions} from '../../clients/azure/index.js'
import {ConfigError} from '../../errors.js'
import {validateEndpointUrl} from '../endpoint.js'
import type {GrantRequest, OptionInput} from '../types.js'
import {isGuid} from './spec.js'

export interface AzureOptions {
  /** Management plane: credentials' tenant, subscription and ARM endpoint (grant, static check). */
  cloud: AzureClientOptions
  resourceGroup?: string
  /** The blob endpoint given with --endpoint-url (else the account's primaryEndpoints.blob). */
  endpointUrl?: string
  /** From the site file: the vendor app's application id (consent step) and the customer's tenant. */
  applicationId?: string
  siteTenantId?: string
  /** How long apply keeps retrying PrincipalNotFound (directory replication), in total. */
  principalRetryMs: number
  /** The first delay of that retry (it doubles, up to 30 s). */
  principalRetryInitialMs: number
}

export type AzureRequest = GrantRequest<AzureOptions>

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)

/** A SAS token in an endpoint is refused by name (and never echoed): Entra ID tokens are what ingestgate sends. */
function refuseSas(value: string, flag: string): void {
  if (/[?&]sig=/i.test(value)) throw new ConfigError('BAD_ENDPOINT', `${flag} must not carry a SAS token.`, {suggestions: ['Give the endpoint without its query string; ingestgate authenticates with Microsoft Entra ID tokens.']})
}

function httpsEndpoint(value: string, flag: string): string {
  refuseSas(value, flag)
  const url = validateEndpointUrl(value, flag)
  if (url.protocol !== 'https:') {
    throw new ConfigError('BAD_ENDPOINT', `${flag} "${value}" is http://; the Azure SDKs send bearer tokens only over HTTPS.`, {suggestions: ['Use the https:// form of the endpoint.']})
  }
  return value.replace(/\/+$/, '')
}

function guidFlag(value: string | undefined, flag: string, what: string): string | undefined {
  if (value === undefined) return undefined
  if (!isGuid(value)) {
    throw new ConfigError('BAD_FLAG_VALUE', `${flag} "${value}" is not a GUID; it takes the ${what}.`, {suggestions: [flag === '--subscription' ? 'Find it with: az account show --query id -o tsv' : 'Find it with: az account show --query tenantId -o tsv']})
  }
  return value.toLowerCase()
}

/** @throws ConfigError naming the flag whose value is malformed. */
export function readAzureOptions(input: OptionInput): AzureOptions {
  const f = input.flags
  const subscriptionId = guidFlag(str(f.subscription) ?? str(input.env.AZURE_SUBSCRIPTION_ID), str(f.subscription) ? '--subscription' : 'AZURE_SUBSCRIPTION_ID', 'subscription id')
  const tenantId = guidFlag(str(f.tenant), '--tenant', 'tenant (directory) id')
  const armEndpoint = str(f['arm-endpoint']) ? httpsEndpoint(str(f['arm-endpoint'])!, '--arm-endpoint') : undefined
  // --endpoint-url is every cloud's storage endpoint flag (one value for, e.g., a cluster serving
  // several clouds): its shape is checked here, the https:// the Azure SDK needs when it is used.
  const endpointUrl = str(f['endpoint-url'])
  if (endpointUrl) {
    refuseSas(endpointUrl, '--endpoint-url')
    validateEndpointUrl(endpointUrl, '--endpoint-url')
  }
  const resourceGroup = str(f['resource-group'])
  if (resourceGroup && !/^[-\w._()]{1,90}$/.test(resourceGroup)) {
    throw new ConfigError('BAD_FLAG_VALUE', `--resource-group "${resourceGroup}" is not a resource group name (1-90 letters, digits, _ . - ( )).`, {suggestions: ['Find it with: az storage account show --name ACCOUNT --query resourceGroup -o tsv']})
  }
  const retry = Number(input.env.INGESTGATE_AZURE_PRINCIPAL_RETRY_MS)
  return {
    cloud: {subscriptionId, tenantId: tenantId ?? input.site?.azure?.tenantId?.toLowerCase(), armEndpoint},
    resourceGroup,
    endpointUrl: endpointUrl?.replace(/\/+$/, ''),
    applicationId: input.site?.azure?.applicationId,
    siteTenantId: input.site?.azure?.tenantId,
    principalRetryMs: Number.isFinite(retry) && retry >= 0 ? retry : 120_000,
    principalRetryInitialMs: Number.isFinite(retry) && retry >= 0 ? Math.max(1, Math.min(2000, retry / 8)) : 2000,
  }
}

/**
 * The principal check: a GUID object id. An AWS ARN, a GCP member or an e-mail is another cloud's
 * principal; say what it is and what az:// needs.
 * @throws ConfigError BAD_PRINCIPAL (exit 3)
 */
export function validateAzurePrincipal(principal: string): void {
  const p = principal.trim()
  if (isGuid(p)) return
  let what = 'not a GUID'
  if (/^arn:/i.test(p)) what = 'an AWS ARN'
  else if (/^(serviceAccount|user|group|domain|principal|principalSet):/i.test(p)) what = 'a GCP IAM member'
  else if (/@/.test(p)) what = 'an e-mail address or user principal name'
  else if (/^[0-9a-f]{32}$/i.test(p)) what = 'a GUID without its hyphens'
  throw new ConfigError('BAD_PRINCIPAL', `The principal "${p}" is ${what}; az:// needs the object id (a GUID) of the vendor's service principal in your tenant.`, {
    suggestions: [
      'The object id is the service principal\'s, not the application (client) id: az ad sp show --id APPLICATION_ID --query id -o tsv',
      'The service principal exists in your tenant only after admin consent of the vendor\'s application (see docs/cloud-admin-guide.md, Azure Blob Storage).',
    ],
  })
}
