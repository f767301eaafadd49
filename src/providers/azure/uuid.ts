/** Name-based UUIDs (version 5, SHA-1) from the `uuid` package: what the assignment names are. */
import {v5} from 'uuid'

/** UUIDv5 of `name` in `namespace` (RFC 9562), lower-case. */
export function uuidV5(name: string, namespace: string): string {
  return v5(name, namespace)
}
