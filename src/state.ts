/**
 * Files the tool keeps in the user's state directory: backups of documents before they are changed.
 * Backups are never overwritten and are readable by the user only.
 *
 * Each backup `X.json` holds the document exactly as the cloud returned it (so it can be used with
 * the cloud's own CLI) and has a record `X.record.json` beside it: the cloud, source and verb, and,
 * once the write went through, the fingerprint of the document that replaced it. `grant backups`
 * lists the records; `grant restore` compares that fingerprint with what is there now, so a change
 * made after ours is never overwritten unknowingly.
 */
import {mkdir, open, readdir, readFile, rename, writeFile} from 'node:fs/promises'
import {basename, join} from 'node:path'

import {ConfigError} from './errors.js'
import {redact} from './output/redact.js'
import {parseSource, type ProviderId} from './source.js'

/** What a backup is of, and which command replaced it. */
export interface BackupInfo {
  cloud: ProviderId
  /** The source URL of the command that replaced the document. */
  source: string
  verb: 'apply' | 'revoke' | 'restore'
  /** What the document is, in the cloud's words (bucket-policy, iam-policy, role-assignment). */
  document: string
  /** Where the document lives, as the provider needs it to write it back: always `bucket` (the bucket or container), `account` where the cloud has one. */
  target: Record<string, string>
}

export interface BackupRecord extends BackupInfo {
  version: 1
  time: string
  /** The backup's file name, in the same directory. */
  backup: string
  /** Set once the replacing write was confirmed. */
  successor?: {fingerprint: string; time: string}
}

export interface BackupEntry {
  path: string
  record: BackupRecord
}

const RECORD_SUFFIX = '.record.json'

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100)
}

export function recordPathOf(backupPath: string): string {
  return backupPath.replace(/\.json$/, '') + RECORD_SUFFIX
}

