/**
 * The folder and template resolvers, pure: paths in, hierarchy out (the vendor's folder strategy
 * with its flags, the template language, and what cannot be placed or run).
 */
import {describe, expect, it} from 'vitest'

import {folderPlan} from '../../src/cluster/folder-strategy.js'
import type {ResolveResult} from '../../src/cluster/hierarchy.js'
import {MultipleProjectsError, resolverFor, StrategyError, UnsupportedStrategyError} from '../../src/cluster/strategies.js'
import {compilePattern, parseTemplate, resolveByTemplate, templatePlan} from '../../src/cluster/template-strategy.js'
import type {StrategyConfig} from '../../src/ingest/protocol.js'

const files = (...paths: string[]) => paths.map((p, i) => ({id: `f${i}`, srcPath: p, size: 10}))

/** Where each file went: src path -> container path (and pack), plus the problems. */
function placed(r: ResolveResult, input: Array<{id: string; srcPath: string}>) {
  const byId = new Map(r.containers.map((c) => [c.id, c]))
  const out: Record<string, string> = {}
  for (const f of input) {
    const c = r.placement.get(f.id)
    if (c) out[f.srcPath] = byId.get(c)!.path + (r.packs.get(f.id) ? ` [${r.packs.get(f.id)}]` : '')
  }
  return {
    out,
    unplaced: r.unplaced.map((u) => `${u.code} ${u.message}`),
    skipped: r.skipped.map((u) => `${u.code ?? '-'} ${u.message}`),
    levels: r.containers.map((c) => `${c.level} ${c.path}`),
  }
}

const folder = (extra: Partial<Extract<StrategyConfig, {strategy_name: 'folder'}>> = {}): StrategyConfig => ({
  strategy_name: 'folder',
  dicom: 'dicom',
  root_dirs: 0,
  no_subjects: false,
  no_sessions: false,
  ...extra,
})
const template = (tpl: unknown, extra: Partial<Extract<StrategyConfig, {strategy_name: 'template'}>> = {}): StrategyConfig => ({
  strategy_name: 'template',
  template: tpl,
  no_subjects: false,
  no_sessions: false,
  set_var: [],
  ...extra,
})
const run = (strategy: StrategyConfig, input: ReturnType<typeof files>, enable_project_files = false) =>
  placed(resolverFor(strategy, {enable_project_files}).resolve('ing', input, new Map()), input)

