/**
 * The typed provider registry: the source URL's scheme picks the provider, loaded on demand so a
 * command only loads the cloud it talks to.
 */
import {ConfigError} from '../errors.js'
import type {ProviderId} from '../source.js'
import type {Provider} from './types.js'

const loaders: Record<ProviderId, (() => Promise<Provider>) | undefined> = {
  s3: async () => (await import('./aws/index.js')).awsProvider,
  // Not built yet: GCS bucket IAM bindings and Azure role assignments plug in here, in the same shape.
  gs: undefined,
  az: undefined,
}

export async function getProvider(id: ProviderId): Promise<Provider> {
  const load = loaders[id]
  if (!load) {
    throw new ConfigError('PROVIDER_NOT_AVAILABLE', `${id}:// sources are not supported by this version of ingestgate yet; only s3:// is.`, {
      suggestions: ['Grant access with the cloud console or CLI for now (see docs/cloud-admin-guide.md).'],
    })
  }
  return load()
}