async function writeRecord(path: string, record: BackupRecord): Promise<void> {
  // Written whole and renamed into place, so a reader never sees half a record.
  const tmp = `${path}.tmp`
  await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`, {mode: 0o600})
  await rename(tmp, path)
}

/**
 * Write `content` to a new backup file under STATE/backups/<kind>/, with its record, and return its path.
 * @throws ConfigError BACKUP_FAILED when the file cannot be written (then nothing else is written).
 */
export async function writeBackup(stateDir: string, kind: string, name: string, content: string, now: Date, info: BackupInfo): Promise<string> {
  const dir = join(stateDir, 'backups', slug(kind))
  const stamp = now.toISOString().replaceAll(':', '').replace(/\.\d+Z$/, 'Z')
  try {
    await mkdir(dir, {recursive: true, mode: 0o700})
    for (let n = 0; ; n++) {
      const path = join(dir, `${stamp}-${slug(name)}${n ? `-${n}` : ''}.json`)
      try {
        const fh = await open(path, 'wx', 0o600)
        try {
          await fh.writeFile(redact(content))
        } finally {
          await fh.close()
        }
        await writeRecord(recordPathOf(path), {version: 1, ...info, time: now.toISOString(), backup: basename(path)})
        return path
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
    }
  } catch (error) {
    throw new ConfigError('BACKUP_FAILED', `Could not write a backup in ${dir}: ${(error as Error).message}. Nothing was changed.`, {
      suggestions: ['Make the state directory writable, or set INGESTGATE_STATE_DIR to a writable directory.'],
    })
  }
}

/**
 * Note in the backup's record the fingerprint of the document that replaced it, once the write is
 * confirmed. A failure here loses no data (the backup is there), so it is reported, not thrown.
 */
export async function recordSuccessor(backupPath: string, successorFingerprint: string, now: Date): Promise<string | undefined> {
  const path = recordPathOf(backupPath)
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as BackupRecord
    await writeRecord(path, {...record, successor: {fingerprint: successorFingerprint, time: now.toISOString()}})
    return undefined
  } catch (error) {
    return `Could not update the backup record ${path}: ${(error as Error).message}; restore from this backup will need --force.`
  }
}

/**
 * The record beside a backup: read, validated against its schema, and checked to be that backup's
 * (a record copied or edited by hand must not send one source's document to another place).
 * @throws ConfigError BAD_BACKUP_RECORD
 */
async function recordOf(backupPath: string): Promise<BackupRecord> {
  const path = recordPathOf(backupPath)
  const damaged = ['The record was damaged or edited; list the backups with ingestgate grant backups.']
  let data: unknown
  try {
    data = JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ConfigError('BAD_BACKUP_RECORD', `${backupPath} has no backup record beside it (${basename(path)}), so ingestgate cannot tell what it is a backup of.`, {
        suggestions: ["Give the path of a backup that ingestgate grant backups lists, or write the document back with the cloud's own CLI."],
      })
    }
    throw new ConfigError('BAD_BACKUP_RECORD', `Cannot read the backup record ${path}: ${(error as Error).message}.`, {suggestions: damaged})
  }
  const {validateWithSchema} = await import('./schema.js')
  const problems = await validateWithSchema('backup-record', data)
  if (problems.length > 0) throw new ConfigError('BAD_BACKUP_RECORD', `The backup record ${path} is not valid: ${problems.join('; ')}.`, {suggestions: damaged})
  const record = data as BackupRecord
  let provider: string | undefined
  try {
    provider = parseSource(record.source).provider
  } catch {
    provider = undefined
  }
  if (record.backup !== basename(backupPath) || provider !== record.cloud) {
    throw new ConfigError('BAD_BACKUP_RECORD', `The backup record ${path} does not belong to ${basename(backupPath)} (it names ${record.backup}, a ${record.cloud} document of ${record.source}).`, {
      suggestions: ['The record was copied or edited; list the backups with ingestgate grant backups.'],
    })
  }
  return record
}

/** Every backup with a valid record, oldest first; records that do not validate are reported in `skipped`. */
export async function listBackups(stateDir: string): Promise<{backups: BackupEntry[]; skipped: string[]}> {
  const root = join(stateDir, 'backups')
  const backups: BackupEntry[] = []
  const skipped: string[] = []
  let kinds: string[]
  try {
    kinds = await readdir(root)
  } catch {
    return {backups, skipped}
  }
  for (const kind of kinds.sort()) {
    let files: string[]
    try {
      files = await readdir(join(root, kind))
    } catch {
      continue
    }
    const names = new Set(files)
    for (const file of files.sort()) {
      if (!file.endsWith('.json') || file.endsWith(RECORD_SUFFIX)) continue
      const path = join(root, kind, file)
      if (!names.has(basename(recordPathOf(path)))) {
        skipped.push(`${path}: no record (written by a version before backup records)`)
        continue
      }
      try {
        backups.push({path, record: await recordOf(path)})
      } catch (error) {
        skipped.push((error as Error).message)
      }
    }
  }
  backups.sort((a, b) => (a.record.time < b.record.time ? -1 : a.record.time > b.record.time ? 1 : a.path < b.path ? -1 : 1))
  return {backups, skipped}
}

/**
 * A backup and its record, for restore.
 * @throws ConfigError NO_SUCH_BACKUP / BAD_BACKUP_RECORD
 */
export async function readBackup(path: string): Promise<BackupEntry & {content: string}> {
  let content: string
  try {
    content = await readFile(path, 'utf8')
  } catch (error) {
    throw new ConfigError('NO_SUCH_BACKUP', `Cannot read the backup ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}.`, {
      suggestions: ['List the backups and their paths with: ingestgate grant backups'],
    })
  }
  return {path, content, record: await recordOf(path)}
}

/**
 * A backup's document, parsed and validated against schemas/NAME.schema.json before anything is
 * written from it.
 * @throws ConfigError BAD_BACKUP naming what is wrong.
 */
export async function parseBackupDocument<T>(backup: {path: string; content: string}, schema: string, what: string): Promise<T> {
  const bad = (why: string): never => {
    throw new ConfigError('BAD_BACKUP', `The backup ${backup.path} is not ${what}: ${why}. Nothing was written.`, {
      suggestions: ['Restore another backup (ingestgate grant backups lists them).'],
    })
  }
  let data: unknown
  try {
    data = JSON.parse(backup.content)
  } catch (error) {
    return bad((error as Error).message)
  }
  const {validateWithSchema} = await import('./schema.js')
  const problems = await validateWithSchema(schema, data)
  if (problems.length > 0) bad(problems.join('; '))
  return data as T
}
