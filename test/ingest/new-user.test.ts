/**
 * What a new user hit (issue 10), through the built CLI over real HTTP (scripted cluster): arguments
 * never come from stdin, a confirmation without a terminal is a clear refusal, `ingest review`
 * answers a review from a script, a stopped cluster fails fast, reports say when they are not final,
 * `ingest list` is a table, --save-* paths are checked first, and the messages read cleanly.
 */
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {runCli, type CliResult} from '../helpers/cli.js'
import {fullScript, REPORT_OK, startScriptedCluster, SUMMARY, T0, type ScriptedCluster, type Step} from '../helpers/scripted-cluster.js'
import {ingestEnv, isolatedHome, jsonLines, KEY} from './helpers.js'

const ID = '0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11'

let cluster: ScriptedCluster | undefined
afterEach(async () => {
  await cluster?.stop()
  cluster = undefined
})

const noStack = (r: CliResult) => expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
const posts = (c: ScriptedCluster) => c.requests.filter((q) => q.method === 'POST').map((q) => q.path.replace(`/ingest/ingests/${ID}`, '/{id}'))

/** A home whose remembered last ingest is `url`. */
function homeRemembering(url: string): string {
  const home = isolatedHome()
  mkdirSync(join(home, '.config/flywheel'), {recursive: true})
  writeFileSync(join(home, '.config/flywheel/ingest.yaml'), `ingest_operation_url: ${url}\n`)
  return home
}

/** A port on 127.0.0.1 that refuses connections (it was free a moment ago). */
async function refusedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function timed(run: Promise<CliResult>): Promise<CliResult & {ms: number}> {
  const started = Date.now()
  const r = await run
  return {...r, ms: Date.now() - started}
}

/** The ingest waits for review from the start (the scripted cluster holds it there until answered). */
const IN_REVIEW: Step[] = [
  {status: 'created', at: T0},
  {status: 'in_review', at: T0 + 17},
  {status: 'preparing', at: T0 + 20, polls: 1000},
  {status: 'finished', at: T0 + 88},
]

describe('arguments come from the command line only (item 4)', () => {
  it('`echo yes | ingest abort` answers the question with "yes" and aborts the remembered ingest (yes is not the URL)', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), started: true})
    const url = `${cluster.url}/ingests/${ID}`
    const r = await runCli(['ingest', 'abort'], {env: ingestEnv(homeRemembering(url)), input: 'yes\n'})
    expect(r.stderr).not.toContain('The provided url should have the following format')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('Are you sure you want to abort the ingest? (yes/no): ')
    expect(posts(cluster)).toEqual(['/{id}/abort'])
  })

  it('a URL piped to `ingest status` is not taken as the argument: the remembered ingest is shown', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), started: true})
    const url = `${cluster.url}/ingests/${ID}`
    const other = `${cluster.url}/ingests/11111111-2222-3333-4444-555555555555`
    const r = await runCli(['ingest', 'status'], {env: ingestEnv(homeRemembering(url)), input: `${other}\n`})
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`Ingest ${url}\n`)
    expect(cluster.requests.some((q) => q.path.includes('11111111'))).toBe(false)
  })
})

describe('no terminal to confirm on (item 5)', () => {
  it.each([
    ['</dev/null', {stdin: 'ignore' as const}],
    ['a closed pipe', {input: ''}],
  ])('`ingest abort` with stdin %s: exit 3, "re-run with -y", nothing aborted; --json gets the envelope', async (_name, io) => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), started: true})
    const url = `${cluster.url}/ingests/${ID}`
    const env = ingestEnv(homeRemembering(url))
    const r = await runCli(['ingest', 'abort'], {env, ...io})
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('Error: Aborting an ingest needs confirmation, and no answer could be read')
    expect(r.stderr).toContain(`→ Re-run with -y to abort without asking: ingestgate ingest abort ${url} -y`)
    expect(r.stderr.match(/Not aborted/g)).toBeNull() // one message, not two
    noStack(r)
    const j = await runCli(['ingest', 'abort', '--json'], {env, ...io})
    expect(j.code).toBe(3)
    expect(jsonLines(j.stdout).at(-1)).toMatchObject({status: 3, error: {code: 'CONFIRMATION_REQUIRED', suggestions: [expect.stringMatching(/-y/)]}})
    expect(posts(cluster)).toEqual([])
  })
})

