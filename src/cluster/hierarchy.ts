/**
 * Resolving: place each scanned DICOM file in the group / project / subject / session / acquisition
 * hierarchy. Pure (no I/O) and deterministic, so re-running it after a restart gives the same
 * containers with the same ids.
 */
import {createHash} from 'node:crypto'

import type {DicomTags} from './dicom-header.js'

export interface ResolveInput {
  id: string
  srcPath: string
  size: number
  /** The DICOM header's tags (strategies that read no header leave it out). */
  tags?: DicomTags
}

export interface ResolveStrategy {
  group: string
  project: string
  /** --subject: every file goes to this subject. */
  subject?: string
  /** --session: every file goes to this session. */
  session?: string
}

export interface ResolvedContainer {
  id: string
  parentId?: string
  /** Labels joined by `/`, safe as a relative directory path. */
  path: string
  level: 0 | 1 | 2 | 3 | 4
  label: string
  uid?: string
  srcContext: Record<string, unknown>
}

export interface ResolveResult {
  containers: ResolvedContainer[]
  /** file id -> the container it goes to (an acquisition for dicom; any level from project down for folder and template) */
  placement: Map<string, string>
  /** file id -> the packfile it travels in (the vendor zips these; the reference cluster keeps the files as they are). */
  packs: Map<string, string>
  /** Files that cannot be placed: SC04 (no UIDs, dicom) or SC07 (the path gives no valid context, folder and template). */
  unplaced: Array<{fileId: string; message: string; code: 'SC04' | 'SC07'}>
  /** Files left out on purpose: `ignore` in a template (no code), or project files without enable_project_files (SC07). */
  skipped: Array<{fileId: string; message: string; code?: 'SC07'}>
}

/** A label as a single directory name: no separators, no control characters, not `.`/`..`. */
export function safeLabel(label: string): string {
  // eslint-disable-next-line no-control-regex
  let out = label.replace(/[/\\\u0000-\u001f\u007f]/g, '_').trim()
  if (out === '' || out === '.' || out === '..') out = out === '' ? 'unknown' : '_'
  while (Buffer.byteLength(out, 'utf8') > 200) out = out.slice(0, -1)
  return out
}

