/**
 * The Azure demo as the demo command would run it: every step a real CLI process against the
 * doubles, all exit 0, the cluster writes the ingested files, and it stays inside its time budget.
 */
import {describe, expect, it} from 'vitest'

import {createContext} from '../../../src/context.js'
import {runAzureDemo} from '../../../src/demo/azure.js'
import {createUi} from '../../../src/output/ui.js'
import {baseEnv} from '../../helpers/cli.js'

describe('the Azure demo', () => {
  it('renders, applies twice, checks statically and live, ingests from az:// and revokes, in under 30 s', async () => {
    const lines: string[] = []
    const sink = {write: (s: string) => (lines.push(s), true), isTTY: false}
    const env = baseEnv()
    const ctx = createContext({env, ui: createUi(sink as never, sink as never, env)})
    const started = Date.now()
    const r = await runAzureDemo(ctx, {json: true})
    const elapsed = Date.now() - started
    expect(r.steps.map((s) => s.exitCode)).toEqual([0, 0, 0, 0, 0, 0, 0])
    expect(r.steps.map((s) => s.command.split(' ').slice(1, 3).join(' '))).toEqual(['grant render', 'grant apply', 'grant apply', 'check az://contosoimaging/archive/dicom', 'check az://contosoimaging/archive/dicom', 'ingest dicom', 'grant revoke'])
    // 12 DICOM files under dicom/ (the empty one is reported, not uploaded); nothing of dicom-phi/.
    expect(r.uploadedFiles.length).toBe(12)
    expect(r.uploadedFiles.some((f) => f.includes('identified'))).toBe(false)
    expect(lines.join('')).not.toMatch(/eyJ[\w-]{10,}\.eyJ/)
    expect(elapsed).toBeLessThan(30_000)
    console.log(`Azure demo: ${elapsed} ms`)
  }, 90_000)
})
