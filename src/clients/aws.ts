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
  /** Encryption-context constraints, when the grant has any. */
  constraints?: {encryptionContextSubset?: Record<string, string>; encryptionContextEquals?: Record<string, string>}
}

/** What a probe read of an object shows: its encryption (the same headers HeadObject gives). */
export interface ObjectProbe {
  serverSideEncryption?: string
  kmsKeyId?: string
  bucketKeyEnabled?: boolean
  bytesRead: number
}

export interface IamRoleInfo {
  arn: string
  /** AROA... unique id (what a bucket policy shows once the role is deleted). */
  roleId: string
  permissionsBoundaryArn?: string
}

/** Read-only IAM calls for the identity side of a role in the caller's own account. */
export interface IamPort {
  getRole(roleName: string): Promise<IamRoleInfo>
  /** Names of the role's inline policies. */
  listRolePolicies(roleName: string): Promise<string[]>
  /** An inline policy document (decoded JSON text). */
  getRolePolicy(roleName: string, policyName: string): Promise<string>
  listAttachedRolePolicies(roleName: string): Promise<Array<{name: string; arn: string}>>
  /** The default version of a managed policy (decoded JSON text). */
  getPolicyDocument(policyArn: string): Promise<string>
}

export interface AssumedRole {
  credentials: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
  /** arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION */
  assumedRoleArn: string
  expiration?: Date
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
  /** The whole object as a stream (the cluster's upload reads it); errors before the first byte are classified. */
  getObjectStream(bucket: string, key: string): Promise<{body: NodeJS.ReadableStream; size?: number}>
  /** Object Ownership of the bucket (BucketOwnerEnforced, ...), or null when none is configured. */
  getOwnershipControls(bucket: string, expectedOwner?: string): Promise<string | null>
  /**
   * HeadBucket without ExpectedBucketOwner, as the ingest principal does it. On failure the thrown
   * AppError's `data.region` carries x-amz-bucket-region when S3 sent it (it does even on a 403).
   */
  probeBucket(bucket: string): Promise<{region?: string}>
  /** Read the first byte of an object (the whole object when `size` is 0), as the cluster reads headers. */
  probeObject(bucket: string, key: string, size?: number): Promise<ObjectProbe>
}

export interface KmsPort {
  describeKey(keyId: string): Promise<KmsKeyInfo>
  listGrants(keyArn: string): Promise<KmsGrant[]>
  createGrant(input: {keyArn: string; grantee: string; operations: string[]; name: string}): Promise<string>
  retireGrant(keyArn: string, grantId: string): Promise<void>
  revokeGrant(keyArn: string, grantId: string): Promise<void>
  /** The key policy (the only one a key has, "default"). */
  getKeyPolicy(keyArn: string): Promise<string>
}

