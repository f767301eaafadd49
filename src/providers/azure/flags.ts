/**
 * The Azure provider's flags. Only oclif is imported here: the registry reads every cloud's flags
 * to build the commands' static flag sets, and --help must not load an SDK.
 */
import {Flags} from '@oclif/core'

import type {ProviderFlagSet} from '../types.js'

export const azureFlags: ProviderFlagSet = {
  heading: 'AZURE',
  cloud: {
    subscription: Flags.string({description: 'Azure subscription id of the storage account (default: AZURE_SUBSCRIPTION_ID).', helpValue: 'ID', helpGroup: 'AZURE'}),
    'resource-group': Flags.string({description: 'Resource group of the storage account (default: found by listing the subscription\'s accounts).', helpValue: 'NAME', helpGroup: 'AZURE'}),
    tenant: Flags.string({description: 'Microsoft Entra tenant id to take tokens from (default: the credentials\' own; the site file\'s azure.tenantId).', helpValue: 'ID', helpGroup: 'AZURE'}),
    'arm-endpoint': Flags.string({description: 'Azure Resource Manager endpoint, for sovereign clouds (default: https://management.azure.com).', helpValue: 'URL', helpGroup: 'AZURE'}),
    'endpoint-url': Flags.string({description: 'The blob endpoint, https only (a private or sovereign one, a test double); default: the account\'s primaryEndpoints.blob, else https://ACCOUNT.blob.core.windows.net.', helpValue: 'URL', helpGroup: 'AZURE'}),
  },
}
