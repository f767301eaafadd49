/**
 * Reading a gs:// source for the ingest preflight (the operator's credentials) and the reference
 * cluster (the principal's: --impersonate-service-account, or the ambient credentials). Listing
 * and relative paths use the directory prefix, so gs://b/dicom never reads dicom-phi/.
 */
import type {AppContext} from '../../context.js'
import {directoryPrefix, type Source} from '../../source.js'
import type {SourceReader} from '../types.js'
import {operatorClientOptions} from './grant.js'
import type {GcpOptions} from './options.js'
import {clusterUrl} from './render.js'

/** Open a reader; no call is made until it is used. */
export async function openGcpReader(ctx: AppContext, source: Source, options: GcpOptions, as: 'operator' | 'principal'): Promise<SourceReader> {
  const dir = directoryPrefix(source)
  // The cluster reads as the walker does: no billing project.
  const clientOptions = as === 'operator' ? operatorClientOptions(options) : {...operatorClientOptions(options), project: undefined}
  let clients: ReturnType<AppContext['clients']['gcp']> | undefined
  const gcp = () => (clients ??= ctx.clients.gcp(clientOptions))
  return {
    url: clusterUrl(source),
    listPage: async (token) => (await gcp()).listPage(source.bucket, dir, token, 1000),
    relPath: (key) => (key.startsWith(dir) ? key.slice(dir.length) : key),
    readRange: async (key, start, end) => (await gcp()).readRange(source.bucket, key, start, end),
    openStream: async (key) => (await gcp()).openStream(source.bucket, key),
    identity: async () => {
      const c = await gcp()
      return (await c.identity()) ?? c.credentialSource
    },
  }
}
