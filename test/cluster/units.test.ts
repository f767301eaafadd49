/**
 * The pure parts of the reference cluster: DICOM header reading (how many bytes, which verdict),
 * resolving the hierarchy, the include/exclude filters, the key check, the history clock.
 */
import {gzipSync} from 'node:zlib'

import {describe, expect, it} from 'vitest'

import {parseCsv, subjectCodes} from '../../src/cluster/csv.js'
import {readDicomHeader} from '../../src/cluster/dicom-header.js'
import {compileFilter, fnmatchToRegExp} from '../../src/core/glob.js'
import {resolveHierarchy, safeLabel} from '../../src/cluster/hierarchy.js'
import {authorised} from '../../src/cluster/server.js'
import {csvLine, elapsedOf} from '../../src/cluster/views.js'
import {DEFAULT_DICOM_INCLUDE} from '../../src/ingest/protocol.js'
import {IMPLICIT_VR_LITTLE_ENDIAN, makeDicom, notDicom, truncated} from '../helpers/dicom.js'

const spec = {patientId: 'P1', studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.4', sopInstanceUid: '1.2.3.4.5', seriesDescription: 'T1', pixelBytes: 300_000}

/** Read a header from a Buffer, recording each ranged read. */
async function header(buf: Buffer, opts: {initialBytes?: number; gzip?: boolean} = {}) {
  const ranges: Array<[number, number]> = []
  const result = await readDicomHeader(
    async (start, end) => {
      ranges.push([start, end])
      return buf.subarray(start, end + 1)
    },
    buf.length,
    opts,
  )
  return {result, ranges}
}

describe('readDicomHeader', () => {
  it('reads one 16 KiB range of a DICOM file and stops at the pixel data', async () => {
    const {result, ranges} = await header(makeDicom(spec))
    expect(ranges).toEqual([[0, 16383]])
    expect(result).toMatchObject({ok: true, bytesRead: 16384, reads: 1, tags: {PatientID: 'P1', StudyInstanceUID: '1.2.3', SeriesInstanceUID: '1.2.3.4', SeriesDescription: 'T1', SOPInstanceUID: '1.2.3.4.5', StudyDate: '20240102'}})
  })

  it('reads the whole of a file smaller than the first range, once', async () => {
    const small = makeDicom({...spec, pixelBytes: 64})
    const {result, ranges} = await header(small)
    expect(ranges).toEqual([[0, small.length - 1]])
    expect(result.ok).toBe(true)
  })

  it('grows (doubling) only when the header is longer than what was read', async () => {
    const long = makeDicom({...spec, headerPadding: 40_000})
    const pixelTag = long.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57])) // (7FE0,0010) OW
    expect(pixelTag).toBeGreaterThan(30_000)
    const {result, ranges} = await header(long, {initialBytes: 8192})
    // 8 KiB, then up to 16, 32, 64 KiB...: as few doublings as reach the pixel data element's header.
    const reads = Math.ceil(Math.log2((pixelTag + 12) / 8192)) + 1
    expect(ranges).toEqual(Array.from({length: reads}, (_, i) => [i === 0 ? 0 : 8192 * 2 ** (i - 1), 8192 * 2 ** i - 1]))
    expect(result).toMatchObject({ok: true, bytesRead: 8192 * 2 ** (reads - 1), tags: {PatientID: 'P1'}})
  })

  it('parses implicit VR little endian, and UTF-8 names with ISO_IR 192', async () => {
    expect((await header(makeDicom({...spec, transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN}))).result).toMatchObject({ok: true, tags: {SeriesInstanceUID: '1.2.3.4'}})
    expect((await header(makeDicom({...spec, characterSet: 'ISO_IR 192', patientId: 'Zoë-Ånström'}))).result).toMatchObject({ok: true, tags: {PatientID: 'Zoë-Ånström'}})
  })

  it('reads a gzip-compressed DICOM (*.dcm.gz) from its first compressed bytes', async () => {
    const gz = gzipSync(makeDicom({...spec, pixelBytes: 2_000_000}))
    const {result, ranges} = await header(gz, {gzip: true})
    expect(ranges).toEqual([[0, 16383]])
    expect(result).toMatchObject({ok: true, tags: {PatientID: 'P1'}})
    expect((await header(Buffer.from('not gzip at all, not at all'), {gzip: true})).result).toMatchObject({ok: false, code: 'SC06'})
  })

  it.each([
    ['not DICOM', notDicom(), 'SC01', /no "DICM" prefix/],
    ['cut inside the pixel data (seen from the header alone)', truncated(makeDicom(spec), 5000), 'SC02', /pixel data is \d+ bytes but the object ends \d+ bytes short/],
    ['cut inside the header', truncated(makeDicom(spec), 300), 'SC02', /cut short/],
    ['cut right after the header (an image without pixel data)', truncated(makeDicom(spec), makeDicom(spec).indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]))), 'SC02', /without pixel data/],
  ])('%s: %s', async (_what, buf, code, reason) => {
    const {result, ranges} = await header(buf)
    expect(result).toMatchObject({ok: false, code, reason: expect.stringMatching(reason)})
    expect(ranges.length).toBe(1)
  })
})

