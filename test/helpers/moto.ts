/**
 * Test harness: a real moto server (S3, KMS, IAM, STS) on 127.0.0.1, one per caller.
 *
 * moto is part of the machine image (python3 -m moto.server); it cannot be installed from the
 * registries this project reaches, so the harness fails with a clear message where it is missing.
 *
 * The server is started through emulators/moto_launcher.py (shipped for the demo too), which patches, in the emulator only,
 * moto bugs that break the JS SDK v3 (see that file and the team's test-infra notes):
 *  (a) GetObjectAttributes `Last-Modified` in ISO-8601 -> RFC 7231;
 *  (b) SigV4 checked against a decoded/re-quoted URL -> checked against the raw request URI;
 *  (c) KMS auth failures as XML -> the JSON error KMS sends (AccessDeniedException, ...);
 *  (d) KMS authorised against Resource "*" -> against the key ARN of the request's KeyId;
 *  (e) GetObjectAttributes honouring only the first attribute of `ETag, ObjectSize` -> all of them;
 *  (f) policy Action/Resource patterns used as regexes -> IAM wildcards (`*`, `?`), rest literal;
 *  (g) HeadBucket authorised as a pseudo-action s3:HeadBucket -> as s3:ListBucket, like AWS;
 *  (h) no x-amz-bucket-region on a 403 HeadBucket -> the bucket's region, like AWS.
 * It also makes the access key `testing`/`testing` act as the account root user (allowed
 * everything, survives /moto-api/reset), so tests can seed data with auth on.
 *
 * Every request is logged (before its response is sent) with method, raw path/query, status,
 * service and operation name, so tests can count write calls exactly.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {IAMClient, CreateRoleCommand, PutRolePolicyCommand, CreateUserCommand, PutUserPolicyCommand, CreateAccessKeyCommand} from '@aws-sdk/client-iam'
import {KMSClient} from '@aws-sdk/client-kms'
import {S3Client} from '@aws-sdk/client-s3'
import {AssumeRoleCommand, STSClient} from '@aws-sdk/client-sts'

import {MOTO_LAUNCHER, assertMotoInstalled as assertMotoServerInstalled, startMotoServer, type MotoServer} from '../../src/demo/moto.js'

export {MOTO_LAUNCHER}

/** moto's default account (moto.core.DEFAULT_ACCOUNT_ID). */
export const MOTO_ACCOUNT_ID = '123456789012'
export const MOTO_REGION = 'us-east-1'
/** Root credentials of the default account (made all-powerful by the launcher). */
export const ROOT_CREDENTIALS: AwsCredentials = {accessKeyId: 'testing', secretAccessKey: 'testing'}


export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** One request as seen by the server. `path`/`query` are raw (still percent-encoded) as on the wire. */
export interface RequestLine {
  method: string
  path: string
  query: string
  status: number
  /** Signing service from the Authorization credential scope: 's3' | 'kms' | 'iam' | 'sts' | null (unsigned). */
  service: string | null
  /** Operation: X-Amz-Target suffix (KMS: 'CreateGrant'), or the Action= parameter (IAM/STS). null for S3. */
  op: string | null
  /** Raw X-Amz-Target header, if any. */
  target: string | null
  /** Seconds since the epoch (server clock). */
  time: number
  /** Query parameters, percent-decoded. */
  params: Record<string, string>
  /** S3 only (path-style): bucket and percent-decoded key ('' for bucket-level calls). */
  bucket?: string
  key?: string
  /**
   * Display form in the shape of moto's access log, trailing `/` and empty `=` dropped:
   * `PUT /bucket?policy`, `GET /bucket/a%20b.txt?x-id=GetObject`, `POST /` (KMS/IAM/STS).
   */
  line: string
  /** The Range request header (ranged GetObject), or null. */
  range: string | null
  /** Content-Length of the response (bytes sent), or null when the server sent none. */
  length: number | null
}

export interface MotoClients {
  s3: S3Client
  kms: KMSClient
  iam: IAMClient
  sts: STSClient
}

export interface TestIdentity {
  /** Role ARN (createRoleWithPolicy) or user ARN (createUserWithPolicy). */
  arn: string
  name: string
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  /** The same keys, ready for an SDK client's `credentials`. */
  credentials: AwsCredentials
}

