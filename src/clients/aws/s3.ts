/** The S3 port: the bucket and object calls ingestgate makes, each classified on failure. */
import type * as S3Sdk from '@aws-sdk/client-s3'

import {awsErrorCode} from './errors.js'
import type {Call, S3Port} from './index.js'

export function createS3Port(s3sdk: typeof S3Sdk, s3: S3Sdk.S3Client, call: Call): S3Port {
  const port: S3Port = {
    headBucket: (Bucket, ExpectedBucketOwner) =>
      call(`checking bucket ${Bucket}`, async () => {
        const out = await s3.send(new s3sdk.HeadBucketCommand({Bucket, ExpectedBucketOwner}))
        return {region: out.BucketRegion}
      }),
    getBucketPolicy: (Bucket, ExpectedBucketOwner) =>
      call(`reading the bucket policy of ${Bucket}`, async () => {
        try {
          const out = await s3.send(new s3sdk.GetBucketPolicyCommand({Bucket, ExpectedBucketOwner}))
          return out.Policy ?? null
        } catch (error) {
          if (awsErrorCode(error) === 'NoSuchBucketPolicy') return null
          throw error
        }
      }),
    putBucketPolicy: (Bucket, Policy, ExpectedBucketOwner) =>
      call(`writing the bucket policy of ${Bucket}`, async () => {
        await s3.send(new s3sdk.PutBucketPolicyCommand({Bucket, Policy, ExpectedBucketOwner}))
      }),
    deleteBucketPolicy: (Bucket, ExpectedBucketOwner) =>
      call(`deleting the bucket policy of ${Bucket}`, async () => {
        await s3.send(new s3sdk.DeleteBucketPolicyCommand({Bucket, ExpectedBucketOwner}))
      }),
    getPublicAccessBlock: (Bucket, ExpectedBucketOwner) =>
      call(`reading Block Public Access of ${Bucket}`, async () => {
        try {
          const out = await s3.send(new s3sdk.GetPublicAccessBlockCommand({Bucket, ExpectedBucketOwner}))
          return out.PublicAccessBlockConfiguration ?? null
        } catch (error) {
          if (awsErrorCode(error) === 'NoSuchPublicAccessBlockConfiguration') return null
          throw error
        }
      }),
    getDefaultKmsKeys: (Bucket, ExpectedBucketOwner) =>
      call(`reading the default encryption of ${Bucket}`, async () => {
        try {
          const out = await s3.send(new s3sdk.GetBucketEncryptionCommand({Bucket, ExpectedBucketOwner}))
          const keys: string[] = []
          for (const rule of out.ServerSideEncryptionConfiguration?.Rules ?? []) {
            const d = rule.ApplyServerSideEncryptionByDefault
            if (d?.SSEAlgorithm?.startsWith('aws:kms')) keys.push(d.KMSMasterKeyID ?? 'alias/aws/s3')
          }
          return keys
        } catch (error) {
          if (awsErrorCode(error) === 'ServerSideEncryptionConfigurationNotFoundError') return []
          throw error
        }
      }),
    async listKeys(bucket, prefix, limit) {
      const keys: Array<{key: string; size: number}> = []
      let token: string | undefined
      do {
        const page = await port.listPage(bucket, prefix, token, Math.min(1000, limit - keys.length))
        keys.push(...page.objects)
        token = page.nextToken
      } while (token && keys.length < limit)
      return keys
    },
    headObject: (Bucket, Key, ExpectedBucketOwner) =>
      call(`reading the encryption of s3://${Bucket}/${Key}`, async () => {
        const out = await s3.send(new s3sdk.HeadObjectCommand({Bucket, Key, ExpectedBucketOwner}))
        return {key: Key, serverSideEncryption: out.ServerSideEncryption, kmsKeyId: out.SSEKMSKeyId, bucketKeyEnabled: out.BucketKeyEnabled}
      }),
    listPage: (Bucket, Prefix, ContinuationToken, MaxKeys = 1000) =>
      call(`listing s3://${Bucket}/${Prefix}`, async () => {
        const out = await s3.send(new s3sdk.ListObjectsV2Command({Bucket, Prefix: Prefix || undefined, ContinuationToken, MaxKeys}))
        return {
          objects: (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{key: o.Key, size: o.Size ?? 0}])),
          nextToken: out.IsTruncated ? out.NextContinuationToken : undefined,
        }
      }),
    getRange: (Bucket, Key, start, end) =>
      call(`reading s3://${Bucket}/${Key}`, async () => {
        const out = await s3.send(new s3sdk.GetObjectCommand({Bucket, Key, Range: `bytes=${start}-${end}`}))
        const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array()
        const total = /\/(\d+)$/.exec(out.ContentRange ?? '')?.[1]
        return {bytes, totalSize: total === undefined ? undefined : Number(total)}
      }),
    getAttributes: (Bucket, Key) =>
      call(`reading the attributes of s3://${Bucket}/${Key}`, async () => {
        const out = await s3.send(new s3sdk.GetObjectAttributesCommand({Bucket, Key, ObjectAttributes: ['ETag', 'ObjectSize']}))
        return {etag: out.ETag, size: out.ObjectSize}
      }),
    getObjectStream: (Bucket, Key) =>
      call(`reading s3://${Bucket}/${Key}`, async () => {
        const out = await s3.send(new s3sdk.GetObjectCommand({Bucket, Key}))
        if (!out.Body) throw new Error(`GetObject returned no body for s3://${Bucket}/${Key}`)
        return {body: out.Body as NodeJS.ReadableStream, size: out.ContentLength}
      }),
    getOwnershipControls: (Bucket, ExpectedBucketOwner) =>
      call(`reading the Object Ownership of ${Bucket}`, async () => {
        try {
          const out = await s3.send(new s3sdk.GetBucketOwnershipControlsCommand({Bucket, ExpectedBucketOwner}))
          return out.OwnershipControls?.Rules?.[0]?.ObjectOwnership ?? null
        } catch (error) {
          if (awsErrorCode(error) === 'OwnershipControlsNotFoundError') return null
          throw error
        }
      }),
    probeBucket: (Bucket) =>
      call(
        `checking bucket ${Bucket}`,
        async () => {
          const out = await s3.send(new s3sdk.HeadBucketCommand({Bucket}))
          return {region: out.BucketRegion}
        },
        // S3 names the bucket's region even on a 403: the region probe keeps it.
        (error) => {
          const region = (error as {$response?: {headers?: Record<string, string>}}).$response?.headers?.['x-amz-bucket-region']
          return region ? {region} : undefined
        },
      ),
    probeObject: (Bucket, Key, size) =>
      call(`reading s3://${Bucket}/${Key}`, async () => {
        // A Range on an empty object answers 416: read it whole instead.
        const out = await s3.send(new s3sdk.GetObjectCommand({Bucket, Key, ...(size === 0 ? {} : {Range: 'bytes=0-0'})}))
        const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array()
        return {serverSideEncryption: out.ServerSideEncryption, kmsKeyId: out.SSEKMSKeyId, bucketKeyEnabled: out.BucketKeyEnabled, bytesRead: bytes.length}
      }),
  }
  return port
}
