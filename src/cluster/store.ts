/**
 * The reference cluster's state, in one SQLite database (better-sqlite3, WAL) under the data
 * directory: ingests, their status history, stage tasks, the files found, the resolved containers,
 * errors and warnings, and audit rows. Every change that must survive a crash together is one
 * transaction, and every insert is keyed so a stage that runs again after a restart adds nothing twice.
 */
import {randomUUID} from 'node:crypto'

import Database from 'better-sqlite3'

import {
  TERMINAL_STATUSES,
  TRANSITIONS,
  type Ingest,
  type IngestConfig,
  type IngestStatus,
  type StrategyConfig,
  type TaskType,
} from '../ingest/protocol.js'
import {CLUSTER_CODES, type ClusterCode} from './codes.js'

export type ScanStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'canceled'
export type UploadStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'canceled'

export interface IngestRow {
  seq: number
  id: string
  label: string | null
  config: string
  strategy_config: string
  status: IngestStatus
  created: string
  approved: number
  review: string | null
  subjects_csv: string | null
  list_token: string | null
  list_done: number
}

export interface FileRow {
  seq: number
  id: string
  ingest_id: string
  key: string
  src_path: string
  size: number
  scan_status: ScanStatus
  scan_bytes: number
  scan_reads: number
  tags: string | null
  container_id: string | null
  dst_name: string | null
  dst_path: string | null
  upload_status: UploadStatus | null
  existing: number
  /** The packfile the file travels in (the summary counts packfiles), or null for a file on its own. */
  pack: string | null
}

export interface ContainerRow {
  id: string
  ingest_id: string
  parent_id: string | null
  level: number
  path: string
  label: string
  uid: string | null
  src_context: string
  dst_context: string | null
  existing: number
}

export interface ErrorRow {
  seq: number
  ingest_id: string
  task: string
  type: TaskType
  code: ClusterCode
  message: string
  severity: 'error' | 'warning'
  file_id: string | null
}

export interface AuditRow {
  src_path: string
  dst_path: string
  status: string
  existing: number
  error_code: string
  error_message: string
  action_taken: string
}