export interface RoleIdentity extends TestIdentity {
  roleArn: string
  /** arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION: what moto reports as the caller. */
  assumedRoleArn: string
}

export interface StartMotoOptions {
  /** IAM authorisation on from the first request (INITIAL_NO_AUTH_ACTION_COUNT=0). Default false. */
  auth?: boolean
  /** Echo request lines on this process's stderr (default: only when MOTO_VERBOSE is set). */
  verbose?: boolean
  /** Extra launcher arguments, e.g. ['--without-patch', 'b'] to see a moto bug unpatched. */
  launcherArgs?: string[]
}

export interface Moto {
  readonly endpoint: string
  readonly port: number
  readonly region: string
  readonly accountId: string
  /** Path of the JSON-lines request log written by the launcher. */
  readonly logFile: string
  /** Whether IAM authorisation is currently on (as far as this harness set it). */
  readonly auth: boolean
  stop(): Promise<void>
  /** POST /moto-api/reset: wipes all state (root credentials keep working). */
  reset(): Promise<void>
  /**
   * POST /moto-api/reset-auth: the next `n` requests are not authorised, the ones after are.
   * 0 = auth on now; Infinity = auth off.
   */
  setAuth(n: number): Promise<void>
  /** Every AWS request since start (control calls to /moto-api are left out). */
  requests(): RequestLine[]
  /** A mark for requestsSince/writeCalls: the number of requests logged so far. */
  markLog(): number
  requestsSince(mark: number): RequestLine[]
  /** Requests since `mark` (default: since start) that change state. See isWriteCall. */
  writeCalls(sinceMark?: number): RequestLine[]
  /**
   * Environment for the SDK in a child process (or vi.stubEnv): test credentials, region, endpoint,
   * no profile/config-file lookups, no IMDS.
   */
  credentialsEnv(creds?: AwsCredentials): Record<string, string>
  /** SDK clients pointed at the server (root credentials unless given), maxAttempts 1. */
  clients(creds?: AwsCredentials): MotoClients
  /**
   * Create role `name` (trusting the account root) with `policyDoc` as its inline identity policy,
   * and assume it with the root credentials. moto authorises the session by the role's policies.
   */
  createRoleWithPolicy(name: string, policyDoc: object | string): Promise<RoleIdentity>
  /** Create IAM user `name` with `policyDoc` as inline policy and an access key (no session token). */
  createUserWithPolicy(name: string, policyDoc: object | string): Promise<TestIdentity>
}

// ---------------------------------------------------------------------------------------------
// Classification of write calls
// ---------------------------------------------------------------------------------------------

/**
 * Operation-name prefixes that change state in the JSON/query APIs (KMS, IAM, STS), where reads are
 * POSTs too. S3 is classified by method instead.
 */
export const WRITE_OPERATION_PREFIXES = [
  'Create', 'Put', 'Delete', 'Retire', 'Revoke', 'Update', 'Attach', 'Detach',
  'Add', 'Remove', 'Set', 'Tag', 'Untag', 'Enable', 'Disable', 'Schedule', 'Cancel',
  'Upload', 'Change', 'Reset', 'Import', 'Replicate', 'Rotate',
] as const

const WRITE_OP_RE = new RegExp(`^(?:${WRITE_OPERATION_PREFIXES.join('|')})[A-Z]`)

export function isWriteOperation(op: string): boolean {
  return WRITE_OP_RE.test(op)
}

/**
 * S3 (and any unsigned request without an operation name): PUT/DELETE/POST are writes, except
 * POST ?select (SelectObjectContent). KMS/IAM/STS: by operation name (WRITE_OPERATION_PREFIXES);
 * an unknown operation on a non-GET/HEAD request counts as a write, to err on the visible side.
 */
export function isWriteCall(r: Pick<RequestLine, 'method' | 'query' | 'service' | 'op'>): boolean {
  const method = r.method.toUpperCase()
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false
  if (r.op) return isWriteOperation(r.op)
  if (method === 'POST' && /(?:^|&)select(?:=|&|$)/.test(r.query)) return false
  return true
}

