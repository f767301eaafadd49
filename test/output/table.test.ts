import {Chalk} from 'chalk'
import {describe, expect, it} from 'vitest'

import {buildResult, type CheckRow} from '../../src/core/verdict.js'
import {renderCheckTable, stdoutColor} from '../../src/output/table.js'

const plain = new Chalk({level: 0})
const colour = new Chalk({level: 1})
const ANSI = /\u001b\[/

function result(rows: CheckRow[], findings = [] as Parameters<typeof buildResult>[0]['findings']) {
  return buildResult({
    source: 's3://data/dicom',
    principal: 'arn:aws:iam::444455556666:role/ingest',
    layers: ['static', 'live'],
    identities: {static: 'arn:aws:iam::111122223333:user/admin', live: 'arn:aws:sts::444455556666:assumed-role/ingest/ingestgate-check'},
    operations: rows,
    findings,
  })
}

const pass = (resource: string, layer: 'static' | 'live' = 'static'): CheckRow => ({
  operation: 'get',
  resource,
  layer,
  outcome: 'pass',
  code: 'allowed',
  cause: 'allowed by bucket policy "Read" (#2)',
  decidedBy: ['bucket policy "Read" (#2)'],
  remedy: '',
})

describe('renderCheckTable', () => {
  const rows: CheckRow[] = [
    {operation: 'list', resource: 's3://data/dicom', layer: 'static', outcome: 'fail', code: 'implicit-deny', cause: 's3:ListBucket is not allowed', decidedBy: [], remedy: 'ingestgate grant apply s3://data/dicom --principal R'},
    pass('s3://data/dicom/a.dcm'),
    pass('s3://data/dicom/b.dcm'),
    pass('s3://data/dicom/c.dcm'),
    {operation: 'decrypt', resource: 'arn:aws:kms:us-east-1:111122223333:key/k', layer: 'live', outcome: 'unknown', code: 'expired-token', cause: 'the credentials expired', decidedBy: ['GetObject: ExpiredToken (HTTP 400)'], remedy: 'Refresh the credentials'},
    {operation: 'get-attributes', resource: 's3://data/dicom', layer: 'live', outcome: 'skip', code: 'empty-source', cause: 'no objects', decidedBy: [], remedy: ''},
  ]

  it('prints one line per operation and resource with all seven fields, plain without colour', () => {
    const text = renderCheckTable(result(rows, [{code: 'object-ownership', severity: 'warning', message: 'Object Ownership is ObjectWriter.', remedy: 'put-bucket-ownership-controls'}]), plain)
    expect(text).not.toMatch(ANSI)
    const lines = text.split('\n')
    expect(lines[0]).toBe('Check of s3://data/dicom for arn:aws:iam::444455556666:role/ingest')
    expect(lines[1]).toMatch(/static layer as arn:aws:iam::111122223333:user\/admin; live layer as arn:aws:sts::/)
    const header = lines.find((l) => l.startsWith('OPERATION'))!
    expect(header.split(/\s{2,}/)).toEqual(['OPERATION', 'RESOURCE', 'LAYER', 'OUTCOME', 'DECIDED BY'])
    const list = lines.findIndex((l) => l.startsWith('list '))
    expect(lines[list].split(/\s{2,}/)).toEqual(['list', 's3://data/dicom', 'static', 'FAIL', '-'])
    expect(lines[list + 1].trim()).toBe('cause:  s3:ListBucket is not allowed')
    expect(lines[list + 2].trim()).toBe('remedy: ingestgate grant apply s3://data/dicom --principal R')
    // Three objects with the same verdict read as one line.
    expect(lines.filter((l) => l.startsWith('get '))).toHaveLength(1)
    expect(text).toMatch(/s3:\/\/data\/dicom\/a\.dcm \(\+2 more\)\s+static\s+PASS\s+bucket policy "Read" \(#2\)/)
    expect(text).toMatch(/decrypt\s+arn:aws:kms:\S+\s+live\s+UNKNOWN\s+GetObject: ExpiredToken/)
    expect(text).toMatch(/get-attributes\s+s3:\/\/data\/dicom\s+live\s+SKIP/)
    expect(text).toMatch(/warning\s+Object Ownership is ObjectWriter\. \[object-ownership\]\n\s+→ put-bucket-ownership-controls/)
    expect(lines.at(-1)).toBe('NOT OK: 1 of 6 checks fail (6 checks in 4 rows: 3 pass, 1 fail, 1 unknown, 1 skipped). Apply the remedies above and re-run.')
  })

  it('colours PASS green and FAIL red on a terminal', () => {
    const text = renderCheckTable(result(rows), colour)
    expect(text).toContain(colour.green('PASS   '))
    expect(text).toContain(colour.red.bold('FAIL   '))
    expect(text).toContain(colour.yellow('UNKNOWN'))
  })

  it('says OK when everything passes', () => {
    const text = renderCheckTable(result([pass('s3://data/dicom/a.dcm'), pass('s3://data/dicom/a.dcm', 'live')]), plain)
    expect(text.split('\n').at(-1)).toBe('OK: every operation the ingest cluster needs passes (2 checks in 2 rows: 2 pass, 0 fail, 0 unknown, 0 skipped).')
    expect(text).not.toMatch(/cause:/)
  })

  it('takes colour from stdout being a terminal, and never with NO_COLOR', () => {
    expect(stdoutColor({}, {write: () => true, isTTY: true}).level).toBe(1)
    expect(stdoutColor({}, {write: () => true, isTTY: false}).level).toBe(0)
    expect(stdoutColor({NO_COLOR: '1'}, {write: () => true, isTTY: true}).level).toBe(0)
  })

  it('wraps a long resource inside its column, so a row fits 100 columns', () => {
    const long = 's3://imaging-archive-eu-central-1/studies/2024/radiology/brain/P0001/series-0001/IM0001.dcm'
    const text = renderCheckTable(result([pass(long)]), plain)
    const lines = text.split('\n')
    const at = lines.findIndex((l) => l.startsWith('get '))
    const continued = lines.slice(at + 1).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith(' '.repeat(11))))
    for (const l of [lines[at], ...continued]) expect(l.length, l).toBeLessThanOrEqual(100)
    // The pieces, read in order, are the whole URL: the first in the RESOURCE column (after OPERATION + 2).
    expect([lines[at].slice(11, 11 + 44), ...continued].map((l) => l.trim()).join('')).toBe(long)
  })
})
