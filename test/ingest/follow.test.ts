/**
 * followIngest in-process, over real HTTP against a scripted cluster, with an injected clock and
 * sleep so the in-place progress lines (elapsed, ETA) are exact: the terminal rendering (bar,
 * carriage returns) and the plain one (a line at most every 30 s, always the final one).
 */
import {afterEach, describe, expect, it} from 'vitest'
import {Chalk} from 'chalk'

import {followIngest} from '../../src/ingest/follow.js'
import {ClusterClient} from '../../src/ingest/http.js'
import {createTextView} from '../../src/ingest/view.js'
import {startScriptedCluster, T0, type ScriptedCluster} from '../helpers/scripted-cluster.js'

process.env.TZ = 'UTC'

let cluster: ScriptedCluster | undefined
afterEach(async () => {
  await cluster?.stop()
  cluster = undefined
})

async function run(tty: boolean) {
  cluster = await startScriptedCluster({
    started: true,
    steps: [
      {status: 'created', at: T0},
      {
        status: 'scanning',
        at: T0,
        polls: 6,
        progressSeq: [
          {scans: {finished: 0, total: 1}, stages: {scanning: {completed: 0, total: 0}}},
          {scans: {finished: 1, total: 1}, stages: {scanning: {completed: 9, total: 39}}},
          {scans: {finished: 1, total: 1}, stages: {scanning: {completed: 19, total: 39}}},
          {scans: {finished: 1, total: 1}, stages: {scanning: {completed: 29, total: 39}}},
          {scans: {finished: 1, total: 1}, stages: {scanning: {completed: 39, total: 39}}},
        ],
      },
      {status: 'finished', at: T0 + 50},
    ],
    report: {status: 'finished', elapsed: {scanning: 50}, errors: [], warnings: []},
  })
  let now = T0 * 1000
  let out = ''
  let err = ''
  const view = createTextView({out: {write: (t: string) => (out += t)}, err: {write: (t: string) => (err += t)}, color: new Chalk({level: 0}), tty, now: () => now})
  const result = await followIngest({
    client: new ClusterClient(cluster.url, 'k:secret-key-1'),
    id: cluster.id,
    view,
    ask: async () => true,
    assumeYes: true,
    now: () => now,
    sleep: async (ms) => {
      now += ms
    },
    pollIntervalMs: 1000,
    progressIntervalMs: 1500,
  })
  return {out, err, result}
}

describe('followIngest with a fake clock', () => {
  it('on a terminal: the progress line is rewritten in place with a bar and an ETA, then its final form', async () => {
    const {out, result} = await run(true)
    expect(result.outcome).toBe('finished')
    expect(out).toBe(
      [
        'Created             [2024-05-01 10:00:00]\n',
        '\n',
        'Scanning            [2024-05-01 10:00:00]\n',
        // 20/40 after 0 s: no rate yet; 1 s: 1 s to go; then counted down while the counts stand still
        '\r[████████████░░░░░░░░░░░░] 20/40 files (elapsed: 0s|ETA: ~)\x1b[K',
        '\r[████████████░░░░░░░░░░░░] 20/40 files (elapsed: 1s|ETA: 1s)\x1b[K',
        '\r[████████████░░░░░░░░░░░░] 20/40 files (elapsed: 2s|ETA: 0s)\x1b[K',
        // progress is fetched again only after the refresh interval (1.5 s here)
        '\r[████████████████████████] 40/40 files (elapsed: 3s|ETA: 0s)\x1b[K',
        '\r[████████████████████████] 40/40 files (elapsed: 4s|ETA: 0s)\x1b[K',
        '\r40/40 files (50s)\x1b[K\n',
        '\n',
        'Finished            [2024-05-01 10:00:50]\n',
        '\n',
        'Final report\n',
        'Total elapsed time: 50s\n',
      ].join(''),
    )
  })

  it('not on a terminal: no control characters, only the final progress line for a short status', async () => {
    const {out} = await run(false)
    expect(out).toBe(
      'Created             [2024-05-01 10:00:00]\n\nScanning            [2024-05-01 10:00:00]\n40/40 files (50s)\n\nFinished            [2024-05-01 10:00:50]\n\nFinal report\nTotal elapsed time: 50s\n',
    )
  })
})
