/**
 * A document's fingerprint: the SHA-256 of its canonical JSON (object keys sorted, arrays in order),
 * so two reads of the same document compare equal whatever key order the cloud answers in.
 * `absent` stands for "no document" (no bucket policy, a deleted role assignment).
 */
import {createHash} from 'node:crypto'

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    )
  }
  return value
}

/** `sha256:<hex>` of the canonical JSON of `doc`, or `absent` for null/undefined. */
export function fingerprint(doc: unknown): string {
  if (doc === null || doc === undefined) return 'absent'
  return `sha256:${createHash('sha256').update(JSON.stringify(canonical(doc))).digest('hex')}`
}
