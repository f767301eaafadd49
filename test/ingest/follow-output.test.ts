/**
 * The exact follow transcript (the fw-compatible texts are the contract) for a scripted ingest, run
 * through the built CLI against a scripted cluster over real HTTP, and the exit-code rule.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {fullScript, REPORT_OK, startScriptedCluster, SUMMARY, T0, type ScriptedCluster} from '../helpers/scripted-cluster.js'
import {ingestEnv, isolatedHome, jsonLines, KEY} from './helpers.js'

const ID = '0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11'

// Under --follow the hint to run `ingest follow` is not printed: the command is following already.
const HEAD = (url: string) => [`Started ingest ${url}/ingests/${ID}`]

const UNTIL_REVIEW = [
  'Created             [2024-05-01 10:00:00]',
  '',
  'Configuring         [2024-05-01 10:00:01]',
  '',
  'Scanning            [2024-05-01 10:00:02]',
  '40/40 files, 12MB (12s)',
  '',
  'Resolving           [2024-05-01 10:00:14]',
  '100.0% (3s)',
  '',
  'In review           [2024-05-01 10:00:17]',
  'Hierarchy:',
  '  Groups: 1',
  '  Projects: 1',
  '  Subjects: 3',
  '  Sessions: 4',
  '  Acquisitions: 9',
  '  Files: 40',
  '  Packfiles: 9',
  '',
  'Warnings summary:',
  '  Zero byte file (SC03): 1',
  '',
]

const AFTER_REVIEW = [
  '',
  'Preparing           [2024-05-01 10:00:20]',
  '100.0% (1s)',
  '',
  'Uploading           [2024-05-01 10:00:21]',
  '100.0% - (0 failed) (1m 5s)',
  'Completed: 38',
  'Skipped: 2',
  'Total: 40',
  '',
  'Finalizing          [2024-05-01 10:01:26]',
  '100.0% (2s)',
  '',
]

/** The end of a transcript that finishes with the one SC03 warning of REPORT_OK. */
const FINISHED_WITH_WARNING = [
  'Finished            [2024-05-01 10:01:28]',
  '',
  'Final report',
  '',
  'The following warnings happened:',
  'scan: Zero byte file (SC03)',
  '',
  'Total elapsed time: 1m 27s',
  '',
]

let cluster: ScriptedCluster | undefined
afterEach(async () => {
  await cluster?.stop()
  cluster = undefined
})

const posts = (c: ScriptedCluster) => c.requests.filter((r) => r.method === 'POST').map((r) => r.path.replace(`/ingest/ingests/${ID}`, '/{id}').replace('/ingest', ''))

