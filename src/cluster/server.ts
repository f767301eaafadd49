/**
 * The reference ingest cluster: the vendor's cluster HTTP API (docs/ingest-protocol.md) on
 * node:http, state in SQLite under the data directory, and a worker that runs the stages for real as
 * the ingest principal. `startCluster` is what `ingestgate cluster serve`, the demo and the client's
 * tests use.
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import {rmSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {join, resolve} from 'node:path'

import {ConfigError} from '../errors.js'
import {TERMINAL_STATUSES, type IngestConfig, type StrategyConfig} from '../ingest/protocol.js'
import {validateWithSchema} from '../schema.js'
import {parseSource} from '../source.js'
import {checkListenHost, listenError, lockDataDir, prepareDataDir} from './setup.js'
import {providerReaders} from './sources.js'
import {Store, TransitionError} from './store.js'
import {resolverFor, StrategyError} from './strategies.js'
import {auditCsv, progressOf, reportOf, subjectsCsvOf, summaryOf, treeOf} from './views.js'
import {Worker, type ClusterHooks} from './worker.js'

export type {ClusterHooks} from './worker.js'

export interface ClusterOptions {
  /** TCP port; 0 or absent = a free port (read it from the handle). */
  port?: number
  /** Interface to listen on (default 127.0.0.1). */
  host?: string
  /** Where the state database, the destination tree and the reports live (created if missing). */
  dataDir: string
  /** The API key clients must send (raw, `scitran-user <key>` or `Bearer <key>`). */
  apiKey: string
  /**
   * The cloud flags of `cluster serve`, by their flag names (e.g. `endpoint-url`, `assume-role`):
   * each source's provider reads its own options from them, on first use, to act as the ingest
   * principal. Default: none (each cloud's default credentials are the principal).
   */
  cloudFlags?: Record<string, unknown>
  /** Environment for the clouds' credential chains (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Bytes of the first ranged read of each DICOM header (default 16 KiB; doubles while the header goes on). */
  headerBytes?: number
  /** Header reads in flight per ingest (default 8). */
  scanConcurrency?: number
  /** Downloads in flight per ingest (default 4). */
  uploadConcurrency?: number
  hooks?: ClusterHooks
  /** Diagnostic lines (status changes, resumes); never carries the API key. Default: none. */
  log?: (line: string) => void
}

export interface ClusterHandle {
  /** The ingest base URL, http://HOST:PORT/ingest (what --cluster takes). */
  url: string
  port: number
  dataDir: string
  /** Stop accepting requests, stop the stages at their next step (state kept, to resume), close the store. */
  stop(): Promise<void>
  /** Resolves when no ingest is being worked on (all finished, failed, aborted, created or waiting for review). */
  idle(): Promise<void>
}

const MAX_JSON_BODY = 1024 * 1024
const MAX_MULTIPART_BODY = 16 * 1024 * 1024
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** An HTTP answer that is not a success: status and a message a person can act on. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: string[],
  ) {
    super(message)
  }
}

/** The secret part of a key (`<host>:<key>` as `fw login` stores it, or the bare key). */
function secretOf(key: string): string {
  const i = key.lastIndexOf(':')
  return i === -1 ? key : key.slice(i + 1)
}

/** Whether an Authorization header carries the cluster's key (raw, `scitran-user <key>` or `Bearer <key>`). */
export function authorised(header: string | undefined, apiKey: string): boolean {
  if (!header) return false
  const m = /^(?:scitran-user|bearer)\s+(.+)$/i.exec(header.trim())
  const presented = (m ? m[1] : header).trim()
  if (!presented) return false
  // A key is one token: "Basic x:key" or "anything else key" is not a form we take.
  if (/\s/.test(presented)) return false
  const digest = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(secretOf(presented)), digest(secretOf(apiKey)))
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new HttpError(413, 'BODY_TOO_LARGE', `The request body is larger than ${limit} bytes.`)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req, MAX_JSON_BODY)).toString('utf8')
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new HttpError(400, 'MALFORMED_JSON', `The request body is not valid JSON: ${(error as Error).message}.`)
  }
}

