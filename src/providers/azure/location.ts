/**
 * Where an az:// source lives, for the preflight's egress estimate: the storage account's region
 * from Resource Manager (storageAccounts get with --resource-group, else the subscription's
 * listing), with the operator's credentials. Without a subscription there is nothing to ask, and
 * the data plane does not say where an account is: the location is unknown, and the reason says so.
 */
import type {AppContext} from '../../context.js'
import type {Source} from '../../source.js'
import type {SourceLocation} from '../types.js'
import type {AzureOptions} from './options.js'
import {cloudOptionsFor} from './resolve.js'

/** The storage account's `location` on Resource Manager. */
export async function locateStorageAccount(ctx: AppContext, source: Source, options: AzureOptions): Promise<SourceLocation> {
  const name = source.account!
  if (!options.cloud.subscriptionId) {
    return {known: false, reason: `no subscription given (--subscription or AZURE_SUBSCRIPTION_ID), so storage account ${name} could not be looked up on Resource Manager`}
  }
  try {
    const arm = await (await ctx.clients.azure(cloudOptionsFor(source, options))).arm()
    const account = options.resourceGroup ? await arm.getStorageAccount(options.resourceGroup, name) : await arm.findStorageAccount(name)
    if (!account) return {known: false, reason: `storage account ${name} is not in subscription ${options.cloud.subscriptionId}, or your identity may not read it`}
    if (!account.location) return {known: false, reason: `Resource Manager gave no location for storage account ${name}`}
    return {known: true, location: account.location, locationType: 'region', via: options.resourceGroup ? 'storageAccounts get (Resource Manager)' : 'storageAccounts list (Resource Manager)'}
  } catch (error) {
    return {known: false, reason: (error as Error).message}
  }
}
