/**
 * The layer flow every cloud's check shares: the static layer (when asked) with the operator's
 * credentials, then the live layer as the principal, given what the static one found (its sample),
 * assembled into one result whose `ok` comes from the rows alone.
 */
import type {AppContext} from '../context.js'
import {buildResult, type CheckResult, type CheckRow, type Finding, type Layer, type OperationId} from '../core/verdict.js'
import type {CheckOptions} from './types.js'

/** What one layer found, and who it ran as (an ARN, an e-mail, an object id; never a credential). */
export interface LayerOutcome {
  rows: CheckRow[]
  findings: Finding[]
  identity: string
}

export interface LayerFlow<S extends LayerOutcome> {
  source: string
  principal: string
  /** The provider's operation ids, in reading order. */
  order: readonly OperationId[]
  /** What each layer says it is doing, on stderr. */
  staticIntro: string
  liveIntro: string
  runStatic(): Promise<S>
  runLive(stat: S | undefined): Promise<LayerOutcome>
}

/** Run the layers `opts` asks for, in order, and assemble the result. */
export async function runCheckLayers<S extends LayerOutcome>(ctx: AppContext, opts: Pick<CheckOptions, 'static' | 'live'>, flow: LayerFlow<S>): Promise<CheckResult> {
  const layers: Layer[] = []
  const identities: CheckResult['identities'] = {}
  const rows: CheckRow[] = []
  const findings: Finding[] = []
  const add = (layer: Layer, out: LayerOutcome) => {
    layers.push(layer)
    identities[layer] = out.identity
    rows.push(...out.rows)
    findings.push(...out.findings)
  }
  let stat: S | undefined
  if (opts.static) {
    ctx.ui.info(flow.staticIntro)
    stat = await flow.runStatic()
    add('static', stat)
  }
  if (opts.live) {
    ctx.ui.info(flow.liveIntro)
    add('live', await flow.runLive(stat))
  }
  return buildResult({source: flow.source, principal: flow.principal, layers, identities, operations: rows, findings}, flow.order)
}
