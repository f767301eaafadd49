/**
 * The template strategy (`fw ingest template`) and the template engine the folder strategy is built
 * on, as the vendor's CLI (flywheel-cli, `ingest/template.py`, `ingest/importers/match_util.py`,
 * `ingest/scanners/template.py`, `ingest/tasks/resolve.py`) has them:
 *
 * - A template is a chain of levels, one per folder below the source prefix. A string template is
 *   `:`-separated sections (`\:` and `\,` escape), each `PATTERN[,key=value,...]`; a YAML template
 *   is a list whose items are a pattern string or `{pattern, packfile_type?, packfile_name?, ignore?}`,
 *   or `{select: [items]}` (the first child that matches wins).
 * - A pattern is a Python regular expression in which `{group}`, `{project}`, `{subject}`,
 *   `{session}`, `{acquisition}`, `{<level>.label}`, `{<level>.info.NAME}` (and the other fields the
 *   vendor lists) stand for a named group; `{2,3}` stays a repetition. It must match at the start of
 *   the folder name (Python's `re.match`), and what its groups capture becomes the context.
 * - Each file walks down its folders level by level and stops at the first folder that does not
 *   match, at a packfile level (everything below it is one packfile), or when the levels run out;
 *   it then belongs to the deepest container its context names (group, project, subject, session,
 *   acquisition, stopping at the first missing level).
 *
 * Pure and deterministic: the same paths and strategy give the same containers with the same ids.
 */
import type {IngestConfig, StrategyConfig} from '../ingest/protocol.js'
import {HierarchyBuilder, safeLabel, type HierarchyNode, type ResolveInput, type ResolveResult} from './hierarchy.js'

/** A strategy_config that cannot be run: a bad template, or options that contradict each other. */
export class StrategyError extends Error {}

/** The resolved hierarchy would put files in more than one group or project (the vendor's GE05). */
export class MultipleProjectsError extends Error {}

/** One level of a template: a folder-name pattern and what a match means. */
export interface MatchLevel {
  kind: 'match'
  /** The pattern as written (for messages and the group check). */
  source: string
  regex: RegExp
  /** A packfile level: the files below the folder travel as one pack of this type. */
  packfileType?: string
  packfileName?: string
  /** Files below a folder this level matches are left out. */
  ignore: boolean
}

/** A `select`: the first child that matches the folder name decides. */
export interface SelectLevel {
  kind: 'select'
  children: MatchLevel[]
}

export type TemplateLevel = MatchLevel | SelectLevel

// The vendor's util.METADATA_FIELDS / METADATA_ALIASES / METADATA_TYPES.
const LEVELS = ['group', 'project', 'subject', 'session', 'acquisition'] as const
const METADATA_FIELDS = new Set([
  'group._id', 'group.label', 'project._id', 'project.label', 'session._id', 'session.uid', 'session.label', 'session.timestamp',
  'subject._id', 'subject.label', 'acquisition._id', 'acquisition.uid', 'acquisition.label', 'acquisition.timestamp',
])
const METADATA_ALIASES: Record<string, string> = {
  group: 'group._id',
  project: 'project.label',
  session: 'session.label',
  subject: 'subject.label',
  acquisition: 'acquisition.label',
}
const STRING_ID = '[0-9a-z][0-9a-z.@_-]{0,30}[0-9a-z]'

function isProperty(name: string): boolean {
  return METADATA_FIELDS.has(name) || name in METADATA_ALIASES || LEVELS.some((l) => name.startsWith(`${l}.info.`))
}

/** The vendor's str_to_python_id: a group name any regex engine takes, reversibly. */
function toGroupName(name: string): string {
  return [...name].map((c) => (/[A-Za-z_]/.test(c) ? c : `__${c.codePointAt(0)!.toString(16).padStart(2, '0')}__`)).join('')
}