describe('folder strategy', () => {
  const tree = files(
    'grp/Study A/sub-01/ses-1/T1w/dicom/IM0001.dcm',
    'grp/Study A/sub-01/ses-1/T1w/dicom/more/IM0002.dcm',
    'grp/Study A/sub-01/ses-1/T1w/notes.txt',
    'grp/Study A/sub-01/ses-1/T1w/extra/scan.nii.gz',
    'grp/Study A/sub-01/consent.pdf',
    'grp/Study A/sub-02/ses-1/rest/bold.nii.gz',
  )

  it('maps group/project/subject/session/acquisition from the folders; the dicom folder is the acquisition\'s DICOM packfile', () => {
    const r = run(folder(), tree)
    expect(r.out).toEqual({
      'grp/Study A/sub-01/ses-1/T1w/dicom/IM0001.dcm': 'grp/Study A/sub-01/ses-1/T1w [T1w.dicom.zip]',
      'grp/Study A/sub-01/ses-1/T1w/dicom/more/IM0002.dcm': 'grp/Study A/sub-01/ses-1/T1w [T1w.dicom.zip]',
      'grp/Study A/sub-01/ses-1/T1w/notes.txt': 'grp/Study A/sub-01/ses-1/T1w',
      // A folder below the acquisition that is not the dicom folder: its files are the acquisition's.
      'grp/Study A/sub-01/ses-1/T1w/extra/scan.nii.gz': 'grp/Study A/sub-01/ses-1/T1w',
      'grp/Study A/sub-01/consent.pdf': 'grp/Study A/sub-01',
      'grp/Study A/sub-02/ses-1/rest/bold.nii.gz': 'grp/Study A/sub-02/ses-1/rest',
    })
    expect(r.levels).toEqual([
      '0 grp',
      '1 grp/Study A',
      '2 grp/Study A/sub-01',
      '3 grp/Study A/sub-01/ses-1',
      '4 grp/Study A/sub-01/ses-1/T1w',
      '2 grp/Study A/sub-02',
      '3 grp/Study A/sub-02/ses-1',
      '4 grp/Study A/sub-02/ses-1/rest',
    ])
    expect(r.unplaced).toEqual([])
  })

  it('is deterministic: the same paths in any order give the same containers and ids', () => {
    const a = resolverFor(folder(), {enable_project_files: false}).resolve('ing', tree, new Map())
    const b = resolverFor(folder(), {enable_project_files: false}).resolve('ing', [...tree].reverse(), new Map())
    expect(b.containers).toEqual(a.containers)
    expect([...b.placement].sort()).toEqual([...a.placement].sort())
  })

  it('-g and -p supply the top levels; root_dirs discards leading folders', () => {
    const input = files('export/2024/sub-01/ses-1/T1w/a.dcm', 'export/2024/sub-01/ses-1/T1w/dicom/b.dcm')
    const r = run(folder({group: 'radiology', project: 'mri', root_dirs: 2}), input)
    expect(r.out).toEqual({
      'export/2024/sub-01/ses-1/T1w/a.dcm': 'radiology/mri/sub-01/ses-1/T1w',
      'export/2024/sub-01/ses-1/T1w/dicom/b.dcm': 'radiology/mri/sub-01/ses-1/T1w [T1w.dicom.zip]',
    })
  })

  it('--no-subjects: the session folder names the subject too; --no-sessions: the subject names the session', () => {
    const noSubjects = run(folder({group: 'g1', project: 'p', no_subjects: true}), files('visit1/T1w/a.nii'))
    expect(noSubjects.out).toEqual({'visit1/T1w/a.nii': 'g1/p/visit1/visit1/T1w'})
    const noSessions = run(folder({group: 'g1', project: 'p', no_sessions: true}), files('sub-01/T1w/a.nii'))
    expect(noSessions.out).toEqual({'sub-01/T1w/a.nii': 'g1/p/sub-01/sub-01/T1w'})
  })

  it('with both --no-subjects and --no-sessions nothing names a subject, so files stop at the project (the vendor\'s behaviour)', () => {
    const input = files('T1w/a.nii')
    expect(run(folder({group: 'g1', project: 'p', no_subjects: true, no_sessions: true}), input).skipped).toEqual([
      'SC07 T1w/a.nii: a project-level file; project files are uploaded only with --enable-project-files',
    ])
    expect(run(folder({group: 'g1', project: 'p', no_subjects: true, no_sessions: true}), input, true).out).toEqual({'T1w/a.nii': 'g1/p'})
  })

  it('overrides win over the folders', () => {
    const r = run(folder({group_override: 'archive', project_override: 'All'}), files('grp/prj/s/v/a/x.dcm'))
    expect(r.out).toEqual({'grp/prj/s/v/a/x.dcm': 'archive/All/s/v/a'})
  })

  it('--pack-acquisitions TYPE packs the whole acquisition folder', () => {
    const r = run(folder({group: 'g1', project: 'p', pack_acquisitions: 'zip'}), files('s/v/T1w/a.nii', 's/v/T1w/sub/b.nii'))
    expect(r.out).toEqual({'s/v/T1w/a.nii': 'g1/p/s/v/T1w [T1w.zip]', 's/v/T1w/sub/b.nii': 'g1/p/s/v/T1w [T1w.zip]'})
  })

  it('a custom --dicom name is the DICOM folder (a regex matched at the start of the name)', () => {
    const r = run(folder({group: 'g1', project: 'p', dicom: 'DCM'}), files('s/v/T1w/DCM/a.dcm', 's/v/T1w/dicom/b.dcm'))
    expect(r.out).toEqual({'s/v/T1w/DCM/a.dcm': 'g1/p/s/v/T1w [T1w.dicom.zip]', 's/v/T1w/dicom/b.dcm': 'g1/p/s/v/T1w'})
  })

  it('files too shallow to name a group and project cannot be placed (SC07); project-level files need enable_project_files', () => {
    const r = run(folder(), files('readme.txt', 'grp/notes.txt', 'grp/prj/protocol.pdf', 'grp/prj/s/ok.txt'))
    expect(r.unplaced).toEqual([
      'SC07 grp/notes.txt: the extracted context is invalid: no project (give it with -p/--project, or add a {project} level to the template)',
      'SC07 readme.txt: the extracted context is invalid: no group (give it with -g/--group, or add a {group} level to the template)',
    ])
    expect(r.skipped).toEqual(['SC07 grp/prj/protocol.pdf: a project-level file; project files are uploaded only with --enable-project-files'])
    expect(r.out).toEqual({'grp/prj/s/ok.txt': 'grp/prj/s'})
  })

  it('files for more than one project fail the resolve (the vendor\'s GE05)', () => {
    expect(() => resolverFor(folder(), {enable_project_files: false}).resolve('ing', files('g1/a/s/x', 'g1/b/s/y'), new Map())).toThrow(MultipleProjectsError)
    expect(() => resolverFor(folder(), {enable_project_files: false}).resolve('ing', files('g1/a/s/x', 'g2/a/s/y'), new Map())).toThrow(/2 groups \(g1, g2\)/)
  })

  it('a group folder that is not a group id does not match {group}: the file has no group (SC07)', () => {
    expect(run(folder(), files('Not A Group/prj/s/x.txt')).unplaced).toEqual([
      'SC07 Not A Group/prj/s/x.txt: the extracted context is invalid: no group (give it with -g/--group, or add a {group} level to the template)',
    ])
  })

  it('refuses a --dicom that is not a regular expression and a negative root_dirs', () => {
    expect(() => folderPlan({dicom: '(', root_dirs: 0, no_subjects: false, no_sessions: false}, {enable_project_files: false})).toThrow(StrategyError)
    expect(() => folderPlan({root_dirs: -1, no_subjects: false, no_sessions: false}, {enable_project_files: false})).toThrow(/root_dirs/)
  })
})

