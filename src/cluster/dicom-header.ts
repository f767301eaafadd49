/**
 * Read the DICOM header of an object with as few bytes as possible: one ranged read of the first
 * `initialBytes`, parsed with dicom-parser up to the pixel data; only when the header is longer than
 * what was read does it read more (doubling), never the pixel data itself unless the object has none.
 * Also decides what is wrong with a file that is not usable DICOM (SC01 invalid, SC02 truncated,
 * SC06 bad compression).
 */
import {constants as zc, gunzipSync, inflateRawSync} from 'node:zlib'

import type * as DicomParserModule from 'dicom-parser'

type DicomParser = typeof DicomParserModule
type DataSet = DicomParserModule.DataSet

const PIXEL_DATA = 'x7fe00010'
const IMPLICIT_LE = '1.2.840.10008.1.2'
const EXPLICIT_LE = '1.2.840.10008.1.2.1'

/** The tags resolving uses (DICOM keywords), as strings; absent tags are left out. */
export interface DicomTags {
  PatientID?: string
  PatientName?: string
  StudyInstanceUID?: string
  StudyDate?: string
  StudyTime?: string
  StudyDescription?: string
  SeriesInstanceUID?: string
  SeriesDescription?: string
  SeriesNumber?: string
  SOPInstanceUID?: string
  SOPClassUID?: string
  Modality?: string
  AcquisitionNumber?: string
}

const TAGS: Record<keyof DicomTags, string> = {
  PatientID: 'x00100020',
  PatientName: 'x00100010',
  StudyInstanceUID: 'x0020000d',
  StudyDate: 'x00080020',
  StudyTime: 'x00080030',
  StudyDescription: 'x00081030',
  SeriesInstanceUID: 'x0020000e',
  SeriesDescription: 'x0008103e',
  SeriesNumber: 'x00200011',
  SOPInstanceUID: 'x00080018',
  SOPClassUID: 'x00080016',
  Modality: 'x00080060',
  AcquisitionNumber: 'x00200012',
}

export type HeaderResult =
  | {ok: true; tags: DicomTags; bytesRead: number; reads: number}
  | {ok: false; code: 'SC01' | 'SC02' | 'SC06'; reason: string; bytesRead: number; reads: number}

export interface HeaderReadOptions {
  /** Bytes of the first ranged read (default 16 KiB). */
  initialBytes?: number
  /** The object is gzip-compressed (*.gz): decompress what was read before parsing. */
  gzip?: boolean
}

export const DEFAULT_HEADER_BYTES = 16 * 1024

let parserPromise: Promise<DicomParser> | undefined
/** dicom-parser is a UMD bundle: under ESM its API is the default export. */
async function parser(): Promise<DicomParser> {
  parserPromise ??= import('dicom-parser').then((m) => ((m as unknown as {default?: DicomParser}).default ?? m) as DicomParser)
  return parserPromise
}

type Outcome = 'more' | {ok: true; tags: DicomTags} | {ok: false; code: 'SC01' | 'SC02' | 'SC06'; reason: string}

/**
 * Read the header of an object of `size` bytes through `read(start, end)` (inclusive range).
 * @returns the tags, or the SC code saying why the object is not usable DICOM; bytesRead counts
 *   every byte fetched.
 */
