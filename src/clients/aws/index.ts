/**
 * Narrow ports over the AWS SDK: only the calls ingestgate makes. The SDK modules are imported here,
 * inside createAwsClients, so commands that need no AWS (help, grant render) never load them.
 */
import {classifyAwsError} from './errors.js'
import {createIamPort} from './iam.js'
import {createKmsPorts} from './kms.js'
import {createS3Port} from './s3.js'

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

/** Run one SDK call, turning its failure into a classified AppError that says what was being done. */
export type Call = <T>(doing: string, fn: () => Promise<T>, extraData?: (error: unknown) => Record<string, unknown> | undefined) => Promise<T>

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
  // cluster's, a test's), so the chain's first steps are taken from it here, in the SDK's order: a
  // profile (--profile, else AWS_PROFILE), else the keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
  const profile = options.credentials ? undefined : options.profile ?? (env.AWS_PROFILE || undefined)
  const envKeys =
    !options.credentials && !profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? {sessionToken: env.AWS_SESSION_TOKEN} : {})}
      : undefined
  // A profile goes to the provider chain by name, with a quiet logger: the chain's 8-line "Multiple
  // credential sources detected" block says nothing to a user who chose the profile.
  const quiet = {debug() {}, info() {}, warn() {}, error() {}}
  const credentials = options.credentials ?? envKeys ?? (profile ? (await import('@aws-sdk/credential-providers')).fromNodeProviderChain({profile, logger: quiet}) : undefined)
  const base = {
    ...(profile ? {profile} : {}),
    ...(credentials ? {credentials} : {}),
    ...(endpoint ? {endpoint} : {}),
    region: options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
  }
  const s3 = new s3sdk.S3Client({...base, forcePathStyle: Boolean(endpoint), followRegionRedirects: true})
  const sts = new stssdk.STSClient(base)
  const errCtx = (doing: string) => ({doing, profile, endpointUrl: endpoint, explicitCredentials: Boolean(options.credentials), environmentKeys: Boolean(envKeys)})
  const call: Call = async (doing, fn, extraData) => {
    try {
      return await fn()
    } catch (error) {
      const e = classifyAwsError(error, errCtx(doing), env)
      const extra = extraData?.(error)
      throw extra ? Object.assign(e, {data: {...e.data, ...extra}}) : e
    }
  }

  const makeIam = createIamPort(base, endpoint, call)
  let iamPort: Promise<IamPort> | undefined

  return {
    options,
    callerIdentity: () =>
      call('finding who the AWS credentials belong to', async () => {
        const out = await sts.send(new stssdk.GetCallerIdentityCommand({}))
        return {account: out.Account ?? '', arn: out.Arn ?? ''}
      }),
    s3: createS3Port(s3sdk, s3, call),
    kms: createKmsPorts(kmssdk, base, call),
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
