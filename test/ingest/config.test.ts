/** Cluster URL and key resolution rules, ingest URLs, the remembered ingest, and the follow texts' formatters. */
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {fnmatchToRegExp} from '../../src/core/glob.js'
import {normaliseClusterUrl, parseIngestUrl, rememberIngest, resolveApiKey, resolveCluster, resolveIngestRef} from '../../src/ingest/config.js'
import {hrsize, hrtime, percentText, reportTitle, statusHeader} from '../../src/ingest/format.js'
import {alignColumns} from '../../src/output/table.js'
import {clip, sentence, summariseBody} from '../../src/ingest/http.js'
import {checkSavePath, saveStreamToFile} from '../../src/ingest/save.js'
import {redact} from '../../src/output/redact.js'
import {isolatedHome} from './helpers.js'

describe('cluster URL', () => {
  it.each([
    ['https://site.example.io', 'https://site.example.io/ingest'],
    ['https://site.example.io/', 'https://site.example.io/ingest'],
    ['https://site.example.io/ingest', 'https://site.example.io/ingest'],
    ['https://site.example.io/ingest/', 'https://site.example.io/ingest'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/ingest'],
    ['HTTPS://site.example.io:8443/custom/ingest', 'HTTPS://site.example.io:8443/custom/ingest'],
  ])('%s -> %s', (input, expected) => {
    expect(normaliseClusterUrl(input)).toBe(expected)
  })

  it.each(['site.example.io', 'ftp://site.example.io', 's3://bucket', 'https://', 'https://site.example.io/ingest?x=1', 'https://user:pw@site.example.io'])('refuses %s', (input) => {
    expect(() => normaliseClusterUrl(input)).toThrow(expect.objectContaining({code: 'BAD_CLUSTER_URL', exitCode: 3}))
  })

  it('--cluster wins over the site file, which wins over cli.yml (under FLYWHEEL_USER_HOME)', async () => {
    const home = isolatedHome()
    const env = {FLYWHEEL_USER_HOME: home}
    mkdirSync(join(home, '.config/flywheel'), {recursive: true})
    writeFileSync(join(home, '.config/flywheel/cli.yml'), 'cluster: https://from-cli-yml.example.io\n')
    const site = join(home, 'site.json')
    writeFileSync(site, JSON.stringify({cluster: 'https://from-site.example.io/ingest/'}))
    expect((await resolveCluster({cluster: 'https://from-flag.example.io', site}, env)).url).toBe('https://from-flag.example.io/ingest')
    expect((await resolveCluster({site}, env)).url).toBe('https://from-site.example.io/ingest')
    expect((await resolveCluster({}, env)).url).toBe('https://from-cli-yml.example.io/ingest')
    const other = join(home, 'other.yml')
    writeFileSync(other, 'cluster: http://from-dash-c.example.io/ingest\n')
    expect((await resolveCluster({configPath: other}, env)).url).toBe('http://from-dash-c.example.io/ingest')
    await expect(resolveCluster({}, {FLYWHEEL_USER_HOME: isolatedHome()})).rejects.toMatchObject({code: 'NO_CLUSTER', exitCode: 3})
  })
})

describe('API key', () => {
  it('--api-key > INGESTGATE_API_KEY > $FLYWHEEL_USER_HOME/.config/flywheel/user.json key', async () => {
    const home = isolatedHome()
    mkdirSync(join(home, '.config/flywheel'), {recursive: true})
    writeFileSync(join(home, '.config/flywheel/user.json'), '{"key": "h:fromfile123", "root": false}')
    expect(await resolveApiKey('h:fromflag123', {FLYWHEEL_USER_HOME: home, INGESTGATE_API_KEY: 'h:fromenv123'})).toMatchObject({key: 'h:fromflag123', from: '--api-key'})
    expect(await resolveApiKey(undefined, {FLYWHEEL_USER_HOME: home, INGESTGATE_API_KEY: 'h:fromenv123'})).toMatchObject({key: 'h:fromenv123'})
    expect(await resolveApiKey(undefined, {FLYWHEEL_USER_HOME: home})).toMatchObject({key: 'h:fromfile123'})
    expect(await resolveApiKey(undefined, {HOME: home})).toMatchObject({key: 'h:fromfile123'})
    writeFileSync(join(home, '.config/flywheel/user.json'), 'not json')
    await expect(resolveApiKey(undefined, {FLYWHEEL_USER_HOME: home})).rejects.toMatchObject({code: 'NO_API_KEY', exitCode: 3})
  })

  it('is redacted whole and by its secret part alone (a server may echo either)', async () => {
    await resolveApiKey('site.example.io:Zq81secretPart', {})
    expect(redact('key site.example.io:Zq81secretPart; echoed Zq81secretPart')).toBe('key [REDACTED]; echoed [REDACTED]')
  })
})

describe('ingest URLs and the last ingest', () => {
  const id = '0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11'
  it('splits <cluster_url>/ingests/<uuid>; anything else gets the vendor message', () => {
    expect(parseIngestUrl(`https://site.example.io/ingest/ingests/${id}`)).toEqual({cluster: 'https://site.example.io/ingest', id, url: `https://site.example.io/ingest/ingests/${id}`})
    for (const bad of [`https://site.example.io/ingest/${id}`, 'https://site.example.io/ingest/ingests/123', `site.example.io/ingest/ingests/${id}`]) {
      expect(() => parseIngestUrl(bad)).toThrow('The provided url should have the following format: <cluster_url>/ingests/<ingest_id>')
    }
  })

  it('remembers the last ingest in ingest.yaml (key ingest_operation_url), keeping other keys', async () => {
    const home = isolatedHome()
    const env = {FLYWHEEL_USER_HOME: home}
    mkdirSync(join(home, '.config/flywheel'), {recursive: true})
    writeFileSync(join(home, '.config/flywheel/ingest.yaml'), 'other: kept\ningest_operation_url: https://old/ingests/x\n')
    const path = await rememberIngest(`https://site.example.io/ingest/ingests/${id}`, env)
    expect(path).toBe(join(home, '.config/flywheel/ingest.yaml'))
    expect(readFileSync(path, 'utf8')).toBe(`other: kept\ningest_operation_url: https://site.example.io/ingest/ingests/${id}\n`)
    expect((await resolveIngestRef(undefined, env)).id).toBe(id)
  })

  it('a config folder that cannot be written is a configuration error (exit 3), not a crash', async () => {
    const notADir = join(isolatedHome(), 'file')
    writeFileSync(notADir, 'x')
    await expect(rememberIngest('https://site.example.io/ingest/ingests/x', {FLYWHEEL_USER_HOME: notADir})).rejects.toMatchObject({
      code: 'CANNOT_REMEMBER_INGEST',
      exitCode: 3,
      suggestions: [expect.stringContaining('ingestgate ingest abort')],
    })
  })

  it('a --save-* path in a missing folder is a configuration error (exit 3), not a crash', async () => {
    const missing = join(isolatedHome(), 'no', 'such', 'audit.csv')
    await expect(saveStreamToFile('audit_logs', ['a'], missing, {now: new Date(0), version: 'v'})).rejects.toMatchObject({
      code: 'SAVE_DIR_MISSING',
      exitCode: 3,
      message: expect.stringContaining(`No such directory: ${dirname(missing)} (given to --save-audit-logs as the directory of ${missing})`),
    })
  })

  it('a --save-* directory that does not exist is an error too, not a silent save elsewhere', async () => {
    const home = isolatedHome()
    const missingDir = join(home, 'logs') + '/'
    expect(() => checkSavePath('deid_logs', missingDir)).toThrow(expect.objectContaining({code: 'SAVE_DIR_MISSING', exitCode: 3, message: expect.stringContaining('--save-deid-logs')}))
    await expect(saveStreamToFile('deid_logs', ['a'], missingDir, {now: new Date(0), version: 'v'})).rejects.toMatchObject({code: 'SAVE_DIR_MISSING'})
    expect(readdirSync(home)).toEqual([])
    // a file in an existing directory, or the directory itself, passes
    expect(() => checkSavePath('audit_logs', join(home, 'audit.csv'))).not.toThrow()
    expect(() => checkSavePath('audit_logs', home)).not.toThrow()
  })
})

describe('fw-compatible formatting', () => {
  it.each([
    [0, '0s'], [0.4, '0s'], [42, '42s'], [60, '1m'], [65, '1m 5s'], [3600, '1h'], [3661, '1h 1m'], [90061, '1d 1h'], [604800 + 59, '1w'],
  ])('hrtime(%s) = %s', (s, text) => expect(hrtime(s)).toBe(text))

  it.each([
    [0, '0B'], [999, '999B'], [1000, '1.0KB'], [10 * 1024, '10KB'], [12 * 1024 * 1024, '12MB'], [1.5 * 1024 ** 3, '1.5GB'], [2.5 * 1024, '2.5KB'], [1023.5 * 1024, '1.0MB'],
  ])('hrsize(%s) = %s', (n, text) => expect(hrsize(n)).toBe(text))

  it.each([
    [1, 2, '50.0%'], [1, 3, '33.33%'], [2, 3, '66.67%'], [40, 40, '100.0%'], [0, 7, '0.0%'], [1, 8, '12.5%'],
  ])('percent %i/%i = %s', (f, t, text) => expect(percentText(f, t)).toBe(text))

  it('status names: underscores to spaces, capitalised, padded to 20; local time stamp', () => {
    process.env.TZ = 'UTC'
    expect(statusHeader('detecting_duplicates', 1714557600)).toEqual({name: 'Detecting duplicates', stamp: '[2024-05-01 10:00:00]'})
    expect(statusHeader('in_review', 1714557600.9).name).toBe('In review           ')
  })

  it('include patterns match like fnmatch on the file name', () => {
    const dicom = ['*.[dD][cC][mM]', '[0-9]*[0-9.]*[0-9]'].map(fnmatchToRegExp)
    const any = (name: string) => dicom.some((r) => r.test(name))
    expect(any('IM0001.DCM')).toBe(true)
    expect(any('1.2.840.113619')).toBe(true)
    expect(any('notes.txt')).toBe(false)
    expect(fnmatchToRegExp('[!a]?.txt').test('b1.txt')).toBe(true)
  })
})

describe('messages of the ingest client', () => {
  it.each([
    ['No ingest x on this cluster.', 'No ingest x on this cluster.'],
    ['Not found', 'Not found.'],
    ['Really?', 'Really?'],
    ['trailing space. ', 'trailing space.'],
  ])('sentence(%j) ends with one full stop', (text, want) => expect(sentence(text)).toBe(want))

  it('clip cuts at a word boundary, never mid-word', () => {
    expect(clip('short', 10)).toBe('short')
    expect(clip('The quick brown fox jumps over the lazy dog', 20)).toBe('The quick brown fox…')
    expect(clip('Internal Server Error, the database', 23)).toBe('Internal Server Error…')
  })

  it('an HTML error page is summarised by its title and size, not cut mid-word', () => {
    const page = `<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title><style>body{color:red}</style></head>\n<body><h1>Internal Server Error</h1><p>${'The server encountered an internal error and was unable to complete your request. '.repeat(8)}</p></body></html>`
    expect(summariseBody(page)).toBe(`an HTML page "500 Internal Server Error" (${Buffer.byteLength(page)} bytes)`)
    expect(summariseBody('<html><body><h1>Bad &amp; Gateway</h1></body></html>')).toBe('an HTML page "Bad & Gateway" (52 bytes)')
    expect(summariseBody('   ')).toBe('(an empty body)')
    const words = summariseBody('word '.repeat(100))
    expect(words).toMatch(/^"(word )+word…"$/)
  })

  it('report titles: final only for a finished or failed ingest; aborted and unfinished say so', () => {
    expect(reportTitle('finished')).toBe('Final report')
    expect(reportTitle('failed')).toBe('Final report')
    expect(reportTitle('aborted')).toBe('Final report (the ingest was aborted)')
    expect(reportTitle('scanning')).toBe('Report so far (the ingest is not finished: it is scanning)')
  })

  it('alignColumns pads every column but the last to its widest cell', () => {
    expect(alignColumns([['A', 'BB', 'C'], ['long', 'x', 'tail']])).toEqual(['A     BB  C', 'long  x   tail'])
  })
})
