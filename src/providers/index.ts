/**
 * The typed provider registry: the source URL's scheme picks the provider, loaded on demand so a
 * command only loads the cloud it talks to. Each cloud's flags are imported eagerly (they import
 * only oclif) so every command's flag set, and so the manifest, is static.
 */
import {ConfigError} from '../errors.js'
import type {ProviderId} from '../source.js'
import {awsFlags} from './aws/flags.js'
import {gcpFlags} from './gcp/flags.js'
import {azureFlags} from './azure/flags.js'
import type {Provider, ProviderFlagSet} from './types.js'

interface Registration {
  flags: ProviderFlagSet
  load?: () => Promise<Provider>
}

const registry: Record<ProviderId, Registration | undefined> = {
  s3: {flags: awsFlags, load: async () => (await import('./aws/index.js')).awsProvider as Provider},
  gs: {flags: gcpFlags, load: async () => (await import('./gcp/index.js')).gcpProvider as Provider},
  az: {flags: azureFlags, load: async () => (await import('./azure/index.js')).azureProvider as Provider},
}

/** The flag sets of every registered cloud, by provider id. */
export function providerFlagSets(): Array<[ProviderId, ProviderFlagSet]> {
  return Object.entries(registry).flatMap(([id, r]) => (r ? [[id as ProviderId, r.flags] as [ProviderId, ProviderFlagSet]] : []))
}

export async function getProvider(id: ProviderId): Promise<Provider> {
  const load = registry[id]?.load
  if (!load) {
    const ready = Object.keys(registry).filter((k) => registry[k as ProviderId]?.load)
    throw new ConfigError('PROVIDER_NOT_AVAILABLE', `${id}:// sources are not supported by this version of ingestgate yet; ${ready.map((k) => `${k}://`).join(', ')} ${ready.length === 1 ? 'is' : 'are'}.`, {
      suggestions: ['Grant access with the cloud console or CLI for now (see docs/cloud-admin-guide.md).'],
    })
  }
  return load()
}