export interface AwsClients {
  options: AwsClientOptions
  callerIdentity(): Promise<CallerIdentity>
  s3: S3Port
  /** KMS is regional: one client per region, created on first use. */
  kms(region: string): KmsPort
  /** IAM (global); its SDK is loaded on first use only. */
  iam(): Promise<IamPort>
  /** STS AssumeRole with these credentials (ExternalId when the role's trust policy asks for one). */
  assumeRole(input: {roleArn: string; externalId?: string; sessionName: string; durationSeconds?: number}): Promise<AssumedRole>
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
  // The SDK's chain reads process.env; a context may carry another environment (the reference
  // cluster's, a test's), so the chain's first two steps (keys, then AWS_PROFILE) are taken from it
  // here. A --profile given is used alone, as the user asked.
  const envKeys =
    !options.credentials && !options.profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? {sessionToken: env.AWS_SESSION_TOKEN} : {})}
      : undefined
  const credentials = options.credentials ?? envKeys
  const profile = options.profile ?? (credentials ? undefined : env.AWS_PROFILE || undefined)
  const base = {
    ...(profile ? {profile} : {}),
    ...(credentials ? {credentials} : {}),
    ...(endpoint ? {endpoint} : {}),
    region: options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
  }
  const s3 = new s3sdk.S3Client({...base, forcePathStyle: Boolean(endpoint), followRegionRedirects: true})
  const sts = new stssdk.STSClient(base)
  const kmsClients = new Map<string, InstanceType<typeof kmssdk.KMSClient>>()
  const errCtx = (doing: string) => ({doing, profile, endpointUrl: endpoint, explicitCredentials: Boolean(options.credentials), environmentKeys: Boolean(envKeys)})
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
    probeBucket: async (Bucket) => {
      try {
        const out = await s3.send(new s3sdk.HeadBucketCommand({Bucket}))
        return {region: out.BucketRegion}
      } catch (error) {
        const headers = (error as {$response?: {headers?: Record<string, string>}}).$response?.headers ?? {}
        const e = classifyAwsError(error, errCtx(`checking bucket ${Bucket}`), env)
        const region = headers['x-amz-bucket-region']
        throw region ? Object.assign(e, {data: {...e.data, region}}) : e
      }
    },
    probeObject: (Bucket, Key, size) =>
      call(`reading s3://${Bucket}/${Key}`, async () => {
        // A Range on an empty object answers 416: read it whole instead.
        const out = await s3.send(new s3sdk.GetObjectCommand({Bucket, Key, ...(size === 0 ? {} : {Range: 'bytes=0-0'})}))
        const bytes = out.Body ? await out.Body.transformToByteArray() : new Uint8Array()
        return {serverSideEncryption: out.ServerSideEncryption, kmsKeyId: out.SSEKMSKeyId, bucketKeyEnabled: out.BucketKeyEnabled, bytesRead: bytes.length}
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
              const c = g.Constraints
              grants.push({
                grantId: g.GrantId ?? '',
                name: g.Name,
                granteePrincipal: g.GranteePrincipal,
                operations: g.Operations ?? [],
                ...(c && (c.EncryptionContextSubset || c.EncryptionContextEquals)
                  ? {constraints: {encryptionContextSubset: c.EncryptionContextSubset, encryptionContextEquals: c.EncryptionContextEquals}}
                  : {}),
              })
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
      getKeyPolicy: (KeyId) =>
        call(`reading the key policy of KMS key ${KeyId}`, async () => {
          const out = await kms.send(new kmssdk.GetKeyPolicyCommand({KeyId, PolicyName: 'default'}))
          return out.Policy ?? ''
        }),
    }
  }

  let iamPort: Promise<IamPort> | undefined
  const makeIam = async (): Promise<IamPort> => {
    const iamsdk = await import('@aws-sdk/client-iam')
    // IAM is global: its endpoint is in us-east-1 whatever region the bucket is in (emulators take any).
    const iam = new iamsdk.IAMClient({...base, region: endpoint ? base.region : 'us-east-1'})
    // IAM returns policy documents URL-encoded (RFC 3986); some stores return the JSON as is.
    const decode = (doc: string | undefined) => {
      const text = (doc ?? '').trim()
      return text.startsWith('{') ? text : decodeURIComponent(text)
    }
    const pages = async <T>(fetch: (Marker?: string) => Promise<{items: T[]; IsTruncated?: boolean; Marker?: string}>) => {
      const all: T[] = []
      let Marker: string | undefined
      do {
        const page = await fetch(Marker)
        all.push(...page.items)
        Marker = page.IsTruncated ? page.Marker : undefined
      } while (Marker)
      return all
    }
    return {
      getRole: (RoleName) =>
        call(`reading IAM role ${RoleName}`, async () => {
          const out = await iam.send(new iamsdk.GetRoleCommand({RoleName}))
          return {arn: out.Role?.Arn ?? '', roleId: out.Role?.RoleId ?? '', permissionsBoundaryArn: out.Role?.PermissionsBoundary?.PermissionsBoundaryArn}
        }),
      listRolePolicies: (RoleName) =>
        call(`listing the inline policies of IAM role ${RoleName}`, () =>
          pages(async (Marker) => {
            const out = await iam.send(new iamsdk.ListRolePoliciesCommand({RoleName, Marker}))
            return {items: out.PolicyNames ?? [], IsTruncated: out.IsTruncated, Marker: out.Marker}
          }),
        ),
      getRolePolicy: (RoleName, PolicyName) =>
        call(`reading inline policy ${PolicyName} of IAM role ${RoleName}`, async () => {
          const out = await iam.send(new iamsdk.GetRolePolicyCommand({RoleName, PolicyName}))
          return decode(out.PolicyDocument)
        }),
      listAttachedRolePolicies: (RoleName) =>
        call(`listing the managed policies of IAM role ${RoleName}`, () =>
          pages(async (Marker) => {
            const out = await iam.send(new iamsdk.ListAttachedRolePoliciesCommand({RoleName, Marker}))
            return {items: (out.AttachedPolicies ?? []).map((p) => ({name: p.PolicyName ?? '', arn: p.PolicyArn ?? ''})), IsTruncated: out.IsTruncated, Marker: out.Marker}
          }),
        ),
      getPolicyDocument: (PolicyArn) =>
        call(`reading managed policy ${PolicyArn}`, async () => {
          const policy = await iam.send(new iamsdk.GetPolicyCommand({PolicyArn}))
          const VersionId = policy.Policy?.DefaultVersionId
          const out = await iam.send(new iamsdk.GetPolicyVersionCommand({PolicyArn, VersionId}))
          return decode(out.PolicyVersion?.Document)
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
    iam: () => (iamPort ??= makeIam()),
    assumeRole: ({roleArn, externalId, sessionName, durationSeconds}) =>
      call(`assuming role ${roleArn}`, async () => {
        const out = await sts.send(
          new stssdk.AssumeRoleCommand({RoleArn: roleArn, RoleSessionName: sessionName, ExternalId: externalId, DurationSeconds: durationSeconds}),
        )
        const c = out.Credentials
        if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error('AssumeRole returned no credentials')
        return {
          credentials: {accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken},
          assumedRoleArn: out.AssumedRoleUser?.Arn ?? '',
          expiration: c.Expiration,
        }
      }),
  }
}
