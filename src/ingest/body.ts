/**
 * The create body (`POST /ingests`): `{config, strategy_config}` with every config field that has a
 * non-null default, in the vendor CLI's order, so the cluster sees exactly what `fw ingest` sends.
 * Values come from the flags, then the config file (-C / cli.yml), then the vendor's defaults.
 */
import {ConfigError, UsageError} from '../errors.js'
import {DEFAULT_DICOM_INCLUDE, GROUP_ID_PATTERN, type IngestConfig, type StrategyConfig} from './protocol.js'

export type StrategyName = 'dicom' | 'folder' | 'template' | 'project'

/** Flag values by flag name (dashes), `undefined` when not given. */
export type FlagValues = Record<string, unknown>

export interface CreateBody {
  config: IngestConfig
  strategy_config: StrategyConfig
}

/**
 * Folder and template ingests warn rather than skip on every duplicate code except DD04 and DD07
 * (inferred from the vendor CLI's help text: "Template and folder ingest skip DD04 and DD07 by default").
 */
export const FOLDER_DETECT_DUPLICATES_OVERRIDE = ['DD01', 'DD02', 'DD03', 'DD05', 'DD06', 'DD08', 'DD09', 'DD10', 'DD11']

/** A value from the flags, else from the config file; `undefined` when neither has it. */
export function pick(flags: FlagValues, config: Record<string, unknown>, name: string): unknown {
  const v = flags[name]
  if (v !== undefined && !(Array.isArray(v) && v.length === 0)) return v
  return config[name]
}

function bool(flags: FlagValues, config: Record<string, unknown>, name: string): boolean {
  const v = pick(flags, config, name)
  if (v === undefined || v === null) return false
  if (typeof v === 'boolean') return v
  if (v === 'true' || v === 'yes') return true
  if (v === 'false' || v === 'no') return false
  throw new ConfigError('BAD_CONFIG_VALUE', `"${name}" must be true or false, not ${JSON.stringify(v)}.`, {suggestions: ['Fix the value in the config file.']})
}

function str(flags: FlagValues, config: Record<string, unknown>, name: string): string | undefined {
  const v = pick(flags, config, name)
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v === 'string' || typeof v === 'number') return String(v)
  throw new ConfigError('BAD_CONFIG_VALUE', `"${name}" must be a string, not ${JSON.stringify(v)}.`, {suggestions: ['Fix the value in the config file.']})
}

function list(flags: FlagValues, config: Record<string, unknown>, name: string): string[] | undefined {
  const v = pick(flags, config, name)
  if (v === undefined || v === null) return undefined
  if (Array.isArray(v)) return v.map(String)
  if (typeof v === 'string') return [v]
  throw new ConfigError('BAD_CONFIG_VALUE', `"${name}" must be a list, not ${JSON.stringify(v)}.`, {suggestions: ['Fix the value in the config file.']})
}

function int(flags: FlagValues, config: Record<string, unknown>, name: string, fallback: number): number {
  const v = pick(flags, config, name)
  if (v === undefined || v === null) return fallback
  const n = typeof v === 'number' ? v : Number(v)
  if (!Number.isInteger(n)) {
    throw new UsageError('BAD_FLAG_VALUE', `--${name} must be an integer, not ${JSON.stringify(v)}.`, {suggestions: [`Give --${name} a whole number.`]})
  }
  return n
}

/**
 * Build the create body for one strategy.
 * @param src the SRC argument as given (s3://..., or fw://group/project for the project strategy)
 * @param positional strategy arguments: dicom group/project, template, project key
 */
export function buildCreateBody(
  strategy: StrategyName,
  src: string,
  flags: FlagValues,
  config: Record<string, unknown>,
  positional: {group?: string; project?: string; template?: unknown} = {},
): CreateBody {
  const overrides = list(flags, config, 'detect-duplicates-override')
  const defaultInclude = strategy === 'dicom' ? [...DEFAULT_DICOM_INCLUDE] : []
  const defaultOverride = strategy === 'folder' || strategy === 'template' ? [...FOLDER_DETECT_DUPLICATES_OVERRIDE] : []
  const ingestConfig: IngestConfig = {
    src_fs: src,
    symlinks: bool(flags, config, 'symlinks'),
    include_dirs: list(flags, config, 'include-dirs') ?? [],
    exclude_dirs: list(flags, config, 'exclude-dirs') ?? [],
    include: list(flags, config, 'include') ?? defaultInclude,
    exclude: list(flags, config, 'exclude') ?? [],
    compression_level: int(flags, config, 'compression-level', -1),
    ignore_unknown_tags: bool(flags, config, 'ignore-unknown-tags'),
    encodings: list(flags, config, 'encodings') ?? [],
    de_identify: bool(flags, config, 'de-identify'),
    deid_profile: str(flags, config, 'deid-profile') ?? 'minimal',
    deid_profiles: [],
    skip_existing: bool(flags, config, 'skip-existing'),
    no_audit_log: bool(flags, config, 'no-audit-log'),
    max_retries: 3,
    assume_yes: bool(flags, config, 'yes'),
    // Naming codes to warn about implies duplicate detection, as in the vendor CLI.
    detect_duplicates: bool(flags, config, 'detect-duplicates') || Boolean(overrides?.length),
    copy_duplicates: bool(flags, config, 'copy-duplicates'),
    require_project: bool(flags, config, 'require-project'),
    enable_project_files: bool(flags, config, 'enable-project-files'),
    detect_duplicates_project: list(flags, config, 'detect-duplicates-project') ?? [],
    force_scan: bool(flags, config, 'force-scan'),
    detect_duplicates_override: overrides ?? defaultOverride,
    repack: bool(flags, config, 'repack'),
    zip_single_dicom: bool(flags, config, 'zip-single-dicom'),
    strict_uid: bool(flags, config, 'strict-uid'),
    detect_duplicates_project_ids: [],
    deid_is_from_server: false,
  }
  return {config: ingestConfig, strategy_config: strategyConfig(strategy, src, flags, config, positional)}
}

