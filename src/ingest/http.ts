/**
 * The one HTTP client for the ingest cluster. Only this module knows URLs, headers and status codes.
 * It sends the API key as the vendor CLI does (`Authorization: <key>`, raw) and never puts it in a
 * message, a log line or an error. Idempotent GETs are retried on 502/503/504 and on connection
 * failures (a cluster restarting) with backoff; POSTs are never retried on a status code, and only
 * retried when the connection was refused (the request never reached the cluster). How long a call
 * retries is the caller's choice: about a second for a one-shot command (a refused connection there
 * is a wrong URL or a stopped cluster, and the user is waiting), minutes while following (where the
 * cluster was seen and a restart is plausible).
 */
import {request as httpRequest, type IncomingMessage} from 'node:http'
import {request as httpsRequest} from 'node:https'
import {readFile} from 'node:fs/promises'
import {basename} from 'node:path'

import {ConfigError, RemoteError} from '../errors.js'
import {redact, registerApiKey} from '../output/redact.js'
import type {Ingest, Progress, Report, Summary} from './protocol.js'

export type StreamKind = 'audit' | 'deid' | 'subjects' | 'tree'

/** What the follower is told when a call is being retried (for a notice, never with the key). */
export interface RetryInfo {
  method: string
  path: string
  attempt: number
  delayMs: number
  reason: string
}

export interface ClusterClientOptions {
  /** Retry transient failures for at most this long per call (default 10 minutes). */
  retryBudgetMs?: number
  /** First backoff delay (doubles up to maxDelayMs). */
  baseDelayMs?: number
  maxDelayMs?: number
  connectTimeoutMs?: number
  readTimeoutMs?: number
  onRetry?: (info: RetryInfo) => void
  /** Aborts in-flight requests and backoff waits (Ctrl-C while following). */
  signal?: AbortSignal
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

/** An answer the cluster gave with a non-2xx status. */
export class ClusterHttpError extends RemoteError {
  constructor(
    readonly httpStatus: number,
    code: string,
    message: string,
    suggestions: string[],
    /** The `code` field of the cluster's error body, when it sent one (e.g. STRATEGY_NOT_SUPPORTED). */
    readonly serverCode?: string,
    /** The cluster's own words (redacted), to quote without the client's sentence around them. */
    readonly serverSaid?: string,
  ) {
    super(code, message, {suggestions, data: {httpStatus, ...(serverCode ? {serverCode} : {})}})
  }
}

/** Thrown when the caller aborted (Ctrl-C): not an error of the cluster. */
export class RequestAborted extends Error {
  constructor() {
    super('aborted')
    this.name = 'RequestAborted'
  }
}

const RETRY_STATUSES = new Set([502, 503, 504])
const TRANSIENT_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET'])

class NetError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** Wait `ms`, or reject with RequestAborted as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RequestAborted())
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(new RequestAborted())
    }
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}

interface RawResponse {
  status: number
  body: string
}

/**
 * A client for one cluster (the base URL ends in `/ingest` on a real site). Construct it with the
 * resolved URL and key; see resolveCluster/resolveApiKey in config.ts.
 */
export class ClusterClient {
  readonly baseUrl: string
  private readonly apiKey: string
  private readonly opts: Required<Omit<ClusterClientOptions, 'onRetry' | 'signal'>> & Pick<ClusterClientOptions, 'onRetry' | 'signal'>

  /** How long one call retries through an outage, and who is told of each retry (following). */
  setRetryPolicy(policy: {budgetMs: number; onRetry?: (info: RetryInfo) => void}): void {
    this.opts.retryBudgetMs = policy.budgetMs
    this.opts.onRetry = policy.onRetry
  }

  constructor(baseUrl: string, apiKey: string, options: ClusterClientOptions = {}) {
    this.baseUrl = baseUrl
    this.apiKey = apiKey
    registerApiKey(apiKey)
    this.opts = {
      retryBudgetMs: options.retryBudgetMs ?? 10 * 60_000,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
      readTimeoutMs: options.readTimeoutMs ?? 60_000,
      sleep: options.sleep ?? abortableSleep,
      onRetry: options.onRetry,
      signal: options.signal,
    }
  }

  /** The URL of one ingest, as printed and remembered: `<cluster>/ingests/<id>`. */
  ingestUrl(id: string): string {
    return `${this.baseUrl}/ingests/${id}`
  }

  listIngests(): Promise<Ingest[]> {
    return this.getJson<Ingest[]>('/ingests', (v) => Array.isArray(v) && v.every(isIngest), 'a list of ingests')
  }