describe('resolveHierarchy', () => {
  const f = (id: string, tags: Record<string, string>, srcPath = `${id}.dcm`) => ({id, srcPath, size: 10, tags})
  const base = {PatientID: 'P1', StudyInstanceUID: '1.1', StudyDate: '20240102', SeriesInstanceUID: '1.1.1', SeriesDescription: 'T1'}

  it('builds group / project / subject / session / acquisition with stable ids', () => {
    const files = [f('a', base), f('b', {...base, SeriesInstanceUID: '1.1.2', SeriesDescription: 'T2'}), f('c', {...base, PatientID: 'P2', StudyInstanceUID: '2.1', SeriesInstanceUID: '2.1.1'})]
    const r = resolveHierarchy('ing', files, {group: 'grp', project: 'My Project'})
    expect(r.containers.map((c) => [c.level, c.path])).toEqual([
      [0, 'grp'],
      [1, 'grp/My Project'],
      [2, 'grp/My Project/P1'],
      [3, 'grp/My Project/P1/20240102'],
      [4, 'grp/My Project/P1/20240102/T1'],
      [4, 'grp/My Project/P1/20240102/T2'],
      [2, 'grp/My Project/P2'],
      [3, 'grp/My Project/P2/20240102'],
      [4, 'grp/My Project/P2/20240102/T1'],
    ])
    expect(resolveHierarchy('ing', [...files].reverse(), {group: 'grp', project: 'My Project'}).containers).toEqual(r.containers)
    const acq = r.containers.find((c) => c.path.endsWith('P1/20240102/T1'))!
    expect(r.placement.get('a')).toBe(acq.id)
    expect(acq.srcContext).toEqual({label: 'T1', uid: '1.1.1'})
  })

  it('keeps two studies of one day apart (label_2 in UID order), and falls back to the UID without StudyDate', () => {
    const files = [f('a', base), f('b', {...base, StudyInstanceUID: '1.0', SeriesInstanceUID: '1.0.1'}), f('c', {...base, StudyDate: '', StudyInstanceUID: '9.9', SeriesInstanceUID: '9.9.1'})]
    const sessions = resolveHierarchy('ing', files, {group: 'grp', project: 'prj'}).containers.filter((c) => c.level === 3)
    expect(sessions.map((s) => [s.path, s.uid])).toEqual([
      ['grp/prj/P1/20240102', '1.0'],
      ['grp/prj/P1/20240102_2', '1.1'],
      ['grp/prj/P1/9.9', '9.9'],
    ])
  })

  it('applies --subject / --session and a subject map, and reports files it cannot place (SC04)', () => {
    const files = [f('a', base), f('b', {...base, PatientID: 'P2', StudyInstanceUID: '2.1'}), f('c', {PatientID: 'P3', StudyInstanceUID: '3.1'})]
    const over = resolveHierarchy('ing', files, {group: 'grp', project: 'prj', subject: 'S', session: 'V1'})
    expect(over.containers.filter((c) => c.level >= 2 && c.level <= 3).map((c) => c.path)).toEqual(['grp/prj/S', 'grp/prj/S/V1'])
    expect(over.unplaced).toEqual([{fileId: 'c', code: 'SC04', message: 'c.dcm: no SeriesInstanceUID in the DICOM header'}])
    const mapped = resolveHierarchy('ing', files.slice(0, 2), {group: 'grp', project: 'prj'}, subjectCodes('code,PatientID\r\n"SUBJ, one",P1\n'))
    expect(mapped.containers.filter((c) => c.level === 2).map((c) => c.path)).toEqual(['grp/prj/P2', 'grp/prj/SUBJ, one'])
  })

  it('makes labels safe as directory names', () => {
    expect(safeLabel('a/b\\c')).toBe('a_b_c')
    expect(safeLabel('..')).toBe('_')
    expect(safeLabel('  ')).toBe('unknown')
    expect(safeLabel('x'.repeat(300))).toHaveLength(200)
  })
})

