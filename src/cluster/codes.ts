/**
 * The error and warning codes the reference cluster reports. The protocol fixes the families
 * (DD01–DD11 duplicates, SC01–SC07 scan, GE01–GE07 general) and two facts: SC03 "zero byte file" and
 * GE03 are warnings. The meaning of the other numbers is the reference cluster's own choice (the
 * vendor does not publish its table); docs/cluster-serve.md lists them.
 */
import type {TaskType} from '../ingest/protocol.js'

export type Severity = 'error' | 'warning'

export interface CodeInfo {
  severity: Severity
  /** The short text the summary shows as `<message> (<code>): <count>`. */
  message: string
  description: string
}

export const CLUSTER_CODES = {
  SC01: {severity: 'error', message: 'Invalid DICOM file', description: 'The file is not DICOM: no "DICM" prefix at byte 128 and no readable raw data set.'},
  SC02: {severity: 'error', message: 'Truncated DICOM file', description: 'The DICOM header or pixel data ends before the object does.'},
  SC03: {severity: 'warning', message: 'Zero byte file', description: 'The object is empty; it is skipped.'},
  SC04: {severity: 'error', message: 'Missing DICOM UID', description: 'StudyInstanceUID or SeriesInstanceUID is missing, so the file cannot be placed in the hierarchy.'},
  SC05: {severity: 'error', message: 'File could not be read', description: 'The object was listed but reading it failed (deleted since, or a storage error).'},
  SC06: {severity: 'error', message: 'Invalid compressed file', description: 'A .gz file could not be decompressed.'},
  // The vendor's own SC07 (InvalidFileContext), with its message.
  SC07: {
    severity: 'error',
    message: 'Extracted context is invalid',
    description:
      'Folder and template ingests: the folders of the file do not name a group and a project (it lies above the levels the strategy needs, or a level has no label), or it is a project-level file and enable_project_files is off.',
  },
  GE01: {severity: 'error', message: 'Unexpected error', description: 'An internal error of the reference cluster.'},
  GE02: {severity: 'error', message: 'Access denied', description: 'The ingest principal is not allowed to list or read the source; grant it access (ingestgate grant apply) and verify (ingestgate check --live).'},
  GE03: {severity: 'warning', message: 'Existing file replaced', description: 'A file already existed at the destination path and was replaced (use skip_existing to keep it).'},
  GE04: {severity: 'error', message: 'Source not found', description: 'The bucket of the source does not exist.'},
  GE05: {
    severity: 'error',
    message: 'Not supported by the reference cluster',
    description:
      'The source scheme, strategy or option is not implemented by the reference cluster (the project strategy, de-identification, a template\'s scan), the template is invalid, or the files would go to more than one group or project (the vendor refuses that with GE05 too).',
  },
  GE06: {severity: 'error', message: 'Ingest principal credentials problem', description: 'The cluster has no usable credentials for the ingest principal (none found, rejected, expired, or the role could not be assumed).'},
  GE07: {severity: 'error', message: 'Transfer failed', description: 'A network or storage error while reading the source.'},
  DD01: {severity: 'error', message: 'Duplicate SOPInstanceUID', description: 'Another file of this ingest has the same SOPInstanceUID; only the first is uploaded.'},
} as const satisfies Record<string, CodeInfo>

export type ClusterCode = keyof typeof CLUSTER_CODES

/** An error or warning as the worker records it. */
export interface RecordedIssue {
  code: ClusterCode
  type: TaskType
  message: string
}
