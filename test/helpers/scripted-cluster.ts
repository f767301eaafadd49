/**
 * A scripted ingest cluster: a real HTTP server that plays a recorded sequence of protocol answers
 * (a test double of the protocol, not of the client). Each `GET /ingests/{id}` answers the current
 * step and then moves on after `polls` answers; `in_review` waits for `/review` or `/abort`. Every
 * request is recorded (method, path, headers, body) so tests can assert what the client sent.
 * Faults can be injected: 503s, non-JSON answers, and a restart (connection refused for a while).
 */
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {Socket} from 'node:net'

export interface Step {
  status: string
  /** epoch seconds of the history entry */
  at: number
  /** Progress as of this step (merged over the previous steps' progress). */
  progress?: Record<string, any>
  /** Progress that moves while the step lasts: entry n is merged after the n-th poll of the step. */
  progressSeq?: Array<Record<string, any>>
  /** How many GET /ingests/{id} answers this step lasts (default 1). */
  polls?: number
}

export interface RecordedRequest {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  body: string
}

export interface ScriptedClusterOptions {
  id?: string
  /** The Authorization header value the server accepts (default: anything). */
  apiKey?: string
  /** Served under this path prefix (default `/ingest`, like a real site). */
  prefix?: string
  /** steps[0] is `created`; POST /start moves to steps[1]. */
  steps: Step[]
  /** Steps played after POST /abort (default: aborting, aborted). */
  abortSteps?: Step[]
  /** Start already started (for follow tests): the first step is steps[1]. */
  started?: boolean
  summary?: Record<string, any>
  report?: Record<string, any>
  streams?: Partial<Record<'audit' | 'deid' | 'subjects' | 'tree', string[]>>
  /** Replace the answer to a request (bad servers): return undefined to answer normally. */
  override?: (req: RecordedRequest, count: number) => {status: number; body: string; contentType?: string} | undefined
  /** Answer 503 to this many GETs of the ingest, from the n-th (1-based) on. */
  unavailable?: {from: number; count: number}
}

export interface ScriptedCluster {
  url: string
  port: number
  id: string
  requests: RecordedRequest[]
  /** Stop listening (connections refused) for `downMs`, then listen again on the same port. */
  restart(downMs: number): Promise<void>
  stop(): Promise<void>
  /** How many GET /ingests/{id} the server answered. */
  polls(): number
}

const DEFAULT_ID = '0b6f9c6e-4a8e-4f57-9a43-3f1f0e8f2a11'

function merge(a: any, b: any): any {
  if (b === undefined) return a
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null || Array.isArray(b)) return b
  const out: any = {...a}
  for (const [k, v] of Object.entries(b)) out[k] = merge(a[k], v)
  return out
}

export const ZERO_COUNT = {scanned: 0, pending: 0, running: 0, failed: 0, canceled: 0, completed: 0, skipped: 0, finished: 0, total: 0}
const ZERO_STAGE = {completed: 0, total: 0}
export const ZERO_PROGRESS = {
  scans: ZERO_COUNT,
  items: ZERO_COUNT,
  files: ZERO_COUNT,
  bytes: ZERO_COUNT,
  stages: Object.fromEntries(
    ['configuring', 'scanning', 'resolving', 'detecting_duplicates', 'preparing', 'preparing_sidecar', 'uploading', 'finalizing'].map((s) => [s, ZERO_STAGE]),
  ),
}