describe('ingest review (item 5)', () => {
  it('--approve answers the remembered ingest waiting for review: POST /review, exit 0, --json result', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: IN_REVIEW, started: true, summary: SUMMARY})
    const url = `${cluster.url}/ingests/${ID}`
    const r = await runCli(['ingest', 'review', '--approve', '--json'], {env: ingestEnv(homeRemembering(url))})
    expect(r.code).toBe(0)
    expect(jsonLines(r.stdout).at(-1)).toEqual({status: 0, result: {url, id: ID, decision: 'approve', status: 'preparing', message: 'Review approved: the ingest is preparing.'}, warnings: []})
    expect(posts(cluster)).toEqual(['/{id}/review'])
    // answered once: a second answer is refused, nothing posted
    const again = await runCli(['ingest', 'review', url, '--reject'], {env: ingestEnv(isolatedHome())})
    expect(again.code).toBe(3)
    expect(again.stderr).toContain(`Error: The ingest ${url} is not waiting for review (it is preparing); nothing was changed.`)
    expect(again.stderr).toContain(`→ Follow it with \`ingestgate ingest follow ${url}\``)
    expect(posts(cluster)).toEqual(['/{id}/review'])
  })

  it('--reject aborts it (POST /abort)', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: IN_REVIEW, started: true, summary: SUMMARY})
    const url = `${cluster.url}/ingests/${ID}`
    const r = await runCli(['ingest', 'review', url, '--reject'], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('Review rejected: the ingest is aborting.')
    expect(posts(cluster)).toEqual(['/{id}/abort'])
  })

  it('needs exactly one of --approve and --reject (usage, exit 2), before any request', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: IN_REVIEW, started: true})
    const url = `${cluster.url}/ingests/${ID}`
    for (const flags of [[], ['--approve', '--reject']]) {
      const r = await runCli(['ingest', 'review', url, ...flags], {env: ingestEnv(isolatedHome())})
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/--approve/)
      noStack(r)
    }
    expect(cluster.requests).toEqual([])
  })
})