/** The `subject_csv` part of a multipart/form-data body (or a text/csv body as is). */
function subjectCsvFrom(contentType: string, body: Buffer): string {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType)
  if (!/^multipart\/form-data/i.test(contentType) || !boundary) {
    if (/^text\/(csv|plain)/i.test(contentType)) return body.toString('utf8')
    throw new HttpError(400, 'BAD_SUBJECTS', 'Send the subject map as multipart/form-data with a file field named subject_csv.')
  }
  const delimiter = `--${boundary[1] ?? boundary[2]}`
  for (const part of body.toString('latin1').split(delimiter).slice(1)) {
    const headerEnd = part.indexOf('\r\n\r\n')
    if (headerEnd === -1) continue
    const headers = part.slice(0, headerEnd)
    if (!/name="subject_csv"/i.test(headers)) continue
    const content = part.slice(headerEnd + 4).replace(/\r\n$/, '')
    return Buffer.from(content, 'latin1').toString('utf8')
  }
  throw new HttpError(400, 'BAD_SUBJECTS', 'The multipart body has no file field named subject_csv.')
}

/**
 * The interface to listen on must be an IP address of this machine or `localhost`: a host name
 * would be looked up in DNS (a packet off the machine, and "0.0.0.0x" is a valid host name).
 * @throws ConfigError BAD_HOST
 */
/**
 * Start the reference cluster and resume any ingest that was in progress in `dataDir`.
 * @throws ConfigError when the key is missing, the host is not an address, the data directory cannot
 *   be used or is in use, or the port is taken.
 */
