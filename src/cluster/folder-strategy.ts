/**
 * The folder strategy (`fw ingest folder`): the folders below the source prefix are the hierarchy.
 * As the vendor's FolderIngestStrategy builds it, this is a fixed template:
 *
 *   `.*` x root_dirs      (leading folders discarded)
 *   {group}               unless -g gives it
 *   {project}             unless -p gives it
 *   {subject}             unless --no-subjects
 *   {session}             unless --no-sessions
 *   {acquisition}         a packfile of type TYPE itself with --pack-acquisitions TYPE, else
 *   <dicom>               a folder whose name matches --dicom (default `dicom`, a regex matched at
 *                         the start of the name, as the vendor does) is the acquisition's DICOM
 *                         packfile: every file below it travels as `<acquisition>.dicom.zip`
 *
 * Files in a folder above the acquisition level belong to that container (subject or session
 * attachments); files directly in the project folder only with enable_project_files. With
 * --no-subjects the session's label is the subject's too, with --no-sessions the subject's is the
 * session's (the vendor's context_merge_subject_and_session); with both, nothing names a subject or a
 * session, so the vendor's resolver stops at the project (its behaviour, kept).
 *
 * The reference cluster does not zip: a packfile's files go to the acquisition as they are, and the
 * summary counts the packfile once. No DICOM header is read (the vendor's folder scanner reads none).
 */
import type {IngestConfig} from '../ingest/protocol.js'
import {compilePattern, initialContext, StrategyError, type LevelOptions, type MatchLevel, type TemplatePlan} from './template-strategy.js'

export interface FolderOptions extends LevelOptions {
  dicom?: string
  pack_acquisitions?: string
  root_dirs?: number
}

/** The template plan of a folder strategy_config. @throws StrategyError */
export function folderPlan(strategy: FolderOptions, config: Pick<IngestConfig, 'enable_project_files'>): TemplatePlan {
  const rootDirs = strategy.root_dirs ?? 0
  if (!Number.isInteger(rootDirs) || rootDirs < 0) throw new StrategyError(`Invalid root_dirs ${JSON.stringify(strategy.root_dirs)}: it must be a whole number, 0 or more.`)
  const level = (pattern: string, extra: Partial<MatchLevel> = {}): MatchLevel => ({kind: 'match', source: pattern, regex: compilePattern(pattern), ignore: false, ...extra})
  const levels: MatchLevel[] = []
  for (let i = 0; i < rootDirs; i++) levels.push(level('.*'))
  if (!strategy.group) levels.push(level('{group}'))
  if (!strategy.project) levels.push(level('{project}'))
  if (!strategy.no_subjects) levels.push(level('{subject}'))
  if (!strategy.no_sessions) levels.push(level('{session}'))
  if (strategy.pack_acquisitions) levels.push(level('{acquisition}', {packfileType: strategy.pack_acquisitions}))
  else {
    levels.push(level('{acquisition}'))
    let dicom: RegExp
    try {
      // The vendor compiles --dicom as a plain regular expression (no {fields}).
      dicom = new RegExp(`^(?:${strategy.dicom ?? 'dicom'})`)
    } catch (error) {
      throw new StrategyError(`Invalid dicom folder name ${JSON.stringify(strategy.dicom)}: ${(error as Error).message}.`)
    }
    levels.push({kind: 'match', source: strategy.dicom ?? 'dicom', regex: dicom, ignore: false, packfileType: 'dicom'})
  }
  return {
    levels,
    initialContext: initialContext(strategy),
    noSubjects: strategy.no_subjects,
    noSessions: strategy.no_sessions,
    groupOverride: strategy.group_override,
    projectOverride: strategy.project_override,
    enableProjectFiles: Boolean(config.enable_project_files),
  }
}