/** A stable UUID-shaped id from a name (same input, same id). */
export function stableId(...parts: string[]): string {
  const h = createHash('sha1').update(parts.join('\u0000')).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** One container while the hierarchy is being built (ids and paths are given at the end). */
export interface HierarchyNode {
  key: string
  label: string
  uid?: string
  level: 0 | 1 | 2 | 3 | 4
  parent?: HierarchyNode
  context: Record<string, unknown>
  children: Map<string, HierarchyNode>
  path?: string
  id?: string
}

/**
 * Builds a group / project / subject / session / acquisition tree, shared by every strategy's
 * resolver: children are found or made by key, and `finish` gives each container its path (safe
 * labels joined by `/`) and a stable id from the ingest id and that path, so resolving the same
 * files again gives the same containers with the same ids.
 */
export class HierarchyBuilder {
  private readonly roots = new Map<string, HierarchyNode>()

  /** The group node with this id (made on first use). */
  group(id: string): HierarchyNode {
    let n = this.roots.get(id)
    if (!n) {
      n = {key: id, label: id, level: 0, context: {_id: id}, children: new Map()}
      this.roots.set(id, n)
    }
    return n
  }

  /** The child of `parent` with this key; `make` gives label, level and context when it is new. */
  child(parent: HierarchyNode, key: string, make: () => Omit<HierarchyNode, 'children' | 'parent' | 'key'>): HierarchyNode {
    let n = parent.children.get(key)
    if (!n) {
      n = {...make(), key, parent, children: new Map()}
      parent.children.set(key, n)
    }
    return n
  }

  /** Every container, parents first, with paths and ids set on the nodes too. */
  finish(ingestId: string): ResolvedContainer[] {
    const containers: ResolvedContainer[] = []
    const visit = (n: HierarchyNode, parentPath: string | undefined) => {
      n.path = parentPath === undefined ? safeLabel(n.label) : `${parentPath}/${safeLabel(n.label)}`
      n.id = stableId(ingestId, n.path)
      containers.push({id: n.id, parentId: n.parent?.id, path: n.path, level: n.level, label: n.label, uid: n.uid, srcContext: n.context})
      // Distinct siblings that share a label get a numeric suffix, in UID (else key) order.
      const used = new Set<string>()
      const kids = [...n.children.values()].sort((a, b) => (a.label === b.label ? ((a.uid ?? a.key) < (b.uid ?? b.key) ? -1 : 1) : a.label < b.label ? -1 : 1))
      for (const k of kids) {
        let name = safeLabel(k.label)
        for (let i = 2; used.has(name); i++) name = `${safeLabel(k.label)}_${i}`
        used.add(name)
        k.label = name === safeLabel(k.label) ? k.label : name
        k.context = {...k.context, label: k.label}
        visit(k, n.path)
      }
    }
    for (const root of [...this.roots.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) visit(root, undefined)
    return containers
  }
}

function studyTimestamp(tags: DicomTags): string | undefined {
  const d = /^(\d{4})(\d{2})(\d{2})$/.exec(tags.StudyDate ?? '')
  if (!d) return undefined
  const t = /^(\d{2})(\d{2})?(\d{2})?/.exec(tags.StudyTime ?? '')
  return `${d[1]}-${d[2]}-${d[3]}T${t?.[1] ?? '00'}:${t?.[2] ?? '00'}:${t?.[3] ?? '00'}`
}

/**
 * Build the hierarchy: subject = the --subject override, else the subject map (code for the
 * PatientID), else PatientID ('unknown' when empty); session = StudyInstanceUID labelled with
 * StudyDate (else the UID), or the --session override; acquisition = SeriesInstanceUID labelled with
 * SeriesDescription (else SeriesNumber, else the UID). Siblings with the same label get `_2`, `_3`...
 * in UID order so two studies on one day stay apart.
 */
export function resolveHierarchy(
  ingestId: string,
  files: ResolveInput[],
  strategy: ResolveStrategy,
  subjectCodes: Map<string, string> = new Map(),
): ResolveResult {
  const builder = new HierarchyBuilder()
  const root = builder.group(strategy.group)
  const project = builder.child(root, strategy.project, () => ({label: strategy.project, level: 1, context: {label: strategy.project}}))
  const unplaced: ResolveResult['unplaced'] = []
  const fileNode = new Map<string, HierarchyNode>()
  const child = builder.child.bind(builder)

  for (const f of [...files].sort((a, b) => (a.srcPath < b.srcPath ? -1 : a.srcPath > b.srcPath ? 1 : 0))) {
    const t = f.tags ?? {}
    const missing = [
      ...(strategy.session === undefined && !t.StudyInstanceUID ? ['StudyInstanceUID'] : []),
      ...(!t.SeriesInstanceUID ? ['SeriesInstanceUID'] : []),
    ]
    if (missing.length > 0) {
      unplaced.push({fileId: f.id, code: 'SC04', message: `${f.srcPath}: no ${missing.join(' and no ')} in the DICOM header`})
      continue
    }
    const subjectLabel = strategy.subject ?? (t.PatientID ? subjectCodes.get(t.PatientID) ?? t.PatientID : 'unknown')
    const subject = child(project, subjectLabel, () => ({label: subjectLabel, level: 2, context: {label: subjectLabel}}))
    const sessionUid = strategy.session ?? t.StudyInstanceUID!
    const session = child(subject, sessionUid, () => {
      const label = strategy.session ?? (t.StudyDate || t.StudyInstanceUID!)
      const timestamp = strategy.session === undefined ? studyTimestamp(t) : undefined
      return {
        label,
        uid: strategy.session === undefined ? sessionUid : undefined,
        level: 3,
        context: {label, ...(strategy.session === undefined ? {uid: sessionUid} : {}), ...(timestamp ? {timestamp} : {})},
      }
    })
    const acqUid = t.SeriesInstanceUID!
    const acquisition = child(session, acqUid, () => {
      const label = t.SeriesDescription || (t.SeriesNumber ? `Series ${t.SeriesNumber}` : acqUid)
      return {label, uid: acqUid, level: 4, context: {label, uid: acqUid}}
    })
    fileNode.set(f.id, acquisition)
  }

  const containers = builder.finish(ingestId)

  const placement = new Map<string, string>()
  const packs = new Map<string, string>()
  for (const [fileId, node] of fileNode) {
    placement.set(fileId, node.id!)
    // Each acquisition's DICOM files are one pack (the vendor zips a series).
    packs.set(fileId, `${node.label}.dicom.zip`)
  }
  return {containers, placement, packs, unplaced, skipped: []}
}
