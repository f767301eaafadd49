/** The AWS provider: S3 bucket policy + KMS grants. */
import type {Provider} from '../types.js'
import {planAwsApply, planAwsRevoke} from './grant.js'
import {RENDER_FORMATS, renderAwsGrant, type RenderFormat} from './render.js'

export const awsProvider: Provider = {
  id: 's3',
  principalNoun: 'IAM role ARN',
  renderFormats: RENDER_FORMATS,
  principalFromSite: (site) => site.aws?.principal,
  async render(req, format) {
    const spec = {bucket: req.source.bucket, prefix: req.source.prefix, principalArn: req.principal, kmsKeyArns: req.kmsKeys}
    return renderAwsGrant(spec, format as RenderFormat)
  },
  planApply: planAwsApply,
  planRevoke: planAwsRevoke,
  // Loaded on first use: render and grant never load the check modules.
  check: async (ctx, req, opts) => (await import('./check.js')).checkAws(ctx, req, opts),
}
