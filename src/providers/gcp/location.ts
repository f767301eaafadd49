/**
 * Where a GCS bucket lives, for the preflight's egress estimate: storage.buckets.get with the
 * operator's credentials gives `location` (`US-CENTRAL1`, `EU`, `NAM4`) and `locationType`
 * (`region`, `dual-region`, `multi-region`). It needs storage.buckets.get, which the operator who
 * grants has; a refusal is reported as "location unknown" with the cloud's answer.
 */
import type {AppContext} from '../../context.js'
import type {Source} from '../../source.js'
import type {SourceLocation} from '../types.js'
import {operatorClientOptions} from './grant.js'
import type {GcpOptions} from './options.js'

/** The bucket's location and location type from its metadata. */
export async function locateGcsBucket(ctx: AppContext, source: Source, options: GcpOptions): Promise<SourceLocation> {
  try {
    const gcp = await ctx.clients.gcp(operatorClientOptions(options))
    const bucket = await gcp.getBucket(source.bucket)
    if (!bucket.location) return {known: false, reason: `the metadata of gs://${source.bucket} has no location`}
    return {known: true, location: bucket.location, locationType: bucket.locationType ?? 'unknown', via: 'storage.buckets.get'}
  } catch (error) {
    return {known: false, reason: (error as Error).message}
  }
}
