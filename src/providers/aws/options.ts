/**
 * The AWS provider's options, read from its flags and the site file. Validated here, before any
 * network call: a malformed endpoint or role ARN is a configuration error, not an SDK failure.
 */
import type {AwsClientOptions} from '../../clients/aws/index.js'
import {ConfigError} from '../../errors.js'
import {validateEndpointUrl} from '../endpoint.js'
import type {GrantRequest, OptionInput} from '../types.js'
import {parsePrincipalArn} from './grant-spec.js'

export interface AwsOptions {
  /** The operator's credentials, region and endpoint (static layer, grant, preflight listing). */
  cloud: AwsClientOptions
  /** Extra KMS key ARNs to grant and check Decrypt on. */
  kmsKeys: string[]
  /**
   * How to act as the principal (live layer, the reference cluster): a role to assume with the
   * operator's or the principal profile's credentials, or a profile that is the principal.
   * Neither: the operator's credentials, which must then be the principal.
   */
  live: {assumeRole?: string; externalId?: string; profile?: string}
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined)

/** @throws ConfigError naming the flag whose value is malformed. */
export function readAwsOptions(input: OptionInput): AwsOptions {
  const f = input.flags
  const endpointUrl = str(f['endpoint-url'])
  if (endpointUrl) validateEndpointUrl(endpointUrl, '--endpoint-url')
  let assumeRole = str(f['assume-role'])
  if (assumeRole) {
    try {
      parsePrincipalArn(assumeRole)
    } catch (error) {
      throw new ConfigError('BAD_ASSUME_ROLE', `--assume-role: ${(error as Error).message}`, {suggestions: ['Give the ingest role ARN, e.g. arn:aws:iam::123456789012:role/ingest.']})
    }
  }
  // The preflight's live layer acts as the principal itself when it is a role and no other way was given.
  if (!assumeRole && input.purpose === 'preflight' && input.principal && /^arn:[^:]+:iam::\d{12}:role\//.test(input.principal) && !str(f['principal-profile'])) {
    assumeRole = input.principal
  }
  const kms = f['kms-key']
  return {
    cloud: {profile: str(f.profile), region: str(f.region), endpointUrl},
    kmsKeys: Array.isArray(kms) ? kms.map(String) : [],
    live: {assumeRole, externalId: str(f['external-id']) ?? input.site?.aws?.externalId, profile: str(f['principal-profile'])},
  }
}

export type AwsRequest = GrantRequest<AwsOptions>
