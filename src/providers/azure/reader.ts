/**
 * Reading an az:// source, for the ingest preflight (the operator's credentials) and the reference
 * cluster (the principal's): List Blobs under the directory prefix and ranged Get Blob, through the
 * same blob port as the live check. The credentials are the ambient chain (DefaultAzureCredential
 * with --tenant); a missing role assignment fails here exactly as on the vendor's cluster.
 */
import type {AzureClients} from '../../clients/azure/index.js'
import type {AppContext} from '../../context.js'
import {directoryPrefix, type Source} from '../../source.js'
import type {SourceReader} from '../types.js'
import type {AzureOptions} from './options.js'
import {blobEndpoint, cloudOptionsFor} from './resolve.js'

/**
 * The blob endpoint without ARM when it can be known so (--endpoint-url, a blob URL source);
 * otherwise the account's primaryEndpoints.blob when a subscription is given, else the default.
 */
async function endpointFor(clients: AzureClients, source: Source, options: AzureOptions): Promise<string> {
  if (options.endpointUrl || source.endpoint || !options.cloud.subscriptionId) return blobEndpoint({source, options})
  try {
    const arm = await clients.arm()
    const account = options.resourceGroup ? await arm.getStorageAccount(options.resourceGroup, source.account!) : await arm.findStorageAccount(source.account!)
    return blobEndpoint({source, options}, account)
  } catch {
    // The principal usually may not read the account on ARM: the public endpoint is the default.
    return blobEndpoint({source, options})
  }
}

/** An az:// source read as the operator or as the principal. Makes no call until used. */
export function openBlobReader(ctx: AppContext, source: Source, options: AzureOptions, as: 'operator' | 'principal'): SourceReader {
  void as
  const prefix = directoryPrefix(source)
  let port: Promise<{clients: AzureClients; blob: Awaited<ReturnType<AzureClients['blob']>>}> | undefined
  const get = () =>
    (port ??= (async () => {
      const clients = await ctx.clients.azure(cloudOptionsFor(source, options))
      const blob = await clients.blob(await endpointFor(clients, source, options))
      return {clients, blob}
    })())
  return {
    url: `az://${source.account}/${source.bucket}/${prefix}`,
    async listPage(token) {
      return (await get()).blob.listPage(source.bucket, prefix, token, 1000)
    },
    relPath: (key) => (key.startsWith(prefix) ? key.slice(prefix.length) : key),
    async readRange(key, start, end) {
      return (await get()).blob.getRange(source.bucket, key, start, end)
    },
    async openStream(key) {
      return (await get()).blob.openStream(source.bucket, key)
    },
    async identity() {
      return (await (await get()).clients.identity()).objectId
    },
  }
}
