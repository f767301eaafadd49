import {describe, expect, it} from 'vitest'

import {callerIsPrincipal, parseCheckPrincipal, remedyCommands} from '../../../src/providers/aws/check-common.js'
import {parseSource} from '../../../src/source.js'

describe('the principal as check takes it', () => {
  it('a role ARN (with a path) stands for its sessions', () => {
    const p = parseCheckPrincipal('arn:aws:iam::111122223333:role/vendor/ingest')
    expect(p).toMatchObject({kind: 'role', name: 'ingest', accountId: '111122223333', grantArn: 'arn:aws:iam::111122223333:role/vendor/ingest'})
    expect(callerIsPrincipal('arn:aws:sts::111122223333:assumed-role/ingest/any-session', p)).toBe(true)
    expect(callerIsPrincipal('arn:aws:sts::111122223333:assumed-role/other/any-session', p)).toBe(false)
    expect(callerIsPrincipal('arn:aws:sts::999999999999:assumed-role/ingest/s', p)).toBe(false)
    expect(callerIsPrincipal('arn:aws:iam::111122223333:user/admin', p)).toBe(false)
  })

  it('the assumed-role session form is accepted, and grants go to its role', () => {
    const p = parseCheckPrincipal('arn:aws:sts::111122223333:assumed-role/ingest/cluster-7')
    expect(p).toMatchObject({kind: 'session', name: 'ingest', arn: 'arn:aws:sts::111122223333:assumed-role/ingest/cluster-7', grantArn: 'arn:aws:iam::111122223333:role/ingest'})
    expect(callerIsPrincipal('arn:aws:sts::111122223333:assumed-role/ingest/ingestgate-check', p)).toBe(true)
  })

  it('an IAM user is itself', () => {
    const p = parseCheckPrincipal('arn:aws:iam::111122223333:user/reader')
    expect(callerIsPrincipal('arn:aws:iam::111122223333:user/reader', p)).toBe(true)
    expect(callerIsPrincipal('arn:aws:sts::111122223333:assumed-role/reader/s', p)).toBe(false)
  })

  it('refuses what apply refuses: wildcards, accounts, unique ids', () => {
    for (const bad of ['*', '111122223333', 'arn:aws:iam::111122223333:root', 'AROAEXAMPLEEXAMPLE1234']) {
      expect(() => parseCheckPrincipal(bad), bad).toThrow(expect.objectContaining({code: 'BAD_PRINCIPAL'}))
    }
  })

  it('remedies repeat the cloud flags and quote what the shell would split', () => {
    const req = {source: parseSource('s3://acme/dicom files'), principal: 'x', options: {kmsKeys: [], cloud: {profile: 'admin', endpointUrl: 'http://127.0.0.1:5000'}, live: {}}}
    const r = remedyCommands(req, parseCheckPrincipal('arn:aws:iam::111122223333:role/ingest'))
    expect(r.grantApply).toBe("ingestgate grant apply 's3://acme/dicom files' --principal arn:aws:iam::111122223333:role/ingest --profile admin --endpoint-url http://127.0.0.1:5000")
    expect(r.checkLive).toMatch(/--live --no-static --assume-role arn:aws:iam::111122223333:role\/ingest$/)
  })
})
