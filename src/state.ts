/**
 * Files the tool keeps in the user's state directory: backups of documents before they are changed.
 * Backups are never overwritten and are readable by the user only.
 */
import {mkdir, open} from 'node:fs/promises'
import {join} from 'node:path'

import {ConfigError} from './errors.js'
import {redact} from './output/redact.js'

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100)
}

/**
 * Write `content` to a new backup file under STATE/backups/<kind>/ and return its path.
 * @throws ConfigError BACKUP_FAILED when the file cannot be written (then nothing else is written).
 */
export async function writeBackup(stateDir: string, kind: string, name: string, content: string, now: Date): Promise<string> {
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
