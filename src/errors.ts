/**
 * Typed errors and the exit-code table. Every failure a user can meet is an AppError with a stable
 * `code`, an exit code from the table below and at least one suggestion of what to do next.
 */

/** The documented exit codes (docs/exit-codes.md is generated from the same words). */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CONFIG: 3,
  REMOTE: 4,
  CHECK_FAILED: 5,
  INGEST_FAILED: 6,
  STILL_RUNNING: 68,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export const EXIT_CODE_MEANINGS: Record<ExitCodeValue, string> = {
  0: 'Success: the command did what was asked (or found nothing to change).',
  1: 'Internal error: a bug in ingestgate. Re-run with DEBUG=ingestgate* and report it.',
  2: 'Usage: an unknown flag, a missing or extra argument.',
  3: 'Configuration or input: a bad source URL, principal, ARN, site file, missing credentials, or a change refused because it would be unsafe or certain to fail.',
  4: 'Remote call failed: the cloud or the cluster answered with an error (bucket missing, access denied, concurrent change, network).',
  5: 'Check failed: access is not as the ingest cluster needs it (check, the ingest preflight), ingestgate\'s grant is drifted or missing (grant status), or the ingest preflight refused the start (larger than --max-bytes, or its size could not be verified).',
  6: 'Ingest finished badly: failed, aborted, or finished with errors.',
  68: 'Still running: the command detached from a long job; the resume command is printed.',
}

/**
 * The neutral vocabulary of a failed call to a cloud's storage, set by each cloud's client
 * classifier so that the check, the preflight and the reference cluster never read a cloud's codes.
 */
export type SourceErrorKind = 'access-denied' | 'not-found' | 'network' | 'throttled' | 'credentials' | 'unknown'

export interface AppErrorOptions {
  suggestions?: string[]
  kind?: SourceErrorKind
  cause?: unknown
  /** Extra structured data for --json (never secrets). */
  data?: Record<string, unknown>
}

export class AppError extends Error {
  readonly exitCode: ExitCodeValue
  readonly code: string
  readonly suggestions: string[]
  readonly data?: Record<string, unknown>
  readonly kind?: SourceErrorKind

  constructor(code: string, message: string, exitCode: ExitCodeValue, opts: AppErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : {cause: opts.cause})
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
    this.suggestions = opts.suggestions ?? []
    this.data = opts.data
    this.kind = opts.kind
  }
}

/** Bad flag or argument shape (exit 2). */
export class UsageError extends AppError {
  constructor(code: string, message: string, opts?: AppErrorOptions) {
    super(code, message, ExitCode.USAGE, opts)
  }
}

/** Bad input or configuration, or a change refused as unsafe (exit 3). */
export class ConfigError extends AppError {
  constructor(code: string, message: string, opts?: AppErrorOptions) {
    super(code, message, ExitCode.CONFIG, opts)
  }
}

/** A remote call failed (exit 4). */
export class RemoteError extends AppError {
  constructor(code: string, message: string, opts?: AppErrorOptions) {
    super(code, message, ExitCode.REMOTE, opts)
  }
}