function fromGroupName(id: string): string {
  return id.replace(/__([a-f0-9]{2,})__/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
}

/**
 * A template pattern as a JavaScript RegExp anchored at the start (Python's re.match): `{field}`
 * becomes a named group, Python's `(?P<name>` / `(?P=name)` their JavaScript forms, and a leading
 * `(?i)`/`(?s)`/`(?m)` a flag.
 * @throws StrategyError for a `{...}` that is neither a field nor a repetition, or a bad regex
 */
export function compilePattern(pattern: string): RegExp {
  let regex = ''
  let escape = false
  let inRepl = false
  let repl = ''
  for (const c of pattern) {
    if (escape) {
      regex += `\\${c}`
      escape = false
    } else if (c === '\\') escape = true
    else if (c === '{') inRepl = true
    else if (c === '}') {
      inRepl = false
      if (isProperty(repl)) regex += `(?P<${repl}>${repl === 'group' || repl === 'group._id' ? STRING_ID : '.+'})`
      else if (/^\d+(,\d*)?$/.test(repl)) regex += `{${repl}}`
      else throw new StrategyError(`Invalid template pattern {${repl}} in ${JSON.stringify(pattern)}: use one of {group}, {project}, {subject}, {session}, {acquisition}, {<level>.label}, {<level>.info.NAME}.`)
      repl = ''
    } else if (inRepl) repl += c
    else regex += c
  }
  if (inRepl) throw new StrategyError(`Invalid template pattern ${JSON.stringify(pattern)}: a "{" is not closed.`)
  let flags = ''
  const inline = /^\(\?([aiLmsux]+)\)/.exec(regex)
  if (inline) {
    for (const f of inline[1]) {
      if ('ims'.includes(f)) flags += f
      else if (f !== 'u') throw new StrategyError(`Invalid template pattern ${JSON.stringify(pattern)}: the inline flag (?${f}) is not supported.`)
    }
    regex = regex.slice(inline[0].length)
  }
  const js = regex
    .replace(/(?<!\\)\(\?P<([^>]+)>/g, (_, name: string) => {
      checkContextKey(name, `group name in the pattern ${JSON.stringify(pattern)}:`)
      return `(?<${toGroupName(name)}>`
    })
    .replace(/(?<!\\)\(\?P=([^)]+)\)/g, (_, name: string) => `\\k<${toGroupName(name)}>`)
  try {
    return new RegExp(`^(?:${js})`, [...new Set(flags)].join(''))
  } catch (error) {
    throw new StrategyError(`Invalid template pattern ${JSON.stringify(pattern)}: ${(error as Error).message}.`)
  }
}

const LEVEL_OPTIONS = new Set(['pattern', 'packfile_type', 'packfile_name', 'ignore'])

function truthy(value: unknown): boolean {
  if (typeof value === 'string') return !/^(false|no|0|)$/i.test(value.trim())
  return Boolean(value)
}

function matchLevel(pattern: unknown, opts: Record<string, unknown>, where: string): MatchLevel {
  if (typeof pattern !== 'string' || pattern === '') throw new StrategyError(`Invalid template: ${where} needs a pattern (a non-empty string).`)
  for (const key of Object.keys(opts)) {
    if (key === 'scan') {
      throw new StrategyError(`Invalid template: ${where} has "scan", which the reference cluster does not run (it reads DICOM headers only in the dicom strategy); use fw ingest dicom, or a template without scan.`)
    }
    if (!LEVEL_OPTIONS.has(key)) throw new StrategyError(`Invalid template: ${where} has an unknown option "${key}" (known: packfile_type, packfile_name, ignore).`)
  }
  const str = (k: string) => {
    const v = opts[k]
    if (v === undefined || v === null || v === '') return undefined
    if (typeof v !== 'string') throw new StrategyError(`Invalid template: ${where}: ${k} must be a string.`)
    return v
  }
  return {kind: 'match', source: pattern, regex: compilePattern(pattern), packfileType: str('packfile_type'), packfileName: str('packfile_name'), ignore: truthy(opts.ignore)}
}

/** The vendor's _parse_optstr: `key=value` pairs after the pattern of a string-template section. */
function parseOptions(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of text.split(',')) {
    const p = pair.trim()
    if (!p) continue
    const i = p.indexOf('=')
    out[(i === -1 ? p : p.slice(0, i)).trim()] = i === -1 ? '' : p.slice(i + 1).trim()
  }
  return out
}

/**
 * Parse a template as the vendor CLI takes it: a string, or a list (from YAML).
 * @throws StrategyError with a message that names what is wrong
 */
