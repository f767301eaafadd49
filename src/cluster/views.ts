/**
 * What the read endpoints answer (/progress, /summary, /report, /tree, /audit, /subjects), computed
 * from the stored state each time; finalizing writes the same views to the data directory.
 */
import {
  AUDIT_HEADER,
  PROGRESS_STAGES,
  TERMINAL_STATUSES,
  type Container,
  type ErrorSummary,
  type IngestStatus,
  type Progress,
  type ProgressStage,
  type Report,
  type StatusCount,
  type Summary,
  type TaskError,
} from '../ingest/protocol.js'
import {CLUSTER_CODES} from './codes.js'
import type {ScanStatus, Store, UploadStatus} from './store.js'

type Bucket = Exclude<keyof StatusCount, 'finished' | 'total'>

function emptyCount(): StatusCount {
  return {scanned: 0, pending: 0, running: 0, failed: 0, canceled: 0, completed: 0, skipped: 0, finished: 0, total: 0}
}

function add(c: StatusCount, bucket: Bucket, n: number): void {
  c[bucket] += n
  c.total += n
  if (bucket === 'completed' || bucket === 'failed' || bucket === 'skipped' || bucket === 'canceled') c.finished += n
}

/** Where one file stands overall: scan first, then its way to the destination. */
export function fileBucket(scan: ScanStatus, upload: UploadStatus | null): Bucket {
  if (scan === 'pending') return 'pending'
  if (scan === 'running') return 'running'
  if (scan !== 'completed') return scan
  return upload === null ? 'scanned' : upload
}

function itemBucket(buckets: Map<Bucket, number>): Bucket {
  const has = (b: Bucket) => (buckets.get(b) ?? 0) > 0
  if (has('running')) return 'running'
  if (has('pending')) return 'pending'
  if (has('scanned')) return 'scanned'
  if (has('failed')) return 'failed'
  if (has('canceled')) return 'canceled'
  if (has('completed')) return 'completed'
  return 'skipped'
}

/** GET /progress */
export function progressOf(store: Store, id: string): Progress {
  const rows = store.db
    .prepare(
      'SELECT scan_status, upload_status, container_id, COUNT(*) n, SUM(size) bytes FROM files WHERE ingest_id = ? GROUP BY scan_status, upload_status, container_id',
    )
    .all(id) as Array<{scan_status: ScanStatus; upload_status: UploadStatus | null; container_id: string | null; n: number; bytes: number}>
  const scans = emptyCount()
  const files = emptyCount()
  const bytes = emptyCount()
  const items = emptyCount()
  const perItem = new Map<string, Map<Bucket, number>>()
  let resolvable = 0
  let toUpload = 0
  let uploaded = 0
  for (const r of rows) {
    const scanBucket: Bucket = r.scan_status === 'completed' ? 'completed' : r.scan_status
    add(scans, scanBucket, r.n)
    if (scanBucket === 'completed') scans.scanned += r.n
    const b = fileBucket(r.scan_status, r.upload_status)
    add(files, b, r.n)
    add(bytes, b, r.bytes ?? 0)
    if (r.scan_status === 'completed') resolvable += r.n
    if (r.upload_status !== null && r.container_id !== null) {
      toUpload += r.n
      if (r.upload_status !== 'pending' && r.upload_status !== 'running') uploaded += r.n
    }
    if (r.container_id !== null) {
      const m = perItem.get(r.container_id) ?? new Map<Bucket, number>()
      m.set(b, (m.get(b) ?? 0) + r.n)
      perItem.set(r.container_id, m)
    }
  }
  for (const m of perItem.values()) add(items, itemBucket(m), 1)

  const tasks = store.taskStatuses(id)
  const done = (t: string) => tasks.get(t) === 'completed'
  const stages = Object.fromEntries(PROGRESS_STAGES.map((s) => [s, {completed: 0, total: 0}])) as Progress['stages']
  const set = (stage: ProgressStage, completed: number, total: number) => (stages[stage] = {completed, total})
  set('configuring', done('configure') ? 1 : 0, 1)
  // The vendor CLI's scanning line is `scans` + `stages.scanning` (its cluster counts the walk tasks
  // in one and the files in the other). Here every file is one scan in `scans`, and listing is part
  // of the stage, not a task of its own: counting the files in the stage too would show 2N/2N.
  set('scanning', 0, 0)
  set('resolving', done('resolve') ? resolvable : 0, resolvable)
  if (tasks.has('detect_duplicates')) set('detecting_duplicates', done('detect_duplicates') ? resolvable : 0, resolvable)
  set('preparing', done('prepare') ? perItem.size : 0, perItem.size)
  set('uploading', uploaded, toUpload)
  set('finalizing', done('finalize') ? 1 : 0, 1)
  return {scans, items, files, bytes, stages}
}

function summariseIssues(store: Store, id: string, severity: 'error' | 'warning'): ErrorSummary[] {
  const rows = store.db
    .prepare('SELECT code, COUNT(*) n FROM errors WHERE ingest_id = ? AND severity = ? GROUP BY code ORDER BY code')
    .all(id, severity) as Array<{code: keyof typeof CLUSTER_CODES; n: number}>
  return rows.map((r) => ({code: r.code, message: CLUSTER_CODES[r.code]?.message ?? r.code, description: CLUSTER_CODES[r.code]?.description ?? null, count: r.n}))
}