/** A status change the machine does not allow (the HTTP layer answers 409). */
export class TransitionError extends Error {
  constructor(
    readonly current: IngestStatus,
    readonly wanted: IngestStatus,
  ) {
    super(`cannot go from ${current} to ${wanted}`)
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ingests (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  label TEXT,
  config TEXT NOT NULL,
  strategy_config TEXT NOT NULL,
  status TEXT NOT NULL,
  created TEXT NOT NULL,
  approved INTEGER NOT NULL DEFAULT 0,
  review TEXT,
  subjects_csv TEXT,
  list_token TEXT,
  list_done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  ingest_id TEXT NOT NULL,
  status TEXT NOT NULL,
  at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS history_ingest ON history(ingest_id, seq);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  ingest_id TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  started REAL,
  finished REAL,
  UNIQUE (ingest_id, type)
);
CREATE TABLE IF NOT EXISTS files (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  ingest_id TEXT NOT NULL,
  key TEXT NOT NULL,
  src_path TEXT NOT NULL,
  size INTEGER NOT NULL,
  scan_status TEXT NOT NULL DEFAULT 'pending',
  scan_bytes INTEGER NOT NULL DEFAULT 0,
  scan_reads INTEGER NOT NULL DEFAULT 0,
  tags TEXT,
  container_id TEXT,
  dst_name TEXT,
  dst_path TEXT,
  upload_status TEXT,
  existing INTEGER NOT NULL DEFAULT 0,
  UNIQUE (ingest_id, key)
);
CREATE INDEX IF NOT EXISTS files_ingest ON files(ingest_id, seq);
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY,
  ingest_id TEXT NOT NULL,
  parent_id TEXT,
  level INTEGER NOT NULL,
  path TEXT NOT NULL,
  label TEXT NOT NULL,
  uid TEXT,
  src_context TEXT NOT NULL,
  dst_context TEXT,
  existing INTEGER NOT NULL DEFAULT 0,
  UNIQUE (ingest_id, path)
);
CREATE TABLE IF NOT EXISTS errors (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  ingest_id TEXT NOT NULL,
  task TEXT NOT NULL,
  type TEXT NOT NULL,
  code TEXT NOT NULL,
  message TEXT NOT NULL,
  severity TEXT NOT NULL,
  file_id TEXT,
  dedupe TEXT NOT NULL,
  UNIQUE (ingest_id, dedupe)
);
CREATE TABLE IF NOT EXISTS audit (
  ingest_id TEXT NOT NULL,
  file_id TEXT NOT NULL,
  file_seq INTEGER NOT NULL,
  src_path TEXT NOT NULL,
  dst_path TEXT NOT NULL,
  status TEXT NOT NULL,
  existing INTEGER NOT NULL,
  error_code TEXT NOT NULL,
  error_message TEXT NOT NULL,
  action_taken TEXT NOT NULL,
  PRIMARY KEY (ingest_id, file_id)
);
`

const nowSeconds = () => Date.now() / 1000

export class Store {
  readonly db: Database.Database

  constructor(path: string) {
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.pragma('busy_timeout = 5000')
    this.db.exec(SCHEMA)
    // A data directory from before packfiles were recorded gets the column; files resolved before
    // then have none (their ingest's summary counts no packfiles; a resolve that runs again sets it).
    const columns = this.db.prepare('PRAGMA table_info(files)').all() as Array<{name: string}>
    if (!columns.some((c) => c.name === 'pack')) this.db.exec('ALTER TABLE files ADD COLUMN pack TEXT')
  }

  close(): void {
    if (this.db.open) this.db.close()
  }

  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }

  // ---------------------------------------------------------------- ingests

  createIngest(config: IngestConfig, strategy: StrategyConfig, label: string | undefined): Ingest {
    const id = randomUUID()
    const created = new Date().toISOString()
    this.tx(() => {
      this.db
        .prepare('INSERT INTO ingests (id, label, config, strategy_config, status, created) VALUES (?, ?, ?, ?, ?, ?)')
        .run(id, label ?? null, JSON.stringify(config), JSON.stringify(strategy), 'created', created)
      this.db.prepare('INSERT INTO history (ingest_id, status, at) VALUES (?, ?, ?)').run(id, 'created', nowSeconds())
    })
    return this.getIngest(id)!
  }

  getRow(id: string): IngestRow | undefined {
    return this.db.prepare('SELECT * FROM ingests WHERE id = ?').get(id) as IngestRow | undefined
  }

  history(id: string): Array<[IngestStatus, number]> {
    const rows = this.db.prepare('SELECT status, at FROM history WHERE ingest_id = ? ORDER BY seq').all(id) as Array<{status: IngestStatus; at: number}>
    return rows.map((r) => [r.status, r.at])
  }

  toIngest(row: IngestRow): Ingest {
    return {
      id: row.id,
      ...(row.label === null ? {} : {label: row.label}),
      config: JSON.parse(row.config) as IngestConfig,
      strategy_config: JSON.parse(row.strategy_config) as StrategyConfig,
      status: row.status,
      history: this.history(row.id),
      created: row.created,
    }
  }

  getIngest(id: string): Ingest | undefined {
    const row = this.getRow(id)
    return row ? this.toIngest(row) : undefined
  }

  listIngests(): Ingest[] {
    return (this.db.prepare('SELECT * FROM ingests ORDER BY seq').all() as IngestRow[]).map((r) => this.toIngest(r))
  }

  /** Ingests a worker has to carry on with after a start: not created, not terminal. */
  activeIngestIds(): string[] {
    const rows = this.db
      .prepare(`SELECT id FROM ingests WHERE status NOT IN ('created', ${TERMINAL_STATUSES.map(() => '?').join(', ')}) ORDER BY seq`)
      .all(...TERMINAL_STATUSES) as Array<{id: string}>
    return rows.map((r) => r.id)
  }

  /**
   * Move an ingest to `to`, if the machine allows it from where it is (and, with `from`, only if it
   * is still there: a compare-and-set, so a stage that finishes after an abort changes nothing).
   * @throws TransitionError
   */
  transition(id: string, to: IngestStatus, from?: IngestStatus): Ingest {
    this.tx(() => {
      const row = this.getRow(id)
      if (!row) throw new Error(`no ingest ${id}`)
      if ((from !== undefined && row.status !== from) || !TRANSITIONS[row.status].includes(to)) throw new TransitionError(row.status, to)
      this.db.prepare('UPDATE ingests SET status = ? WHERE id = ?').run(to, id)
      this.db.prepare('INSERT INTO history (ingest_id, status, at) VALUES (?, ?, ?)').run(id, to, nowSeconds())
    })
    return this.getIngest(id)!
  }

  setApproved(id: string, review: unknown): void {
    this.db.prepare('UPDATE ingests SET approved = 1, review = ? WHERE id = ?').run(review === undefined ? null : JSON.stringify(review), id)
  }

  setSubjectsCsv(id: string, csv: string): void {
    this.db.prepare('UPDATE ingests SET subjects_csv = ? WHERE id = ?').run(csv, id)
  }

  deleteIngest(id: string): void {
    this.tx(() => {
      for (const table of ['history', 'tasks', 'files', 'containers', 'errors', 'audit']) {
        this.db.prepare(`DELETE FROM ${table} WHERE ingest_id = ?`).run(id)
      }
      this.db.prepare('DELETE FROM ingests WHERE id = ?').run(id)
    })
  }

  // ---------------------------------------------------------------- tasks

  /** The stage task of an ingest (created on first use; the id is what errors of the stage name). */
  task(ingestId: string, type: TaskType): {id: string; status: string} {
    this.db
      .prepare("INSERT OR IGNORE INTO tasks (id, ingest_id, type, status, started) VALUES (?, ?, ?, 'running', ?)")
      .run(randomUUID(), ingestId, type, nowSeconds())
    return this.db.prepare('SELECT id, status FROM tasks WHERE ingest_id = ? AND type = ?').get(ingestId, type) as {id: string; status: string}
  }

  finishTask(ingestId: string, type: TaskType, status: 'completed' | 'failed' | 'canceled'): void {
    this.task(ingestId, type)
    this.db.prepare('UPDATE tasks SET status = ?, finished = ? WHERE ingest_id = ? AND type = ?').run(status, nowSeconds(), ingestId, type)
  }

  taskStatuses(ingestId: string): Map<string, string> {
    const rows = this.db.prepare('SELECT type, status FROM tasks WHERE ingest_id = ?').all(ingestId) as Array<{type: string; status: string}>
    return new Map(rows.map((r) => [r.type, r.status]))
  }

  // ---------------------------------------------------------------- listing and files

  /** One listing page: new files in, continuation token saved, in one transaction. */
  addListedPage(ingestId: string, objects: Array<{key: string; srcPath: string; size: number}>, nextToken: string | undefined): void {
    this.tx(() => {
      const ins = this.db.prepare('INSERT OR IGNORE INTO files (id, ingest_id, key, src_path, size) VALUES (?, ?, ?, ?, ?)')
      for (const o of objects) ins.run(randomUUID(), ingestId, o.key, o.srcPath, o.size)
      this.db.prepare('UPDATE ingests SET list_token = ?, list_done = ? WHERE id = ?').run(nextToken ?? null, nextToken ? 0 : 1, ingestId)
    })
  }

  files(ingestId: string, where = '1 = 1', ...params: unknown[]): FileRow[] {
    return this.db.prepare(`SELECT * FROM files WHERE ingest_id = ? AND (${where}) ORDER BY seq`).all(ingestId, ...params) as FileRow[]
  }

  fileCount(ingestId: string): number {
    return (this.db.prepare('SELECT COUNT(*) n FROM files WHERE ingest_id = ?').get(ingestId) as {n: number}).n
  }

  updateFile(id: string, fields: Partial<Omit<FileRow, 'seq' | 'id' | 'ingest_id'>>): void {
    const keys = Object.keys(fields)
    if (keys.length === 0) return
    this.db.prepare(`UPDATE files SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`).run({...fields, id})
  }

  /** After a restart, work that was in flight starts over. */
  resetRunning(ingestId: string): void {
    this.db.prepare("UPDATE files SET scan_status = 'pending' WHERE ingest_id = ? AND scan_status = 'running'").run(ingestId)
    this.db.prepare("UPDATE files SET upload_status = 'pending' WHERE ingest_id = ? AND upload_status = 'running'").run(ingestId)
  }

  // ---------------------------------------------------------------- containers

  replaceContainers(ingestId: string, rows: Array<Omit<ContainerRow, 'ingest_id'>>): void {
    this.db.prepare('DELETE FROM containers WHERE ingest_id = ?').run(ingestId)
    const ins = this.db.prepare(
      'INSERT INTO containers (id, ingest_id, parent_id, level, path, label, uid, src_context, dst_context, existing) VALUES (@id, @ingest_id, @parent_id, @level, @path, @label, @uid, @src_context, @dst_context, @existing)',
    )
    for (const r of rows) ins.run({...r, ingest_id: ingestId})
  }

  containers(ingestId: string): ContainerRow[] {
    return this.db.prepare('SELECT * FROM containers WHERE ingest_id = ? ORDER BY level, path').all(ingestId) as ContainerRow[]
  }

  // ---------------------------------------------------------------- errors, audit

  /** Record an error or warning once (keyed by file and code, or by stage and code). */
  addIssue(ingestId: string, issue: {code: ClusterCode; type: TaskType; message: string; fileId?: string; task?: string}): void {
    const severity = CLUSTER_CODES[issue.code].severity
    const task = issue.task ?? issue.fileId ?? this.task(ingestId, issue.type).id
    const dedupe = issue.fileId ? `file:${issue.fileId}:${issue.code}` : `stage:${issue.type}:${issue.code}:${issue.message}`
    this.db
      .prepare('INSERT OR IGNORE INTO errors (ingest_id, task, type, code, message, severity, file_id, dedupe) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(ingestId, task, issue.type, issue.code, issue.message, severity, issue.fileId ?? null, dedupe)
  }

  issues(ingestId: string): ErrorRow[] {
    return this.db.prepare('SELECT * FROM errors WHERE ingest_id = ? ORDER BY seq').all(ingestId) as ErrorRow[]
  }

  putAudit(ingestId: string, file: Pick<FileRow, 'id' | 'seq'>, row: AuditRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO audit (ingest_id, file_id, file_seq, src_path, dst_path, status, existing, error_code, error_message, action_taken)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(ingestId, file.id, file.seq, row.src_path, row.dst_path, row.status, row.existing, row.error_code, row.error_message, row.action_taken)
  }

  /** Audit rows in source order, a page at a time (streams never hold the connection open). */
  auditPage(ingestId: string, afterSeq: number, limit: number): Array<AuditRow & {file_seq: number}> {
    return this.db
      .prepare('SELECT * FROM audit WHERE ingest_id = ? AND file_seq > ? ORDER BY file_seq LIMIT ?')
      .all(ingestId, afterSeq, limit) as Array<AuditRow & {file_seq: number}>
  }
}