export function parseTemplate(template: unknown): TemplateLevel[] {
  if (typeof template === 'string') {
    if (template.trim() === '') throw new StrategyError('Invalid template: it is empty.')
    return template.split(/(?<!\\):/).map((section, i) => {
      const comma = /(?<!\\),/.exec(section)
      const [pattern, opts] = comma ? [section.slice(0, comma.index), parseOptions(section.slice(comma.index + 1))] : [section, {}]
      return matchLevel(pattern, opts, `section ${i + 1} (${JSON.stringify(section)})`)
    })
  }
  if (!Array.isArray(template) || template.length === 0) {
    throw new StrategyError('Invalid template: it must be a template string or a non-empty list of levels (YAML: "- pattern: ...").')
  }
  const item = (value: unknown, where: string): MatchLevel => {
    if (typeof value === 'string') return matchLevel(value, {}, where)
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new StrategyError(`Invalid template: ${where} must be a pattern string or a mapping with "pattern".`)
    const {pattern, ...opts} = value as Record<string, unknown>
    if ('select' in opts) throw new StrategyError(`Invalid template: ${where}: a select cannot be nested in a select.`)
    return matchLevel(pattern, opts, where)
  }
  return template.map((value, i): TemplateLevel => {
    const where = `level ${i + 1}`
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'select' in value) {
      const {select, ...rest} = value as Record<string, unknown>
      if (Object.keys(rest).length > 0) throw new StrategyError(`Invalid template: ${where}: a select takes only its list of patterns (found ${Object.keys(rest).join(', ')}).`)
      if (!Array.isArray(select) || select.length === 0) throw new StrategyError(`Invalid template: ${where}: select must be a non-empty list of patterns.`)
      // The vendor's parser cannot link a level after a select (CompositeNode has no next).
      if (i !== template.length - 1) throw new StrategyError(`Invalid template: ${where}: a select must be the last level (nothing can follow it).`)
      return {kind: 'select', children: select.map((c, j) => item(c, `${where}, select item ${j + 1}`))}
    }
    return item(value, where)
  })
}

type Context = Record<string, unknown>

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * Refuse a context key (a set_var key or a pattern's group name) that would write outside the
 * context: an empty segment, or one that walks into an object's prototype (`__proto__.x` would
 * change every object of the cluster process).
 * @throws StrategyError (a 400 when the ingest is created)
 */
function checkContextKey(key: string, where: string): void {
  const bad = key.split('.').find((part) => part === '' || FORBIDDEN_SEGMENTS.has(part))
  if (bad !== undefined) {
    throw new StrategyError(`Invalid ${where} ${JSON.stringify(key)}: ${bad === '' ? 'a dotted name has an empty part' : `"${bad}" is not a field name`}.`)
  }
}

/** The vendor's set_nested_attr, on own properties only. */
function setNested(ctx: Context, key: string, value: unknown): void {
  checkContextKey(key, 'context key')
  const parts = key.split('.')
  let obj = ctx
  for (const part of parts.slice(0, -1)) {
    const next = Object.hasOwn(obj, part) ? obj[part] : undefined
    if (next === null || typeof next !== 'object') obj[part] = {}
    obj = obj[part] as Context
  }
  obj[parts[parts.length - 1]] = value
}

const levelCtx = (ctx: Context, level: string): Record<string, unknown> | undefined =>
  ctx[level] !== null && typeof ctx[level] === 'object' ? (ctx[level] as Record<string, unknown>) : undefined

/** What a level does with a folder name: the next level, the end (a packfile or no levels left), or no match. */
function extract(level: MatchLevel, name: string, ctx: Context): 'next' | 'terminal' | 'nomatch' | 'ignore' {
  const m = level.regex.exec(name)
  if (!m) return 'nomatch'
  // Inferred from the vendor's docs ("ignore: true" leaves the folder's files out): its code flags the
  // context before matching, which in a select would ignore everything once any child is `ignore`;
  // here an ignore level applies to the folders its pattern matches (the same when it is the last
  // choice of a select with `.*`, the documented use).
  if (level.ignore) return 'ignore'
  for (const [id, value] of Object.entries(m.groups ?? {})) {
    if (!value) continue
    const key = fromGroupName(id)
    setNested(ctx, METADATA_ALIASES[key] ?? key, value)
  }
  if (level.packfileType) {
    ctx.packfile = {type: level.packfileType, name: level.packfileName}
    return 'terminal'
  }
  return 'next'
}

