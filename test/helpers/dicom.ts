// The DICOM generator lives with the demo, which seeds its bucket with it; tests use the same one.
export * from '../../src/demo/dicom.js'
