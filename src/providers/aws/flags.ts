/**
 * The AWS provider's flags. Only oclif is imported here: the registry reads every cloud's flags to
 * build the commands' static flag sets, and --help must not load an SDK.
 */
import {Flags} from '@oclif/core'

import type {ProviderFlagSet} from '../types.js'

const assumeRole = Flags.string({description: 'IAM role ARN to assume (with --principal-profile\'s or the operator\'s credentials) to act as the ingest principal.', helpValue: 'ARN'})
const externalId = Flags.string({description: 'ExternalId for --assume-role (default: the site file\'s aws.externalId).', helpValue: 'ID'})

export const awsFlags: ProviderFlagSet = {
  heading: 'AWS',
  cloud: {
    profile: Flags.string({description: 'AWS named profile for the operator\'s credentials (default: the standard credential chain).', helpValue: 'NAME'}),
    region: Flags.string({description: 'AWS region for API calls (the bucket\'s own region is followed automatically).', helpValue: 'REGION'}),
    'endpoint-url': Flags.string({description: 'Storage endpoint URL: an S3-compatible store, a private endpoint or an emulator (path-style addressing).', helpValue: 'URL'}),
  },
  grant: {
    'kms-key': Flags.string({description: 'KMS key ARN to grant (and check) Decrypt on, besides the keys found in use (repeatable).', multiple: true, helpValue: 'ARN'}),
  },
  live: {
    'assume-role': assumeRole,
    'external-id': externalId,
    'principal-profile': Flags.string({
      description: 'AWS profile of the ingest principal (or, with --assume-role, the profile to assume it with); --profile stays the operator\'s.',
      helpValue: 'NAME',
    }),
  },
  cluster: {
    'assume-role': assumeRole,
    'external-id': externalId,
  },
}
