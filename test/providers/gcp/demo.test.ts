/**
 * The GCS demo flow (src/demo/gcp.ts) runs end to end on the double as real CLI processes, within
 * the demo's time budget, and leaves the grant revoked.
 */
import {describe, expect, it} from 'vitest'

import {createContext} from '../../../src/context.js'
import {runGcpDemo} from '../../../src/demo/gcp.js'

describe('GCS demo', () => {
  it('renders, applies twice, checks, ingests on the reference cluster and revokes', async () => {
    const lines: string[] = []
    const base = createContext({quiet: true})
    const ui = {...base.ui, info: (t: string) => lines.push(t)}
    const started = Date.now()
    const r = await runGcpDemo(createContext({ui, env: {...process.env, METADATA_SERVER_DETECTION: 'none'}}), {json: true})
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(r.steps.map((s) => s.exitCode)).toEqual([0, 0, 0, 0, 0, 0])
    expect(r.steps.map((s) => s.command.split(' ').slice(1, 3).join(' '))).toEqual(['grant render', 'grant apply', 'grant apply', 'check gs://ingestgate-demo-scans/dicom/', 'ingest dicom', 'grant revoke'])
    expect(r.uploadedFiles).toHaveLength(r.objects)
    expect(r.uploadedFiles.some((f) => f.includes('IDENTIFIED'))).toBe(false)
    expect(lines.join('\n')).toMatch(/GCS demo complete/)
  }, 60_000)
})
