/**
 * The worker: runs each ingest through the status machine, one stage at a time, as the ingest
 * principal. Each stage reads what it needs from the store, does its work in steps that are
 * committed as they finish, and moves the ingest on with a compare-and-set, so:
 *  - an abort (POST /abort) is seen between steps and wins over a stage that is finishing;
 *  - after a restart (or a crash) the worker picks up every ingest that is neither `created` nor
 *    terminal, resets work that was in flight, and carries on without losing or repeating anything.
 */
import {createWriteStream, existsSync} from 'node:fs'
import {mkdir, rename, rm} from 'node:fs/promises'
import {basename, dirname, extname, join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {AppError} from '../errors.js'
import {
  TERMINAL_STATUSES,
  type IngestConfig,
  type IngestStatus,
  type StrategyConfig,
  type TaskType,
} from '../ingest/protocol.js'
import {CLUSTER_CODES, type ClusterCode} from './codes.js'
import {subjectCodes} from './csv.js'
import {DEFAULT_HEADER_BYTES, readDicomHeader, type DicomTags} from './dicom-header.js'
import {compileFilter} from '../core/glob.js'
import {safeLabel} from './hierarchy.js'
import type {SourceReader} from '../providers/types.js'
import {sourceErrorCode} from './source-reader.js'
import {MultipleProjectsError, resolverFor, StrategyError, type StrategyResolver} from './strategies.js'
import {TransitionError, type AuditRow, type FileRow, type Store} from './store.js'
import {writeReports} from './reports.js'

export interface ClusterHooks {
  /**
   * Called before each file of a stage is worked on (tests use it to pause or slow an ingest at a
   * known point; the signal fires on abort and on shutdown).
   */
  beforeFile?(event: {stage: 'scanning' | 'uploading'; ingestId: string; key: string; signal: AbortSignal}): void | Promise<void>
}

export interface WorkerOptions {
  store: Store
  dataDir: string
  /** A reader of the source, acting as the ingest principal. */
  openSource(srcFs: string): Promise<SourceReader>
  headerBytes?: number
  scanConcurrency?: number
  uploadConcurrency?: number
  hooks?: ClusterHooks
  log?: (line: string) => void
}

/** A stage that cannot go on: the ingest fails with this code in its report. */
export class StageFailure extends Error {
  constructor(
    readonly code: ClusterCode,
    readonly type: TaskType,
    message: string,
  ) {
    super(message)
  }
}

/** The stage stopped because of an abort or a shutdown (not a failure). */
class Interrupted extends Error {}

const TASK_OF: Partial<Record<IngestStatus, TaskType>> = {
  configuring: 'configure',
  scanning: 'scan',
  resolving: 'resolve',
  detecting_duplicates: 'detect_duplicates',
  in_review: 'resolve',
  preparing: 'prepare',
  preparing_sidecar: 'prepare_sidecar',
  uploading: 'upload',
  finalizing: 'finalize',
  aborting: 'finalize',
}

/** Run `fn` over `items` with at most `n` at a time; the first error stops new work and is rethrown once all in flight settle. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let failed: {error: unknown} | undefined
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]
      try {
        await fn(item)
      } catch (error) {
        failed ??= {error}
      }
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(n, items.length))}, lane))
  if (failed) throw failed.error
}

interface StageContext {
  id: string
  signal: AbortSignal
  config: IngestConfig
  strategy: StrategyConfig
  /** Throws Interrupted when the ingest was aborted or the cluster is stopping. */
  checkpoint(): void
}

/**
 * The resolver of the ingest's strategy; a strategy_config it cannot run fails the stage (GE05).
 * @throws StageFailure
 */
function resolverOf(ctx: StageContext, type: TaskType): StrategyResolver {
  try {
    return resolverFor(ctx.strategy, ctx.config)
  } catch (error) {
    if (error instanceof StrategyError) throw new StageFailure('GE05', type, error.message)
    throw error
  }
}

export class Worker {
  private readonly store: Store
  private readonly runners = new Map<string, Promise<void>>()
  private readonly again = new Set<string>()
  private readonly controllers = new Map<string, AbortController>()
  private readonly readers = new Map<string, SourceReader>()
  private stopping = false
  private readonly log: (line: string) => void

  constructor(private readonly opts: WorkerOptions) {
    this.store = opts.store
    this.log = opts.log ?? (() => {})
  }

  get destRoot(): string {
    return join(this.opts.dataDir, 'dest')
  }

