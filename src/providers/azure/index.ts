/** The Azure provider: a Storage Blob Data Reader role assignment at container scope. */
import type {Provider} from '../types.js'
import {readAzureOptions, validateAzurePrincipal, type AzureOptions} from './options.js'
import {renderAzureGrant, RENDER_FORMATS} from './render.js'
import {grantSpec} from './spec.js'

// apply/revoke, check and the reader are loaded on first use: render, which must start fast and
// needs no network, loads neither the evaluator nor an SDK.
export const azureProvider: Provider<AzureOptions> = {
  id: 'az',
  cloudName: 'Azure',
  principalNoun: 'service principal object id (a GUID)',
  renderFormats: RENDER_FORMATS,
  operations: ['list', 'get'],
  principalFromSite: (site) => site.azure?.principal,
  readOptions: readAzureOptions,
  validatePrincipal: validateAzurePrincipal,
  async render(req, format) {
    validateAzurePrincipal(req.principal)
    const spec = grantSpec(req.source, req.principal, {subscriptionId: req.options.cloud.subscriptionId, resourceGroup: req.options.resourceGroup})
    return renderAzureGrant(spec, format, {applicationId: req.options.applicationId, tenantId: req.options.cloud.tenantId ?? req.options.siteTenantId})
  },
  planApply: async (ctx, req) => (await import('./grant.js')).planAzureApply(ctx, req),
  planRevoke: async (ctx, req) => (await import('./grant.js')).planAzureRevoke(ctx, req),
  status: async (ctx, req) => (await import('./grant-status.js')).azureGrantStatus(ctx, req),
  planRestore: async (ctx, req) => (await import('./grant.js')).planAzureRestore(ctx, req),
  check: async (ctx, req, opts) => (await import('./check.js')).checkAzure(ctx, req, opts),
  openReader: async (ctx, source, options, as) => (await import('./reader.js')).openBlobReader(ctx, source, options, as),
  locate: async (ctx, source, options) => (await import('./location.js')).locateStorageAccount(ctx, source, options),
}