export async function startScriptedCluster(o: ScriptedClusterOptions): Promise<ScriptedCluster> {
  const id = o.id ?? DEFAULT_ID
  const prefix = o.prefix ?? '/ingest'
  const requests: RecordedRequest[] = []
  let sequence = o.steps
  let idx = o.started ? 1 : 0
  let pollsOfStep = 0
  let ingestGets = 0
  let counts = 0
  let history: Array<[string, number]> = sequence.slice(0, idx + 1).map((s) => [s.status, s.at])
  let config: unknown
  let strategy: unknown

  const current = () => sequence[idx]
  const ingest = () => ({id, status: current().status, history, config, strategy_config: strategy, label: 'scripted', created: new Date(sequence[0].at * 1000).toISOString()})
  const progress = () => {
    // earlier steps count with their final progress, the current one as far as it got
    return sequence.slice(0, idx + 1).reduce((p, s, i) => {
      const seq = s.progressSeq
      const moving = seq ? seq[i === idx ? Math.min(pollsOfStep, seq.length - 1) : seq.length - 1] : undefined
      return merge(merge(p, s.progress), moving)
    }, ZERO_PROGRESS)
  }
  const moveTo = (seq: Step[], i: number) => {
    if (seq !== sequence) {
      sequence = seq
      history = [...history, [seq[i].status, seq[i].at]]
    } else {
      history = [...history, [seq[i].status, seq[i].at]]
    }
    idx = i
    pollsOfStep = 0
  }
  const advance = () => {
    const step = current()
    if (step.status === 'in_review' || idx + 1 >= sequence.length) return
    pollsOfStep++
    if (pollsOfStep >= (step.polls ?? 1)) moveTo(sequence, idx + 1)
  }

  const send = (res: ServerResponse, status: number, body: unknown, contentType = 'application/json') => {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    res.writeHead(status, {'Content-Type': contentType})
    res.end(text)
  }

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const path = (req.url ?? '').split('?')[0]
    const rec: RecordedRequest = {method: req.method ?? '', path, headers: req.headers, body}
    requests.push(rec)
    counts++
    const over = o.override?.(rec, counts)
    if (over) return send(res, over.status, over.body, over.contentType)
    if (o.apiKey !== undefined && req.headers.authorization !== o.apiKey) return send(res, 401, {detail: 'Invalid API key'})
    if (!path.startsWith(prefix + '/')) return send(res, 404, {detail: 'Not Found'})
    const p = path.slice(prefix.length)
    const m = /^\/ingests(?:\/([^/]+)(?:\/([a-z_]+))?)?$/.exec(p)
    if (!m) return send(res, 404, {detail: 'Not Found'})
    const [, reqId, action] = m
    if (!reqId) {
      if (req.method === 'GET') return send(res, 200, [ingest()])
      if (req.method === 'POST') {
        const parsed = JSON.parse(body)
        config = parsed.config
        strategy = parsed.strategy_config
        // a new ingest (the double holds one at a time): play the script from its start
        sequence = o.steps
        idx = 0
        pollsOfStep = 0
        history = [[sequence[0].status, sequence[0].at]]
        return send(res, 200, ingest())
      }
    }
    if (reqId !== id) return send(res, 404, {detail: `Ingest ${reqId} not found`})
    if (req.method === 'GET' && !action) {
      ingestGets++
      if (o.unavailable && ingestGets >= o.unavailable.from && ingestGets < o.unavailable.from + o.unavailable.count) {
        return send(res, 503, '<html>503 Service Unavailable</html>', 'text/html')
      }
      const answer = ingest()
      advance()
      return send(res, 200, answer)
    }
    if (req.method === 'GET' && action === 'progress') return send(res, 200, progress())
    if (req.method === 'GET' && action === 'summary') return send(res, 200, o.summary ?? {groups: 0, projects: 0, subjects: 0, sessions: 0, acquisitions: 0, files: 0, packfiles: 0})
    if (req.method === 'GET' && action === 'report') return send(res, 200, o.report ?? {status: current().status, elapsed: {}, errors: [], warnings: []})
    if (req.method === 'GET' && (action === 'audit' || action === 'deid' || action === 'subjects' || action === 'tree')) {
      return send(res, 200, (o.streams?.[action] ?? []).join('\n') + '\n', 'text/plain')
    }
    if (req.method === 'POST' && action === 'start') {
      if (current().status !== 'created') return send(res, 409, {detail: 'Ingest already started'})
      moveTo(sequence, 1)
      return send(res, 200, ingest())
    }
    if (req.method === 'POST' && action === 'subjects') return send(res, 200, {})
    if (req.method === 'POST' && action === 'review') {
      if (current().status !== 'in_review') return send(res, 409, {detail: 'Ingest is not in review'})
      moveTo(sequence, idx + 1)
      return send(res, 200, ingest())
    }
    if (req.method === 'POST' && action === 'abort') {
      const abortSteps = o.abortSteps ?? [
        {status: 'aborting', at: current().at + 1},
        {status: 'aborted', at: current().at + 2},
      ]
      if (['finished', 'failed', 'aborted'].includes(current().status)) return send(res, 409, {detail: 'Ingest already ended'})
      moveTo(abortSteps, 0)
      return send(res, 200, ingest())
    }
    return send(res, 405, {detail: 'Method Not Allowed'})
  }

  const sockets = new Set<Socket>()
  const make = (): Server => {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')))
    })
    server.on('connection', (s) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    })
    return server
  }
  let server = make()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port

  const close = async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    port,
    id,
    requests,
    polls: () => ingestGets,
    async restart(downMs) {
      await close()
      await new Promise((r) => setTimeout(r, downMs))
      server = make()
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    },
    stop: close,
  }
}

/** The scripted ingest used by the exact-output tests: every status with progress. */
export const T0 = 1714557600 // 2024-05-01 10:00:00 UTC

export function fullScript(opts: {final?: 'finished' | 'failed'; polls?: number} = {}): Step[] {
  const polls = opts.polls ?? 2
  return [
    {status: 'created', at: T0},
    {status: 'configuring', at: T0 + 1, polls},
    {status: 'scanning', at: T0 + 2, polls, progress: {scans: {finished: 1, total: 1}, stages: {scanning: {completed: 39, total: 39}}, bytes: {total: 12 * 1024 * 1024}}},
    {status: 'resolving', at: T0 + 14, polls, progress: {stages: {resolving: {completed: 5, total: 5}}}},
    {status: 'in_review', at: T0 + 17, polls},
    {status: 'preparing', at: T0 + 20, polls, progress: {stages: {preparing: {completed: 2, total: 2}}}},
    {status: 'uploading', at: T0 + 21, polls, progress: {items: {finished: 38, completed: 38, skipped: 2, total: 40}}},
    {status: 'finalizing', at: T0 + 86, polls, progress: {stages: {finalizing: {completed: 1, total: 1}}}},
    {status: opts.final ?? 'finished', at: T0 + 88},
  ]
}

export const SUMMARY = {
  groups: 1,
  projects: 1,
  subjects: 3,
  sessions: 4,
  acquisitions: 9,
  files: 40,
  packfiles: 9,
  warnings: [{code: 'SC03', message: 'Zero byte file', count: 1}],
  errors: [],
}

export const REPORT_OK = {
  status: 'finished',
  elapsed: {configuring: 1, scanning: 12, resolving: 3, in_review: 3, preparing: 1, uploading: 65, finalizing: 2},
  errors: [],
  warnings: [{task: 't-17', type: 'scan', code: 'SC03', message: 'Zero byte file'}],
}
