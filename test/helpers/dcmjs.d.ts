// dcmjs ships no types; the tests use only DicomDict and DicomMetaDictionary (test/helpers/dicom.ts).
declare module 'dcmjs' {
  const dcmjs: {
    data: {
      DicomDict: new (meta: Record<string, unknown>) => {dict: Record<string, unknown>; write(): ArrayBuffer}
      DicomMetaDictionary: {denaturalizeDataset(dataset: Record<string, unknown>): Record<string, unknown>}
    }
    log: {setLevel(level: string): void}
  }
  export default dcmjs
}
