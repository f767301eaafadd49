/**
 * `ingest project` against the reference cluster: the cluster refuses the strategy when the ingest
 * is created (it has no vendor platform to copy from), and the client says so plainly, with the
 * remote exit code (4), never as a bare "400" and never with the source site's key.
 */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startCluster, type ClusterHandle} from '../../src/cluster/server.js'
import {runInProcess} from '../helpers/in-process.js'
import {ingestEnv, isolatedHome, KEY} from '../ingest/helpers.js'

const SOURCE_KEY = 'other.example.io:SOURCEKEYcanary77'

describe('ingest project on the reference cluster', () => {
  let cluster: ClusterHandle
  beforeAll(async () => {
    cluster = await startCluster({dataDir: mkdtempSync(join(tmpdir(), 'ig-project-refused-')), apiKey: KEY})
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it('is refused at start with a clear message and exit code 4', async () => {
    const env = ingestEnv(isolatedHome())
    const r = await runInProcess(['ingest', 'project', 'fw://radiology/mri-2023', SOURCE_KEY, '--cluster', cluster.url, '-y'], {env})
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/Error: The reference cluster cannot rehearse a project ingest: it copies from fw:\/\/radiology\/mri-2023/)
    expect(r.stderr).toMatch(/run it against that site's own cluster/)
    expect(r.stderr).not.toMatch(/400|rejected the request/)
    expect(r.stdout + r.stderr).not.toContain('SOURCEKEYcanary77')
    // Nothing was created on the cluster.
    const list = await fetch(`${cluster.url}/ingests`, {headers: {Authorization: KEY}})
    expect(await list.json()).toEqual([])
  })

  it('--json carries the code in the envelope', async () => {
    const env = ingestEnv(isolatedHome())
    const r = await runInProcess(['ingest', 'project', 'fw://radiology/mri-2023', SOURCE_KEY, '--cluster', cluster.url, '-y', '--json'], {env})
    expect(r.code).toBe(4)
    const envelope = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(envelope).toMatchObject({status: 4, error: {code: 'STRATEGY_NOT_SUPPORTED'}})
    expect(r.stdout + r.stderr).not.toContain('SOURCEKEYcanary77')
  })
})