function checkGroup(group: string): string {
  if (!GROUP_ID_PATTERN.test(group)) {
    throw new ConfigError('BAD_GROUP_ID', `Invalid group id "${group}": it must match ${GROUP_ID_PATTERN.source}.`, {
      suggestions: ['A group id is 2 to 32 lower-case letters, digits and . @ _ -, starting and ending with a letter or digit.'],
    })
  }
  return group
}

function strategyConfig(
  strategy: StrategyName,
  src: string,
  flags: FlagValues,
  config: Record<string, unknown>,
  positional: {group?: string; project?: string; template?: unknown},
): StrategyConfig {
  const optional = <T extends object>(obj: T): T => Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T
  switch (strategy) {
    case 'dicom': {
      const group = positional.group ?? str({}, config, 'group')
      const project = positional.project ?? str({}, config, 'project')
      if (!group || !project) {
        throw new UsageError('MISSING_GROUP_PROJECT', 'A DICOM ingest needs the group id and the project label.', {
          suggestions: ['Give them after the source: ingestgate ingest dicom SRC GROUP_ID PROJECT_LABEL (or set group and project in the -C config file).'],
        })
      }
      return optional({
        strategy_name: 'dicom' as const,
        group: checkGroup(group),
        project,
        subject: str(flags, config, 'subject'),
        session: str(flags, config, 'session'),
      })
    }
    case 'folder': {
      const group = str(flags, config, 'group')
      return optional({
        strategy_name: 'folder' as const,
        group: group === undefined ? undefined : checkGroup(group),
        project: str(flags, config, 'project'),
        dicom: str(flags, config, 'dicom') ?? 'dicom',
        pack_acquisitions: str(flags, config, 'pack-acquisitions'),
        root_dirs: int(flags, config, 'root-dirs', 0),
        no_subjects: bool(flags, config, 'no-subjects'),
        no_sessions: bool(flags, config, 'no-sessions'),
        group_override: str(flags, config, 'group-override'),
        project_override: str(flags, config, 'project-override'),
      })
    }
    case 'template': {
      const template = positional.template ?? config.template
      if (template === undefined || template === null || template === '') {
        throw new UsageError('MISSING_TEMPLATE', 'A template ingest needs the template.', {
          suggestions: ['Give it before the source: ingestgate ingest template TEMPLATE SRC (a template string, or a YAML file holding it).'],
        })
      }
      const group = str(flags, config, 'group')
      return optional({
        strategy_name: 'template' as const,
        template,
        group: group === undefined ? undefined : checkGroup(group),
        project: str(flags, config, 'project'),
        no_subjects: bool(flags, config, 'no-subjects'),
        no_sessions: bool(flags, config, 'no-sessions'),
        group_override: str(flags, config, 'group-override'),
        project_override: str(flags, config, 'project-override'),
        set_var: list(flags, config, 'set-var') ?? [],
      })
    }
    case 'project': {
      const m = /^fw:\/\/([^/]+)\/([^/]+)\/?$/.exec(src)
      if (!m) {
        throw new ConfigError('BAD_SOURCE', `Invalid project source "${src}": it must be fw://GROUP/PROJECT.`, {
          suggestions: ['Name the source project as fw://GROUP_ID/PROJECT_LABEL.'],
        })
      }
      return {
        strategy_name: 'project',
        group: checkGroup(str(flags, config, 'group') ?? m[1]),
        project: str(flags, config, 'project') ?? m[2],
        no_metadata: bool(flags, config, 'no-metadata'),
        deid_log_exists: bool(flags, config, 'deid-log-exists'),
      }
    }
  }
}
