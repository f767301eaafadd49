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
  tags: DicomTags
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
  /** file id -> acquisition container id */
  placement: Map<string, string>
  /** Files that cannot be placed (SC04). */
  unplaced: Array<{fileId: string; message: string}>
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

interface Node {
  key: string
  label: string
  uid?: string
  level: 0 | 1 | 2 | 3 | 4
  parent?: Node
  context: Record<string, unknown>
  children: Map<string, Node>
  path?: string
  id?: string
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
  const root: Node = {key: strategy.group, label: strategy.group, level: 0, context: {_id: strategy.group}, children: new Map()}
  const project: Node = {key: strategy.project, label: strategy.project, level: 1, parent: root, context: {label: strategy.project}, children: new Map()}
  root.children.set(project.key, project)
  const unplaced: ResolveResult['unplaced'] = []
  const fileNode = new Map<string, Node>()

  const child = (parent: Node, key: string, make: () => Omit<Node, 'children' | 'parent' | 'key'>): Node => {
    let n = parent.children.get(key)
    if (!n) {
      n = {...make(), key, parent, children: new Map()}
      parent.children.set(key, n)
    }
    return n
  }

  for (const f of [...files].sort((a, b) => (a.srcPath < b.srcPath ? -1 : a.srcPath > b.srcPath ? 1 : 0))) {
    const t = f.tags
    const missing = [
      ...(strategy.session === undefined && !t.StudyInstanceUID ? ['StudyInstanceUID'] : []),
      ...(!t.SeriesInstanceUID ? ['SeriesInstanceUID'] : []),
    ]
    if (missing.length > 0) {
      unplaced.push({fileId: f.id, message: `${f.srcPath}: no ${missing.join(' and no ')} in the DICOM header`})
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

  const containers: ResolvedContainer[] = []
  const visit = (n: Node, parentPath: string | undefined) => {
    n.path = parentPath === undefined ? safeLabel(n.label) : `${parentPath}/${safeLabel(n.label)}`
    n.id = stableId(ingestId, n.path)
    containers.push({id: n.id, parentId: n.parent?.id, path: n.path, level: n.level, label: n.label, uid: n.uid, srcContext: n.context})
    // Distinct siblings that share a label get a numeric suffix, in UID order.
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
  visit(root, undefined)

  const placement = new Map<string, string>()
  for (const [fileId, node] of fileNode) placement.set(fileId, node.id!)
  return {containers, placement, unplaced}
}