  /** At start: carry on with every ingest that was in progress. */
  resumeAll(): void {
    for (const id of this.store.activeIngestIds()) {
      this.store.resetRunning(id)
      this.log(`resuming ingest ${id} (${this.store.getRow(id)?.status})`)
      this.kick(id)
    }
  }

  /** Make sure a runner looks at this ingest (again). */
  kick(id: string): void {
    if (this.stopping) return
    if (this.runners.has(id)) {
      this.again.add(id)
      return
    }
    const p = this.run(id)
      .catch((error) => this.log(`worker error on ingest ${id}: ${(error as Error).message}`))
      .finally(() => {
        this.runners.delete(id)
        if (this.again.delete(id)) this.kick(id)
      })
    this.runners.set(id, p)
  }

  /** An abort was recorded: stop the stage at its next step; the runner then finishes the abort. */
  abort(id: string): void {
    this.controllers.get(id)?.abort()
    this.kick(id)
  }

  /** Stop every stage at its next step and wait for the runners (state stays as it is, to resume). */
  async stop(): Promise<void> {
    this.stopping = true
    for (const c of this.controllers.values()) c.abort()
    while (this.runners.size > 0) await Promise.allSettled([...this.runners.values()])
  }

  /** Wait until no runner is busy (tests and the bench). */
  async idle(): Promise<void> {
    while (this.runners.size > 0) await Promise.allSettled([...this.runners.values()])
  }

  private async run(id: string): Promise<void> {
    for (;;) {
      if (this.stopping) return
      const row = this.store.getRow(id)
      if (!row) return
      const status = row.status
      if (status === 'created' || TERMINAL_STATUSES.includes(status)) return
      const config = JSON.parse(row.config) as IngestConfig
      if (status === 'in_review' && !(config.assume_yes || row.approved)) return
      const controller = new AbortController()
      this.controllers.set(id, controller)
      const ctx: StageContext = {
        id,
        signal: controller.signal,
        config,
        strategy: JSON.parse(row.strategy_config) as StrategyConfig,
        checkpoint: () => {
          if (controller.signal.aborted) throw new Interrupted()
        },
      }
      try {
        await this.stage(status, ctx)
      } catch (error) {
        if (this.stopping) return
        const now = this.store.getRow(id)?.status
        if (error instanceof Interrupted || (error instanceof TransitionError && now !== status)) continue
        if (this.fail(id, status, error)) await this.afterTerminal(id)
      } finally {
        this.controllers.delete(id)
      }
    }
  }

  private advance(ctx: StageContext, from: IngestStatus, to: IngestStatus): void {
    ctx.checkpoint()
    this.store.transition(ctx.id, to, from)
    this.log(`ingest ${ctx.id}: ${to}`)
  }

  private async stage(status: IngestStatus, ctx: StageContext): Promise<void> {
    switch (status) {
      case 'configuring':
        return this.configure(ctx)
      case 'scanning':
        return this.scan(ctx)
      case 'resolving':
        return this.resolve(ctx)
      case 'detecting_duplicates':
        return this.detectDuplicates(ctx)
      case 'in_review': {
        if (!this.store.getRow(ctx.id)!.approved) this.store.setApproved(ctx.id, undefined)
        return this.advance(ctx, 'in_review', 'preparing')
      }
      case 'preparing':
        return this.prepare(ctx)
      case 'preparing_sidecar':
        return this.advance(ctx, 'preparing_sidecar', 'uploading')
      case 'uploading':
        return this.upload(ctx)
      case 'finalizing':
        return this.finalize(ctx)
      case 'aborting':
        return this.finishAbort(ctx.id)
      default:
        return
    }
  }

  // ------------------------------------------------------------------ failure and abort

  /** Record why the stage failed and fail the ingest; false when it was aborted meanwhile. */
  private fail(id: string, status: IngestStatus, error: unknown): boolean {
    const type = TASK_OF[status] ?? 'finalize'
    let code: ClusterCode
    let message: string
    if (error instanceof StageFailure) {
      code = error.code
      message = error.message
    } else {
      code = sourceErrorCode(error) ?? 'GE01'
      message = error instanceof AppError ? error.message : `unexpected error while ${status}: ${(error as Error)?.message ?? String(error)}`
    }
    this.log(`ingest ${id} failed while ${status}: ${message}`)
    try {
      this.store.tx(() => {
        this.store.addIssue(id, {code, type, message})
        this.store.finishTask(id, type, 'failed')
        this.cancelOpenWork(id)
        this.store.transition(id, 'failed', status)
      })
    } catch (e) {
      if (!(e instanceof TransitionError)) throw e
      return false // aborted meanwhile: the runner finishes the abort instead
    }
    return true
  }