describe('include / exclude filters (fnmatch)', () => {
  it('matches the vendor CLI default DICOM patterns against the file name', () => {
    const keep = compileFilter({include: DEFAULT_DICOM_INCLUDE})
    for (const p of ['a/IM0001.dcm', 'a/b/x.DCM', 'x.dicom', 'x.dcm.gz', 'scan.IMA', '1.2.840.1234.5', 'dir.dcm/123']) expect(keep(p), p).toBe(true)
    for (const p of ['notes.txt', 'a.dcm/readme', 'IM0001', 'x.dcm.zip', '1.2.3.']) expect(keep(p), p).toBe(false)
  })

  it('applies exclude, include_dirs and exclude_dirs', () => {
    const keep = compileFilter({include: ['*.dcm'], exclude: ['*_scout.dcm'], include_dirs: ['sub-*'], exclude_dirs: ['tmp']})
    expect(keep('sub-1/a.dcm')).toBe(true)
    expect(keep('sub-1/a_scout.dcm')).toBe(false)
    expect(keep('other/a.dcm')).toBe(false)
    expect(keep('sub-1/tmp/a.dcm')).toBe(false)
    expect(fnmatchToRegExp('[!a-c]?.txt').test('dx.txt')).toBe(true)
    expect(fnmatchToRegExp('[!a-c]?.txt').test('bx.txt')).toBe(false)
    expect(fnmatchToRegExp('a+(b).txt').test('a+(b).txt')).toBe(true)
  })
})

describe('the API key check', () => {
  it('accepts the raw key, scitran-user and Bearer forms, and the secret without the host', () => {
    for (const h of ['site.io:s3cret', 'scitran-user site.io:s3cret', 'Bearer site.io:s3cret', 'bearer  site.io:s3cret ', 's3cret']) expect(authorised(h, 'site.io:s3cret'), h).toBe(true)
    for (const h of [undefined, '', 'site.io:s3cre', 'Basic site.io:s3cret', 'scitran-user', 'site.io:']) expect(authorised(h, 'site.io:s3cret'), String(h)).toBe(false)
  })
})

describe('small helpers', () => {
  it('elapsed seconds per status from the history (terminal statuses have none)', () => {
    expect(elapsedOf([['created', 10], ['configuring', 11], ['scanning', 11.5], ['failed', 14]])).toEqual({created: 1, configuring: 0.5, scanning: 2.5})
    expect(elapsedOf([['created', 10], ['configuring', 12]], 15)).toEqual({created: 2, configuring: 3})
  })

  it('CSV fields are quoted when needed (RFC 4180), and read back', () => {
    const line = csvLine(['a', 'b,c', 'say "hi"', 'x\ny', 3, true])
    expect(line).toBe('a,"b,c","say ""hi""","x\ny",3,true')
    expect(parseCsv(line + '\r\n')).toEqual([['a', 'b,c', 'say "hi"', 'x\ny', '3', 'true']])
  })
})
