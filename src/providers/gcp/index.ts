/** The GCP provider: Cloud Storage bucket IAM bindings for the ingest service account. */
import type {Provider} from '../types.js'
import {GCP_OPERATIONS} from './check-common.js'
import {parseMember} from './member.js'
import {readGcpOptions, type GcpOptions} from './options.js'
import {GCP_RENDER_FORMATS, renderGcpGrant} from './render.js'

// apply/revoke, check and the reader load the Google libraries (through context.gcp) on first use;
// render and option reading stay pure.
export const gcpProvider: Provider<GcpOptions> = {
  id: 'gs',
  cloudName: 'GCP',
  principalNoun: 'service-account member, e.g. serviceAccount:ingest@vendor-project.iam.gserviceaccount.com',
  renderFormats: GCP_RENDER_FORMATS,
  operations: GCP_OPERATIONS.map((o) => o.id),
  principalFromSite: (site) => site.gcp?.principal,
  readOptions: (input) => readGcpOptions(input),
  validatePrincipal: (principal) => void parseMember(principal),
  render: async (req, format) => renderGcpGrant(req.source, req.principal, format),
  planApply: async (ctx, req) => (await import('./grant.js')).planGcpApply(ctx, req),
  planRevoke: async (ctx, req) => (await import('./grant.js')).planGcpRevoke(ctx, req),
  status: async (ctx, req) => (await import('./grant-status.js')).gcpGrantStatus(ctx, req),
  planRestore: async (ctx, req) => (await import('./grant.js')).planGcpRestore(ctx, req),
  check: async (ctx, req, opts) => (await import('./check.js')).checkGcp(ctx, req, opts),
  openReader: async (ctx, source, options, as) => (await import('./reader.js')).openGcpReader(ctx, source, options, as),
  locate: async (ctx, source, options) => (await import('./location.js')).locateGcsBucket(ctx, source, options),
}
