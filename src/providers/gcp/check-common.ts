/** What the static and live layers of the GCS check share: operation ids, resources, remedies. */
import {shellWord} from '../../core/shell.js'
import type {CheckRow} from '../../core/verdict.js'
import {directoryPrefix, type Source} from '../../source.js'
import type {GcpOptions} from './options.js'
import {clusterUrl} from './render.js'

/** The walker's calls, in reading order, with the permission each needs. */
export const GCP_OPERATIONS: readonly {id: string; label: string; permission: string; call: string}[] = [
  {id: 'bucket-metadata', label: 'bucket metadata', permission: 'storage.buckets.get', call: 'buckets.get'},
  {id: 'list', label: 'list', permission: 'storage.objects.list', call: 'objects.list'},
  {id: 'get', label: 'get', permission: 'storage.objects.get', call: 'objects.get'},
]

export type GcpOperation = 'bucket-metadata' | 'list' | 'get'

/** The permission Cloud Storage checks for one of the walker's operations. */
export function permissionOf(op: GcpOperation): string {
  return GCP_OPERATIONS.find((o) => o.id === op)!.permission
}

/** A check row; the operation ids are this cloud's (verdict rows carry them as strings). */
export function row(operation: GcpOperation, r: Omit<CheckRow, 'operation'>): CheckRow {
  return {operation, ...r}
}

/** How rows name what they are about: the bucket, the listing (with its trailing slash), an object. */
export function resources(source: Source) {
  return {
    bucket: `gs://${source.bucket}`,
    list: clusterUrl(source),
    object: (key: string) => `gs://${source.bucket}/${key}`,
    dirPrefix: directoryPrefix(source),
  }
}

/** The commands remedies point to, repeating the endpoint flags so they run against the same place. */
export function remedyCommands(source: Source, member: string, o: GcpOptions): {grantApply: string; checkLive: string} {
  const extra: string[] = []
  if (o.endpointUrl) extra.push('--endpoint-url', shellWord(o.endpointUrl))
  if (o.impersonateServiceAccount) extra.push('--impersonate-service-account', shellWord(o.impersonateServiceAccount))
  const tail = extra.length ? ` ${extra.join(' ')}` : ''
  const src = shellWord(clusterUrl(source))
  return {
    grantApply: `ingestgate grant apply ${src} --principal ${shellWord(member)}${tail}`,
    checkLive: `ingestgate check ${src} --principal ${shellWord(member)} --live --no-static --impersonate-principal${o.endpointUrl ? ` --endpoint-url ${shellWord(o.endpointUrl)}` : ''}`,
  }
}