/** GET /summary: the resolved hierarchy and what was found wrong. */
export function summaryOf(store: Store, id: string): Summary {
  const levels = store.db.prepare('SELECT level, COUNT(*) n FROM containers WHERE ingest_id = ? GROUP BY level').all(id) as Array<{level: number; n: number}>
  const at = (l: number) => levels.find((r) => r.level === l)?.n ?? 0
  const files = (
    store.db.prepare('SELECT COUNT(*) n FROM files WHERE ingest_id = ? AND container_id IS NOT NULL').get(id) as {n: number}
  ).n
  return {
    groups: at(0),
    projects: at(1),
    subjects: at(2),
    sessions: at(3),
    acquisitions: at(4),
    files,
    // One per container and pack: each DICOM series (dicom), each dicom folder or packed acquisition (folder, template).
    packfiles: (
      store.db.prepare("SELECT COUNT(DISTINCT container_id || '/' || pack) n FROM files WHERE ingest_id = ? AND container_id IS NOT NULL AND pack IS NOT NULL").get(id) as {n: number}
    ).n,
    warnings: summariseIssues(store, id, 'warning'),
    errors: summariseIssues(store, id, 'error'),
  }
}

/** Seconds spent in each status, from the history (the current status counts up to now). */
export function elapsedOf(history: Array<[IngestStatus, number]>, now = Date.now() / 1000): Partial<Record<IngestStatus, number>> {
  const out: Partial<Record<IngestStatus, number>> = {}
  history.forEach(([status, at], i) => {
    if (TERMINAL_STATUSES.includes(status)) return
    const end = i + 1 < history.length ? history[i + 1][1] : now
    out[status] = Math.round(((out[status] ?? 0) + Math.max(0, end - at)) * 1000) / 1000
  })
  return out
}

/** GET /report */
export function reportOf(store: Store, id: string): Report {
  const ingest = store.getIngest(id)!
  const errors: TaskError[] = []
  const warnings: TaskError[] = []
  for (const r of store.issues(id)) (r.severity === 'warning' ? warnings : errors).push({task: r.task, type: r.type, code: r.code, message: r.message})
  return {status: ingest.status, elapsed: elapsedOf(ingest.history), errors, warnings}
}

/** GET /tree: every container, parents first, with the files and bytes below it. */
export function treeOf(store: Store, id: string): Container[] {
  const containers = store.containers(id)
  const direct = new Map(
    (
      store.db
        .prepare('SELECT container_id, COUNT(*) n, SUM(size) bytes FROM files WHERE ingest_id = ? AND container_id IS NOT NULL GROUP BY container_id')
        .all(id) as Array<{container_id: string; n: number; bytes: number}>
    ).map((r) => [r.container_id, r]),
  )
  const totals = new Map<string, {n: number; bytes: number}>()
  // Deepest first, so each container adds its subtree to its parent.
  for (const c of [...containers].sort((a, b) => b.level - a.level)) {
    const own = direct.get(c.id)
    const t = totals.get(c.id) ?? {n: 0, bytes: 0}
    t.n += own?.n ?? 0
    t.bytes += own?.bytes ?? 0
    totals.set(c.id, t)
    if (c.parent_id) {
      const p = totals.get(c.parent_id) ?? {n: 0, bytes: 0}
      p.n += t.n
      p.bytes += t.bytes
      totals.set(c.parent_id, p)
    }
  }
  return containers.map((c) => ({
    id: c.id,
    ...(c.parent_id ? {parent_id: c.parent_id} : {}),
    path: c.path,
    level: c.level as Container['level'],
    src_context: JSON.parse(c.src_context) as Record<string, unknown>,
    ...(c.dst_context ? {dst_context: JSON.parse(c.dst_context) as Record<string, unknown>} : {}),
    existing: c.existing === 1,
    files_cnt: totals.get(c.id)?.n ?? 0,
    bytes_sum: totals.get(c.id)?.bytes ?? 0,
  }))
}

/** One CSV field (RFC 4180). */
export function csvField(value: string | number | boolean): string {
  const s = String(value)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export function csvLine(values: Array<string | number | boolean>): string {
  return values.map(csvField).join(',')
}

/** Subject map of GET /subjects: `code,PatientID` per subject found. */
export function subjectsCsvOf(store: Store, id: string): string[] {
  const rows = store.db
    .prepare(
      `SELECT c.label label, f.tags tags FROM containers c JOIN containers s ON s.parent_id = c.id JOIN containers a ON a.parent_id = s.id
       JOIN files f ON f.container_id = a.id WHERE c.ingest_id = ? AND c.level = 2 GROUP BY c.id ORDER BY c.path`,
    )
    .all(id) as Array<{label: string; tags: string | null}>
  const lines = [csvLine(['code', 'PatientID'])]
  for (const r of rows) {
    const tags = r.tags ? (JSON.parse(r.tags) as {PatientID?: string}) : {}
    lines.push(csvLine([r.label, tags.PatientID ?? '']))
  }
  return lines
}

/** One row of the audit log, as the protocol's CSV has it. */
export function auditLine(a: {src_path: string; dst_path: string; status: string; existing: number; error_code: string; error_message: string; action_taken: string}): string {
  return csvLine([a.src_path, a.dst_path, a.status, a.existing ? 'true' : 'false', a.error_code, a.error_message, a.action_taken])
}

/** The audit log as CSV text, the header first, in chunks of up to 1000 rows (the /audit stream and audit.csv). */
export function* auditCsv(store: Store, id: string): Generator<string> {
  yield AUDIT_HEADER + '\n'
  for (let after = 0; ; ) {
    const page = store.auditPage(id, after, 1000)
    if (page.length === 0) return
    yield page.map((a) => auditLine(a) + '\n').join('')
    after = page[page.length - 1].file_seq
  }
}
