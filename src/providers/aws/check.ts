/**
 * `check` for AWS: the static layer (the admin's view of every document that decides access),
 * then the live layer (the cluster's real calls as the principal), as one result.
 */
import type {AppContext} from '../../context.js'
import type {CheckResult} from '../../core/verdict.js'
import {runCheckLayers} from '../check-flow.js'
import type {CheckOptions} from '../types.js'
import type {AwsRequest} from './options.js'
import {AWS_OPERATIONS, parseCheckPrincipal, remedyCommands} from './check-common.js'
import {runLiveLayer} from './check-live.js'
import {runStaticLayer} from './check-static.js'

/** Run the layers asked for and assemble the result; `ok` comes from the rows alone. */
export async function checkAws(ctx: AppContext, req: AwsRequest, opts: CheckOptions): Promise<CheckResult> {
  const principal = parseCheckPrincipal(req.principal)
  const remedies = remedyCommands(req, principal)
  return runCheckLayers(ctx, opts, {
    source: req.source.url,
    principal: principal.arn,
    order: AWS_OPERATIONS,
    staticIntro: `Static layer: reading the access configuration of ${req.source.url} ...`,
    liveIntro: `Live layer: calling S3 as ${principal.arn} ...`,
    runStatic: () => runStaticLayer(ctx, req, opts, principal, remedies),
    runLive: (stat) => runLiveLayer(ctx, req, opts, principal, remedies, stat ? {sample: stat.sample, keys: stat.keys, staticRows: stat.rows} : {}),
  })
}