export interface TemplatePlan {
  levels: TemplateLevel[]
  /** From --set-var, -g and -p (set before any folder is matched). */
  initialContext: Context
  noSubjects: boolean
  noSessions: boolean
  groupOverride?: string
  projectOverride?: string
  enableProjectFiles: boolean
}

/** The context one file's folders give, and whether it is ignored (a template's `ignore`). */
export function contextOf(plan: TemplatePlan, srcPath: string): {ctx: Context; ignored: boolean; packDir?: string} {
  const ctx = structuredClone(plan.initialContext)
  const parts = srcPath.split('/').filter((p) => p !== '')
  let i = 0
  let ignored = false
  let packDir: string | undefined
  for (let d = 0; d < parts.length - 1; d++) {
    if (i >= plan.levels.length) break
    const level = plan.levels[i]
    let outcome: ReturnType<typeof extract> = 'nomatch'
    if (level.kind === 'select') {
      for (const child of level.children) {
        outcome = extract(child, parts[d], ctx)
        if (outcome !== 'nomatch') break
      }
      // A select's children have no next level: a match ends the walk (as in the vendor's parser).
      if (outcome === 'next') outcome = 'terminal'
    } else outcome = extract(level, parts[d], ctx)
    if (outcome === 'ignore') {
      // The vendor marks the context `ignore`; its docs say the folder's files are not uploaded.
      ignored = true
      break
    }
    if (outcome === 'nomatch') break
    if (outcome === 'terminal') {
      if (ctx.packfile) packDir = parts.slice(0, d + 1).join('/')
      break
    }
    i++
  }
  // create_task_or_item: subject and session stand in for each other when one is not in the tree;
  // the overrides win over what the folders said.
  if (plan.noSubjects || plan.noSessions) {
    const session = levelCtx(ctx, 'session')
    const subject = levelCtx(ctx, 'subject')
    if (session && 'label' in session) setNested(ctx, 'subject.label', session.label)
    else if (subject && 'label' in subject) setNested(ctx, 'session.label', subject.label)
  }
  if (plan.groupOverride) setNested(ctx, 'group._id', plan.groupOverride)
  if (plan.projectOverride) setNested(ctx, 'project.label', plan.projectOverride)
  return {ctx, ignored, packDir}
}

/** The vendor's ItemContext check: group and project present, every level named by _id or label. */
function contextProblem(ctx: Context): string | undefined {
  for (const level of LEVELS) {
    const c = levelCtx(ctx, level)
    if (!c) {
      if (level === 'group' || level === 'project') return `no ${level} (give it with -${level[0]}/--${level}, or add a {${level}} level to the template)`
      continue
    }
    if (!c._id && !c.label) return `the ${level} has neither an id nor a label`
  }
  return undefined
}

/**
 * Resolve files by a template plan: the shared core of the folder and template strategies.
 * @throws MultipleProjectsError when the files would go to more than one group or project
 */
