/**
 * One resolver per strategy, so the worker's stages ask "which files need a header read?" and
 * "where does each file go?" without knowing the strategy. Building a resolver validates the
 * strategy_config (a bad template is refused when the ingest is created, and fails it at configure).
 */
import type {IngestConfig, StrategyConfig} from '../ingest/protocol.js'
import {folderPlan} from './folder-strategy.js'
import {resolveHierarchy, type ResolveInput, type ResolveResult} from './hierarchy.js'
import {resolveByTemplate, StrategyError, templatePlan} from './template-strategy.js'

export {MultipleProjectsError, StrategyError} from './template-strategy.js'

export interface StrategyResolver {
  /** Whether the scan stage reads the DICOM header of this file (only what the strategy places by tags). */
  readsHeader: boolean
  /** Place the scanned files. @throws MultipleProjectsError */
  resolve(ingestId: string, files: ResolveInput[], subjectCodes: Map<string, string>): ResolveResult
}

/**
 * A strategy the reference cluster cannot run (the project strategy needs the vendor's platform).
 * POST /ingests refuses project before a resolver is built; this is what an ingest stored by an
 * older cluster meets at configure (GE05).
 */
export class UnsupportedStrategyError extends StrategyError {}

/**
 * The resolver of a strategy_config.
 * @throws StrategyError for a bad template or option; UnsupportedStrategyError for project
 */
export function resolverFor(strategy: StrategyConfig, config: Pick<IngestConfig, 'enable_project_files'>): StrategyResolver {
  switch (strategy.strategy_name) {
    case 'dicom':
      return {
        readsHeader: true,
        resolve: (id, files, codes) =>
          resolveHierarchy(id, files, {group: strategy.group, project: strategy.project, subject: strategy.subject || undefined, session: strategy.session || undefined}, codes),
      }
    case 'folder': {
      const plan = folderPlan(strategy, config)
      return {readsHeader: false, resolve: (id, files) => resolveByTemplate(id, files, plan)}
    }
    case 'template': {
      const plan = templatePlan(strategy, config)
      return {readsHeader: false, resolve: (id, files) => resolveByTemplate(id, files, plan)}
    }
    default:
      throw new UnsupportedStrategyError(
        `The ${(strategy as {strategy_name: string}).strategy_name} strategy cannot be rehearsed on the reference cluster: it copies a project from the vendor's platform, which this local cluster does not have.`,
      )
  }
}
