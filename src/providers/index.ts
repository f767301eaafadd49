/**
 * The typed provider registry: the source URL's scheme picks the provider, loaded on demand so a
 * command only loads the cloud it talks to. Each cloud's flags are imported eagerly (they import
 * only oclif) so every command's flag set, and so the manifest, is static.
 */
import type {ProviderId} from '../source.js'
import {awsFlags} from './aws/flags.js'
import {gcpFlags} from './gcp/flags.js'
import {azureFlags} from './azure/flags.js'
import type {Provider, ProviderFlagSet} from './types.js'

interface Registration {
  flags: ProviderFlagSet
  load: () => Promise<Provider>
}

// Every scheme the source URL parser accepts has its provider: the type makes a missing one a build error.
const registry: Record<ProviderId, Registration> = {
  s3: {flags: awsFlags, load: async () => (await import('./aws/index.js')).awsProvider as Provider},
  gs: {flags: gcpFlags, load: async () => (await import('./gcp/index.js')).gcpProvider as Provider},
  az: {flags: azureFlags, load: async () => (await import('./azure/index.js')).azureProvider as Provider},
}

/** The flag sets of every cloud, by provider id. */
export function providerFlagSets(): Array<[ProviderId, ProviderFlagSet]> {
  return (Object.entries(registry) as Array<[ProviderId, Registration]>).map(([id, r]) => [id, r.flags])
}

/** The provider of a scheme, its module loaded on first use. */
export async function getProvider(id: ProviderId): Promise<Provider> {
  return registry[id].load()
}
