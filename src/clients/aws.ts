/**
 * Narrow ports over the AWS SDK: only the calls ingestgate makes. The SDK modules are imported here,
 * inside createAwsClients, so commands that need no AWS (help, grant render) never load them.
 */
import {classifyAwsError, awsErrorCode} from './aws-errors.js'

export interface AwsClientOptions {
  profile?: string
  region?: string
  /** S3-compatible stores and emulators; path-style addressing is used with it. */
  endpointUrl?: string
  /** Explicit credentials (the demo's emulator, an assumed role); default: the credential chain. */
  credentials?: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
}

export interface CallerIdentity {
  account: string
  arn: string
}

export interface PublicAccessBlock {
  BlockPublicAcls?: boolean
  IgnorePublicAcls?: boolean
  BlockPublicPolicy?: boolean
  RestrictPublicBuckets?: boolean
}

export interface ObjectEncryption {
  key: string
  serverSideEncryption?: string
  kmsKeyId?: string
  bucketKeyEnabled?: boolean
}

export interface KmsKeyInfo {
  arn: string
  keyManager: 'AWS' | 'CUSTOMER' | string
  keyState?: string
}

export interface KmsGrant {
  grantId: string
  name?: string
  granteePrincipal?: string
  operations: string[]
}

export interface S3Port {
  /** Region of the bucket (x-amz-bucket-region). */
  headBucket(bucket: string, expectedOwner?: string): Promise<{region?: string}>
  /** The policy document text, or null when the bucket has none. */
  getBucketPolicy(bucket: string, expectedOwner?: string): Promise<string | null>
  putBucketPolicy(bucket: string, policy: string, expectedOwner?: string): Promise<void>
  deleteBucketPolicy(bucket: string, expectedOwner?: string): Promise<void>
  getPublicAccessBlock(bucket: string, expectedOwner?: string): Promise<PublicAccessBlock | null>
  /** KMS key ids (as configured: id, alias or ARN) of the bucket's default encryption. */
  getDefaultKmsKeys(bucket: string, expectedOwner?: string): Promise<string[]>
  listKeys(bucket: string, prefix: string, limit: number): Promise<Array<{key: string; size: number}>>
  headObject(bucket: string, key: string, expectedOwner?: string): Promise<ObjectEncryption>
  /** One page of ListObjectsV2 (the cluster's listing call). */
  listPage(bucket: string, prefix: string, token?: string, maxKeys?: number): Promise<{objects: Array<{key: string; size: number}>; nextToken?: string}>
  /** Bytes [start, end] (inclusive) of an object: a ranged GetObject, as the cluster reads headers. */
  getRange(bucket: string, key: string, start: number, end: number): Promise<{bytes: Uint8Array; totalSize?: number}>
  /** GetObjectAttributes (ETag and ObjectSize). */
  getAttributes(bucket: string, key: string): Promise<{etag?: string; size?: number}>
}

export interface KmsPort {
  describeKey(keyId: string): Promise<KmsKeyInfo>
  listGrants(keyArn: string): Promise<KmsGrant[]>
  createGrant(input: {keyArn: string; grantee: string; operations: string[]; name: string}): Promise<string>
  retireGrant(keyArn: string, grantId: string): Promise<void>
  revokeGrant(keyArn: string, grantId: string): Promise<void>
}

export interface AwsClients {
  options: AwsClientOptions
  callerIdentity(): Promise<CallerIdentity>
  s3: S3Port
  /** KMS is regional: one client per region, created on first use. */
  kms(region: string): KmsPort
}

/**
 * Build the AWS ports with the standard credential chain (or --profile), the SDK's own retries and
 * signing, and path-style addressing when an endpoint is given.
 */
export async function createAwsClients(options: AwsClientOptions, env: NodeJS.ProcessEnv = process.env): Promise<AwsClients> {
  const [s3sdk, kmssdk, stssdk] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/client-kms'),
    import('@aws-sdk/client-sts'),
  ])
  const endpoint = options.endpointUrl ?? env.AWS_ENDPOINT_URL
  const base = {
    ...(options.profile ? {profile: options.profile} : {}),
    ...(options.credentials ? {credentials: options.credentials} : {}),
    ...(endpoint ? {endpoint} : {}),
    region: options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
  }
  const s3 = new s3sdk.S3Client({...base, forcePathStyle: Boolean(endpoint), followRegionRedirects: true})
  const sts = new stssdk.STSClient(base)
  const kmsClients = new Map<string, InstanceType<typeof kmssdk.KMSClient>>()
  const errCtx = (doing: string) => ({doing, profile: options.profile, endpointUrl: endpoint})
  const call = async <T>(doing: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (error) {
      throw classifyAwsError(error, errCtx(doing), env)
    }
  }

  const s3Port: S3Port = {
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
        const page = await s3Port.listPage(bucket, prefix, token, Math.min(1000, limit - keys.length))
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
  }

  const kmsPort = (region: string): KmsPort => {
    let client = kmsClients.get(region)
    if (!client) {
      client = new kmssdk.KMSClient({...base, region})
      kmsClients.set(region, client)
    }
    const kms = client
    return {
      describeKey: (KeyId) =>
        call(`describing KMS key ${KeyId}`, async () => {
          const out = await kms.send(new kmssdk.DescribeKeyCommand({KeyId}))
          const md = out.KeyMetadata
          return {arn: md?.Arn ?? KeyId, keyManager: md?.KeyManager ?? 'CUSTOMER', keyState: md?.KeyState}
        }),
      listGrants: (KeyId) =>
        call(`listing the grants of KMS key ${KeyId}`, async () => {
          const grants: KmsGrant[] = []
          let Marker: string | undefined
          do {
            const out = await kms.send(new kmssdk.ListGrantsCommand({KeyId, Marker}))
            for (const g of out.Grants ?? []) {
              grants.push({grantId: g.GrantId ?? '', name: g.Name, granteePrincipal: g.GranteePrincipal, operations: g.Operations ?? []})
            }
            Marker = out.Truncated ? out.NextMarker : undefined
          } while (Marker)
          return grants
        }),
      createGrant: ({keyArn, grantee, operations, name}) =>
        call(`creating a grant on KMS key ${keyArn}`, async () => {
          const out = await kms.send(
            new kmssdk.CreateGrantCommand({KeyId: keyArn, GranteePrincipal: grantee, Operations: operations as never, Name: name}),
          )
          return out.GrantId ?? ''
        }),
      retireGrant: (KeyId, GrantId) =>
        call(`retiring grant ${GrantId} on KMS key ${KeyId}`, async () => {
          await kms.send(new kmssdk.RetireGrantCommand({KeyId, GrantId}))
        }),
      revokeGrant: (KeyId, GrantId) =>
        call(`revoking grant ${GrantId} on KMS key ${KeyId}`, async () => {
          await kms.send(new kmssdk.RevokeGrantCommand({KeyId, GrantId}))
        }),
    }
  }

  return {
    options,
    callerIdentity: () =>
      call('finding who the AWS credentials belong to', async () => {
        const out = await sts.send(new stssdk.GetCallerIdentityCommand({}))
        return {account: out.Account ?? '', arn: out.Arn ?? ''}
      }),
    s3: s3Port,
    kms: kmsPort,
  }
}