describe('a cluster that is not there (item 6)', () => {
  it('ingest list fails in about a second, with no retry lines and no talk of a running ingest', async () => {
    const port = await refusedPort()
    const r = await timed(runCli(['ingest', 'list', '--cluster', `http://127.0.0.1:${port}/ingest`], {env: ingestEnv(isolatedHome())}))
    expect(r.code).toBe(4)
    expect(r.ms).toBeLessThan(4000) // was ~26 s
    expect(r.stderr).toContain(`Error: Cannot reach the cluster at http://127.0.0.1:${port}/ingest (GET /ingests): connect ECONNREFUSED 127.0.0.1:${port}.\n`)
    expect(r.stderr).not.toMatch(/retrying/)
    expect(r.stderr).not.toMatch(/running ingest/)
  })

  it('ingest status and report fail as fast; their hint names the ingest to follow', async () => {
    const port = await refusedPort()
    const url = `http://127.0.0.1:${port}/ingest/ingests/${ID}`
    for (const command of ['status', 'report']) {
      const r = await timed(runCli(['ingest', command, url], {env: ingestEnv(isolatedHome())}))
      expect(r.code).toBe(4)
      expect(r.ms).toBeLessThan(4000)
      expect(r.stderr).toContain(`→ A running ingest is not affected: follow it again with \`ingestgate ingest follow ${url}\`.`)
    }
  })

  it('a start (preflight or not) fails as fast, and no ingest exists to speak of', async () => {
    const port = await refusedPort()
    for (const extra of [[], ['--no-preflight']]) {
      const r = await timed(runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', `http://127.0.0.1:${port}`, '-y', ...extra], {env: ingestEnv(isolatedHome())}))
      expect(r.code).toBe(4)
      expect(r.ms).toBeLessThan(4000)
      expect(r.stderr).toMatch(/Cannot reach the cluster/)
      expect(r.stderr).not.toMatch(/running ingest|retrying/)
    }
  })

  it('ingest follow --retry-for 1s retries (saying so) for about that long, then fails; a bad duration is a usage error', async () => {
    const port = await refusedPort()
    const url = `http://127.0.0.1:${port}/ingest/ingests/${ID}`
    const r = await timed(runCli(['ingest', 'follow', url, '--retry-for', '1s'], {env: ingestEnv(isolatedHome())}))
    expect(r.code).toBe(4)
    expect(r.ms).toBeLessThan(5000)
    expect(r.stderr).toMatch(/Cluster not available \(the cluster refused the connection on GET \/ingests\/.+\); retrying in 0\.5 s \(attempt 1\)/)
    const bad = await runCli(['ingest', 'follow', url, '--retry-for', 'soon'], {env: ingestEnv(isolatedHome())})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--retry-for "soon" is not a duration.')
  })
})

describe('reports, list and saved logs (item 11)', () => {
  it('report of an unfinished ingest says it is not finished (exit 68); of an aborted one, that it was aborted', async () => {
    const steps = fullScript()
    steps[2].polls = 1000
    cluster = await startScriptedCluster({apiKey: KEY, steps, started: true, report: {status: 'scanning', elapsed: {configuring: 1}, errors: [], warnings: []}})
    const url = `${cluster.url}/ingests/${ID}`
    const env = ingestEnv(isolatedHome())
    const running = await runCli(['ingest', 'report', url], {env})
    expect(running.code).toBe(68)
    expect(running.stdout).toMatch(/^Report so far \(the ingest is not finished: it is (configuring|scanning)\)\nTotal elapsed time: 1s\n$/)
    expect(running.stdout).not.toContain('Final report')
    const j = await runCli(['ingest', 'report', url, '--json'], {env})
    expect(jsonLines(j.stdout).at(-1)).toMatchObject({status: 68, result: {finished: false}})

    expect((await runCli(['ingest', 'abort', url, '-y'], {env})).code).toBe(0)
    await runCli(['ingest', 'status', url], {env}) // the scripted cluster moves aborting -> aborted on polls
    await runCli(['ingest', 'status', url], {env})
    const aborted = await runCli(['ingest', 'report', url], {env})
    expect(aborted.code).toBe(6)
    expect(aborted.stdout).toMatch(/^Final report \(the ingest was aborted\)\n/)
  })

  it('ingest list: a header, aligned columns, newest first; --status and --limit', async () => {
    const ingest = (id: string, status: string, created: string, label: string) => ({id, status, created, label, history: []})
    const list = [
      ingest('a1', 'finished', '2024-05-01T10:00:00.000Z', 'brain-study'),
      ingest('b22', 'scanning', '2024-05-03T10:00:00.000Z', 'x'),
      ingest('c333', 'in_review', '2024-05-02T10:00:00.000Z', ''),
    ]
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), override: (q) => (q.method === 'GET' && q.path === '/ingest/ingests' ? {status: 200, body: JSON.stringify(list)} : undefined)})
    const base = cluster.url
    const env = ingestEnv(isolatedHome())
    const r = await runCli(['ingest', 'list', '--cluster', base], {env})
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      [
        'STATUS     CREATED                   LABEL        URL',
        `scanning   2024-05-03T10:00:00.000Z  x            ${base}/ingests/b22`,
        `in_review  2024-05-02T10:00:00.000Z  -            ${base}/ingests/c333`,
        `finished   2024-05-01T10:00:00.000Z  brain-study  ${base}/ingests/a1`,
        '',
      ].join('\n'),
    )
    const some = await runCli(['ingest', 'list', '--cluster', base, '--status', 'finished', '--status', 'in_review', '--limit', '1', '--json'], {env})
    expect(some.json?.result.map((i: {id: string}) => i.id)).toEqual(['c333'])
    const none = await runCli(['ingest', 'list', '--cluster', base, '--status', 'failed'], {env})
    expect(none.code).toBe(0)
    expect(none.stdout).toBe('')
    expect(none.stderr).toContain(`No ingests on ${base} in status failed.`)
    const bad = await runCli(['ingest', 'list', '--cluster', base, '--status', 'runing'], {env})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/Expected --status=runing to be one of/)
  })

  it('--save-audit-logs DIR/ where DIR is missing: exit 3 before anything is created, followed or fetched', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), summary: SUMMARY, report: REPORT_OK})
    const home = isolatedHome()
    const missing = join(home, 'logs') + '/'
    const env = ingestEnv(home)
    const url = `${cluster.url}/ingests/${ID}`
    for (const args of [
      ['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '-f', '--save-audit-logs', missing],
      ['ingest', 'follow', url, '--save-audit-logs', missing],
      ['ingest', 'report', url, '--save-audit-logs', missing],
    ]) {
      const r = await runCli(args, {env})
      expect(r.code, args.join(' ')).toBe(3)
      expect(r.stderr).toContain(`Error: No such directory: ${missing} (given to --save-audit-logs).`)
      noStack(r)
    }
    expect(cluster.requests).toEqual([])
    expect(readdirSync(home).sort()).toEqual([])
  })
})