  getIngest(id: string): Promise<Ingest> {
    return this.getJson<Ingest>(`/ingests/${id}`, isIngest, 'an ingest (with id, status and history)')
  }

  progress(id: string): Promise<Progress> {
    return this.getJson<Progress>(`/ingests/${id}/progress`, isObject, 'the progress of an ingest')
  }

  summary(id: string): Promise<Summary> {
    return this.getJson<Summary>(`/ingests/${id}/summary`, isObject, 'the summary of an ingest')
  }

  report(id: string): Promise<Report> {
    return this.getJson<Report>(`/ingests/${id}/report`, isObject, 'the report of an ingest')
  }

  createIngest(body: unknown): Promise<Ingest> {
    return this.postJson<Ingest>('/ingests', body, (v) => isObject(v) && typeof v.id === 'string' && v.id !== '', 'the created ingest (with its id)')
  }

  start(id: string): Promise<Ingest> {
    return this.postJson<Ingest>(`/ingests/${id}/start`, undefined, isObject, 'the ingest')
  }

  review(id: string): Promise<Ingest> {
    return this.postJson<Ingest>(`/ingests/${id}/review`, undefined, isObject, 'the ingest')
  }

  abort(id: string): Promise<Ingest> {
    return this.postJson<Ingest>(`/ingests/${id}/abort`, undefined, isObject, 'the ingest')
  }

