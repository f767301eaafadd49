/**
 * `check` for gs://: the static layer (the bucket's settings and IAM policy evaluated with the
 * operator's credentials), then the live layer (the walker's real calls as the principal).
 */
import type {AppContext} from '../../context.js'
import {buildResult, type CheckResult, type CheckRow, type Finding, type Layer} from '../../core/verdict.js'
import type {CheckOptions, GrantRequest} from '../types.js'
import {runGcpLive} from './check-live.js'
import {runGcpStatic, type StaticOutcome} from './check-static.js'
import {parseMember} from './member.js'
import type {GcpOptions} from './options.js'
import {clusterUrl} from './render.js'

/** Run the layers asked for and assemble the result; `ok` comes from the rows alone. */
export async function checkGcp(ctx: AppContext, req: GrantRequest<GcpOptions>, opts: CheckOptions): Promise<CheckResult> {
  const {member, email} = parseMember(req.principal)
  const layers: Layer[] = []
  const identities: CheckResult['identities'] = {}
  const rows: CheckRow[] = []
  const findings: Finding[] = []
  let stat: StaticOutcome | undefined
  if (opts.static) {
    ctx.ui.info(`Static layer: reading the IAM policy and settings of gs://${req.source.bucket} ...`)
    stat = await runGcpStatic(ctx, req, opts, member)
    layers.push('static')
    identities.static = stat.identity
    rows.push(...stat.rows)
    findings.push(...stat.findings)
  }
  if (opts.live) {
    ctx.ui.info(`Live layer: calling Cloud Storage as ${email} ...`)
    const live = await runGcpLive(ctx, req, opts, email, member, stat ? {sample: stat.sample, staticRows: stat.rows} : {})
    layers.push('live')
    identities.live = live.identity
    rows.push(...live.rows)
    findings.push(...live.findings)
  }
  return buildResult({source: clusterUrl(req.source), principal: member, layers, identities, operations: rows, findings})
}
