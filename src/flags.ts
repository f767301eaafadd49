/** Flags shared by several commands, and the request they add up to. */
import {Args, Flags} from '@oclif/core'

import {ConfigError} from './errors.js'
import type {GrantRequest, Provider} from './providers/types.js'
import {loadSite, type SiteFile} from './site.js'
import {parseSource} from './source.js'

export const sourceArg = Args.string({
  name: 'SOURCE',
  required: true,
  description: 'The bucket and prefix: s3://BUCKET[/PREFIX] (gs:// and az:// to follow).',
})

export const cloudFlags = {
  profile: Flags.string({description: 'AWS named profile for credentials (default: the standard credential chain).', helpGroup: 'CLOUD'}),
  region: Flags.string({description: 'AWS region for API calls (the bucket\'s own region is followed automatically).', helpGroup: 'CLOUD'}),
  'endpoint-url': Flags.string({description: 'Endpoint of an S3-compatible store or emulator (path-style addressing).', helpGroup: 'CLOUD'}),
}

export const principalFlags = {
  principal: Flags.string({description: 'The ingest principal (AWS: IAM role ARN). Default: from --site.'}),
  site: Flags.string({description: 'Site file (JSON) from support with the ingest principal per cloud and the cluster URL.'}),
  'kms-key': Flags.string({description: 'KMS key ARN to grant Decrypt on, besides the keys found in use (repeatable).', multiple: true}),
}

export interface GrantFlagValues {
  principal?: string
  site?: string
  'kms-key'?: string[]
  profile?: string
  region?: string
  'endpoint-url'?: string
}

/** Build the grant request from the source argument and flags, reading the site file if given. */
export async function grantRequest(sourceText: string, flags: GrantFlagValues): Promise<{req: GrantRequest; provider: Provider}> {
  const source = parseSource(sourceText)
  const {getProvider} = await import('./providers/index.js')
  const provider = await getProvider(source.provider)
  const site: SiteFile | undefined = flags.site ? await loadSite(flags.site) : undefined
  const principal = flags.principal ?? (site ? provider.principalFromSite(site) : undefined)
  if (!principal) {
    throw new ConfigError('MISSING_PRINCIPAL', `No ingest principal given for ${source.url}.`, {
      suggestions: [`Pass --principal (${provider.principalNoun}) or --site FILE with the principal for this cloud.`],
    })
  }
  return {
    provider,
    req: {
      source,
      principal: principal.trim(),
      kmsKeys: flags['kms-key'] ?? [],
      cloud: {profile: flags.profile, region: flags.region, endpointUrl: flags['endpoint-url']},
    },
  }
}
