/** The backup store: records beside backups, listing, validation of what is read back, and the fingerprint. */
import {mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {beforeEach, describe, expect, it} from 'vitest'

import {fingerprint} from '../src/core/fingerprint.js'
import {registerSecret} from '../src/output/redact.js'
import {listBackups, readBackup, recordPathOf, recordSuccessor, writeBackup, type BackupInfo} from '../src/state.js'

const INFO: BackupInfo = {cloud: 's3', source: 's3://bkt/dicom', verb: 'apply', document: 'bucket-policy', target: {bucket: 'bkt'}}
let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ig-state-unit-'))
})

describe('fingerprint', () => {
  it('ignores key order and undefined fields, keeps array order; absent for no document', () => {
    expect(fingerprint({a: 1, b: [1, 2], c: undefined})).toBe(fingerprint({b: [1, 2], a: 1}))
    expect(fingerprint({b: [2, 1], a: 1})).not.toBe(fingerprint({a: 1, b: [1, 2]}))
    expect(fingerprint(null)).toBe('absent')
    expect(fingerprint({})).toMatch(/^sha256:[0-9a-f]{64}$/)
  })
})

describe('backups', () => {
  it('a backup gets a user-only record; the successor is noted after the write; listing is oldest first', async () => {
    const t1 = new Date('2026-12-01T10:00:00Z')
    const first = await writeBackup(dir, 's3', 'b-policy', '{"Version":"2012-10-17"}', t1, INFO)
    const second = await writeBackup(dir, 's3', 'b-policy', '{}', new Date('2026-12-01T11:00:00Z'), {...INFO, verb: 'revoke'})
    expect(statSync(recordPathOf(first)).mode & 0o777).toBe(0o600)
    expect(await recordSuccessor(first, fingerprint({x: 1}), t1)).toBeUndefined()
    const {backups, skipped} = await listBackups(dir)
    expect(skipped).toEqual([])
    expect(backups.map((b) => [b.path, b.record.verb, b.record.successor?.fingerprint])).toEqual([
      [first, 'apply', fingerprint({x: 1})],
      [second, 'revoke', undefined],
    ])
    expect((await readBackup(first)).content).toBe('{"Version":"2012-10-17"}')
  })

  it('secrets are redacted in the backup; a backup without a record, or a damaged record, is named, never guessed', async () => {
    registerSecret('sk-backup-secret-123456')
    const path = await writeBackup(dir, 'gs', 'b-iam-policy', '{"note":"sk-backup-secret-123456"}', new Date(), {...INFO, cloud: 'gs', document: 'iam-policy'})
    expect(readFileSync(path, 'utf8')).not.toContain('sk-backup-secret-123456')

    const old = join(dir, 'backups', 'gs', '2025-01-01T000000Z-legacy.json')
    writeFileSync(old, '{}')
    await expect(readBackup(old)).rejects.toMatchObject({code: 'BAD_BACKUP_RECORD', exitCode: 3})
    writeFileSync(recordPathOf(path), JSON.stringify({version: 1, cloud: 'ftp'}))
    await expect(readBackup(path)).rejects.toMatchObject({code: 'BAD_BACKUP_RECORD', message: expect.stringMatching(/cloud.*not one of/)})
    const {backups, skipped} = await listBackups(dir)
    expect(backups).toEqual([])
    expect(skipped.join('\n')).toMatch(/legacy\.json: no record/)
    expect(skipped.join('\n')).toMatch(/not valid/)
    await expect(readBackup(recordPathOf(path))).rejects.toMatchObject({code: 'BAD_BACKUP_RECORD'})
    // A valid record beside another backup, or naming another cloud's source, does not belong to it.
    const good = await writeBackup(dir, 's3', 'c-policy', '{}', new Date(), INFO)
    const copy = join(dir, 'backups', 's3', 'copied.json')
    writeFileSync(copy, '{}')
    writeFileSync(recordPathOf(copy), readFileSync(recordPathOf(good), 'utf8'))
    await expect(readBackup(copy)).rejects.toMatchObject({code: 'BAD_BACKUP_RECORD', message: expect.stringMatching(/does not belong/)})
    writeFileSync(recordPathOf(good), readFileSync(recordPathOf(good), 'utf8').replace('"s3://bkt/dicom"', '"gs://bkt/dicom"'))
    await expect(readBackup(good)).rejects.toMatchObject({code: 'BAD_BACKUP_RECORD'})
    writeFileSync(recordPathOf(good), readFileSync(recordPathOf(good), 'utf8').replace('"bucket": "bkt"', '"name": "bkt"'))
    await expect(readBackup(good)).rejects.toMatchObject({code: 'BAD_BACKUP_RECORD', message: expect.stringMatching(/target.bucket: required/)})
    await expect(readBackup(join(dir, 'none.json'))).rejects.toMatchObject({code: 'NO_SUCH_BACKUP'})
    expect(readdirSync(join(dir, 'backups', 'gs')).sort()).toHaveLength(3)
  })

  it('an empty or missing state directory lists nothing', async () => {
    expect(await listBackups(join(dir, 'nowhere'))).toEqual({backups: [], skipped: []})
  })
})
