/** The files an ended ingest leaves in the data directory, the same views the read endpoints answer. */
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {IngestConfig} from '../ingest/protocol.js'
import type {Store} from './store.js'
import {auditCsv, progressOf, reportOf, summaryOf, treeOf} from './views.js'

/** DATA/reports/<id>/: report.json (report, summary, progress, scan statistics), audit.csv, tree.jsonl. */
export async function writeReports(store: Store, dataDir: string, id: string): Promise<void> {
  const row = store.getRow(id)
  if (!row) return
  const dir = join(dataDir, 'reports', id)
  await mkdir(dir, {recursive: true})
  const scan = store.db
    .prepare('SELECT COUNT(*) objects, COALESCE(SUM(size), 0) bytes, COALESCE(SUM(scan_bytes), 0) bytes_read, COALESCE(SUM(scan_reads), 0) reads FROM files WHERE ingest_id = ?')
    .get(id) as {objects: number; bytes: number; bytes_read: number; reads: number}
  const doc = {
    ingest: store.toIngest(row),
    report: reportOf(store, id),
    summary: summaryOf(store, id),
    progress: progressOf(store, id),
    scan,
  }
  await writeFile(join(dir, 'report.json'), JSON.stringify(doc, null, 2) + '\n')
  await writeFile(join(dir, 'tree.jsonl'), treeOf(store, id).map((c) => JSON.stringify(c) + '\n').join(''))
  const config = JSON.parse(row.config) as IngestConfig
  if (!config.no_audit_log) await writeFile(join(dir, 'audit.csv'), [...auditCsv(store, id)].join(''))
}