  /** `POST /ingests/{id}/subjects`, multipart with the file field `subject_csv` (answer ignored). */
  async uploadSubjects(id: string, csvPath: string): Promise<void> {
    let content: Buffer
    try {
      content = await readFile(csvPath)
    } catch (error) {
      throw new ConfigError('BAD_SUBJECTS_FILE', sentence(`Cannot read the subjects file ${csvPath}: ${(error as Error).message}`), {
        suggestions: ['Check the path given to --load-subjects.'],
      })
    }
    const boundary = `----ingestgate${Date.now().toString(16)}${Math.random().toString(16).slice(2)}`
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="subject_csv"; filename="${basename(csvPath).replace(/"/g, '')}"\r\nContent-Type: text/csv\r\n\r\n`,
    )
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
    const res = await this.call('POST', `/ingests/${id}/subjects`, Buffer.concat([head, content, tail]), `multipart/form-data; boundary=${boundary}`)
    this.assertOk('POST', `/ingests/${id}/subjects`, res)
  }

  /** A line stream (`/audit`, `/deid`, `/subjects`, `/tree`); keep-alive empty lines are dropped. */
  async streamLines(id: string, kind: StreamKind): Promise<string[]> {
    const path = `/ingests/${id}/${kind}`
    const res = await this.call('GET', path)
    this.assertOk('GET', path, res)
    return res.body.split(/\r?\n/).filter((line) => line.trim() !== '')
  }

  // ---------------------------------------------------------------------------------------------

  private async getJson<T>(path: string, valid: (v: any) => boolean, what: string): Promise<T> {
    const res = await this.call('GET', path)
    this.assertOk('GET', path, res)
    return this.parse<T>('GET', path, res, valid, what)
  }

  private async postJson<T>(path: string, body: unknown, valid: (v: any) => boolean, what: string): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const res = await this.call('POST', path, payload, payload ? 'application/json' : undefined)
    this.assertOk('POST', path, res)
    return this.parse<T>('POST', path, res, valid, what)
  }

  private parse<T>(method: string, path: string, res: RawResponse, valid: (v: any) => boolean, what: string): T {
    let value: unknown
    try {
      value = JSON.parse(res.body)
    } catch {
      throw new RemoteError('CLUSTER_BAD_ANSWER', `The cluster answered ${method} ${path} with something that is not JSON: ${snippet(res.body)}`, {
        suggestions: [`Check that ${this.baseUrl} is the ingest cluster URL (the site URL followed by /ingest), not the web app or a proxy page.`],
      })
    }
    if (!valid(value)) {
      throw new RemoteError('CLUSTER_BAD_ANSWER', `The cluster answered ${method} ${path} with JSON that is not ${what}: ${snippet(res.body)}`, {
        suggestions: ['The cluster does not speak the ingest protocol this client expects; check the cluster URL and its version.'],
      })
    }
    return value as T
  }

  private assertOk(method: string, path: string, res: RawResponse): void {
    if (res.status >= 200 && res.status < 300) return
    const detail = serverMessage(res.body)
    const where = `${method} ${this.baseUrl}${path}`
    const said = detail ? `: ${detail}` : ''
    if (res.status === 401 || res.status === 403) {
      throw new ClusterHttpError(res.status, 'CLUSTER_UNAUTHORIZED', sentence(`The cluster refused the API key (${res.status} on ${where})${said}`), [
        'Check the key: --api-key, INGESTGATE_API_KEY, or `fw login` (~/.config/flywheel/user.json), in that order.',
        'The key must belong to the same site as the cluster URL.',
      ])
    }
    if (res.status === 404) {
      throw new ClusterHttpError(404, 'CLUSTER_NOT_FOUND', sentence(`Not found on the cluster (404 on ${where})${said}`), [
        'Check the ingest URL (ingestgate ingest list --cluster URL shows the ingests) and that the cluster URL ends in /ingest.',
      ])
    }
    if (res.status === 409) {
      throw new ClusterHttpError(409, 'CLUSTER_CONFLICT', sentence(`The cluster refused the change in the ingest's current state (409 on ${where})${said}`), [
        'See the ingest\'s status with `ingestgate ingest status URL`.',
      ])
    }
    if (res.status >= 400 && res.status < 500) {
      throw new ClusterHttpError(
        res.status,
        'CLUSTER_CLIENT_ERROR',
        sentence(`The cluster rejected the request (${res.status} on ${where})${said}`),
        ['Fix what the cluster names above and run the command again.'],
        serverCode(res.body),
        detail || undefined,
      )
    }
    throw new ClusterHttpError(res.status, 'CLUSTER_SERVER_ERROR', sentence(`The cluster failed (${res.status} on ${where})${said}`), [
      'Try again later; if it persists, the cluster\'s operators need to look at its logs.',
    ])
  }

  /** One logical call: retries transient failures within the budget. */
  private async call(method: 'GET' | 'POST', path: string, body?: Buffer, contentType?: string): Promise<RawResponse> {
    const started = Date.now()
    for (let attempt = 1; ; attempt++) {
      let reason: string
      try {
        const res = await this.once(method, path, body, contentType)
        if (method !== 'GET' || !RETRY_STATUSES.has(res.status)) return res
        reason = `the cluster answered ${res.status}`
        if (!this.withinBudget(started, attempt, this.delay(attempt))) return res
      } catch (error) {
        if (error instanceof RequestAborted) throw error
        const code = error instanceof NetError ? error.code : 'UNKNOWN'
        const retryable = TRANSIENT_NET.has(code) && (method === 'GET' || code === 'ECONNREFUSED')
        if (!retryable || !this.withinBudget(started, attempt, this.delay(attempt))) throw this.unreachable(method, path, error as Error)
        reason = code === 'ECONNREFUSED' ? 'the cluster refused the connection' : `the connection failed (${code})`
      }
      const delayMs = this.delay(attempt)
      this.opts.onRetry?.({method, path, attempt, delayMs, reason})
      await this.opts.sleep(delayMs, this.opts.signal)
    }
  }

  private delay(attempt: number): number {
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(attempt - 1, 16))
  }

  /** A retry is made only when its wait ends within the budget (so a 1 s budget never waits 2 s). */
  private withinBudget(started: number, attempt: number, delayMs: number): boolean {
    return attempt < 1000 && Date.now() - started + delayMs <= this.opts.retryBudgetMs
  }

  private unreachable(method: string, path: string, error: Error): RemoteError {
    const code = error instanceof NetError ? error.code : 'UNKNOWN'
    const suggestions = [code === 'ENOTFOUND' ? 'Check the host name in the cluster URL.' : 'Check the cluster URL and that the cluster is running; then run the command again.']
    // Only a request about one ingest has an ingest to speak of; listing or creating has none yet.
    const id = /^\/ingests\/([^/]+)/.exec(path)?.[1]
    if (id && method === 'GET') suggestions.push(`A running ingest is not affected: follow it again with \`ingestgate ingest follow ${this.ingestUrl(id)}\`.`)
    else if (id) suggestions.push(`The request may not have reached the ingest: see where it is with \`ingestgate ingest status ${this.ingestUrl(id)}\`.`)
    return new RemoteError('CLUSTER_UNREACHABLE', redact(sentence(`Cannot reach the cluster at ${this.baseUrl} (${method} ${path}): ${error.message}`)), {
      suggestions,
      data: {networkCode: code},
    })
  }

  private once(method: string, path: string, body?: Buffer, contentType?: string): Promise<RawResponse> {
    const url = new URL(this.baseUrl + path)
    const requestFn = url.protocol === 'https:' ? httpsRequest : httpRequest
    const headers: Record<string, string> = {Accept: 'application/json', Authorization: this.apiKey, 'User-Agent': 'ingestgate'}
    if (body) {
      headers['Content-Type'] = contentType ?? 'application/json'
      headers['Content-Length'] = String(body.length)
    }
    return new Promise<RawResponse>((resolve, reject) => {
      const signal = this.opts.signal
      if (signal?.aborted) return reject(new RequestAborted())
      let settled = false
      const finish = (fn: () => void) => {
        if (settled) return
        settled = true
        clearTimeout(connectTimer)
        signal?.removeEventListener('abort', onAbort)
        fn()
      }
      const req = requestFn(url, {method, headers, agent: false})
      const onAbort = () => {
        req.destroy()
        finish(() => reject(new RequestAborted()))
      }
      signal?.addEventListener('abort', onAbort, {once: true})
      const connectTimer = setTimeout(() => {
        req.destroy(new NetError('ETIMEDOUT', `no connection within ${this.opts.connectTimeoutMs / 1000} s`))
      }, this.opts.connectTimeoutMs)
      req.on('socket', (socket) => {
        socket.once('connect', () => clearTimeout(connectTimer))
      })
      req.setTimeout(this.opts.readTimeoutMs, () => {
        req.destroy(new NetError('ETIMEDOUT', `no answer within ${this.opts.readTimeoutMs / 1000} s`))
      })
      req.on('error', (error: NodeJS.ErrnoException) => {
        const code = error instanceof NetError ? error.code : (error.code ?? 'UNKNOWN')
        finish(() => reject(error instanceof NetError ? error : new NetError(code, `${error.message}`)))
      })
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', (error: NodeJS.ErrnoException) => finish(() => reject(new NetError(error.code ?? 'ECONNRESET', error.message))))
        res.on('aborted', () => finish(() => reject(new NetError('ECONNRESET', 'the connection was reset while reading the answer'))))
        res.on('end', () => finish(() => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')})))
      })
      req.end(body)
    })
  }
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The minimum an Ingest must carry for the client to follow it (an unknown status string is fine). */
function isIngest(v: unknown): boolean {
  return isObject(v) && typeof v.id === 'string' && v.id !== '' && typeof v.status === 'string' && (v.history === undefined || Array.isArray(v.history))
}