describe('messages read cleanly (items 7 and 13)', () => {
  it('an HTML 500 page is summarised by its title, not cut mid-word', async () => {
    const page = `<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>${'The server encountered an internal error. '.repeat(20)}</p></body></html>`
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), started: true, override: (q) => (q.method === 'GET' ? {status: 500, body: page, contentType: 'text/html'} : undefined)})
    const r = await runCli(['ingest', 'status', `${cluster.url}/ingests/${ID}`], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(4)
    expect(r.stderr).toContain(`Error: The cluster failed (500 on GET ${cluster.url}/ingests/${ID}): an HTML page "500 Internal Server Error" (${page.length} bytes).\n`)
    expect(r.stderr).not.toContain('<p>')
  })

  it('a server message that ends with a full stop gets no second one ("cluster..")', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), started: true, override: (q) => (q.method === 'GET' ? {status: 404, body: `{"detail":"No ingest ${ID} on this cluster."}`} : undefined)})
    const r = await runCli(['ingest', 'status', `${cluster.url}/ingests/${ID}`], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(4)
    expect(r.stderr).toContain(`: No ingest ${ID} on this cluster.\n`)
    expect(r.stderr).not.toMatch(/[^.]\.\.(\s|$)/)
  })

  it('a usage error says "--help" once, naming the command', async () => {
    const r = await runCli(['ingest', 'list', '--bogus'], {env: ingestEnv(isolatedHome())})
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('Error: Nonexistent flag: --bogus\n  → See `ingestgate ingest list --help` for the arguments and flags.\n')
  })

  it('without --follow the start says how to follow; with --follow it does not', async () => {
    cluster = await startScriptedCluster({apiKey: KEY, steps: fullScript(), summary: SUMMARY, report: REPORT_OK})
    const env = ingestEnv(isolatedHome())
    const plain = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '--no-preflight'], {env})
    expect(plain.stdout).toContain('Use `ingestgate ingest follow` to see progress')
    const followed = await runCli(['ingest', 'dicom', 's3://bkt/dir', 'grp', 'prj', '--cluster', cluster.url, '-y', '--no-preflight', '--follow'], {env})
    expect(followed.code).toBe(0)
    expect(followed.stdout).not.toContain('ingest follow')
  })
})

describe('cluster serve refuses bad input before it starts (item 7)', () => {
  const serveEnv = (home: string) => ingestEnv(home, {INGESTGATE_CLUSTER_API_KEY: 'serve-key-123'})

  it.each([
    ['a file', '/etc/passwd', 'Cannot use /etc/passwd as the data directory: it is a file, not a directory.'],
    ['under a file', '/etc/passwd/cluster', 'Cannot use /etc/passwd/cluster as the data directory: /etc/passwd is a file, not a directory.'],
    // Node 20's mkdirSync({recursive}) spins forever here: the run must end, with a clear error
    ['under /proc', '/proc/ingestgate-cluster', 'Cannot use /proc/ingestgate-cluster as the data directory: cannot create /proc/ingestgate-cluster'],
  ])('--data-dir %s: a clear configuration error (exit 3), not "Internal error"', async (_name, dir, message) => {
    const r = await runCli(['cluster', 'serve', '--data-dir', dir], {env: serveEnv(isolatedHome()), timeoutMs: 15_000})
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`Error: ${message}`)
    expect(r.stderr).not.toContain('Internal error')
    expect(r.stderr).toMatch(/→ Give --data-dir a directory/)
    const j = await runCli(['cluster', 'serve', '--data-dir', dir, '--json'], {env: serveEnv(isolatedHome()), timeoutMs: 15_000})
    expect(j.json).toMatchObject({status: 3, error: {code: 'BAD_DATA_DIR'}})
  })

  it('--host 0.0.0.0x says the host is invalid (not "pick another --port"), and creates nothing', async () => {
    const home = isolatedHome()
    const dataDir = join(home, 'cluster')
    const r = await runCli(['cluster', 'serve', '--host', '0.0.0.0x', '--data-dir', dataDir], {env: serveEnv(home), timeoutMs: 15_000})
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('Error: --host "0.0.0.0x" is not an IP address (or localhost).')
    expect(r.stderr).not.toMatch(/--port/)
    expect(readdirSync(home)).toEqual([])
  })

  it('--host with an address that is not this machine\'s (TEST-NET-1) names the host, not the port', async () => {
    const home = isolatedHome()
    const r = await runCli(['cluster', 'serve', '--host', '192.0.2.1', '--data-dir', join(home, 'cluster')], {env: serveEnv(home), timeoutMs: 15_000})
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('Error: Cannot listen on 192.0.2.1:0 (EADDRNOTAVAIL): --host "192.0.2.1" is not an address of this machine.')
    expect(r.stderr).not.toMatch(/another --port/)
  })
})