  /** Files not yet done are canceled (progress then adds up; the audit log says so). */
  private cancelOpenWork(id: string): void {
    const open = this.store.files(
      id,
      "scan_status IN ('pending', 'running') OR upload_status IN ('pending', 'running') OR (scan_status = 'completed' AND upload_status IS NULL)",
    )
    for (const f of open) {
      const scanOpen = f.scan_status === 'pending' || f.scan_status === 'running'
      this.store.updateFile(f.id, scanOpen ? {scan_status: 'canceled'} : {upload_status: 'canceled'})
      this.store.putAudit(id, f, {
        src_path: f.src_path,
        dst_path: f.dst_path ? this.fwPath(f.dst_path) : '',
        status: 'canceled',
        existing: f.existing,
        error_code: '',
        error_message: '',
        action_taken: 'none',
      })
    }
    this.store.db.prepare("UPDATE tasks SET status = 'canceled', finished = ? WHERE ingest_id = ? AND status = 'running'").run(Date.now() / 1000, id)
  }

  private async finishAbort(id: string): Promise<void> {
    this.store.tx(() => {
      this.cancelOpenWork(id)
      this.store.transition(id, 'aborted', 'aborting')
    })
    this.log(`ingest ${id}: aborted`)
    await this.afterTerminal(id)
  }

  private async afterTerminal(id: string): Promise<void> {
    await rm(join(this.opts.dataDir, 'tmp', id), {recursive: true, force: true})
    await writeReports(this.store, this.opts.dataDir, id).catch((error) => this.log(`could not write the reports of ${id}: ${(error as Error).message}`))
    this.readers.delete(id)
  }

  // ------------------------------------------------------------------ stages

  private async reader(ctx: StageContext): Promise<SourceReader> {
    let r = this.readers.get(ctx.id)
    if (!r) {
      r = await this.opts.openSource(ctx.config.src_fs)
      this.readers.set(ctx.id, r)
    }
    return r
  }

  private async configure(ctx: StageContext): Promise<void> {
    const {config} = ctx
    // A bad template or an option the cluster cannot run fails the ingest before anything is read.
    resolverOf(ctx, 'configure')
    if (config.de_identify) {
      throw new StageFailure('GE05', 'configure', 'De-identification is not supported by the reference cluster; it would copy the data unchanged, so the ingest is refused.')
    }
    try {
      await this.reader(ctx)
    } catch (error) {
      if (error instanceof StageFailure) throw error
      throw new StageFailure(sourceErrorCode(error) ?? 'GE06', 'configure', (error as Error).message)
    }
    this.store.finishTask(ctx.id, 'configure', 'completed')
    this.advance(ctx, 'configuring', 'scanning')
  }

  private sourceFailure(error: unknown, type: TaskType, what: string, url: string): StageFailure | undefined {
    const code = sourceErrorCode(error)
    if (!code) return undefined
    const why = error instanceof AppError ? error.message : String(error)
    if (code === 'GE02') {
      return new StageFailure(code, type, `The ingest principal may not ${what} ${url}: ${why} Grant it access (ingestgate grant apply) and verify with ingestgate check --live.`)
    }
    return new StageFailure(code, type, `Could not ${what} ${url}: ${why}`)
  }

  private async scan(ctx: StageContext): Promise<void> {
    const {id} = ctx
    this.store.task(id, 'scan')
    const reader = await this.reader(ctx)
    const filter = compileFilter(ctx.config)
    let row = this.store.getRow(id)!
    while (!row.list_done) {
      ctx.checkpoint()
      let page
      try {
        page = await reader.listPage(row.list_token ?? undefined)
      } catch (error) {
        throw this.sourceFailure(error, 'scan', 'list', reader.url) ?? error
      }
      const objects = page.objects
        .filter((o) => !o.key.endsWith('/'))
        .map((o) => ({key: o.key, srcPath: reader.relPath(o.key), size: o.size}))
        .filter((o) => filter(o.srcPath))
      this.store.addListedPage(id, objects, page.nextToken)
      row = this.store.getRow(id)!
    }

    const {readsHeader} = resolverOf(ctx, 'scan')
    const pending = this.store.files(id, "scan_status = 'pending'")
    await pool(pending, this.opts.scanConcurrency ?? 8, async (f) => {
      ctx.checkpoint()
      await this.opts.hooks?.beforeFile?.({stage: 'scanning', ingestId: id, key: f.key, signal: ctx.signal})
      ctx.checkpoint()
      await this.scanFile(ctx, reader, f, readsHeader)
    })
    this.store.finishTask(id, 'scan', 'completed')
    this.advance(ctx, 'scanning', 'resolving')
  }

