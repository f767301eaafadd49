/** The AWS provider: S3 bucket policy + KMS grants. */
import type {Provider} from '../types.js'
import {RENDER_FORMATS, renderAwsGrant, type RenderFormat} from './render.js'

// apply/revoke and check are loaded on first use: render, which must start fast and needs no
// network, loads neither the policy merge nor the evaluator.
export const awsProvider: Provider = {
  id: 's3',
  principalNoun: 'IAM role ARN',
  renderFormats: RENDER_FORMATS,
  principalFromSite: (site) => site.aws?.principal,
  async render(req, format) {
    const spec = {bucket: req.source.bucket, prefix: req.source.prefix, principalArn: req.principal, kmsKeyArns: req.kmsKeys}
    return renderAwsGrant(spec, format as RenderFormat)
  },
  planApply: async (ctx, req) => (await import('./grant.js')).planAwsApply(ctx, req),
  planRevoke: async (ctx, req) => (await import('./grant.js')).planAwsRevoke(ctx, req),
  check: async (ctx, req, opts) => (await import('./check.js')).checkAws(ctx, req, opts),
}
