/**
 * Reading an S3 source, for the ingest preflight (the operator's credentials) and the reference
 * cluster (the ingest principal's): through the same S3 port the rest of the tool uses, with an
 * assumed role re-assumed before it expires. A missing grant fails here exactly as it would on the
 * vendor's cluster.
 */
import type {AwsClientOptions, AwsClients} from '../../clients/aws/index.js'
import type {AppContext} from '../../context.js'
import {registerSecret} from '../../output/redact.js'
import {directoryPrefix, type Source} from '../../source.js'
import type {SourceReader} from '../types.js'
import type {AwsOptions} from './options.js'

const REFRESH_MARGIN_MS = 5 * 60_000

/** The AWS clients of one identity; an assumed role is re-assumed before it expires. */
export class AwsIdentity {
  private clients?: AwsClients
  private expires = 0
  private pending?: Promise<AwsClients>

  constructor(
    private readonly ctx: AppContext,
    private readonly base: AwsClientOptions,
    private readonly assume?: {roleArn: string; externalId?: string; sessionName: string},
  ) {}

  async get(): Promise<AwsClients> {
    if (this.clients && Date.now() < this.expires - REFRESH_MARGIN_MS) return this.clients
    this.pending ??= this.create().finally(() => (this.pending = undefined))
    return this.pending
  }

  private async create(): Promise<AwsClients> {
    const own = await this.ctx.clients.aws(this.base)
    if (!this.assume) {
      this.clients = own
      this.expires = Number.POSITIVE_INFINITY
      return own
    }
    const {credentials, expiration} = await own.assumeRole(this.assume)
    registerSecret(credentials.secretAccessKey)
    registerSecret(credentials.sessionToken)
    this.clients = await this.ctx.clients.aws({region: this.base.region, endpointUrl: this.base.endpointUrl, credentials})
    this.expires = expiration ? expiration.getTime() : Date.now() + 3600_000
    return this.clients
  }
}

/** The identity that acts as the principal: an assumed role, the principal's profile, or the operator's chain. */
export function principalIdentity(ctx: AppContext, options: AwsOptions, sessionName: string): AwsIdentity {
  const {cloud, live} = options
  const where = {region: cloud.region, endpointUrl: cloud.endpointUrl}
  if (live.assumeRole) return new AwsIdentity(ctx, {...where, profile: live.profile ?? cloud.profile}, {roleArn: live.assumeRole, externalId: live.externalId, sessionName})
  if (live.profile) return new AwsIdentity(ctx, {...where, profile: live.profile})
  return new AwsIdentity(ctx, cloud)
}

// One identity per options object: the cluster reads many sources with one role session.
const identities = new WeakMap<AwsOptions, Record<'operator' | 'principal', AwsIdentity | undefined>>()

/** An S3 source read through the S3 port of the operator or of the principal. */
export function openS3Reader(ctx: AppContext, source: Source, options: AwsOptions, as: 'operator' | 'principal'): SourceReader {
  let byRole = identities.get(options)
  if (!byRole) identities.set(options, (byRole = {operator: undefined, principal: undefined}))
  const identity = (byRole[as] ??= as === 'operator' ? new AwsIdentity(ctx, options.cloud) : principalIdentity(ctx, options, 'ingestgate-cluster'))
  // A prefix names a directory: list "dir/" so "dir2/..." is not part of the ingest.
  const prefix = directoryPrefix(source)
  return {
    url: `s3://${source.bucket}/${prefix}`,
    async listPage(token) {
      return (await identity.get()).s3.listPage(source.bucket, prefix, token, 1000)
    },
    relPath: (key) => (key.startsWith(prefix) ? key.slice(prefix.length) : key),
    async readRange(key, start, end) {
      return (await (await identity.get()).s3.getRange(source.bucket, key, start, end)).bytes
    },
    async openStream(key) {
      return (await (await identity.get()).s3.getObjectStream(source.bucket, key)).body
    },
    async identity() {
      return (await (await identity.get()).callerIdentity()).arn
    },
  }
}
