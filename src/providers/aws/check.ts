/**
 * `check` for AWS: the static layer (the admin's view of every document that decides access),
 * then the live layer (the cluster's real calls as the principal), as one result.
 */
import type {AppContext} from '../../context.js'
import {buildResult, type CheckResult, type CheckRow, type Finding, type Layer} from '../../core/verdict.js'
import type {CheckOptions} from '../types.js'
import type {AwsRequest} from './options.js'
import {AWS_OPERATIONS, parseCheckPrincipal, remedyCommands} from './check-common.js'
import {runLiveLayer} from './check-live.js'
import {runStaticLayer, type StaticOutcome} from './check-static.js'

/** Run the layers asked for and assemble the result; `ok` comes from the rows alone. */
export async function checkAws(ctx: AppContext, req: AwsRequest, opts: CheckOptions): Promise<CheckResult> {
  const principal = parseCheckPrincipal(req.principal)
  const remedies = remedyCommands(req, principal)
  const layers: Layer[] = []
  const identities: CheckResult['identities'] = {}
  const rows: CheckRow[] = []
  const findings: Finding[] = []

  let stat: StaticOutcome | undefined
  if (opts.static) {
    ctx.ui.info(`Static layer: reading the access configuration of ${req.source.url} ...`)
    stat = await runStaticLayer(ctx, req, opts, principal, remedies)
    layers.push('static')
    identities.static = stat.identity
    rows.push(...stat.rows)
    findings.push(...stat.findings)
  }
  if (opts.live) {
    ctx.ui.info(`Live layer: calling S3 as ${principal.arn} ...`)
    const live = await runLiveLayer(ctx, req, opts, principal, remedies, stat ? {sample: stat.sample, keys: stat.keys, staticRows: stat.rows} : {})
    layers.push('live')
    identities.live = live.identity
    rows.push(...live.rows)
    findings.push(...live.findings)
  }
  return buildResult({source: req.source.url, principal: principal.arn, layers, identities, operations: rows, findings}, AWS_OPERATIONS)
}
