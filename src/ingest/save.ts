/**
 * Saving the audit log, de-identification log and subjects streams (--save-audit-logs etc.) the way
 * the vendor CLI does: a directory gets a new dated file in it; an existing file is never
 * overwritten (a numbered name is used instead, and the user is told).
 */
import {existsSync, statSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
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

/**
 * Decide where a stream is written and write it.
 * @returns the path written and, when it differs from the one asked for, why.
 */
export async function saveStreamToFile(
  kind: SaveKind,
  lines: string[],
  requested: string,
  opts: {now: Date; version: string; fallbackDir: string},
): Promise<{path: string; note?: string}> {
  const wanted = expandHome(requested)
  let path = wanted
  let note: string | undefined
  let fallback = false
  const isDir = existsSync(wanted) && statSync(wanted).isDirectory()
  if (isDir) {
    path = join(wanted, `${kind}-${stamp(opts.now)}-${opts.version}.csv`)
  } else if (wanted.endsWith(sep)) {
    fallback = true
    path = join(opts.fallbackDir, `${kind}-${stamp(opts.now)}-${opts.version}.csv`)
    note = `No such directory: ${wanted}. Fallback to: ${path}`
  } else if (existsSync(wanted)) {
    path = incremental(wanted)
    note = `File already exists: ${wanted}. Fallback to: ${path}`
  }
  try {
    if (fallback) await mkdir(opts.fallbackDir, {recursive: true, mode: 0o700})
    await writeFile(path, lines.map((l) => l + '\n').join(''), {flag: 'wx'})
  } catch (error) {
    throw new ConfigError('SAVE_FAILED', `Cannot save the ${kind.replace('_', ' ')} to ${path}: ${(error as Error).message}.`, {
      suggestions: ['Give a file in an existing, writable directory, or a directory, to the --save-* flag; `ingestgate ingest report URL --save-...` saves it again.'],
    })
  }
  return {path, note}
}
