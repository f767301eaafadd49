/**
 * Where an az:// source lives on the management plane: its subscription, resource group, storage
 * account (network rules, blob endpoint) and the container scope. Shared by apply, revoke and the
 * static check. Without --resource-group the subscription's accounts are listed to find it.
 */
import type {ArmPort, AzureClientOptions, AzureClients} from '../../clients/azure/index.js'
import type {AppContext} from '../../context.js'
import {ConfigError} from '../../errors.js'
import type {AccountInfo} from './evaluate.js'
import type {AzureOptions, AzureRequest} from './options.js'
import {grantSpec, type AzureGrantSpec} from './spec.js'

export interface ResolvedSource {
  clients: AzureClients
  arm: ArmPort
  account: AccountInfo
  spec: AzureGrantSpec
}

export const DEFAULT_BLOB_SUFFIX = 'blob.core.windows.net'

/** The blob endpoint: --endpoint-url, the URL the source was given as, ARM's primaryEndpoints.blob, or the public default. */
export function blobEndpoint(req: {source: AzureRequest['source']; options: AzureOptions}, account?: AccountInfo): string {
  const e = req.options.endpointUrl ?? req.source.endpoint ?? account?.blobEndpoint ?? `https://${req.source.account}.${DEFAULT_BLOB_SUFFIX}`
  return e.replace(/\/+$/, '')
}

const SOVEREIGN_ARM: Record<string, string> = {
  'blob.core.usgovcloudapi.net': 'https://management.usgovcloudapi.net',
  'blob.core.chinacloudapi.cn': 'https://management.chinacloudapi.cn',
}

/**
 * The management-plane options for a source: a blob URL of a sovereign cloud implies that cloud's
 * Resource Manager unless --arm-endpoint says otherwise.
 */
export function cloudOptionsFor(source: AzureRequest['source'], options: AzureOptions): AzureClientOptions {
  if (options.cloud.armEndpoint || !source.endpoint) return options.cloud
  const suffix = new URL(source.endpoint).host.split('.').slice(1).join('.')
  return SOVEREIGN_ARM[suffix] ? {...options.cloud, armEndpoint: SOVEREIGN_ARM[suffix]} : options.cloud
}

/**
 * Find the storage account and build the grant for its real scope.
 * @throws ConfigError MISSING_SUBSCRIPTION / NO_SUCH_ACCOUNT with what to pass.
 */
export async function resolveSource(ctx: AppContext, req: AzureRequest): Promise<ResolvedSource> {
  const {options, source} = req
  const subscriptionId = options.cloud.subscriptionId
  if (!subscriptionId) {
    throw new ConfigError('MISSING_SUBSCRIPTION', `No Azure subscription given for ${source.url}: the storage account is found through it.`, {
      suggestions: ['Pass --subscription SUBSCRIPTION_ID or set AZURE_SUBSCRIPTION_ID (az account show --query id -o tsv).'],
    })
  }
  const clients = await ctx.clients.azure(cloudOptionsFor(source, options))
  const arm = await clients.arm()
  const name = source.account!
  let account: AccountInfo | undefined
  if (options.resourceGroup) account = await arm.getStorageAccount(options.resourceGroup, name)
  else account = await arm.findStorageAccount(name)
  if (!account) {
    throw new ConfigError('NO_SUCH_ACCOUNT', `Storage account ${name} is not in subscription ${subscriptionId}, or your identity may not read it.`, {
      suggestions: ['Check --subscription, or pass --resource-group RESOURCE_GROUP of the account (az storage account show --name ACCOUNT --query resourceGroup).'],
    })
  }
  const spec = grantSpec(source, req.principal, {subscriptionId, resourceGroup: account.resourceGroup})
  return {clients, arm, account, spec}
}
