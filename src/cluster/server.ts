/**
 * The reference ingest cluster: the vendor's cluster HTTP API (docs/ingest-protocol.md) on
 * node:http, state in SQLite under the data directory, and a worker that runs the stages for real as
 * the ingest principal. `startCluster` is what `ingestgate cluster serve`, the demo and the client's
 * tests use.
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import {accessSync, constants as fsConstants, mkdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {isIP} from 'node:net'
import {dirname, join, resolve} from 'node:path'

import {AppError, ConfigError} from '../errors.js'
import {TERMINAL_STATUSES, type IngestConfig, type StrategyConfig} from '../ingest/protocol.js'
import {validateWithSchema} from '../schema.js'
import {parseSource} from '../source.js'
import {createContext} from '../context.js'
import type {Provider} from '../providers/types.js'
import type {SourceReader} from './source-reader.js'
import {Store, TransitionError} from './store.js'
import {auditCsv, progressOf, reportOf, subjectsCsvOf, summaryOf, treeOf} from './views.js'
import {StageFailure, Worker, type ClusterHooks} from './worker.js'

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
const lockedDirs = new Set<string>()

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

function lockDataDir(dataDir: string): () => void {
  const lock = join(dataDir, 'cluster.lock')
  if (lockedDirs.has(dataDir)) {
    throw new ConfigError('DATA_DIR_IN_USE', `The data directory ${dataDir} is used by another cluster in this process.`, {
      suggestions: ['Stop that cluster first, or give this one another --data-dir.'],
    })
  }
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim())
    if (pid && pid !== process.pid) {
      let alive = true
      try {
        process.kill(pid, 0)
      } catch (error) {
        alive = (error as NodeJS.ErrnoException).code === 'EPERM'
      }
      if (alive) {
        throw new ConfigError('DATA_DIR_IN_USE', `The data directory ${dataDir} is in use by another cluster (pid ${pid}).`, {
          suggestions: ['Stop that cluster first, or give this one another --data-dir.'],
        })
      }
    }
  } catch (error) {
    if (error instanceof AppError) throw error
  }
  writeFileSync(lock, `${process.pid}\n`)
  lockedDirs.add(dataDir)
  return () => {
    lockedDirs.delete(dataDir)
    rmSync(lock, {force: true})
  }
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
export function checkListenHost(host: string): void {
  if (host === 'localhost' || isIP(host) !== 0) return
  throw new ConfigError('BAD_HOST', `--host "${host}" is not an IP address (or localhost).`, {
    suggestions: ['Give an address of this machine to listen on: 127.0.0.1 (the default, this machine only), ::1, or 0.0.0.0 for every interface.'],
  })
}

function badDataDir(dataDir: string, why: string): ConfigError {
  return new ConfigError('BAD_DATA_DIR', `Cannot use ${dataDir} as the data directory: ${why}.`, {
    suggestions: ['Give --data-dir a directory you can write, or a path where one can be created (the cluster creates it when missing).'],
  })
}

/**
 * Create the data directory (and its missing parents) one level at a time, after checking that the
 * nearest existing ancestor is a writable directory. Not mkdirSync({recursive}): on Node 20 that
 * spins forever under /proc, and it reports a file in the way as an internal-looking EEXIST.
 * @throws ConfigError BAD_DATA_DIR
 */
export function prepareDataDir(dataDir: string): void {
  const missing: string[] = []
  let at = dataDir
  for (;;) {
    let isDir: boolean
    try {
      isDir = statSync(at).isDirectory()
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(at) !== at) {
        missing.unshift(at)
        at = dirname(at)
        continue
      }
      throw badDataDir(dataDir, `${at} cannot be read (${code ?? (error as Error).message})`)
    }
    if (!isDir) throw badDataDir(dataDir, at === dataDir ? 'it is a file, not a directory' : `${at} is a file, not a directory`)
    break
  }
  try {
    accessSync(at, fsConstants.W_OK | fsConstants.X_OK)
  } catch {
    if (missing.length > 0 || !isWritableDir(at)) throw badDataDir(dataDir, `${at} is not writable`)
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir, {mode: 0o700})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw badDataDir(dataDir, `cannot create ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
    }
  }
}

function isWritableDir(dir: string): boolean {
  try {
    accessSync(dir, fsConstants.W_OK)
    return true
  } catch {
    return false
  }
}

/** What a failed listen means, in the words of the flags that caused it. */
function listenError(host: string, port: number, error: NodeJS.ErrnoException): ConfigError {
  const where = `${host}:${port}`
  switch (error.code) {
    case 'EADDRINUSE':
      return new ConfigError('PORT_UNAVAILABLE', `Cannot listen on ${where} (EADDRINUSE): the port is in use.`, {suggestions: ['Pick another --port, or 0 for any free port.']})
    case 'EACCES':
      return new ConfigError('PORT_UNAVAILABLE', `Cannot listen on ${where} (EACCES): not allowed (ports below 1024 need privileges).`, {
        suggestions: ['Pick a --port of 1024 or more, or 0 for any free port.'],
      })
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError('BAD_HOST', `Cannot listen on ${where} (${error.code}): --host "${host}" is not an address of this machine.`, {
        suggestions: ['Give an address of this machine: 127.0.0.1 (the default), ::1, or 0.0.0.0 for every interface.'],
      })
    default:
      return new ConfigError('LISTEN_FAILED', `Cannot listen on ${where} (${error.code ?? error.message}).`, {
        suggestions: ['Check --host and --port; 127.0.0.1 and port 0 (any free port) always work.'],
      })
  }
}

/**
 * Start the reference cluster and resume any ingest that was in progress in `dataDir`.
 * @throws ConfigError when the key is missing, the host is not an address, the data directory cannot
 *   be used or is in use, or the port is taken.
 */
/**
 * The cluster's source readers: per provider, options read from the cloud flags on first use (one
 * credential session per cloud for every ingest), and a reader per source acting as the principal.
 * The principal's identity is resolved before the first read, so bad credentials fail `configure`.
 */
function providerReaders(cloudFlags: Record<string, unknown>, env: NodeJS.ProcessEnv): (srcFs: string) => Promise<SourceReader> {
  const ctx = createContext({env, quiet: true})
  const sessions = new Map<string, Promise<{provider: Provider; options: unknown}>>()
  const session = (id: Provider['id']) => {
    let s = sessions.get(id)
    if (!s) {
      s = (async () => {
        const {getProvider} = await import('../providers/index.js')
        const provider = await getProvider(id)
        return {provider, options: provider.readOptions({flags: cloudFlags, env, purpose: 'cluster'})}
      })()
      // A failure (a flag this cloud refuses) is not cached: the next ingest says it again.
      s.catch(() => sessions.delete(id))
      sessions.set(id, s)
    }
    return s
  }
  return async (srcFs) => {
    const source = parseSource(srcFs)
    let s
    try {
      s = await session(source.provider)
    } catch (error) {
      // A cloud flag of `cluster serve` that this cloud refuses.
      throw new StageFailure('GE06', 'configure', (error as Error).message)
    }
    const reader = await s.provider.openReader(ctx, source, s.options, 'principal')
    await reader.identity()
    return reader
  }
}

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