export function parseRequestLog(text: string): RequestLine[] {
  const out: RequestLine[] = []
  for (const raw of text.split('\n')) {
    if (!raw.trim()) continue
    let e: Record<string, unknown>
    try {
      e = JSON.parse(raw) as Record<string, unknown>
    } catch {
      continue // a line being written right now
    }
    const method = String(e.method ?? '')
    const path = String(e.path ?? '')
    const query = String(e.query ?? '')
    const service = typeof e.service === 'string' ? e.service : null
    const params: Record<string, string> = {}
    for (const [k, v] of new URLSearchParams(query.replace(/\+/g, '%2B'))) params[k] = v
    const shortPath = path.length > 1 ? path.replace(/\/$/, '') : path
    const shortQuery = query
      .split('&')
      .filter(Boolean)
      .map((p) => (p.endsWith('=') ? p.slice(0, -1) : p))
      .join('&')
    const line: RequestLine = {
      method,
      path,
      query,
      status: Number(e.status ?? 0),
      service,
      op: typeof e.op === 'string' && e.op ? e.op : null,
      target: typeof e.target === 'string' ? e.target : null,
      time: Number(e.time ?? 0),
      params,
      line: `${method} ${shortPath}${shortQuery ? `?${shortQuery}` : ''}`,
      range: typeof e.range === 'string' ? e.range : null,
      length: typeof e.length === 'number' ? e.length : null,
    }
    if (service === 's3' && path.length > 1) {
      const slash = path.indexOf('/', 1)
      line.bucket = safeDecode(slash < 0 ? path.slice(1) : path.slice(1, slash))
      line.key = slash < 0 ? '' : safeDecode(path.slice(slash + 1))
    }
    out.push(line)
  }
  return out
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function isControl(r: RequestLine): boolean {
  return r.path.startsWith('/moto-api') || r.path === '/favicon.ico'
}

// startMoto: the product's emulator launcher (src/emulators/moto.ts) plus a request log
// ---------------------------------------------------------------------------------------------

const liveDirs = new Set<string>()
process.on('exit', () => {
  for (const dir of liveDirs) rmSync(dir, {recursive: true, force: true})
})

/** Throws the "moto is not installed" error when `python3 -c 'import moto'` fails. */
export function assertMotoInstalled(): void {
  assertMotoServerInstalled()
}

export async function startMoto(opts: StartMotoOptions = {}): Promise<Moto> {
  const dir = mkdtempSync(join(tmpdir(), 'ingestgate-moto-'))
  liveDirs.add(dir)
  const logFile = join(dir, 'requests.jsonl')
  writeFileSync(logFile, '')
  const verbose = opts.verbose ?? Boolean(process.env.MOTO_VERBOSE)
  let server: MotoServer
  try {
    server = await startMotoServer({
      auth: opts.auth,
      logFile,
      launcherArgs: opts.launcherArgs,
      onStderr: verbose ? (chunk) => process.stderr.write(chunk) : undefined,
    })
  } catch (error) {
    rmSync(dir, {recursive: true, force: true})
    liveDirs.delete(dir)
    throw error
  }
  const {endpoint, port} = server

  let authOn = Boolean(opts.auth)

  const control = async (path: string, body?: string): Promise<void> => {
    const res = await fetch(`${endpoint}${path}`, {
      method: 'POST',
      headers: {'Content-Type': 'text/plain'},
      body: body ?? '',
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`moto ${path} failed: ${res.status} ${text}`)
  }

  const readLog = (): RequestLine[] => parseRequestLog(readFileSync(logFile, 'utf8')).filter((r) => !isControl(r))

  const credentialsEnv = (creds: AwsCredentials = ROOT_CREDENTIALS): Record<string, string> => ({
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    // Empty = none; also overrides a token inherited from the parent environment.
    AWS_SESSION_TOKEN: creds.sessionToken ?? '',
    AWS_REGION: MOTO_REGION,
    AWS_DEFAULT_REGION: MOTO_REGION,
    // A non-empty AWS_PROFILE makes the SDK skip env credentials; no file lookups at all.
    AWS_PROFILE: '',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL: endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  })

  const clients = (creds: AwsCredentials = ROOT_CREDENTIALS): MotoClients => {
    const common = {endpoint, region: MOTO_REGION, credentials: {...creds}, maxAttempts: 1}
    return {
      s3: new S3Client({...common, forcePathStyle: true}),
      kms: new KMSClient(common),
      iam: new IAMClient(common),
      sts: new STSClient(common),
    }
  }

  const policyText = (doc: object | string): string => (typeof doc === 'string' ? doc : JSON.stringify(doc))

  const moto: Moto = {
    endpoint,
    port,
    region: MOTO_REGION,
    accountId: MOTO_ACCOUNT_ID,
    logFile,
    get auth() {
      return authOn
    },
    async stop() {
      await server.stop()
      rmSync(dir, {recursive: true, force: true})
      liveDirs.delete(dir)
    },
    async reset() {
      await control('/moto-api/reset')
    },
    async setAuth(n: number) {
      await control('/moto-api/reset-auth', Number.isFinite(n) ? String(Math.max(0, Math.floor(n))) : 'inf')
      authOn = Number.isFinite(n)
    },
    requests: readLog,
    markLog() {
      return readLog().length
    },
    requestsSince(mark: number) {
      return readLog().slice(mark)
    },
    writeCalls(sinceMark = 0) {
      return readLog().slice(sinceMark).filter(isWriteCall)
    },
    credentialsEnv,
    clients,
    async createRoleWithPolicy(name: string, policyDoc: object | string): Promise<RoleIdentity> {
      const {iam, sts} = clients()
      const trust = {
        Version: '2012-10-17',
        Statement: [
          {Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${MOTO_ACCOUNT_ID}:root`}, Action: 'sts:AssumeRole'},
        ],
      }
      const role = await iam.send(new CreateRoleCommand({RoleName: name, AssumeRolePolicyDocument: JSON.stringify(trust)}))
      await iam.send(new PutRolePolicyCommand({RoleName: name, PolicyName: `${name}-policy`, PolicyDocument: policyText(policyDoc)}))
      const assumed = await sts.send(new AssumeRoleCommand({RoleArn: role.Role!.Arn!, RoleSessionName: `${name}-session`}))
      const c = assumed.Credentials!
      const credentials: AwsCredentials = {
        accessKeyId: c.AccessKeyId!,
        secretAccessKey: c.SecretAccessKey!,
        sessionToken: c.SessionToken!,
      }
      iam.destroy()
      sts.destroy()
      return {
        arn: role.Role!.Arn!,
        roleArn: role.Role!.Arn!,
        assumedRoleArn: assumed.AssumedRoleUser!.Arn!,
        name,
        ...credentials,
        credentials,
      }
    },
    async createUserWithPolicy(name: string, policyDoc: object | string): Promise<TestIdentity> {
      const {iam} = clients()
      const user = await iam.send(new CreateUserCommand({UserName: name}))
      await iam.send(new PutUserPolicyCommand({UserName: name, PolicyName: `${name}-policy`, PolicyDocument: policyText(policyDoc)}))
      const key = await iam.send(new CreateAccessKeyCommand({UserName: name}))
      iam.destroy()
      const credentials: AwsCredentials = {
        accessKeyId: key.AccessKey!.AccessKeyId!,
        secretAccessKey: key.AccessKey!.SecretAccessKey!,
      }
      return {arn: user.User!.Arn!, name, ...credentials, credentials}
    },
  }
  return moto
}

/**
 * How the reference cluster reaches moto as a given identity: the cloud flags of `cluster serve`
 * and an environment holding only these credentials (the AWS chain reads them as it would on a host).
 */
export function clusterOnMoto(
  moto: Pick<Moto, 'endpoint' | 'region'>,
  credentials: AwsCredentials,
  assumeRole?: string,
  extraEnv: NodeJS.ProcessEnv = {},
): {cloudFlags: Record<string, unknown>; env: NodeJS.ProcessEnv} {
  return {
    cloudFlags: {'endpoint-url': moto.endpoint, region: moto.region, ...(assumeRole ? {'assume-role': assumeRole} : {})},
    env: {
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      ...(credentials.sessionToken ? {AWS_SESSION_TOKEN: credentials.sessionToken} : {}),
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_EC2_METADATA_DISABLED: 'true',
      METADATA_SERVER_DETECTION: 'none',
      ...extraEnv,
    },
  }
}
