/** The bucket owner's view every admin-side AWS step starts from: who the operator is, and that the bucket is theirs. */
import type {AwsClients} from '../../clients/aws/index.js'
import {RemoteError} from '../../errors.js'

export interface OwnerView {
  /** The operator's account: passed as ExpectedBucketOwner on every bucket call. */
  owner: string
  /** The operator's ARN, for messages. */
  arn: string
  region?: string
}

/**
 * Confirm the bucket is in the operator's account. ExpectedBucketOwner makes a bucket of the same
 * name in another account answer 403, so a denied HeadBucket is said as "not yours (or not readable)".
 * @throws RemoteError NOT_BUCKET_OWNER (exit 4)
 */
export async function bucketOwnerView(aws: AwsClients, bucket: string, otherSuggestions: string[] = []): Promise<OwnerView> {
  const me = await aws.callerIdentity()
  try {
    return {owner: me.account, arn: me.arn, region: (await aws.s3.headBucket(bucket, me.account)).region}
  } catch (error) {
    if (error instanceof RemoteError && error.kind === 'access-denied') {
      throw new RemoteError('NOT_BUCKET_OWNER', `Bucket ${bucket} is not in account ${me.account} (the account of ${me.arn}), or that identity may not read it.`, {
        suggestions: [`Run as an administrator of the account that owns ${bucket} (--profile NAME).`, ...otherSuggestions],
      })
    }
    throw error
  }
}
