/**
 * How the reference cluster reads a source: as the ingest principal, through the same AWS ports the
 * rest of the tool uses (src/clients/aws.ts), with the cluster's own credentials (profile, the
 * environment, explicit keys) and, with --assume-role, a role session on top of them. A grant that is
 * missing fails here exactly as it would on the vendor's cluster.
 */
import type {AwsClientOptions, AwsClients} from '../clients/aws.js'
import {AppError} from '../errors.js'
import {directoryPrefix, type Source} from '../source.js'
import type {ClusterCode} from './codes.js'

export interface PrincipalOptions {
  /** Credentials, region and endpoint of the cluster (the ingest principal, or what assumes it). */
  aws: AwsClientOptions
  /** Role ARN to assume with those credentials (the ingest role). */
  assumeRole?: string
  externalId?: string
  env: NodeJS.ProcessEnv
}

/** The part of a source the stages use. */
export interface SourceReader {
  /** The source as a URL ending in `/` when it is a prefix. */
  url: string
  listPage(token?: string): Promise<{objects: Array<{key: string; size: number}>; nextToken?: string}>
  /** Path of an object relative to the source (what the audit log and review paths use). */
  relPath(key: string): string
  readRange(key: string, start: number, end: number): Promise<Uint8Array>
  openStream(key: string): Promise<NodeJS.ReadableStream>
}

const REFRESH_MARGIN_MS = 5 * 60_000

/** The AWS clients of the ingest principal; an assumed role is re-assumed before it expires. */
export class AwsPrincipal {
  private clients?: AwsClients
  private expires = 0
  private pending?: Promise<AwsClients>

  constructor(private readonly opts: PrincipalOptions) {}

  async get(): Promise<AwsClients> {
    if (this.clients && Date.now() < this.expires - REFRESH_MARGIN_MS) return this.clients
    this.pending ??= this.create().finally(() => (this.pending = undefined))
    return this.pending
  }

  private async create(): Promise<AwsClients> {
    const {createAwsClients} = await import('../clients/aws.js')
    const {aws, assumeRole, externalId, env} = this.opts
    const own = await createAwsClients(aws, env)
    if (!assumeRole) {
      this.clients = own
      this.expires = Number.POSITIVE_INFINITY
      return own
    }
    const {credentials, expiration} = await own.assumeRole({roleArn: assumeRole, externalId, sessionName: 'ingestgate-cluster'})
    this.clients = await createAwsClients({region: aws.region, endpointUrl: aws.endpointUrl, credentials}, env)
    this.expires = expiration ? expiration.getTime() : Date.now() + 3600_000
    return this.clients
  }
}

/** An S3 source read through the principal's S3 port. */
export function s3Reader(source: Source, principal: AwsPrincipal): SourceReader {
  // A prefix names a directory: list "dir/" so "dir2/..." is not part of the ingest.
  const prefix = directoryPrefix(source)
  return {
    url: `s3://${source.bucket}/${prefix}`,
    async listPage(token) {
      return (await principal.get()).s3.listPage(source.bucket, prefix, token, 1000)
    },
    relPath: (key) => (key.startsWith(prefix) ? key.slice(prefix.length) : key),
    async readRange(key, start, end) {
      return (await (await principal.get()).s3.getRange(source.bucket, key, start, end)).bytes
    },
    async openStream(key) {
      return (await (await principal.get()).s3.getObjectStream(source.bucket, key)).body
    },
  }
}

/** The general code for an error of the storage or credentials (undefined: a per-file problem). */
export function sourceErrorCode(error: unknown): ClusterCode | undefined {
  if (!(error instanceof AppError)) return undefined
  switch (error.code) {
    case 'ACCESS_DENIED':
      return 'GE02'
    case 'NO_SUCH_BUCKET':
      return 'GE04'
    case 'NO_CREDENTIALS':
    case 'EXPIRED_CREDENTIALS':
    case 'INVALID_CREDENTIALS':
      return 'GE06'
    case 'NETWORK':
      return 'GE07'
    default:
      return undefined
  }
}
