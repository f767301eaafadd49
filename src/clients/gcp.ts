/**
 * The narrow port over @google-cloud/storage and google-auth-library: only the calls ingestgate
 * makes, each turning a failure into a typed AppError (gcp-errors.ts). Imported lazily by
 * AppContext.gcp(), so --help and grant render load no Google library.
 *
 * Credentials: GOOGLE_OAUTH_ACCESS_TOKEN first (as Terraform's google provider), then Application
 * Default Credentials; with `impersonate`, IAM Credentials generateAccessToken with those as the
 * source (google-auth-library's Impersonated). The storage client sends no credentials to a custom
 * endpoint unless told to (useAuthWithCustomEndpoint); we tell it, because --endpoint-url is a
 * real endpoint (Private Service Connect) as often as a test double.
 */
import type {Readable} from 'node:stream'

import {registerSecret} from '../output/redact.js'
import type {BucketIamPolicy} from '../providers/gcp/policy.js'
import type {SourceObject} from '../providers/types.js'
import {gcpError} from './gcp-errors.js'

export interface GcpClientOptions {
  endpointUrl?: string
  /** Act as this service account (e-mail). */
  impersonate?: string
  /** userProject (billing) for requester-pays buckets. */
  project?: string
  iamCredentialsEndpoint?: string
  /** The IAM API root (roles.get for custom roles); default https://iam.googleapis.com. */
  iamEndpoint?: string
  tokenInfoUrl?: string
}

export interface GcsBucketInfo {
  name: string
  uniformBucketLevelAccess: boolean
  publicAccessPrevention?: string
  requesterPays: boolean
  defaultKmsKeyName?: string
  retentionPolicy?: {retentionPeriod?: string; isLocked?: boolean}
  location?: string
  /** `region`, `dual-region` or `multi-region`, as the JSON API spells it. */
  locationType?: string
  projectNumber?: string
}

export interface GcpClients {
  /** Where the credentials come from, for messages (never a credential). */
  credentialSource: string
  /** The e-mail the calls run as, when it can be found out; undefined when it cannot. */
  identity(): Promise<string | undefined>
  getBucket(bucket: string): Promise<GcsBucketInfo>
  getIamPolicy(bucket: string): Promise<BucketIamPolicy>
  /** Write with the policy's etag: a stale etag fails 412 (classified as stale-etag). */
  setIamPolicy(bucket: string, policy: BucketIamPolicy): Promise<BucketIamPolicy>
  /** The subset of `permissions` the caller holds on the bucket. */
  testIamPermissions(bucket: string, permissions: string[]): Promise<string[]>
  listPage(bucket: string, prefix: string, token?: string, max?: number): Promise<{objects: SourceObject[]; nextToken?: string}>
  /** The permissions of a custom role (IAM roles.get; needs iam.roles.get on its project or organisation). */
  getRolePermissions(name: string): Promise<string[]>
  /** Names of the IAM deny policies attached to a project, by project number (needs iam.denypolicies.list). */
  listDenyPolicies(projectNumber: string): Promise<string[]>
  readRange(bucket: string, key: string, start: number, end: number): Promise<Uint8Array>
  openStream(bucket: string, key: string): Promise<NodeJS.ReadableStream>
}

const SCOPES = ['https://www.googleapis.com/auth/cloud-platform']

