/**
 * The README's main job: `ingestgate demo` on a fresh machine runs the whole flow against local
 * emulators and ends well. Run as a user would (a real process), with --json so the outcome is
 * checked from data: every step's real exit code and the files the reference cluster wrote.
 */
import {describe, expect, it} from 'vitest'

import {baseEnv, runCli} from './helpers/cli.js'

describe('ingestgate demo', () => {
  it('grants, checks, ingests through the reference cluster and revokes, then stops everything', async () => {
    const r = await runCli(['demo', '--json'], {env: baseEnv(), timeoutMs: 220_000})
    expect(r.code, r.stderr.slice(-3000)).toBe(0)
    expect(r.json?.status).toBe(0)
    const {steps, uploadedFiles, objects} = r.json!.result.aws
    expect(steps.map((s: {command: string}) => s.command.split(' ').slice(1, 3).join(' '))).toEqual([
      'grant render',
      'grant apply',
      'grant apply',
      'grant status',
      'check s3://ingestgate-demo/dicom/',
      'ingest dicom',
      'grant revoke',
    ])
    expect(steps.every((s: {exitCode: number}) => s.exitCode === 0)).toBe(true)
    // 13 objects: 12 DICOM files (one patient SSE-KMS) and an empty file the cluster skips with SC03.
    expect(objects).toBe(13)
    expect(uploadedFiles).toHaveLength(12)
    expect(uploadedFiles[0]).toBe('demo-lab/brain-mri/P001/20240102/Series 1 T1/IM0001.dcm')
    // The children's own output went to stderr: stdout held nothing but the envelope.
    expect(r.stderr).toMatch(/No changes: the grant is already in place/)
    expect(r.stderr).toMatch(/OK: every operation the ingest cluster needs passes/)
    expect(r.stderr).toMatch(/Finished {12}/)
    expect(r.stderr).toMatch(/Demo complete/)
    expect(r.stderr).toMatch(/In place: 4 of 4 as apply writes them/)

    // Google Cloud Storage, on the JSON-API double: the same story, and the grant stays inside dicom/.
    const gcp = r.json!.result.gcp
    expect(gcp.steps.map((s: {command: string; exitCode: number}) => `${s.command.split(' ').slice(1, 3).join(' ')} ${s.exitCode}`)).toEqual([
      'grant render 0',
      'grant apply 0',
      'grant apply 0',
      'grant status 0',
      'check gs://ingestgate-demo-scans/dicom/ 0',
      'ingest dicom 0',
      'grant revoke 0',
    ])
    expect(gcp.uploadedFiles).toHaveLength(gcp.objects)
    expect(gcp.uploadedFiles.some((f: string) => f.includes('IDENTIFIED'))).toBe(false)

    // Azure, on the Resource Manager and Blob doubles: the live check waits out the propagation delay.
    const azure = r.json!.result.azure
    expect(azure.steps.map((s: {command: string; exitCode: number}) => `${s.command.split(' ').slice(1, 3).join(' ')} ${s.exitCode}`)).toEqual([
      'grant render 0',
      'grant apply 0',
      'grant apply 0',
      'grant status 0',
      'check az://contosoimaging/archive/dicom 0',
      'check az://contosoimaging/archive/dicom 0',
      'ingest dicom 0',
      'grant revoke 0',
    ])
    // 12 DICOM files under dicom/ (the empty one is reported, not uploaded); nothing of dicom-phi/.
    expect(azure.uploadedFiles).toHaveLength(12)
    expect(azure.uploadedFiles.some((f: string) => f.includes('identified'))).toBe(false)
    // No token (a JWT) in anything the demo printed.
    expect(r.stdout + r.stderr).not.toMatch(/eyJ[\w-]{10,}\.eyJ/)
  }, 240_000)
})