  /** Scan one file: the zero-byte check always, the DICOM header only when the strategy places files by their tags. */
  private async scanFile(ctx: StageContext, reader: SourceReader, f: FileRow, readsHeader: boolean): Promise<void> {
    const {id} = ctx
    const failFile = (code: ClusterCode, message: string, bytes = 0, reads = 0) =>
      this.store.tx(() => {
        this.store.updateFile(f.id, {scan_status: CLUSTER_CODES[code].severity === 'warning' ? 'skipped' : 'failed', scan_bytes: bytes, scan_reads: reads})
        this.store.addIssue(id, {code, type: 'scan', message, fileId: f.id})
        this.store.putAudit(id, f, {
          src_path: f.src_path,
          dst_path: '',
          status: CLUSTER_CODES[code].severity === 'warning' ? 'skipped' : 'failed',
          existing: 0,
          error_code: code,
          error_message: message,
          action_taken: 'none',
        })
      })
    if (f.size === 0) return failFile('SC03', `${f.src_path}: zero byte file`)
    // Folder and template ingests upload files as they are: nothing of them is read to place them.
    if (!readsHeader) return this.store.updateFile(f.id, {scan_status: 'completed', scan_bytes: 0, scan_reads: 0})
    this.store.updateFile(f.id, {scan_status: 'running'})
    let result
    try {
      result = await readDicomHeader((start, end) => reader.readRange(f.key, start, end), f.size, {
        initialBytes: this.opts.headerBytes ?? DEFAULT_HEADER_BYTES,
        gzip: /\.gz$/i.test(f.key),
      })
    } catch (error) {
      const failure = this.sourceFailure(error, 'scan', 'read', `${reader.url}${f.src_path}`)
      if (failure && failure.code !== 'GE07') {
        this.store.updateFile(f.id, {scan_status: 'pending'})
        throw failure
      }
      return failFile('SC05', `${f.src_path}: ${(error as Error).message}`)
    }
    if (!result.ok) return failFile(result.code, `${f.src_path}: ${result.reason}`, result.bytesRead, result.reads)
    this.store.updateFile(f.id, {scan_status: 'completed', tags: JSON.stringify(result.tags), scan_bytes: result.bytesRead, scan_reads: result.reads})
  }

  private async resolve(ctx: StageContext): Promise<void> {
    const {id} = ctx
    const resolver = resolverOf(ctx, 'resolve')
    const row = this.store.getRow(id)!
    const files = this.store.files(id, "scan_status = 'completed'")
    let res
    try {
      res = resolver.resolve(
        id,
        files.map((f) => ({id: f.id, srcPath: f.src_path, size: f.size, ...(f.tags ? {tags: JSON.parse(f.tags) as DicomTags} : {})})),
        subjectCodes(row.subjects_csv),
      )
    } catch (error) {
      if (error instanceof MultipleProjectsError) throw new StageFailure('GE05', 'resolve', error.message)
      throw error
    }
    const byId = new Map(files.map((f) => [f.id, f]))
    this.store.tx(() => {
      this.store.replaceContainers(
        id,
        res.containers.map((c) => {
          const existing = existsSync(join(this.destRoot, c.path))
          return {
            id: c.id,
            parent_id: c.parentId ?? null,
            level: c.level,
            path: c.path,
            label: c.label,
            uid: c.uid ?? null,
            src_context: JSON.stringify(c.srcContext),
            dst_context: existing ? JSON.stringify({label: c.label, path: c.path}) : null,
            existing: existing ? 1 : 0,
          }
        }),
      )
      for (const [fileId, containerId] of res.placement) this.store.updateFile(fileId, {container_id: containerId, pack: res.packs.get(fileId) ?? null})
      for (const u of res.unplaced) {
        const f = byId.get(u.fileId)!
        this.store.updateFile(f.id, {container_id: null, pack: null, upload_status: 'failed'})
        this.store.addIssue(id, {code: u.code, type: 'resolve', message: u.message, fileId: f.id})
        this.store.putAudit(id, f, {src_path: f.src_path, dst_path: '', status: 'failed', existing: 0, error_code: u.code, error_message: u.message, action_taken: 'none'})
      }
      for (const u of res.skipped) {
        const f = byId.get(u.fileId)!
        this.store.updateFile(f.id, {container_id: null, pack: null, upload_status: 'skipped'})
        if (u.code) this.store.addIssue(id, {code: u.code, type: 'resolve', message: u.message, fileId: f.id})
        this.store.putAudit(id, f, {src_path: f.src_path, dst_path: '', status: 'skipped', existing: 0, error_code: u.code ?? '', error_message: u.message, action_taken: 'skipped'})
      }
    })
    this.store.finishTask(id, 'resolve', 'completed')
    this.advance(ctx, 'resolving', ctx.config.detect_duplicates ? 'detecting_duplicates' : 'in_review')
  }