export async function startCluster(opts: ClusterOptions): Promise<ClusterHandle> {
  if (!opts.apiKey) {
    throw new ConfigError('NO_API_KEY', 'The reference cluster needs an API key.', {
      suggestions: ['Pass --api-key or set INGESTGATE_CLUSTER_API_KEY.'],
    })
  }
  const env = opts.env ?? process.env
  const log = opts.log ?? (() => {})
  checkListenHost(opts.host ?? '127.0.0.1')
  const dataDir = resolve(opts.dataDir)
  prepareDataDir(dataDir)
  const unlock = lockDataDir(dataDir)
  let store: Store
  try {
    store = new Store(join(dataDir, 'cluster.db'))
  } catch (error) {
    unlock()
    throw new ConfigError('BAD_DATA_DIR', `Cannot open the state database in ${dataDir}: ${(error as Error).message}.`, {
      suggestions: ['Give a writable --data-dir (the cluster creates it when missing).'],
    })
  }
  const readers = providerReaders(opts.cloudFlags ?? {}, env)
  const worker = new Worker({
    store,
    dataDir,
    headerBytes: opts.headerBytes,
    scanConcurrency: opts.scanConcurrency,
    uploadConcurrency: opts.uploadConcurrency,
    hooks: opts.hooks,
    log,
    openSource: readers,
  })

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      const e =
        error instanceof HttpError
          ? error
          : error instanceof TransitionError
            ? new HttpError(409, 'INVALID_TRANSITION', `The ingest changed meanwhile: ${error.message}.`)
            : new HttpError(500, 'INTERNAL', `Internal error of the reference cluster: ${(error as Error)?.message ?? String(error)}`)
      if (e.status >= 500) log(`${req.method} ${req.url}: ${e.message}`)
      if (res.headersSent) {
        res.destroy()
        return
      }
      sendJson(res, e.status, {status: e.status, code: e.code, message: e.message, detail: e.message, ...(e.details ? {errors: e.details} : {})})
    })
  })
  server.keepAliveTimeout = 5000

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://cluster')
    const m = /^\/ingest(\/.*)?$/.exec(url.pathname)
    if (!m) throw new HttpError(404, 'NOT_FOUND', `No such endpoint: ${url.pathname}. The ingest API is under /ingest.`)
    if (!authorised(req.headers.authorization, opts.apiKey)) {
      throw new HttpError(401, 'UNAUTHORIZED', req.headers.authorization ? 'The API key is not valid for this cluster.' : 'An API key is required (Authorization header).')
    }
    const path = (m[1] ?? '/').replace(/\/+$/, '') || '/'
    const method = req.method ?? 'GET'
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) {
        res.setHeader('Allow', methods.join(', '))
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname} (use ${methods.join(' or ')}).`)
      }
    }

    if (path === '/ingests') {
      allow('GET', 'POST')
      if (method === 'GET') return sendJson(res, 200, store.listIngests())
      return sendJson(res, 200, await createIngest(req))
    }
    const im = /^\/ingests\/([^/]+)(?:\/([a-z_]+))?$/.exec(path)
    if (!im) throw new HttpError(404, 'NOT_FOUND', `No such endpoint: ${url.pathname}.`)
    const id = im[1]
    const action = im[2]
    const row = UUID.test(id) ? store.getRow(id) : undefined
    if (!row) throw new HttpError(404, 'INGEST_NOT_FOUND', `No ingest ${id} on this cluster.`)
    const status = row.status
    const conflict = (message: string) => new HttpError(409, 'INVALID_TRANSITION', message)

    switch (action) {
      case undefined:
        allow('GET')
        return sendJson(res, 200, store.toIngest(row))
      case 'start':
        allow('POST')
        if (status !== 'created') throw conflict(`Ingest ${id} is ${status}; only an ingest in created can be started.`)
        {
          // The answer is the ingest as the request left it; the worker may move it on at once.
          const started = store.transition(id, 'configuring', 'created')
          log(`ingest ${id}: configuring`)
          worker.kick(id)
          return sendJson(res, 200, started)
        }
      case 'review': {
        allow('POST')
        const body = await readJson(req)
        if (body !== undefined && body !== null) {
          const problems = await validateWithSchema('cluster-review', body)
          if (problems.length > 0) throw new HttpError(400, 'BAD_REVIEW', `Invalid review body: ${problems.join('; ')}.`, problems)
        }
        if (status === 'in_review') {
          const reviewed = store.tx(() => {
            store.setApproved(id, body ?? undefined)
            return store.transition(id, 'preparing', 'in_review')
          })
          log(`ingest ${id}: preparing (reviewed)`)
          worker.kick(id)
          return sendJson(res, 200, reviewed)
        }
        // Already approved (by assume_yes or an earlier review): the vendor CLI with -y posts /review
        // when it sees in_review even though the cluster approved it itself; that is not an error.
        if (row.approved) return sendJson(res, 200, store.toIngest(row))
        throw conflict(`Ingest ${id} is ${status}, not in_review; there is nothing to review yet.`)
      }
      case 'abort':
        allow('POST')
        if (TERMINAL_STATUSES.includes(status)) throw conflict(`Ingest ${id} is already ${status}.`)
        {
          const aborting = status === 'aborting' ? store.toIngest(row) : store.transition(id, 'aborting', status)
          if (status !== 'aborting') log(`ingest ${id}: aborting`)
          worker.abort(id)
          return sendJson(res, 200, aborting)
        }
      case 'delete':
        allow('POST')
        if (!TERMINAL_STATUSES.includes(status)) throw conflict(`Ingest ${id} is ${status}; abort it before deleting it.`)
        store.deleteIngest(id)
        rmSync(join(dataDir, 'reports', id), {recursive: true, force: true})
        return sendJson(res, 200, {})
      case 'subjects':
        allow('GET', 'POST')
        if (method === 'POST') {
          if (status !== 'created') throw conflict(`Ingest ${id} is ${status}; the subject map is taken only before start.`)
          const csv = subjectCsvFrom(req.headers['content-type'] ?? '', await readBody(req, MAX_MULTIPART_BODY))
          store.setSubjectsCsv(id, csv)
          return sendJson(res, 200, {})
        }
        return sendLines(res, 'text/csv; charset=utf-8', subjectsCsvOf(store, id))
      case 'progress':
        allow('GET')
        return sendJson(res, 200, progressOf(store, id))
      case 'summary':
        allow('GET')
        return sendJson(res, 200, summaryOf(store, id))
      case 'report':
        allow('GET')
        return sendJson(res, 200, reportOf(store, id))
      case 'tree':
        allow('GET')
        return sendLines(res, 'application/x-ndjson', treeOf(store, id).map((c) => JSON.stringify(c)))
      case 'audit':
        allow('GET')
        return sendAudit(res, id)
      case 'deid':
        allow('GET')
        // De-identification is refused by this cluster, so there is never a log to show.
        return sendLines(res, 'text/csv; charset=utf-8', [])
      default:
        throw new HttpError(404, 'NOT_FOUND', `No such endpoint: ${url.pathname}.`)
    }
  }

  async function createIngest(req: IncomingMessage) {
    const body = await readJson(req)
    if (body === undefined) throw new HttpError(400, 'BAD_INGEST', 'The request body is empty; send {"config": {...}, "strategy_config": {...}}.')
    const problems = await validateWithSchema('cluster-ingest', body)
    if (problems.length > 0) throw new HttpError(400, 'BAD_INGEST', `Invalid ingest: ${problems.join('; ')}.`, problems)
    const {config, strategy_config: strategy, label} = body as {config: IngestConfig; strategy_config: StrategyConfig; label?: string}
    // A project ingest copies from another project of the vendor's platform (fw://GROUP/PROJECT),
    // which a local rehearsal does not have: say so, rather than refusing the fw:// scheme.
    if (strategy.strategy_name === 'project') {
      throw new HttpError(400, 'STRATEGY_NOT_SUPPORTED', `The reference cluster cannot rehearse a project ingest: it copies from ${config.src_fs} on the vendor's platform, which this local cluster does not have. Run it on the vendor's cluster.`)
    }
    try {
      parseSource(config.src_fs)
    } catch (error) {
      throw new HttpError(400, 'BAD_SOURCE', `Invalid ingest: config.src_fs: ${(error as Error).message}`)
    }
    // A template that does not parse (or options that cannot work) is refused now, not at configuring.
    try {
      resolverFor(strategy, config)
    } catch (error) {
      if (error instanceof StrategyError) throw new HttpError(400, 'BAD_STRATEGY', `Invalid ingest: strategy_config: ${error.message}`)
      throw error
    }
    const ingest = store.createIngest(config, strategy, label ?? config.src_fs)
    log(`ingest ${ingest.id}: created (${strategy.strategy_name} ${config.src_fs})`)
    return ingest
  }

  async function sendAudit(res: ServerResponse, id: string): Promise<void> {
    res.writeHead(200, {'Content-Type': 'text/csv; charset=utf-8', 'Cache-Control': 'no-store'})
    for (const chunk of auditCsv(store, id)) await write(res, chunk)
    res.end()
  }

  const port = await new Promise<number>((resolvePort, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      const address = server.address()
      resolvePort(typeof address === 'object' && address ? address.port : 0)
    })
  }).catch((error: NodeJS.ErrnoException) => {
    store.close()
    unlock()
    throw listenError(opts.host ?? '127.0.0.1', opts.port ?? 0, error)
  })
  const host = opts.host ?? '127.0.0.1'
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/ingest`
  worker.resumeAll()

  let stopped: Promise<void> | undefined
  return {
    url,
    port,
    dataDir,
    idle: () => worker.idle(),
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()))
        server.closeAllConnections()
        await worker.stop()
        await closed
        store.close()
        unlock()
      })()
      return stopped
    },
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store'})
  res.end(text)
}

function write(res: ServerResponse, chunk: string): Promise<void> {
  return new Promise((resolveWrite, reject) => {
    if (res.destroyed) return reject(new Error('client went away'))
    if (res.write(chunk)) resolveWrite()
    else {
      res.once('drain', resolveWrite)
      res.once('close', () => reject(new Error('client went away')))
    }
  })
}

async function sendLines(res: ServerResponse, contentType: string, lines: string[]): Promise<void> {
  res.writeHead(200, {'Content-Type': contentType, 'Cache-Control': 'no-store'})
  for (let i = 0; i < lines.length; i += 1000) {
    await write(res, lines.slice(i, i + 1000).map((l) => l + '\n').join(''))
  }
  res.end()
}

