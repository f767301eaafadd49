/**
 * Where an S3 bucket lives, for the preflight's egress estimate: HeadBucket with the operator's
 * credentials answers x-amz-bucket-region. S3 sends that header even when it refuses the call (403,
 * or 301 from the wrong Region), so a bucket the operator may not head still has a known Region.
 */
import type {AppContext} from '../../context.js'
import {AppError} from '../../errors.js'
import type {Source} from '../../source.js'
import type {SourceLocation} from '../types.js'
import type {AwsOptions} from './options.js'
import {AwsIdentity} from './reader.js'

/** The bucket's Region through the S3 port (probeBucket keeps the Region a refusal names). */
export async function locateS3Bucket(ctx: AppContext, source: Source, options: AwsOptions): Promise<SourceLocation> {
  try {
    const aws = await new AwsIdentity(ctx, options.cloud).get()
    const {region} = await aws.s3.probeBucket(source.bucket)
    if (region) return {known: true, location: region, locationType: 'region', via: 'HeadBucket x-amz-bucket-region'}
    return {known: false, reason: `HeadBucket on ${source.bucket} answered without x-amz-bucket-region`}
  } catch (error) {
    const region = error instanceof AppError ? (error.data?.region as string | undefined) : undefined
    if (region) return {known: true, location: region, locationType: 'region', via: 'x-amz-bucket-region of a refused HeadBucket'}
    return {known: false, reason: `HeadBucket on ${source.bucket} failed: ${(error as Error).message}`}
  }
}
