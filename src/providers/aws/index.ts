/** The AWS provider: S3 bucket policy + KMS grants. */
import type {Provider} from '../types.js'
import {AWS_OPERATIONS} from './check-common.js'
import {parsePrincipalArn} from './grant-spec.js'
import {directoryPrefix} from '../../source.js'
import {readAwsOptions, type AwsOptions, type AwsRequest} from './options.js'
import {RENDER_FORMATS, renderAwsGrant, type RenderFormat} from './render.js'

/**
 * A prefix names a directory, as the ingest reads it: `s3://b/dicom` grants, checks and lists
 * `dicom/`, never `dicom-phi-raw/`. Every AWS computation (resources, s3:prefix, Sids, listings)
 * sees the directory form.
 */
function asDirectory<R extends Pick<AwsRequest, 'source'>>(req: R): R {
  return {...req, source: {...req.source, prefix: directoryPrefix(req.source)}}
}

// apply/revoke, check and the reader are loaded on first use: render, which must start fast and
// needs no network, loads neither the policy merge nor the evaluator nor an SDK.
export const awsProvider: Provider<AwsOptions> = {
  id: 's3',
  cloudName: 'AWS',
  principalNoun: 'IAM role ARN',
  renderFormats: RENDER_FORMATS,
  operations: AWS_OPERATIONS,
  principalFromSite: (site) => site.aws?.principal,
  principalFromOptions: (options) => options.live.assumeRole,
  readOptions: readAwsOptions,
  validatePrincipal(principal) {
    // check also takes the assumed-role session ARN the cluster prints; it stands for its role.
    if (/^arn:[^:]+:sts::\d{12}:assumed-role\/[^/]+\/[^/]+$/.test(principal)) return
    parsePrincipalArn(principal)
  },
  async render(req, format) {
    const spec = {bucket: req.source.bucket, prefix: directoryPrefix(req.source), principalArn: req.principal, kmsKeyArns: req.options.kmsKeys}
    return renderAwsGrant(spec, format as RenderFormat)
  },
  planApply: async (ctx, req) => (await import('./grant.js')).planAwsApply(ctx, asDirectory(req), req.source.prefix),
  planRevoke: async (ctx, req) => (await import('./grant.js')).planAwsRevoke(ctx, asDirectory(req), req.source.prefix),
  status: async (ctx, req) => (await import('./grant-status.js')).awsGrantStatus(ctx, asDirectory(req), req.source.prefix),
  planRestore: async (ctx, req) => (await import('./grant.js')).planAwsRestore(ctx, req),
  check: async (ctx, req, opts) => (await import('./check.js')).checkAws(ctx, asDirectory(req), opts),
  openReader: async (ctx, source, options, as) => (await import('./reader.js')).openS3Reader(ctx, source, options, as),
  locate: async (ctx, source, options) => (await import('./location.js')).locateS3Bucket(ctx, source, options),
}