  private async detectDuplicates(ctx: StageContext): Promise<void> {
    const {id} = ctx
    this.store.task(id, 'detect_duplicates')
    const files = this.store.files(id, "container_id IS NOT NULL AND (upload_status IS NULL OR upload_status = 'failed')")
    const seen = new Map<string, FileRow>()
    this.store.tx(() => {
      for (const f of files) {
        const uid = (JSON.parse(f.tags ?? '{}') as DicomTags).SOPInstanceUID
        if (!uid) continue
        const first = seen.get(uid)
        if (!first) {
          seen.set(uid, f)
          continue
        }
        const message = `${f.src_path}: same SOPInstanceUID as ${first.src_path}`
        this.store.updateFile(f.id, {upload_status: 'failed'})
        this.store.addIssue(id, {code: 'DD01', type: 'detect_duplicates', message, fileId: f.id})
        this.store.putAudit(id, f, {src_path: f.src_path, dst_path: '', status: 'failed', existing: 0, error_code: 'DD01', error_message: message, action_taken: 'none'})
      }
    })
    this.store.finishTask(id, 'detect_duplicates', 'completed')
    this.advance(ctx, 'detecting_duplicates', 'in_review')
  }

  /** fw:// path of a destination file, as the audit log shows it. */
  private fwPath(dstPath: string): string {
    return `fw://${dstPath}`
  }