describe('template strategy', () => {
  it('a string template: one level per folder, fields captured from folder names', () => {
    const input = files('radiology/Study 7/anx_01/visit-2/T1w/a.dcm', 'radiology/Study 7/anx_01/visit-2/T1w/b.dcm')
    const r = run(template('{group}:{project}:anx_{subject}:visit-{session}:{acquisition}'), input)
    expect(r.out).toEqual({
      'radiology/Study 7/anx_01/visit-2/T1w/a.dcm': 'radiology/Study 7/01/2/T1w',
      'radiology/Study 7/anx_01/visit-2/T1w/b.dcm': 'radiology/Study 7/01/2/T1w',
    })
  })

  it('a YAML list: skip a level with .*, several fields in one name, info fields, packfile_type, select', () => {
    const tpl = [
      '.*',
      {pattern: '{subject}_{session}'},
      {pattern: '{acquisition}_{acquisition.info.protocol}'},
      {select: [{pattern: 'raw', ignore: true}, {pattern: 'dicom', packfile_type: 'dicom'}, {pattern: '.*'}]},
    ]
    const input = files('site-A/s01_v1/T1w_mprage/dicom/1.dcm', 'site-A/s01_v1/T1w_mprage/raw/x.dat', 'site-A/s01_v1/T1w_mprage/other/y.nii', 'site-A/s01_v1/T1w_mprage/z.txt')
    const resolver = resolverFor(template(tpl, {group: 'g1', project: 'p'}), {enable_project_files: false})
    const res = resolver.resolve('ing', input, new Map())
    const r = placed(res, input)
    expect(r.out).toEqual({
      'site-A/s01_v1/T1w_mprage/dicom/1.dcm': 'g1/p/s01/v1/T1w [T1w.dicom.zip]',
      'site-A/s01_v1/T1w_mprage/other/y.nii': 'g1/p/s01/v1/T1w',
      'site-A/s01_v1/T1w_mprage/z.txt': 'g1/p/s01/v1/T1w',
    })
    expect(r.skipped).toEqual(['- site-A/s01_v1/T1w_mprage/raw/x.dat: ignored by the template'])
    const acq = res.containers.find((c) => c.level === 4)!
    expect(acq.srcContext).toEqual({label: 'T1w', info: {protocol: 'mprage'}})
  })

  it('set_var values, -g/-p and the overrides', () => {
    const r = resolverFor(template('{subject}:{session}', {group: 'g1', project: 'p', set_var: ['subject.info.site=boston', 'acquisition=scan']}), {enable_project_files: false})
    const res = r.resolve('ing', files('s1/v1/a.nii'), new Map())
    expect(res.containers.map((c) => [c.path, c.srcContext])).toEqual([
      ['g1', {_id: 'g1'}],
      ['g1/p', {label: 'p'}],
      ['g1/p/s1', {label: 's1', info: {site: 'boston'}}],
      ['g1/p/s1/v1', {label: 'v1'}],
      ['g1/p/s1/v1/scan', {label: 'scan'}],
    ])
    const over = run(template('{group}:{project}:{subject}:{session}', {group_override: 'other', project_override: 'Q'}), files('g1/p/s1/v1/a.nii'))
    expect(over.out).toEqual({'g1/p/s1/v1/a.nii': 'other/Q/s1/v1'})
  })

  it('no_subjects / no_sessions merge labels as in the folder strategy', () => {
    expect(run(template('{session}:{acquisition}', {group: 'g1', project: 'p', no_subjects: true}), files('v1/T1/a')).out).toEqual({'v1/T1/a': 'g1/p/v1/v1/T1'})
  })

  it('a folder that does not match stops the walk: the file belongs to the container reached so far', () => {
    const r = run(template('{group}:{project}:sub-{subject}:ses-{session}'), files('g1/p/sub-01/visit/a.nii', 'g1/p/sub-01/ses-1/b.nii'))
    expect(r.out).toEqual({'g1/p/sub-01/visit/a.nii': 'g1/p/01', 'g1/p/sub-01/ses-1/b.nii': 'g1/p/01/1'})
  })

  it('escapes: \\: is literal in a string template, {n} and {n,m} stay repetitions (a string template splits options at every unescaped comma, as the vendor\'s does)', () => {
    const levels = parseTemplate('{group}:{project}:a\\:b_{subject}:x{2}_{session},packfile_type=zip')
    expect(levels).toHaveLength(4)
    expect(levels[3]).toMatchObject({kind: 'match', packfileType: 'zip'})
    expect(compilePattern('a\\:b_{subject}').exec('a:b_42')?.groups).toEqual({subject: '42'})
    expect(compilePattern('x{2,3}_{session}').test('xx_1')).toBe(true)
    expect(compilePattern('x{2,3}_{session}').test('x_1')).toBe(false)
  })

  it('Python named groups and re.match semantics (anchored at the start only)', () => {
    const re = compilePattern('(?P<subject>\\d+)-(?P<session.label>[a-z]+)')
    expect(re.exec('12-ab-rest')?.groups).toEqual({subject: '12', session__2e__label: 'ab'})
    expect(re.test('x12-ab')).toBe(false)
    expect(compilePattern('(?i)t1').test('T1w')).toBe(true)
    const r = run(template([{pattern: '{group}'}, {pattern: '{project}'}, {pattern: '(?P<subject>\\d+)-(?P<session.label>[a-z]+)'}]), files('g1/p/12-ab/x.nii'))
    expect(r.out).toEqual({'g1/p/12-ab/x.nii': 'g1/p/12/ab'})
  })

  it('bad templates are refused with a message that names the problem', () => {
    const bad = (tpl: unknown, extra = {}) => () => templatePlan({template: tpl, group: 'g1', no_subjects: false, no_sessions: false, ...extra}, {enable_project_files: false})
    expect(bad('{subject}:{nope}')).toThrow(/Invalid template pattern \{nope\}/)
    expect(bad('{subject}:(unclosed')).toThrow(/Invalid template pattern "\(unclosed"/)
    expect(bad('{subject')).toThrow(/is not closed/)
    expect(bad('')).toThrow(/empty/)
    expect(bad([])).toThrow(/non-empty list/)
    expect(bad(42)).toThrow(/template string or a non-empty list/)
    expect(bad([{pattern: '{subject}', scan: 'dicom'}])).toThrow(/does not run/)
    expect(bad([{pattern: '{subject}', packfile: 'x'}])).toThrow(/unknown option "packfile"/)
    expect(bad([{select: ['a', 'b']}, '{session}'])).toThrow(/select must be the last level/)
    expect(bad([{select: [{select: ['a']}]}])).toThrow(/cannot be nested/)
    expect(bad([{packfile_type: 'zip'}])).toThrow(/needs a pattern/)
    expect(bad('{subject}', {group: undefined})).toThrow('Group must be specified either in the template or using -g.')
    expect(bad('{subject}', {set_var: ['novalue']})).toThrow(/expected KEY=VALUE/)
  })

  it('a set_var key or group name that walks into a prototype is refused, and nothing is polluted', () => {
    const bad = (tpl: unknown, extra = {}) => () => templatePlan({template: tpl, group: 'g1', no_subjects: false, no_sessions: false, ...extra}, {enable_project_files: false})
    expect(bad('{subject}', {set_var: ['__proto__.polluted=yes']})).toThrow(/set_var key "__proto__.polluted": "__proto__" is not a field name/)
    expect(bad('{subject}', {set_var: ['subject.info.constructor.prototype.polluted=yes']})).toThrow(/is not a field name/)
    expect(bad([{pattern: '(?P<subject.info.__proto__.polluted>.+)'}])).toThrow(/group name in the pattern/)
    expect(bad('{subject}', {set_var: ['subject..label=x']})).toThrow(/empty part/)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('project cannot be rehearsed', () => {
    expect(() => resolverFor({strategy_name: 'project', group: 'g1', project: 'p', no_metadata: false, deid_log_exists: false}, {enable_project_files: false})).toThrow(
      UnsupportedStrategyError,
    )
  })

  it('only the dicom strategy reads DICOM headers', () => {
    expect(resolverFor({strategy_name: 'dicom', group: 'g1', project: 'p'}, {enable_project_files: false}).readsHeader).toBe(true)
    expect(resolverFor(folder(), {enable_project_files: false}).readsHeader).toBe(false)
    expect(resolverFor(template('{group}:{project}'), {enable_project_files: false}).readsHeader).toBe(false)
  })

  it('the shared engine resolves from a plan built by hand', () => {
    const plan = templatePlan({template: '{group}:{project}:{subject}', no_subjects: false, no_sessions: false}, {enable_project_files: false})
    expect(resolveByTemplate('ing', files('g1/p/s/a'), plan).containers.map((c) => c.path)).toEqual(['g1', 'g1/p', 'g1/p/s'])
  })
})
