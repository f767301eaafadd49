// dcmjs ships no types; only what src/demo/dicom.ts uses (DicomDict, DicomMetaDictionary) is declared.
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