/** Create the clients. Makes no call: credentials are resolved on first use. */
export async function createGcpClients(options: GcpClientOptions, env: NodeJS.ProcessEnv): Promise<GcpClients> {
  const [{Storage}, gal] = await Promise.all([import('@google-cloud/storage'), import('google-auth-library')])
  const {GoogleAuth, Impersonated, OAuth2Client} = gal
  type AuthClient = InstanceType<typeof OAuth2Client>

  const envToken = env.GOOGLE_OAUTH_ACCESS_TOKEN?.trim()
  registerSecret(envToken)
  let googleAuth: InstanceType<typeof GoogleAuth> | undefined
  let baseClient: Promise<AuthClient> | undefined
  const base = (): Promise<AuthClient> => {
    baseClient ??= (async () => {
      if (envToken) {
        const c = new OAuth2Client()
        c.setCredentials({access_token: envToken})
        return c
      }
      googleAuth = new GoogleAuth({scopes: SCOPES})
      try {
        return (await googleAuth.getClient()) as unknown as AuthClient
      } catch (error) {
        throw gcpError(error, 'the Google credentials (Application Default Credentials)')
      }
    })()
    return baseClient
  }
  const credentialSource = `${envToken ? 'GOOGLE_OAUTH_ACCESS_TOKEN' : 'Application Default Credentials'}${options.impersonate ? `, impersonating ${options.impersonate}` : ''}`

  let authClient: Promise<AuthClient> | undefined
  const auth = (): Promise<AuthClient> => {
    authClient ??= (async () => {
      const source = await base()
      if (!options.impersonate) return source
      return new Impersonated({
        sourceClient: source,
        targetPrincipal: options.impersonate,
        targetScopes: SCOPES,
        lifetime: 3600,
        ...(options.iamCredentialsEndpoint ? {endpoint: options.iamCredentialsEndpoint} : {}),
      }) as unknown as AuthClient
    })()
    return authClient
  }

  /** The access token in use, registered as a secret so it is redacted wherever it might appear. */
  const token = async (): Promise<string | undefined> => {
    const c = await auth()
    try {
      const t = (await c.getAccessToken()).token ?? undefined
      registerSecret(t)
      return t
    } catch (error) {
      throw gcpError(error, options.impersonate ? `impersonating ${options.impersonate}` : 'getting an access token')
    }
  }

  let storage: InstanceType<typeof Storage> | undefined
  const gcs = async () => {
    if (!storage) {
      const authClient = await auth()
      await token()
      storage = new Storage({
        authClient,
        ...(options.endpointUrl ? {apiEndpoint: options.endpointUrl, useAuthWithCustomEndpoint: true} : {}),
        // The library retries idempotent calls; keep that short so a check reports quickly.
        retryOptions: {autoRetry: true, maxRetries: 2, retryDelayMultiplier: 2, totalTimeout: 30, maxRetryDelay: 4},
      })
    }
    return storage
  }
  const bucketOf = async (name: string) => (await gcs()).bucket(name, options.project ? {userProject: options.project} : undefined)

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (error) {
      throw gcpError(error, what)
    }
  }

  return {
    credentialSource,
    async identity() {
      // Minting the impersonated token proves the impersonation works (or throws why it does not).
      if (options.impersonate) {
        await token()
        return options.impersonate
      }
      const c = await base()
      if (!envToken && googleAuth) {
        try {
          const creds = await googleAuth.getCredentials()
          if (creds.client_email) return creds.client_email
        } catch {
          // Fall through to tokeninfo.
        }
      }
      const t = await token()
      if (!t) return undefined
      try {
        const info = await new OAuth2Client(options.tokenInfoUrl ? {endpoints: {tokenInfoUrl: options.tokenInfoUrl}} : {}).getTokenInfo(t)
        return info.email ?? undefined
      } catch {
        void c
        return undefined
      }
    },
    getBucket: (bucket) =>
      call(`reading the metadata of gs://${bucket}`, async () => {
        const [m] = await (await bucketOf(bucket)).getMetadata()
        return {
          name: m.name ?? bucket,
          uniformBucketLevelAccess: m.iamConfiguration?.uniformBucketLevelAccess?.enabled === true,
          publicAccessPrevention: m.iamConfiguration?.publicAccessPrevention,
          requesterPays: m.billing?.requesterPays === true,
          defaultKmsKeyName: m.encryption?.defaultKmsKeyName,
          retentionPolicy: m.retentionPolicy ? {retentionPeriod: String(m.retentionPolicy.retentionPeriod ?? ''), isLocked: Boolean(m.retentionPolicy.isLocked)} : undefined,
          location: m.location,
          locationType: m.locationType,
          projectNumber: m.projectNumber === undefined ? undefined : String(m.projectNumber),
        }
      }),
    getIamPolicy: (bucket) =>
      call(`reading the IAM policy of gs://${bucket}`, async () => {
        const [p] = await (await bucketOf(bucket)).iam.getPolicy({requestedPolicyVersion: 3})
        return p as unknown as BucketIamPolicy
      }),
    setIamPolicy: (bucket, policy) =>
      call(`writing the IAM policy of gs://${bucket}`, async () => {
        const body = {version: policy.version ?? 1, bindings: policy.bindings, etag: policy.etag}
        const [p] = await (await bucketOf(bucket)).iam.setPolicy(body as never)
        return p as unknown as BucketIamPolicy
      }),
    testIamPermissions: (bucket, permissions) =>
      call(`testing permissions on gs://${bucket}`, async () => {
        const [r] = await (await bucketOf(bucket)).iam.testPermissions(permissions)
        return Object.entries(r).filter(([, v]) => v).map(([k]) => k)
      }),
    listPage: (bucket, prefix, pageToken, max = 1000) =>
      call(`listing gs://${bucket}/${prefix}`, async () => {
        const [files, next] = await (await bucketOf(bucket)).getFiles({prefix, pageToken, maxResults: max, autoPaginate: false})
        return {
          objects: files.map((f) => ({key: f.name, size: Number(f.metadata.size ?? 0)})),
          nextToken: (next as {pageToken?: string} | null)?.pageToken,
        }
      }),
    getRolePermissions: (name) =>
      call(`reading the custom role ${name}`, async () => {
        const c = await auth()
        const root = options.iamEndpoint ?? 'https://iam.googleapis.com'
        const r = await c.request<{includedPermissions?: string[]}>({url: `${root}/v1/${name}`, method: 'GET', retry: false})
        return r.data.includedPermissions ?? []
      }),
    listDenyPolicies: (projectNumber) =>
      call(`listing the IAM deny policies of project ${projectNumber}`, async () => {
        const c = await auth()
        const root = options.iamEndpoint ?? 'https://iam.googleapis.com'
        const names: string[] = []
        let pageToken: string | undefined
        do {
          const url = `${root}/v2/policies/${encodeURIComponent(`cloudresourcemanager.googleapis.com/projects/${projectNumber}`)}/denypolicies${pageToken ? `?pageToken=${encodeURIComponent(pageToken)}` : ''}`
          const r = await c.request<{policies?: Array<{name?: string; displayName?: string}>; nextPageToken?: string}>({url, method: 'GET', retry: false})
          for (const p of r.data.policies ?? []) names.push(p.displayName || p.name || '(unnamed)')
          pageToken = r.data.nextPageToken
        } while (pageToken)
        return names
      }),
    readRange: (bucket, key, start, end) =>
      call(`reading gs://${bucket}/${key}`, async () => {
        try {
          const [buf] = await (await bucketOf(bucket)).file(key).download({start, end, validation: false})
          return new Uint8Array(buf)
        } catch (error) {
          // A range past the end of a short (or empty) object: fewer bytes, as the reader promises.
          if ((error as {code?: number}).code === 416) return new Uint8Array(0)
          throw error
        }
      }),
    openStream: (bucket, key) =>
      call(`reading gs://${bucket}/${key}`, async () => {
        const stream: Readable = (await bucketOf(bucket)).file(key).createReadStream({validation: false})
        // Surface the first error (a 403) before handing the stream on, so callers see a typed error.
        await new Promise<void>((resolve, reject) => {
          stream.once('readable', () => resolve())
          stream.once('end', () => resolve())
          stream.once('error', reject)
        })
        return stream
      }),
  }
}
