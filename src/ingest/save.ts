/**
 * Saving the audit log, de-identification log and subjects streams (--save-audit-logs etc.) the way
 * the vendor CLI does: a directory gets a new dated file in it; an existing file is never
 * overwritten (a numbered name is used instead, and the user is told). Unlike the vendor CLI, a
 * directory that does not exist is an error, checked before the ingest is started or followed:
 * saving somewhere else silently would leave the user looking for the file where they asked.
 */
import {existsSync, statSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {basename, dirname, extname, join, sep} from 'node:path'

import {ConfigError} from '../errors.js'
import type {SaveKind} from './follow.js'

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path
}

function incremental(path: string): string {
  const ext = extname(path)
  const stem = basename(path, ext)
  for (let n = 1; ; n++) {
    const candidate = join(dirname(path), `${stem}(${n})${ext}`)
    if (!existsSync(candidate)) return candidate
  }
}

const FLAG_OF: Record<SaveKind, string> = {audit_logs: '--save-audit-logs', deid_logs: '--save-deid-logs', subjects: '--save-subjects'}

/**
 * Check a --save-* path before anything runs: a directory (or a path ending in a separator) must
 * exist; a file's directory must exist.
 * @throws ConfigError SAVE_DIR_MISSING (exit 3)
 */
export function checkSavePath(kind: SaveKind, requested: string): void {
  const wanted = expandHome(requested)
  const dir = wanted.endsWith(sep) || wanted.endsWith('/') ? wanted : dirname(wanted)
  let isDir = false
  try {
    isDir = statSync(dir).isDirectory()
  } catch {}
  if (isDir) return
  const asDir = dir === wanted
  throw new ConfigError('SAVE_DIR_MISSING', `No such directory: ${dir} (given to ${FLAG_OF[kind]}${asDir ? '' : ` as the directory of ${wanted}`}).`, {
    suggestions: [`Create it first (mkdir -p ${dir}), or give ${FLAG_OF[kind]} a file or directory that exists.`],
  })
}

/** checkSavePath for every --save-* path given. */
export function checkSavePaths(paths: Partial<Record<SaveKind, string | undefined>>): void {
  for (const [kind, path] of Object.entries(paths) as Array<[SaveKind, string | undefined]>) if (path) checkSavePath(kind, path)
}

/**
 * Decide where a stream is written and write it.
 * @returns the path written and, when it differs from the one asked for, why.
 */
export async function saveStreamToFile(
  kind: SaveKind,
  lines: string[],
  requested: string,
  opts: {now: Date; version: string},
): Promise<{path: string; note?: string}> {
  const wanted = expandHome(requested)
  let path = wanted
  let note: string | undefined
  const isDir = existsSync(wanted) && statSync(wanted).isDirectory()
  if (isDir) {
    path = join(wanted, `${kind}-${stamp(opts.now)}-${opts.version}.csv`)
  } else if (existsSync(wanted)) {
    path = incremental(wanted)
    note = `File already exists: ${wanted}. Fallback to: ${path}`
  } else {
    // The directory may have gone while the ingest ran: the same error as before the start.
    checkSavePath(kind, requested)
  }
  try {
    await writeFile(path, lines.map((l) => l + '\n').join(''), {flag: 'wx'})
  } catch (error) {
    throw new ConfigError('SAVE_FAILED', `Cannot save the ${kind.replace('_', ' ')} to ${path}: ${(error as Error).message.replace(/\.$/, '')}.`, {
      suggestions: ['Give a file in an existing, writable directory, or a directory, to the --save-* flag; `ingestgate ingest report URL --save-...` saves it again.'],
    })
  }
  return {path, note}
}