export function resolveByTemplate(ingestId: string, files: ResolveInput[], plan: TemplatePlan): ResolveResult {
  const builder = new HierarchyBuilder()
  const unplaced: ResolveResult['unplaced'] = []
  const skipped: ResolveResult['skipped'] = []
  const fileNode = new Map<string, HierarchyNode>()
  const packOf = new Map<string, {dir: string; type: string; name?: string}>()

  for (const f of [...files].sort((a, b) => (a.srcPath < b.srcPath ? -1 : a.srcPath > b.srcPath ? 1 : 0))) {
    const {ctx, ignored, packDir} = contextOf(plan, f.srcPath)
    if (ignored) {
      skipped.push({fileId: f.id, message: `${f.srcPath}: ignored by the template`})
      continue
    }
    const problem = contextProblem(ctx)
    if (problem) {
      unplaced.push({fileId: f.id, code: 'SC07', message: `${f.srcPath}: the extracted context is invalid: ${problem}`})
      continue
    }
    // Containers from the group down, stopping at the first level the context does not name.
    let node: HierarchyNode | undefined
    for (const level of LEVELS) {
      const c = levelCtx(ctx, level)
      if (!c) break
      const label = String(level === 'group' ? (c._id ?? c.label) : (c.label ?? c._id))
      if (!node) node = builder.group(label)
      else {
        const levelNo = LEVELS.indexOf(level) as 1 | 2 | 3 | 4
        const context = {...c, label}
        node = builder.child(node, safeLabel(label), () => ({label, level: levelNo, context, ...(typeof c.uid === 'string' ? {uid: c.uid} : {})}))
      }
    }
    if (node!.level === 1 && !plan.enableProjectFiles) {
      skipped.push({fileId: f.id, code: 'SC07', message: `${f.srcPath}: a project-level file; project files are uploaded only with --enable-project-files`})
      continue
    }
    fileNode.set(f.id, node!)
    const pack = ctx.packfile as {type: string; name?: string} | undefined
    if (pack && packDir) packOf.set(f.id, {dir: packDir, ...pack})
  }

  const containers = builder.finish(ingestId)
  const groupsProjects = new Set(containers.filter((c) => c.level === 1).map((c) => c.path))
  const groups = new Set(containers.filter((c) => c.level === 0).map((c) => c.path))
  if (groups.size > 1 || groupsProjects.size > 1) {
    throw new MultipleProjectsError(
      `The ingest would import into ${groups.size > 1 ? `${groups.size} groups (${[...groups].join(', ')})` : `${groupsProjects.size} projects (${[...groupsProjects].join(', ')})`}; an ingest goes to one group and one project. Give -g/-p (or --group-override/--project-override), or ingest each project's folder on its own.`,
    )
  }

  const placement = new Map<string, string>()
  const packs = new Map<string, string>()
  for (const [fileId, node] of fileNode) {
    placement.set(fileId, node.id!)
    const pack = packOf.get(fileId)
    if (pack) {
      // The vendor's name: packfile_name, else `<container label>.zip` or `<label>.<type>.zip`.
      packs.set(fileId, pack.name ?? (pack.type === 'zip' ? `${node.label}.zip` : `${node.label}.${pack.type}.zip`))
    }
  }
  return {containers, placement, packs, unplaced, skipped}
}

/** The strategy_config fields both the folder and the template strategy take (as the protocol sends them). */
export type LevelOptions = Pick<Extract<StrategyConfig, {strategy_name: 'template'}>, 'group' | 'project' | 'no_subjects' | 'no_sessions' | 'group_override' | 'project_override'>

/** The vendor's initial_context: --set-var values, then -g and -p. */
export function initialContext(strategy: LevelOptions, setVar: string[] = []): Context {
  const ctx: Context = {}
  for (const kv of setVar) {
    const i = kv.indexOf('=')
    if (i <= 0) throw new StrategyError(`Invalid set_var ${JSON.stringify(kv)}: expected KEY=VALUE (e.g. subject.info.site=boston).`)
    const key = kv.slice(0, i).trim()
    checkContextKey(key, 'set_var key')
    // Inferred: the level names stand for their label (or the group's id), as in patterns.
    setNested(ctx, METADATA_ALIASES[key] ?? key, kv.slice(i + 1).trim())
  }
  if (strategy.group) setNested(ctx, 'group._id', strategy.group)
  if (strategy.project) setNested(ctx, 'project.label', strategy.project)
  return ctx
}

/** The plan of a template strategy_config. @throws StrategyError */
export function templatePlan(
  strategy: LevelOptions & {template: unknown; set_var?: string[]},
  config: Pick<IngestConfig, 'enable_project_files'>,
): TemplatePlan {
  const levels = parseTemplate(strategy.template)
  if (!strategy.group) {
    // The vendor's check_group_reference: the group comes from -g or from a level of the template.
    const names = levels.flatMap((l) => (l.kind === 'match' ? [l.source] : l.children.map((c) => c.source)))
    if (!names.some((s) => s.includes('group'))) throw new StrategyError('Group must be specified either in the template or using -g.')
  }
  return {
    levels,
    initialContext: initialContext(strategy, strategy.set_var),
    noSubjects: strategy.no_subjects,
    noSessions: strategy.no_sessions,
    groupOverride: strategy.group_override,
    projectOverride: strategy.project_override,
    enableProjectFiles: Boolean(config.enable_project_files),
  }
}
