/**
 * DICOM sample data, generated (nothing binary is committed): small but real Part-10 files written
 * with dcmjs, plus the broken kinds a scanner meets (zero bytes, not DICOM, truncated). Pure
 * functions returning Buffers, deterministic for the same input (the client tests and the demo
 * reuse them).
 */
import dcmjs from 'dcmjs'

const {DicomDict, DicomMetaDictionary} = dcmjs.data
dcmjs.log.setLevel('silent')

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1'
export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2'
const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4'
const UID_ROOT = '1.2.826.0.1.3680043.10.1234'

export interface DicomSpec {
  patientId: string
  patientName?: string
  studyInstanceUid: string
  studyDate?: string
  studyTime?: string
  studyDescription?: string
  seriesInstanceUid: string
  seriesDescription?: string
  seriesNumber?: number
  sopInstanceUid: string
  instanceNumber?: number
  modality?: string
  /** Bytes of pixel data (16-bit, rounded to a square image; default 512). */
  pixelBytes?: number
  /** Default explicit VR little endian. */
  transferSyntax?: string
  /** Add this many bytes of text to the header (ImageComments etc.), to make a long header. */
  headerPadding?: number
  /** Set SpecificCharacterSet (e.g. 'ISO_IR 192' for UTF-8 names). */
  characterSet?: string
  /** Leave these keywords out (e.g. ['SeriesInstanceUID'] for a file resolving cannot place). */
  omit?: string[]
}

/** One DICOM Part-10 file (preamble, DICM, meta group, data set, pixel data). */
export function makeDicom(spec: DicomSpec): Buffer {
  const side = Math.max(1, Math.ceil(Math.sqrt((spec.pixelBytes ?? 512) / 2)))
  const pixels = new Uint16Array(side * side)
  // A pattern, so the bytes are not all zero (and not trivially compressible in the bench).
  let x = spec.sopInstanceUid.length * 2654435761
  for (let i = 0; i < pixels.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    pixels[i] = x >>> 20
  }
  const dataset: Record<string, unknown> = {
    SOPClassUID: MR_IMAGE_STORAGE,
    SOPInstanceUID: spec.sopInstanceUid,
    ...(spec.characterSet ? {SpecificCharacterSet: spec.characterSet} : {}),
    StudyDate: spec.studyDate ?? '20240102',
    StudyTime: spec.studyTime ?? '101500',
    Modality: spec.modality ?? 'MR',
    StudyDescription: spec.studyDescription ?? 'Brain',
    SeriesDescription: spec.seriesDescription ?? 'T1',
    PatientName: spec.patientName ?? `Test^${spec.patientId}`,
    PatientID: spec.patientId,
    StudyInstanceUID: spec.studyInstanceUid,
    SeriesInstanceUID: spec.seriesInstanceUid,
    SeriesNumber: String(spec.seriesNumber ?? 1),
    InstanceNumber: String(spec.instanceNumber ?? 1),
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: side,
    Columns: side,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 0,
    PixelData: pixels.buffer,
    _vrMap: {PixelData: 'OW'},
  }
  if (spec.headerPadding) {
    // LT values hold up to 10240 characters: spread the padding over as many as needed.
    const fields = ['ImageComments', 'AdditionalPatientHistory', 'PatientComments', 'StudyComments', 'RequestedProcedureComments']
    let left = spec.headerPadding
    for (const f of fields) {
      if (left <= 0) break
      const n = Math.min(left, 10000)
      dataset[f] = 'x'.repeat(n)
      left -= n
    }
  }
  for (const k of spec.omit ?? []) delete dataset[k]
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: MR_IMAGE_STORAGE,
    MediaStorageSOPInstanceUID: spec.sopInstanceUid,
    TransferSyntaxUID: spec.transferSyntax ?? EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: `${UID_ROOT}.1`,
    ImplementationVersionName: 'INGESTGATE_TEST',
  }
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta))
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset)
  return Buffer.from(dict.write())
}

export interface GeneratedObject {
  /** Relative key (prefix it with the source prefix). */
  key: string
  body: Buffer
  patientId: string
  studyInstanceUid: string
  studyDate: string
  seriesInstanceUid: string
  seriesDescription: string
  sopInstanceUid: string
}

export interface DicomSetOptions {
  patients?: number
  studiesPerPatient?: number
  seriesPerStudy?: number
  instancesPerSeries?: number
  pixelBytes?: number
  /** Distinguishes the UIDs of two sets (default 1). */
  setId?: number
}

/**
 * A tree of DICOM files: P patients x S studies x R series x I instances, keyed
 * `sub-P/ses-S/ser-R/IM000I.dcm`. Patient p is `P00p`; study s of patient p is on 2024-01-(s+1).
 */
export function makeDicomSet(opts: DicomSetOptions = {}): GeneratedObject[] {
  const out: GeneratedObject[] = []
  const set = opts.setId ?? 1
  for (let p = 1; p <= (opts.patients ?? 2); p++) {
    for (let s = 1; s <= (opts.studiesPerPatient ?? 1); s++) {
      const studyInstanceUid = `${UID_ROOT}.${set}.${p}.${s}`
      const studyDate = `202401${String(s + 1).padStart(2, '0')}`
      for (let r = 1; r <= (opts.seriesPerStudy ?? 2); r++) {
        const seriesInstanceUid = `${studyInstanceUid}.${r}`
        const seriesDescription = `Series ${r} ${r % 2 ? 'T1' : 'T2'}`
        for (let i = 1; i <= (opts.instancesPerSeries ?? 2); i++) {
          const sopInstanceUid = `${seriesInstanceUid}.${i}`
          const patientId = `P${String(p).padStart(3, '0')}`
          out.push({
            key: `sub-${p}/ses-${s}/ser-${r}/IM${String(i).padStart(4, '0')}.dcm`,
            body: makeDicom({
              patientId,
              studyInstanceUid,
              studyDate,
              seriesInstanceUid,
              seriesDescription,
              seriesNumber: r,
              sopInstanceUid,
              instanceNumber: i,
              pixelBytes: opts.pixelBytes,
            }),
            patientId,
            studyInstanceUid,
            studyDate,
            seriesInstanceUid,
            seriesDescription,
            sopInstanceUid,
          })
        }
      }
    }
  }
  return out
}

/** The first `keep` bytes (a file cut short by a failed copy). */
export function truncated(file: Buffer, keep: number): Buffer {
  return Buffer.from(file.subarray(0, keep))
}

/** A file that is not DICOM but is named like one. */
export function notDicom(): Buffer {
  return Buffer.from('This is a scanner export log, not a DICOM file.\n'.repeat(8))
}
