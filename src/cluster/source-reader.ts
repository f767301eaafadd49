/**
 * How the reference cluster reads a source: through the source provider's reader, acting as the
 * ingest principal, so a grant that is missing fails here exactly as it would on the vendor's
 * cluster. Failures arrive in the neutral error vocabulary (AppError.kind) and map to the
 * cluster's general codes here.
 */
import {AppError} from '../errors.js'
import type {ClusterCode} from './codes.js'

/** The general code for an error of the storage or credentials (undefined: a per-file problem). */
export function sourceErrorCode(error: unknown): ClusterCode | undefined {
  if (!(error instanceof AppError)) return undefined
  switch (error.kind) {
    case 'access-denied':
      return 'GE02'
    // A classifier marks a missing object (as opposed to a missing bucket) with data.scope 'object'.
    case 'not-found':
      return error.data?.scope === 'object' ? undefined : 'GE04'
    case 'credentials':
      return 'GE06'
    case 'network':
    case 'throttled':
      return 'GE07'
    default:
      return undefined
  }
}