describe('follow output (exact strings)', () => {
  it('dicom --follow -y: the whole transcript, /review posted, exit 0 for finished without errors', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), summary: SUMMARY, report: REPORT_OK})
    const r = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '-f', '--no-preflight'], {env: ingestEnv(isolatedHome())})
    expect(r.stdout).toBe(
      [
        ...HEAD(cluster.url),
        ...UNTIL_REVIEW,
        ...AFTER_REVIEW,
        ...FINISHED_WITH_WARNING,
      ].join('\n'),
    )
    expect(r.code).toBe(0)
    expect(posts(cluster)).toEqual(['/ingests', '/{id}/start', '/{id}/review'])
  })

  it('review prompt answered "yes" on stdin posts /review and goes on', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), summary: SUMMARY, report: REPORT_OK, started: true})
    const r = await runCli(['ingest', 'follow', `${cluster.url}/ingests/${ID}`], {env: ingestEnv(isolatedHome()), input: 'yes\n'})
    expect(r.stdout).toBe(
      [
        ...UNTIL_REVIEW.slice(0, -1),
        '',
        'Confirm upload? (yes/no): ',
        ...AFTER_REVIEW.slice(1),
        ...FINISHED_WITH_WARNING,
      ].join('\n'),
    )
    expect(r.code).toBe(0)
    expect(posts(cluster)).toEqual(['/{id}/review'])
  })

  it('review prompt: an unclear answer is asked again; "no" posts /abort; aborted exits 6', async () => {
    cluster = await startScriptedCluster({
      apiKey: KEY,
      steps: fullScript(),
      summary: SUMMARY,
      report: {status: 'aborted', elapsed: {configuring: 1, scanning: 12, resolving: 3, in_review: 5, aborting: 1}, errors: [], warnings: []},
      started: true,
      abortSteps: [
        {status: 'aborting', at: T0 + 22, polls: 2},
        {status: 'aborted', at: T0 + 23},
      ],
    })
    const r = await runCli(['ingest', 'follow', `${cluster.url}/ingests/${ID}`], {env: ingestEnv(isolatedHome()), input: 'maybe\nno\n'})
    expect(r.stdout).toBe(
      [
        ...UNTIL_REVIEW.slice(0, -1),
        '',
        'Confirm upload? (yes/no): Please respond with "yes" or "no".',
        'Confirm upload? (yes/no): ',
        'Aborting            [2024-05-01 10:00:22]',
        '',
        'Aborted             [2024-05-01 10:00:23]',
        '',
        'Final report',
        'Total elapsed time: 22s',
        '',
      ].join('\n'),
    )
    expect(r.code).toBe(6)
    expect(posts(cluster)).toEqual(['/{id}/abort'])
  })

  it.each([
    ['stdin piped and closed', {input: ''}],
    ['stdin </dev/null', {stdin: 'ignore' as const}],
  ])('review prompt with no answer (%s): nothing is decided, exit 68 with the commands that answer later', async (_name, io) => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), summary: SUMMARY, report: REPORT_OK, started: true})
    const url = `${cluster.url}/ingests/${ID}`
    const r = await runCli(['ingest', 'follow', url], {env: ingestEnv(isolatedHome()), ...io})
    expect(r.code).toBe(68)
    expect(
      r.stdout.endsWith(
        `Confirm upload? (yes/no): \nThe ingest waits for review and no answer could be read (no terminal). Nothing was decided.\n` +
          `Answer later with:\n  ingestgate ingest review ${url} --approve\n  ingestgate ingest review ${url} --reject\n` +
          `or follow it on a terminal and answer there:\n  ingestgate ingest follow ${url}\n`,
      ),
    ).toBe(true)
    expect(posts(cluster)).toEqual([])
    // --json: the detached event names the commands, the envelope is last, exit 68 too
    const j = await runCli(['ingest', 'follow', url, '--json'], {env: ingestEnv(isolatedHome()), ...io})
    expect(j.code).toBe(68)
    const lines = jsonLines(j.stdout)
    expect(lines.find((l) => l.event === 'detached')).toEqual({event: 'detached', reason: 'review-pending', resume: `ingestgate ingest follow ${url}`,
      review: {approve: `ingestgate ingest review ${url} --approve`, reject: `ingestgate ingest review ${url} --reject`}})
    expect(lines.at(-1)).toMatchObject({status: 68, result: {outcome: 'review-pending', review: {approve: `ingestgate ingest review ${url} --approve`}}})
    expect(posts(cluster)).toEqual([])
  })

  it.each([
    ['finished with errors', 'finished', [{task: 't-3', type: 'upload', code: 'GE01', message: 'Upload failed'}], 6],
    ['failed', 'failed', [{task: 't-1', type: 'scan', code: 'SC01', message: 'Access denied'}], 6],
    ['finished with only warnings', 'finished', [], 0],
  ] as const)('%s (status %s, errors %j): printed as "<type>: <message> (<code>)", exit %i', async (_name, final, errors, exit) => {
    cluster = await startScriptedCluster({
      apiKey: KEY,
      steps: fullScript({final}),
      summary: SUMMARY,
      report: {...REPORT_OK, status: final, errors},
      started: true,
    })
    const r = await runCli(['ingest', 'follow', `${cluster.url}/ingests/${ID}`, '-y'], {env: ingestEnv(isolatedHome())})
    const tail = r.stdout.slice(r.stdout.indexOf('Final report'))
    const errorLines = errors.length ? ['The following errors happened:', ...errors.map((e) => `${e.type}: ${e.message} (${e.code})`), ''] : []
    expect(tail).toBe(['Final report', '', ...errorLines, 'The following warnings happened:', 'scan: Zero byte file (SC03)', '', 'Total elapsed time: 1m 27s', ''].join('\n'))
    expect(r.stdout).toContain(`${final === 'failed' ? 'Failed  ' : 'Finished'}            [2024-05-01 10:01:28]`)
    expect(r.code).toBe(exit)
  })

  it('--json: one JSON event per line, the envelope last, same exit rule', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), summary: SUMMARY, report: REPORT_OK})
    const r = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '-f', '--no-preflight', '--json'], {
      env: ingestEnv(isolatedHome()),
    })
    expect(r.code).toBe(0)
    const lines = jsonLines(r.stdout)
    const events = lines.slice(0, -1)
    const envelope = lines.at(-1)
    expect(events.every((e) => typeof e.event === 'string')).toBe(true)
    expect(events[0]).toEqual({event: 'started', url: `${cluster.url}/ingests/${ID}`, id: ID})
    expect(events.filter((e) => e.event === 'status').map((e) => e.status)).toEqual([
      'created',
      'configuring',
      'scanning',
      'resolving',
      'in_review',
      'preparing',
      'uploading',
      'finalizing',
      'finished',
    ])
    expect(events.find((e) => e.event === 'status' && e.status === 'scanning')).toMatchObject({at: '2024-05-01T10:00:02.000Z', timestamp: T0 + 2})
    expect(events.filter((e) => e.event === 'progress' && e.last).map((e) => e.text)).toEqual([
      '40/40 files, 12MB (12s)',
      '100.0% (3s)',
      '100.0% (1s)',
      '100.0% - (0 failed) (1m 5s)',
      '100.0% (2s)',
    ])
    expect(events.find((e) => e.event === 'summary')?.summary).toEqual(SUMMARY)
    expect(events.find((e) => e.event === 'review')).toEqual({event: 'review', decision: 'approve', how: 'assume-yes'})
    expect(events.find((e) => e.event === 'report')?.report).toEqual(REPORT_OK)
    expect(envelope).toMatchObject({status: 0, result: {id: ID, status: 'finished', outcome: 'finished', url: `${cluster.url}/ingests/${ID}`}, warnings: []})
  })
})
