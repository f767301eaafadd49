/**
 * The ingest-cluster protocol as types: what the vendor's CLI (`fw ingest ... --cluster URL`)
 * sends and expects (see docs/ingest-protocol.md). Shared by the client (src/ingest/) and the
 * reference cluster (src/cluster/); field names and status strings are the contract.
 */

export const INGEST_STATUSES = [
  'created',
  'configuring',
  'scanning',
  'resolving',
  'detecting_duplicates',
  'in_review',
  'preparing',
  'preparing_sidecar',
  'uploading',
  'finalizing',
  'finished',
  'failed',
  'aborting',
  'aborted',
] as const
export type IngestStatus = (typeof INGEST_STATUSES)[number]

export const TERMINAL_STATUSES: readonly IngestStatus[] = ['finished', 'failed', 'aborted']

/** Allowed transitions of the status machine. */
export const TRANSITIONS: Record<IngestStatus, readonly IngestStatus[]> = {
  created: ['configuring', 'aborting'],
  configuring: ['scanning', 'failed', 'aborting'],
  scanning: ['resolving', 'failed', 'aborting'],
  resolving: ['detecting_duplicates', 'in_review', 'failed', 'aborting'],
  detecting_duplicates: ['in_review', 'failed', 'aborting'],
  in_review: ['preparing', 'aborting'],
  preparing: ['uploading', 'preparing_sidecar', 'failed', 'aborting'],
  preparing_sidecar: ['uploading', 'failed', 'aborting'],
  uploading: ['finalizing', 'failed', 'aborting'],
  finalizing: ['finished', 'failed', 'aborting'],
  aborting: ['aborted', 'failed'],
  finished: [],
  failed: [],
  aborted: [],
}

export interface IngestConfig {
  src_fs: string
  symlinks: boolean
  include_dirs: string[]
  exclude_dirs: string[]
  include: string[]
  exclude: string[]
  compression_level: number
  ignore_unknown_tags: boolean
  encodings: string[]
  de_identify: boolean
  deid_profile: string
  deid_profiles: unknown[]
  skip_existing: boolean
  no_audit_log: boolean
  max_retries: number
  assume_yes: boolean
  detect_duplicates: boolean
  copy_duplicates: boolean
  require_project: boolean
  enable_project_files: boolean
  detect_duplicates_project: string[]
  force_scan: boolean
  detect_duplicates_override: unknown[]
  repack: boolean
  zip_single_dicom: boolean
  strict_uid: boolean
  detect_duplicates_project_ids: string[]
  deid_is_from_server: boolean
  [extra: string]: unknown
}

export type StrategyConfig =
  | {strategy_name: 'dicom'; group: string; project: string; subject?: string; session?: string}
  | {
      strategy_name: 'folder'
      group?: string
      project?: string
      dicom: string
      pack_acquisitions?: string
      root_dirs: number
      no_subjects: boolean
      no_sessions: boolean
      group_override?: string
      project_override?: string
    }
  | {
      strategy_name: 'template'
      template: unknown
      group?: string
      project?: string
      no_subjects: boolean
      no_sessions: boolean
      group_override?: string
      project_override?: string
      set_var: string[]
    }
  | {strategy_name: 'project'; group: string; project: string; no_metadata: boolean; deid_log_exists: boolean}

export interface Ingest {
  id: string
  label?: string
  fw_host?: string
  fw_user?: string
  config?: IngestConfig
  strategy_config?: StrategyConfig
  status: IngestStatus
  history: Array<[IngestStatus, number]>
  created?: string
}

export interface StatusCount {
  scanned: number
  pending: number
  running: number
  failed: number
  canceled: number
  completed: number
  skipped: number
  finished: number
  total: number
}

export interface StageCount {
  completed: number
  total: number
}

export const PROGRESS_STAGES = [
  'configuring',
  'scanning',
  'resolving',
  'detecting_duplicates',
  'preparing',
  'preparing_sidecar',
  'uploading',
  'finalizing',
] as const
export type ProgressStage = (typeof PROGRESS_STAGES)[number]

export interface Progress {
  scans: StatusCount
  items: StatusCount
  files: StatusCount
  bytes: StatusCount
  stages: Record<ProgressStage, StageCount>
}

export interface ErrorSummary {
  code: string
  message: string
  description?: string | null
  count: number
}

export interface Summary {
  groups: number
  projects: number
  subjects: number
  sessions: number
  acquisitions: number
  files: number
  packfiles: number
  warnings?: ErrorSummary[]
  errors?: ErrorSummary[]
}

export type TaskType = 'configure' | 'scan' | 'extract_uid' | 'resolve' | 'detect_duplicates' | 'prepare_sidecar' | 'prepare' | 'upload' | 'finalize'

export interface TaskError {
  task: string
  type: TaskType
  code: string
  message: string
}

export interface Report {
  status: IngestStatus
  elapsed: Partial<Record<IngestStatus, number>>
  errors: TaskError[]
  warnings: TaskError[]
}

export interface Container {
  id: string
  parent_id?: string
  path: string
  /** 0 group, 1 project, 2 subject, 3 session, 4 acquisition */
  level: 0 | 1 | 2 | 3 | 4
  src_context: Record<string, unknown>
  dst_context?: Record<string, unknown>
  existing?: boolean
  error?: string
  files_cnt?: number
  bytes_sum?: number
}

export const AUDIT_HEADER = 'src_path,dst_path,status,existing,error_code,error_message,action_taken'

/** group ids the cluster accepts (the vendor's rule). */
export const GROUP_ID_PATTERN = /^[0-9a-z][0-9a-z.@_-]{0,30}[0-9a-z]$/

/** The DICOM include patterns the vendor CLI sends by default. */
export const DEFAULT_DICOM_INCLUDE = [
  '*.[dD][cC][mM]',
  '*.[dD][cC][mM].[gG][zZ]',
  '*.[dD][iI][cC][oO][mM]',
  '*.[dD][iI][cC][oO][mM].[gGzZ]',
  '*.[iI][mM][aA]',
  '*.[iI][mM][aA].[gG][zZ]',
  '[0-9]*[0-9.]*[0-9]',
]