  private async prepare(ctx: StageContext): Promise<void> {
    const {id, config} = ctx
    this.store.task(id, 'prepare')
    const row = this.store.getRow(id)!
    const review = (row.review ? (JSON.parse(row.review) as Array<{path: string; skip?: boolean}>) : []).filter((r) => r.skip)
    const skipPaths = review.map((r) => r.path.replace(/^\/+|\/+$/g, '').replace(/^fw:\/\//, ''))
    const skipped = (p: string) => skipPaths.some((s) => p === s || p.startsWith(`${s}/`))
    const containers = new Map(this.store.containers(id).map((c) => [c.id, c]))
    const files = this.store.files(id, 'container_id IS NOT NULL AND upload_status IS NULL')
    // Names already given in each container (a prepare that ran before keeps them), and the
    // directory names of its child containers: folder and template ingests place files at every
    // level, and a file `ses-1/T1w` must not take the name of the folder `ses-1/T1w/`.
    const used = new Map<string, Set<string>>()
    for (const c of containers.values()) {
      if (!c.parent_id) continue
      const s = used.get(c.parent_id) ?? new Set<string>()
      s.add(c.path.slice(c.path.lastIndexOf('/') + 1))
      used.set(c.parent_id, s)
    }
    for (const f of this.store.files(id, 'dst_name IS NOT NULL')) {
      const s = used.get(f.container_id!) ?? new Set<string>()
      s.add(f.dst_name!)
      used.set(f.container_id!, s)
    }
    this.store.tx(() => {
      for (const f of files) {
        const acq = containers.get(f.container_id!)!
        const names = used.get(acq.id) ?? new Set<string>()
        used.set(acq.id, names)
        const base = safeLabel(basename(f.src_path))
        const ext = base.toLowerCase().endsWith('.dcm.gz') ? '.dcm.gz' : extname(base)
        const stem = base.slice(0, base.length - ext.length)
        let name = base
        for (let i = 2; names.has(name); i++) name = `${stem}_${i}${ext}`
        names.add(name)
        const dstPath = `${acq.path}/${name}`
        const existing = existsSync(join(this.destRoot, dstPath)) ? 1 : 0
        const skip = skipped(acq.path) || skipped(f.src_path)
        const skipExisting = existing === 1 && config.skip_existing
        this.store.updateFile(f.id, {dst_name: name, dst_path: dstPath, existing, upload_status: skip || skipExisting ? 'skipped' : 'pending'})
        if (skip || skipExisting) {
          this.store.putAudit(id, f, {
            src_path: f.src_path,
            dst_path: this.fwPath(dstPath),
            status: 'skipped',
            existing,
            error_code: '',
            error_message: skip ? 'skipped in review' : 'exists at the destination (skip_existing)',
            action_taken: 'skipped',
          })
        }
      }
    })
    this.store.finishTask(id, 'prepare', 'completed')
    this.advance(ctx, 'preparing', 'uploading')
  }

  private async upload(ctx: StageContext): Promise<void> {
    const {id} = ctx
    this.store.task(id, 'upload')
    const reader = await this.reader(ctx)
    const tmpDir = join(this.opts.dataDir, 'tmp', id)
    await mkdir(tmpDir, {recursive: true})
    const pending = this.store.files(id, "upload_status = 'pending'")
    await pool(pending, this.opts.uploadConcurrency ?? 4, async (f) => {
      ctx.checkpoint()
      await this.opts.hooks?.beforeFile?.({stage: 'uploading', ingestId: id, key: f.key, signal: ctx.signal})
      ctx.checkpoint()
      await this.uploadFile(ctx, reader, f, tmpDir)
    })
    await rm(tmpDir, {recursive: true, force: true})
    this.store.finishTask(id, 'upload', 'completed')
    this.advance(ctx, 'uploading', 'finalizing')
  }

  private async uploadFile(ctx: StageContext, reader: SourceReader, f: FileRow, tmpDir: string): Promise<void> {
    const {id} = ctx
    const dest = join(this.destRoot, f.dst_path!)
    const part = join(tmpDir, `${f.id}.part`)
    this.store.updateFile(f.id, {upload_status: 'running'})
    try {
      await mkdir(dirname(dest), {recursive: true})
      const body = await reader.openStream(f.key)
      const readable = body instanceof Readable ? body : Readable.from(body as AsyncIterable<Uint8Array>)
      // Written aside and renamed, so the destination never holds a partial file (a crash leaves only tmp/).
      await pipeline(readable, createWriteStream(part), {signal: ctx.signal})
      await rename(part, dest)
    } catch (error) {
      if (ctx.signal.aborted) {
        this.store.updateFile(f.id, {upload_status: 'pending'})
        await rm(part, {force: true})
        throw new Interrupted()
      }
      const failure = this.sourceFailure(error, 'upload', 'read', `${reader.url}${f.src_path}`)
      if (failure && failure.code !== 'GE07') {
        this.store.updateFile(f.id, {upload_status: 'pending'})
        throw failure
      }
      const message = `${f.src_path}: ${(error as Error).message}`
      this.store.tx(() => {
        this.store.updateFile(f.id, {upload_status: 'failed'})
        this.store.addIssue(id, {code: 'GE07', type: 'upload', message, fileId: f.id})
        this.auditUpload(id, f, {status: 'failed', error_code: 'GE07', error_message: message, action_taken: 'none'})
      })
      return
    }
    this.store.tx(() => {
      this.store.updateFile(f.id, {upload_status: 'completed'})
      if (f.existing) {
        this.store.addIssue(id, {code: 'GE03', type: 'upload', message: `${f.src_path}: replaced ${this.fwPath(f.dst_path!)}`, fileId: f.id})
      }
      this.auditUpload(id, f, {status: 'completed', error_code: '', error_message: '', action_taken: f.existing ? 'replaced' : 'uploaded'})
    })
  }

  /** The audit row of an upload attempt: where the file went, and how it ended. */
  private auditUpload(id: string, f: FileRow, outcome: Pick<AuditRow, 'status' | 'error_code' | 'error_message' | 'action_taken'>): void {
    this.store.putAudit(id, f, {src_path: f.src_path, dst_path: this.fwPath(f.dst_path!), existing: f.existing, ...outcome})
  }

  private async finalize(ctx: StageContext): Promise<void> {
    const {id} = ctx
    this.store.task(id, 'finalize')
    await writeReports(this.store, this.opts.dataDir, id)
    this.store.finishTask(id, 'finalize', 'completed')
    this.advance(ctx, 'finalizing', 'finished')
    await this.afterTerminal(id)
  }
}