/** End a message with one full stop: the server's own words often bring theirs ("cluster.."). */
export function sentence(text: string): string {
  const trimmed = text.trimEnd()
  return /[.!?…]$/.test(trimmed) ? trimmed : `${trimmed}.`
}

/** At most `max` characters, cut at a word boundary with an ellipsis (never mid-word). */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text
  const cut = text.slice(0, max)
  const space = cut.lastIndexOf(' ')
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.-]+$/, '')}…`
}

const ENTITIES: Record<string, string> = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' '}

function htmlText(html: string): string {
  return html
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d+|[a-z]+);/gi, (m, e: string) => (e.startsWith('#') ? String.fromCharCode(Number(e.slice(1))) : (ENTITIES[e.toLowerCase()] ?? m)))
    .replace(/\s+/g, ' ')
    .trim()
}

/**
 * A short description of a body that is not the protocol's JSON: an HTML page (a proxy's or a web
 * server's error page) by its title or first heading and its size, other text by its first words.
 */
export function summariseBody(body: string, max = 160): string {
  const flat = body.replace(/\s+/g, ' ').trim()
  if (!flat) return '(an empty body)'
  if (/^<(!doctype html|html|head|body)\b/i.test(flat) || /<\/(html|body|title|h1)>/i.test(flat)) {
    const heading = /<title\b[^>]*>([\s\S]*?)<\/title>/i.exec(body)?.[1] ?? /<h1\b[^>]*>([\s\S]*?)<\/h1>/i.exec(body)?.[1]
    const text = htmlText(heading ?? body)
    return redact(`an HTML page${text ? ` "${clip(text, max)}"` : ''} (${Buffer.byteLength(body)} bytes)`)
  }
  return redact(JSON.stringify(clip(flat, max)))
}

function snippet(body: string): string {
  return summariseBody(body, 200)
}

/** The machine-readable `code` of a cluster's error body (a short upper-case word), if any. */
function serverCode(body: string): string | undefined {
  try {
    const v = JSON.parse(body)
    const c = isObject(v) ? v.code : undefined
    return typeof c === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(c) ? c : undefined
  } catch {
    return undefined
  }
}

/** The server's own words from an error body: FastAPI's `detail`, or `message`/`error`, or a summary of the page. */
function serverMessage(body: string): string {
  try {
    const v = JSON.parse(body)
    const d = isObject(v) ? (v.detail ?? v.message ?? v.error) : undefined
    if (typeof d === 'string') return redact(clip(d, 300))
    if (d !== undefined) return redact(clip(JSON.stringify(d), 300))
  } catch {}
  return body.trim() ? summariseBody(body) : ''
}
