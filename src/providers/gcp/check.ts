/**
 * `check` for gs://: the static layer (the bucket's settings and IAM policy evaluated with the
 * operator's credentials), then the live layer (the walker's real calls as the principal).
 */
import type {AppContext} from '../../context.js'
import type {CheckResult} from '../../core/verdict.js'
import {runCheckLayers} from '../check-flow.js'
import type {CheckOptions, GrantRequest} from '../types.js'
import {runGcpLive} from './check-live.js'
import {GCP_OPERATIONS} from './check-common.js'
import {runGcpStatic} from './check-static.js'
import {parseMember} from './member.js'
import type {GcpOptions} from './options.js'
import {clusterUrl} from './render.js'

/** Run the layers asked for and assemble the result; `ok` comes from the rows alone. */
export async function checkGcp(ctx: AppContext, req: GrantRequest<GcpOptions>, opts: CheckOptions): Promise<CheckResult> {
  const {member, email} = parseMember(req.principal)
  return runCheckLayers(ctx, opts, {
    source: clusterUrl(req.source),
    principal: member,
    order: GCP_OPERATIONS.map((o) => o.id),
    staticIntro: `Static layer: reading the IAM policy and settings of gs://${req.source.bucket} ...`,
    liveIntro: `Live layer: calling Cloud Storage as ${email} ...`,
    runStatic: () => runGcpStatic(ctx, req, opts, member),
    runLive: (stat) => runGcpLive(ctx, req, opts, email, member, stat ? {sample: stat.sample, staticRows: stat.rows} : {}),
  })
}