export async function readDicomHeader(
  read: (start: number, end: number) => Promise<Uint8Array>,
  size: number,
  opts: HeaderReadOptions = {},
): Promise<HeaderResult> {
  const dp = await parser()
  let want = Math.max(256, opts.initialBytes ?? DEFAULT_HEADER_BYTES)
  let raw: Uint8Array = new Uint8Array(0)
  let reads = 0
  for (;;) {
    const end = Math.min(size, want) - 1
    if (end >= raw.length) {
      const chunk = await read(raw.length, end)
      reads++
      raw = raw.length === 0 ? chunk : concat(raw, chunk)
      // A short read means the object is shorter than listed (it changed): treat what we have as all.
      if (chunk.length < end - (raw.length - chunk.length) + 1) size = raw.length
    }
    const complete = raw.length >= size
    let bytes = raw
    if (opts.gzip) {
      try {
        bytes = new Uint8Array(gunzipSync(raw, {finishFlush: zc.Z_SYNC_FLUSH}))
      } catch (error) {
        if (!complete) {
          want *= 2
          continue
        }
        return {ok: false, code: 'SC06', reason: `not a valid gzip file (${(error as Error).message})`, bytesRead: raw.length, reads}
      }
    }
    const outcome = parseHeader(dp, bytes, complete, opts.gzip ? undefined : size)
    if (outcome !== 'more') return {...outcome, bytesRead: raw.length, reads}
    if (complete) return {ok: false, code: 'SC02', reason: 'the DICOM header ends before the object does', bytesRead: raw.length, reads}
    want *= 2
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** Inflate a deflated data set from what we have; a partial stream gives a partial data set. */
function partialInflater(arr: Uint8Array, position: number): Uint8Array {
  const inflated = inflateRawSync(arr.subarray(position), {finishFlush: zc.Z_SYNC_FLUSH})
  const out = new Uint8Array(position + inflated.length)
  out.set(arr.subarray(0, position), 0)
  out.set(inflated, position)
  return out
}

/**
 * Parse what has been read. 'more' = the header goes on past the bytes we have.
 * `objectSize` (when the bytes are not decompressed) lets a pixel data element that claims more
 * bytes than the object has be recognised as truncated without reading it.
 */
export function parseHeader(dp: DicomParser, bytes: Uint8Array, complete: boolean, objectSize?: number): Outcome {
  const hasPrefix = bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d
  const options: DicomParserModule.ParseDicomOptions = {untilTag: PIXEL_DATA, inflater: partialInflater as never}
  if (!hasPrefix) {
    if (bytes.length < 132 && !complete) return 'more'
    // A raw data set (no preamble) starts with a group 0008 element; anything else is not DICOM.
    if (!(bytes.length >= 8 && bytes[0] === 0x08 && bytes[1] === 0x00)) {
      return {ok: false, code: 'SC01', reason: 'not a DICOM file (no "DICM" prefix at byte 128)'}
    }
    const explicit = /^[A-Z]{2}$/.test(String.fromCharCode(bytes[4], bytes[5]))
    options.TransferSyntaxUID = explicit ? EXPLICIT_LE : IMPLICIT_LE
  }
  let ds: DataSet
  try {
    ds = dp.parseDicom(bytes, options)
  } catch (error) {
    if (!complete) return 'more'
    const why = typeof error === 'string' ? error : (error as Error).message
    return hasPrefix
      ? {ok: false, code: 'SC02', reason: `the DICOM header is cut short (${why})`}
      : {ok: false, code: 'SC01', reason: 'not a DICOM file (no "DICM" prefix at byte 128, and not a readable data set)'}
  }
  const pixel = ds.elements[PIXEL_DATA]
  if (!pixel) {
    if (!complete) return 'more'
    for (const el of Object.values(ds.elements)) {
      if (el.length !== 0xffffffff && el.dataOffset + el.length > bytes.length) {
        return {ok: false, code: 'SC02', reason: `element ${el.tag} claims ${el.length} bytes but the object ends first`}
      }
    }
    if (ds.elements.x00280010 && ds.elements.x00280011) {
      return {ok: false, code: 'SC02', reason: 'an image without pixel data (the object ends before it)'}
    }
  } else if (objectSize !== undefined && pixel.length !== 0xffffffff && pixel.dataOffset + pixel.length > objectSize) {
    return {
      ok: false,
      code: 'SC02',
      reason: `the pixel data is ${pixel.length} bytes but the object ends ${pixel.dataOffset + pixel.length - objectSize} bytes short`,
    }
  }
  if (!hasPrefix && !ds.elements[TAGS.SOPInstanceUID] && !ds.elements[TAGS.StudyInstanceUID]) {
    return {ok: false, code: 'SC01', reason: 'not a DICOM file (no "DICM" prefix, and no DICOM identifiers in it)'}
  }
  return {ok: true, tags: extractTags(ds, bytes)}
}

function extractTags(ds: DataSet, bytes: Uint8Array): DicomTags {
  const charset = ds.string('x00080005') ?? ''
  const decoder = new TextDecoder(/ISO_IR 192/.test(charset) ? 'utf-8' : 'latin1')
  const tags: DicomTags = {}
  for (const [name, tag] of Object.entries(TAGS) as Array<[keyof DicomTags, string]>) {
    const el = ds.elements[tag]
    if (!el || el.length === 0 || el.length === 0xffffffff || el.dataOffset + el.length > bytes.length) continue
    // Values are padded with spaces (or NUL for UIDs); multi-valued strings keep their backslashes.
    const value = decoder.decode(bytes.subarray(el.dataOffset, el.dataOffset + el.length)).replace(/[\s\0]+$/, '').replace(/^\s+/, '')
    if (value) tags[name] = value
  }
  return tags
}
