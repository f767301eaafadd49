import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {
  BUCKET_POLICY_MAX_BYTES,
  type DiffLine,
  diffPolicies,
  foreignOrderPreserved,
  mergeStatements,
  normaliseStatement,
  parsePolicyDocument,
  type PolicyChange,
  policySizeBytes,
  removeStatements,
  semanticallyEqual,
  serialisePolicy,
  statementList,
} from '../../../../src/providers/aws/policy/policy.js'
import {findPublicStatements, findStaleUniqueIds} from '../../../../src/providers/aws/policy/lint.js'
import type {IamPolicy, IamStatement} from '../../../../src/providers/aws/policy/types.js'
import {ConfigError} from '../../../../src/errors.js'
import {grantStatements} from '../../../../src/providers/aws/grant-spec.js'

const BUCKET = 'ingest-data'
const PRINCIPAL = 'arn:aws:iam::210987654321:role/ingest-cluster'
const owned = grantStatements({bucket: BUCKET, prefix: 'exports/', principalArn: PRINCIPAL, kmsKeyArns: []})
const ownedSids = owned.map((s) => s.Sid!)
const otherGrant = (principalArn: string, prefix: string) => grantStatements({bucket: BUCKET, prefix, principalArn, kmsKeyArns: []})

const clone = <T>(value: T): T => structuredClone(value)
const isOwned = (s: IamStatement) => Boolean(s.Sid && ownedSids.includes(s.Sid))

/** The owned statements written differently but meaning the same: other list forms, order, case and key order. */
function reformatted(statements: IamStatement[]): IamStatement[] {
  return statements.map((s) => {
    const toList = (v: string | string[]) => (Array.isArray(v) ? [...v].reverse() : [v])
    const out: IamStatement = {
      Resource: toList(s.Resource!),
      Action: toList(s.Action!).map((a) => a.replace('s3:', 'S3:')),
      Principal: {AWS: [PRINCIPAL]},
      Effect: s.Effect,
      Sid: s.Sid,
    }
    if (s.Condition) out.Condition = {StringLike: {'S3:Prefix': [...(s.Condition.StringLike['s3:prefix'] as string[])].reverse()}}
    return out
  })
}

/** The owned statements as an older version of the tool might have written them. */
function outdated(statements: IamStatement[]): IamStatement[] {
  return statements.map((s, i) =>
    i === 2 ? {...clone(s), Action: 's3:GetObject'} : i === 0 ? {...clone(s), Condition: {StringLike: {'s3:prefix': 'old/*'}}} : {...clone(s), Resource: `arn:aws:s3:::${BUCKET}/*`},
  )
}

function withStatements(policy: IamPolicy, statements: IamStatement[], at: number): IamPolicy {
  const list = [...statementList(policy)]
  list.splice(at, 0, ...statements)
  return {...policy, Statement: list}
}

interface Case {
  name: string
  policy: IamPolicy
  /** The kinds of change the merge must report, in order. */
  changes: PolicyChange['kind'][]
}

const fixtures = JSON.parse(readFileSync(new URL('policy-cases/existing-policies.json', import.meta.url), 'utf8')) as {name: string; policy: IamPolicy}[]
const fixture = (name: string) => fixtures.find((f) => f.name.startsWith(name))!.policy

const cases: Case[] = [
  ...fixtures.map((f) => ({...f, changes: ['add', 'add', 'add'] as PolicyChange['kind'][]})),
  {name: 'already holds the owned statements', policy: withStatements(fixture('Deny requests without TLS'), owned, 1), changes: []},
  {name: 'holds the owned statements in other forms (same meaning)', policy: withStatements(fixture('CloudTrail'), reformatted(owned), 1), changes: []},
  {name: 'holds outdated owned statements', policy: withStatements(fixture('AWS Config'), outdated(owned), 0), changes: ['replace', 'replace', 'replace']},
  {name: 'holds one of the owned statements', policy: withStatements(fixture('Cross-account read'), [owned[1]], 1), changes: ['add', 'add']},
  {name: 'holds only the owned statements', policy: {Version: '2012-10-17', Statement: clone(owned)}, changes: []},
  {name: 'single outdated owned statement as an object', policy: {Version: '2012-10-17', Statement: outdated(owned)[2]}, changes: ['add', 'add', 'replace']},
  {
    name: 'several principals own statements side by side',
    policy: withStatements(
      withStatements(fixture('Deny unless through a VPC endpoint'), otherGrant('arn:aws:iam::210987654321:role/ingest-staging', 'exports/'), 0),
      otherGrant(PRINCIPAL, 'archive/'),
      2,
    ),
    changes: ['add', 'add', 'add'],
  },
  {
    name: 'several principals, ours among them and current',
    policy: withStatements(withStatements(fixture('Combined'), otherGrant('arn:aws:iam::999988887777:user/legacy', ''), 3), owned, 2),
    changes: [],
  },
]

/** apply -> re-apply -> revoke, with the properties every existing policy must keep. */
function checkRoundTrip(existing: IamPolicy, expectedChanges?: PolicyChange['kind'][]): void {
  const untouched = clone(existing)
  const applied = mergeStatements(existing, owned)
  expect(existing).toEqual(untouched)
  if (expectedChanges) expect(applied.changes.map((c) => c.kind)).toEqual(expectedChanges)

  const after = applied.policy
  expect(foreignOrderPreserved(existing, after, ownedSids)).toBe(true)
  const foreignBefore = statementList(existing).filter((s) => !isOwned(s))
  statementList(after)
    .filter((s) => !isOwned(s))
    .forEach((s, i) => expect(s).toBe(foreignBefore[i]))
  for (const o of owned) expect(statementList(after).filter((s) => s.Sid === o.Sid).map(normaliseStatement)).toEqual([normaliseStatement(o)])
  expect([after.Version, after.Id]).toEqual([existing.Version, existing.Id])
  expect(Object.keys(after)).toEqual(Object.keys(existing))
  expect(parsePolicyDocument(serialisePolicy(after), 'the merged policy')).toEqual(after)
  expect(policySizeBytes(after)).toBeLessThanOrEqual(BUCKET_POLICY_MAX_BYTES)

  const again = mergeStatements(after, owned)
  expect(again.changes).toEqual([])
  expect(again.policy).toBe(after)

  const revoked = removeStatements(after, ownedSids)
  expect(revoked.changes.map((c) => c.sid).sort()).toEqual([...ownedSids].sort())
  expect(semanticallyEqual(revoked.policy, removeStatements(existing, ownedSids).policy)).toBe(true)
  expect(foreignOrderPreserved(existing, revoked.policy, ownedSids)).toBe(true)
  if (!statementList(existing).some(isOwned)) expect(semanticallyEqual(revoked.policy, existing)).toBe(true)
}

describe('merge and remove on real-world policies', () => {
  it('has a table of at least 40 existing policies', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(40)
  })

  it.each(fixtures)('$name parses as written', ({policy}) => {
    expect(parsePolicyDocument(JSON.stringify(policy, null, 2), 'fixture')).toEqual(policy)
  })

  it.each(cases)('$name: apply, re-apply and revoke keep every foreign statement', ({policy, changes}) => {
    checkRoundTrip(policy, changes)
  })

  it('replaces an outdated owned statement at its position and reports before and after', () => {
    const existing = withStatements(fixture('Require SSE-KMS'), [outdated(owned)[2]], 1)
    const {policy, changes} = mergeStatements(existing, owned)
    expect(statementList(policy).map((s) => s.Sid)).toEqual(['DenyIncorrectEncryptionHeader', ownedSids[2], 'DenyUnEncryptedObjectUploads', ownedSids[0], ownedSids[1]])
    expect(changes).toEqual([
      {kind: 'add', sid: ownedSids[0], after: owned[0]},
      {kind: 'add', sid: ownedSids[1], after: owned[1]},
      {kind: 'replace', sid: ownedSids[2], before: statementList(existing)[1], after: owned[2]},
    ])
  })

  it('creates a 2012-10-17 document when there is no policy', () => {
    const {policy, changes} = mergeStatements(null, owned)
    expect(policy).toEqual({Version: '2012-10-17', Statement: owned})
    expect(changes.map((c) => [c.kind, c.sid])).toEqual(ownedSids.map((sid) => ['add', sid]))
  })

  it('keeps a single-object Statement an object unless something is appended', () => {
    const single: IamPolicy = {Id: 'x', Version: '2012-10-17', Statement: outdated(owned)[2]}
    const replaced = mergeStatements(single, [owned[2]])
    expect(replaced.policy).toEqual({Id: 'x', Version: '2012-10-17', Statement: owned[2]})
    expect(Object.keys(replaced.policy)).toEqual(['Id', 'Version', 'Statement'])

    const foreign = fixture('CloudFront origin access control')
    const appended = mergeStatements(foreign, owned)
    expect(appended.policy.Statement).toEqual([foreign.Statement, ...owned])
    expect(statementList(appended.policy)[0]).toBe(foreign.Statement)
  })

  it('refuses an owned statement without a Sid', () => {
    expect(() => mergeStatements(null, [{...owned[0], Sid: undefined}])).toThrow(/no Sid/)
  })

  it('removes exactly the named statements, and nothing when none match', () => {
    const existing = withStatements(fixture('CloudTrail'), owned, 1)
    const {policy, changes} = removeStatements(existing, ownedSids)
    expect(policy).toEqual(fixture('CloudTrail'))
    expect(changes.map((c) => [c.kind, c.sid, c.before])).toEqual(owned.map((s) => ['remove', s.Sid, s]))

    const none = removeStatements(fixture('CloudTrail'), ownedSids)
    expect(none).toEqual({policy: fixture('CloudTrail'), changes: []})
    expect(removeStatements(null, ownedSids)).toEqual({policy: null, changes: []})
  })

  it('returns no policy when the last statement goes', () => {
    expect(removeStatements({Version: '2012-10-17', Statement: owned}, ownedSids).policy).toBeNull()
    expect(removeStatements({Statement: owned[0]}, ownedSids).policy).toBeNull()
  })

  it('never removes Sid-less or empty-Sid statements', () => {
    const tf = fixture('Terraform')
    expect(removeStatements(tf, ['', ...ownedSids]).changes).toEqual([])
  })
})

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

class Gen {
  readonly next: () => number
  constructor(seed: number) {
    this.next = prng(seed)
  }

  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  shuffle<T>(items: T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      ;[out[i], out[j]] = [out[j], out[i]]
    }
    return out
  }

  /** 1-3 distinct values, as a bare string or a list (a one-element list too). */
  stringOrList(pool: readonly string[]): string | string[] {
    const values = this.shuffle([...pool]).slice(0, 1 + this.int(3))
    return values.length === 1 && this.chance(0.5) ? values[0] : values
  }
}

const ARNS = ['arn:aws:iam::444455556666:root', 'arn:aws:iam::444455556666:role/etl', 'arn:aws:iam::777788889999:user/bob', 'AROAEXAMPLEID4567890AB']
const SERVICES = ['cloudfront.amazonaws.com', 'logging.s3.amazonaws.com', 'delivery.logs.amazonaws.com', 'config.amazonaws.com']
const ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:*', 'S3:GetObjectVersion', 's3:DeleteObject', 's3:GetBucketAcl']
const RESOURCES = [`arn:aws:s3:::${BUCKET}`, `arn:aws:s3:::${BUCKET}/*`, `arn:aws:s3:::${BUCKET}/logs/*`, `arn:aws:s3:::${BUCKET}/données/*`, '*']
const CONDITION_KEYS: Record<string, [string, (g: Gen) => unknown][]> = {
  Bool: [['aws:SecureTransport', (g) => g.pick(['false', false, 'true'])]],
  StringEquals: [
    ['aws:SourceAccount', (g) => g.pick(['111122223333', ['111122223333', '444455556666'], 111122223333])],
    ['aws:PrincipalOrgID', () => 'o-a1b2c3d4e5'],
    ['s3:x-amz-acl', () => 'bucket-owner-full-control'],
  ],
  StringNotEquals: [['aws:SourceVpce', (g) => g.stringOrList(['vpce-1a2b3c4d', 'vpce-0f1e2d3c'])]],
  StringLike: [['s3:prefix', (g) => g.stringOrList(['日本語/*', 'été/', 'a/*', '🚀'])], ['aws:Referer', () => 'https://example.com/*']],
  IpAddress: [['aws:SourceIp', (g) => g.stringOrList(['192.0.2.0/24', '10.0.0.0/8', '2001:db8::/32'])]],
  NumericLessThan: [['s3:TlsVersion', () => 1.2]],
  ArnLike: [['aws:SourceArn', () => 'arn:aws:cloudfront::111122223333:distribution/E1']],
}

function randomCondition(g: Gen): Record<string, Record<string, unknown>> {
  const operators = g.shuffle(Object.keys(CONDITION_KEYS)).slice(0, 1 + g.int(2))
  return Object.fromEntries(
    operators.map((op) => [op, Object.fromEntries(g.shuffle(CONDITION_KEYS[op]).slice(0, 1 + g.int(2)).map(([key, value]) => [key, value(g)]))]),
  )
}

function randomStatement(g: Gen, sid: string | undefined): IamStatement {
  const principal = g.pick([
    () => '*',
    () => ({AWS: '*'}),
    () => ({AWS: g.stringOrList(ARNS)}),
    () => ({Service: g.stringOrList(SERVICES)}),
    () => ({AWS: g.stringOrList(ARNS), Service: g.pick(SERVICES)}),
    () => ({CanonicalUser: '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be'}),
  ])()
  const fields: [string, unknown][] = [
    ['Effect', g.pick(['Allow', 'Deny'])],
    [g.chance(0.1) ? 'NotPrincipal' : 'Principal', principal],
    [g.chance(0.1) ? 'NotAction' : 'Action', g.stringOrList(ACTIONS)],
    [g.chance(0.1) ? 'NotResource' : 'Resource', g.stringOrList(RESOURCES)],
  ]
  if (sid !== undefined) fields.push(['Sid', sid])
  if (g.chance(0.5)) fields.push(['Condition', randomCondition(g)])
  return Object.fromEntries(g.shuffle(fields)) as unknown as IamStatement
}

type OwnMode = 'none' | 'current' | 'reformatted' | 'outdated' | 'partial'

function randomPolicy(g: Gen): {policy: IamPolicy; own: OwnMode} {
  const statements: IamStatement[] = []
  const small = g.chance(0.3) // one statement and no other grants, so the single-object form comes up often
  const count = small ? 1 : 1 + g.int(8)
  for (let i = 0; i < count; i++) {
    statements.push(randomStatement(g, g.pick([undefined, '', `Stmt${i}x${g.int(1_000_000)}`, `Foreign${i}`])))
  }
  const insert = (more: IamStatement[]) => statements.splice(g.int(statements.length + 1), 0, ...more)
  for (let k = small ? 0 : g.int(3); k > 0; k--) {
    const grant = otherGrant(`arn:aws:iam::${100_000_000_000 + g.int(899_999_999_999)}:role/other${k}`, g.pick(['', 'exports/', 'raw/2024/']))
    insert(g.chance(0.7) ? grant : [g.pick(grant)])
  }
  const own = g.pick<OwnMode>(['none', 'none', 'current', 'reformatted', 'outdated', 'partial'])
  const ownStatements = {none: [], current: clone(owned), reformatted: reformatted(owned), outdated: outdated(owned), partial: [clone(g.pick(owned))]}[own]
  for (const s of ownStatements) insert([s])
  const top: [string, unknown][] = [['Statement', statements.length === 1 && g.chance(0.5) ? statements[0] : statements]]
  const version = g.pick([undefined, '2012-10-17', '2008-10-17'])
  if (version) top.push(['Version', version])
  if (g.chance(0.3)) top.push(['Id', g.pick(['PolicyId1', 'Politique d’accès', ''])])
  return {policy: Object.fromEntries(g.shuffle(top)) as unknown as IamPolicy, own}
}

describe('randomised apply/revoke round trip', () => {
  const SEED = 20_240_611
  const RUNS = 600

  it(`keeps foreign statements and semantics over ${RUNS} generated policies (seed ${SEED})`, () => {
    const g = new Gen(SEED)
    const seen = new Map<string, number>()
    const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1)
    for (let run = 0; run < RUNS; run++) {
      const {policy, own} = randomPolicy(g)
      count(own)
      if (!Array.isArray(policy.Statement)) count('single')
      if (policy.Version === undefined) count('no version')
      expect(parsePolicyDocument(serialisePolicy(policy), `generated policy ${run}`)).toEqual(policy)
      const expected = {none: ['add', 'add', 'add'], current: [], reformatted: [], outdated: ['replace', 'replace', 'replace'], partial: ['add', 'add']}[own]
      const kinds = mergeStatements(policy, owned).changes.map((c) => c.kind)
      expect(kinds.sort(), `run ${run}`).toEqual([...expected].sort())
      checkRoundTrip(policy)
    }
    for (const what of ['none', 'current', 'reformatted', 'outdated', 'partial', 'single', 'no version']) expect(seen.get(what) ?? 0, what).toBeGreaterThan(10)
  })
})

describe('parsePolicyDocument', () => {
  const parseError = (text: string): ConfigError => {
    try {
      parsePolicyDocument(text, 'the bucket policy of s3://ingest-data')
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      return error as ConfigError
    }
    throw new Error('expected MALFORMED_POLICY')
  }
  const stmt = (fields: Record<string, unknown>) => JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: '*', ...fields}]})
  const without = (field: string) => {
    const s: Record<string, unknown> = {Sid: 'Named', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: '*'}
    delete s[field]
    return JSON.stringify({Statement: [s]})
  }

  it.each<[string, string, string[]]>([
    ['invalid JSON', '{"Statement": [', ['not valid JSON']],
    ['empty text', '', ['not valid JSON']],
    ['JSON null', 'null', ['the document must be an object']],
    ['a top-level list', '[{"Effect": "Allow"}]', ['the document must be an object']],
    ['no Statement', '{"Version": "2012-10-17"}', ['missing required field "Statement"']],
    ['empty Statement list', '{"Statement": []}', ['field "Statement" must not be empty']],
    ['Statement as a string', '{"Statement": "Allow"}', ['field "Statement" must be an object or a list']],
    ['a statement that is not an object', '{"Statement": [null]}', ['statement 0', 'must be an object']],
    ['unknown version', '{"Version": "2012-10-18", "Statement": []}', ['field "Version"', '"2012-10-17"', '"2008-10-17"']],
    ['unknown top-level field', '{"Statements": [], "Statement": []}', ['unknown field "Statements"']],
    ['missing Effect', without('Effect'), ['statement 0 (Sid "Named")', 'missing required field "Effect"']],
    ['lower-case Effect', stmt({Effect: 'allow'}), ['statement 0', 'field "Effect"', '"Allow" or "Deny"']],
    ['Action and NotAction', stmt({NotAction: 's3:PutObject'}), ['statement 0', '"Action" and "NotAction"']],
    ['neither Action nor NotAction', without('Action'), ['statement 0 (Sid "Named")', 'needs "Action" or "NotAction"']],
    ['no Resource', without('Resource'), ['needs "Resource" or "NotResource"']],
    ['Resource and NotResource', stmt({NotResource: 'arn:aws:s3:::b'}), ['"Resource" and "NotResource"']],
    ['no Principal', without('Principal'), ['needs "Principal" or "NotPrincipal"']],
    ['Principal and NotPrincipal', stmt({NotPrincipal: {AWS: 'arn:aws:iam::111122223333:root'}}), ['"Principal" and "NotPrincipal"']],
    ['Principal string other than *', stmt({Principal: 'everyone'}), ['field "Principal" must be "*"']],
    ['unknown principal type', stmt({Principal: {User: 'bob'}}), ['unknown field "Principal.User"']],
    ['empty principal object', stmt({Principal: {}}), ['field "Principal" must not be empty']],
    ['empty principal list', stmt({Principal: {AWS: []}}), ['field "Principal.AWS" must not be empty']],
    ['numeric principal', stmt({Principal: {AWS: 444455556666}}), ['field "Principal.AWS" must be a string or a list']],
    ['empty Action list', stmt({Action: []}), ['field "Action" must not be empty']],
    ['non-string action', stmt({Action: ['s3:GetObject', 7]}), ['field "Action[1]" must be a string']],
    ['Condition as a string', stmt({Condition: 'aws:SecureTransport'}), ['field "Condition" must be an object']],
    ['condition operator not an object', stmt({Condition: {Bool: 'false'}}), ['field "Condition.Bool" must be an object']],
    ['null condition value', stmt({Condition: {Bool: {'aws:SecureTransport': null}}}), ['field "Condition.Bool.aws:SecureTransport"', 'a string, a number, a boolean or a list']],
    ['nested condition value', stmt({Condition: {StringEquals: {'aws:SourceAccount': [{a: 1}]}}}), ['field "Condition.StringEquals.aws:SourceAccount[0]"']],
    ['unknown statement field', stmt({Principals: '*'}), ['unknown field "Principals"']],
    ['numeric Sid', stmt({Sid: 12}), ['field "Sid" must be a string']],
    [
      'duplicate Sid',
      JSON.stringify({Statement: [{Sid: 'A1', Effect: 'Deny', Principal: '*', Action: '*', Resource: '*'}, {Sid: 'A1', Effect: 'Allow', Principal: '*', Action: '*', Resource: '*'}]}),
      ['statement 1 (Sid "A1")', 'field "Sid"', 'already used by statement 0'],
    ],
    ['error in a single-object Statement', '{"Statement": {"Sid": "One", "Effect": "Permit"}}', ['statement 0 (Sid "One")', 'field "Effect"']],
    ['error deep in a later statement', JSON.stringify({Statement: [JSON.parse(stmt({}))['Statement'][0], {Effect: 'Deny', Principal: '*', Action: '*', Resource: '*', Condition: {Bool: {k: {}}}}]}), ['statement 1', 'Condition.Bool.k']],
    ['duplicate JSON key', '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringLike": {"aws:Referer": "a", "aws:Referer": "b"}}}]}', ['"aws:Referer" appears twice']],
  ])('%s', (_name, text, fragments) => {
    const e = parseError(text)
    expect([e.code, e.exitCode]).toEqual(['MALFORMED_POLICY', 3])
    expect(e.message.startsWith('the bucket policy of s3://ingest-data: ')).toBe(true)
    for (const fragment of fragments) expect(e.message).toContain(fragment)
    expect(e.suggestions.length).toBeGreaterThan(0)
  })

  it('accepts free-text Sids, as S3 bucket policies do', () => {
    const text = JSON.stringify({Version: '2012-10-17', Statement: [{Sid: 'Allow get requests originating from www.example.com and example.com.', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*'}]})
    expect(() => parsePolicyDocument(text, 'test')).not.toThrow()
  })

  it('accepts what S3 accepts: no Version, 2008-10-17, a single statement, repeated empty Sids, strings with escapes', () => {
    for (const text of [
      '{"Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "NotAction": "s3:Get*", "NotResource": ["arn:aws:s3:::b"]}}',
      '{"Version": "2008-10-17", "Id": "x", "Statement": [{"Sid": "", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}, {"Sid": "", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}',
      '{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:s3:::b/\\"quoted\\"/\\u00e9*", "Condition": {"StringLike": {"s3:prefix": ["a\\\\b", ""]}}}]}',
    ]) {
      expect(parsePolicyDocument(text, 'p')).toEqual(JSON.parse(text))
    }
  })

  it('keeps key order and forms exactly as written', () => {
    const text = '{"Statement":[{"Resource":["arn:aws:s3:::b"],"Action":"s3:ListBucket","Principal":{"AWS":["arn:aws:iam::1:root"]},"Effect":"Allow"}],"Version":"2012-10-17"}'
    expect(serialisePolicy(parsePolicyDocument(text, 'p'))).toBe(text)
  })
})

describe('semanticallyEqual and normaliseStatement', () => {
  const base: IamStatement = {
    Sid: 'S1',
    Effect: 'Allow',
    Principal: {AWS: ['arn:aws:iam::1:role/a', 'arn:aws:iam::1:role/b']},
    Action: ['s3:GetObject', 's3:ListBucket'],
    Resource: 'arn:aws:s3:::b/*',
    Condition: {StringLike: {'s3:prefix': ['a/', 'a/*']}, Bool: {'aws:SecureTransport': 'true'}},
  }
  const doc = (...statements: IamStatement[]): IamPolicy => ({Version: '2012-10-17', Statement: statements})

  it.each<[string, IamStatement]>([
    ['list order and key order', {Condition: {Bool: {'aws:SecureTransport': 'true'}, StringLike: {'s3:prefix': ['a/*', 'a/']}}, Resource: ['arn:aws:s3:::b/*'], Action: ['s3:ListBucket', 's3:GetObject'], Principal: {AWS: ['arn:aws:iam::1:role/b', 'arn:aws:iam::1:role/a']}, Effect: 'Allow', Sid: 'S1'}],
    ['action case', {...base, Action: ['S3:getobject', 's3:LISTBUCKET']}],
    ['condition key case and value type', {...base, Condition: {StringLike: {'S3:Prefix': ['a/', 'a/*']}, Bool: {'AWS:SecureTransport': true}}}],
    ['duplicates in lists', {...base, Action: ['s3:GetObject', 's3:ListBucket', 's3:GetObject']}],
  ])('treats statements differing only in %s as equal', (_name, other) => {
    expect(normaliseStatement(other)).toEqual(normaliseStatement(base))
    expect(semanticallyEqual(doc(base), doc(other))).toBe(true)
  })

  it.each<[string, IamStatement]>([
    ['Effect', {...base, Effect: 'Deny'}],
    ['a principal', {...base, Principal: {AWS: 'arn:aws:iam::1:role/a'}}],
    ['principal type', {...base, Principal: {Service: ['arn:aws:iam::1:role/a', 'arn:aws:iam::1:role/b']}}],
    ['Principal vs NotPrincipal', {...base, Principal: undefined, NotPrincipal: base.Principal}],
    ['resource case', {...base, Resource: 'arn:aws:s3:::B/*'}],
    ['Action vs NotAction', {...base, Action: undefined, NotAction: base.Action}],
    ['a condition value', {...base, Condition: {StringLike: {'s3:prefix': ['a/']}, Bool: {'aws:SecureTransport': 'true'}}}],
    ['a missing condition', {...base, Condition: {StringLike: {'s3:prefix': ['a/', 'a/*']}}}],
    ['Sid', {...base, Sid: 'S2'}],
  ])('tells statements differing in %s apart', (_name, other) => {
    expect(semanticallyEqual(doc(base), doc(other))).toBe(false)
  })

  it('ignores statement order but not multiplicity, and compares Version (absent = 2008-10-17) and Id', () => {
    const other: IamStatement = {Effect: 'Deny', Principal: '*', Action: '*', Resource: '*'}
    expect(semanticallyEqual(doc(base, other), doc(other, base))).toBe(true)
    expect(semanticallyEqual(doc(base, other), {Version: '2012-10-17', Statement: [other, base, other]})).toBe(false)
    expect(semanticallyEqual({Statement: base}, {Version: '2008-10-17', Statement: [base]})).toBe(true)
    expect(semanticallyEqual({Statement: base}, doc(base))).toBe(false)
    expect(semanticallyEqual({...doc(base), Id: 'a'}, {...doc(base), Id: 'b'})).toBe(false)
    expect(semanticallyEqual({Version: '2012-10-17', Statement: {...base, Sid: ''}}, doc({...base, Sid: undefined}))).toBe(true)
    expect(semanticallyEqual(null, null)).toBe(true)
    expect(semanticallyEqual(null, doc(base))).toBe(false)
  })

  it('foreignOrderPreserved notices reordering and reformatting but not owned statements', () => {
    const a: IamStatement = {Effect: 'Deny', Principal: '*', Action: '*', Resource: '*'}
    const b: IamStatement = {Sid: 'B', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: '*'}
    expect(foreignOrderPreserved(doc(a, b), doc(owned[0], a, owned[1], b), ownedSids)).toBe(true)
    expect(foreignOrderPreserved(doc(a, b), doc(b, a), ownedSids)).toBe(false)
    expect(foreignOrderPreserved(doc(a, b), doc(a, {...b, Action: ['s3:GetObject']}), ownedSids)).toBe(false)
    expect(foreignOrderPreserved(doc(a, b), doc(a, {Effect: 'Allow', Sid: 'B', Principal: '*', Action: 's3:GetObject', Resource: '*'}), ownedSids)).toBe(false)
    expect(foreignOrderPreserved(doc(a), null, ownedSids)).toBe(false)
    expect(foreignOrderPreserved(doc(owned[0]), null, ownedSids)).toBe(true)
  })
})

describe('serialisePolicy and policySizeBytes', () => {
  it('sends compact JSON and counts UTF-8 bytes against the 20 KB limit', () => {
    const p: IamPolicy = {Version: '2012-10-17', Id: 'é日🚀', Statement: owned}
    const text = serialisePolicy(p)
    expect(text).not.toMatch(/\n|": |, "/)
    expect(JSON.parse(text)).toEqual(p)
    // é is 2 bytes (1 UTF-16 unit), 日 3 bytes (1 unit), 🚀 4 bytes (2 units)
    expect(policySizeBytes(p)).toBe(text.length + 1 + 2 + 2)
    expect(BUCKET_POLICY_MAX_BYTES).toBe(20_480)
  })

  it('lets a caller see when a merge would pass the limit', () => {
    let policy: IamPolicy | null = null
    let n = 0
    while (policy === null || policySizeBytes(policy) <= BUCKET_POLICY_MAX_BYTES) {
      policy = mergeStatements(policy, otherGrant(`arn:aws:iam::${100_000_000_000 + n}:role/r${n}`, `p${n}/`)).policy
      n++
    }
    expect(n).toBeGreaterThan(10)
    expect(policySizeBytes(policy)).toBeGreaterThan(BUCKET_POLICY_MAX_BYTES)
  })
})

describe('diffPolicies', () => {
  const pretty = (p: IamPolicy | null) => (p ? JSON.stringify(p, null, 2).split('\n') : [])
  const isSubsequence = (part: string[], whole: string[]) => {
    let i = 0
    for (const line of whole) if (i < part.length && part[i] === line) i++
    return i === part.length
  }
  const HUNK = /^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$/
  const marker = (l: DiffLine) => l.op === ' ' && HUNK.test(l.text)
  const checkShape = (before: IamPolicy | null, after: IamPolicy | null, diff: DiffLine[]) => {
    expect(diff.every((l) => [' ', '+', '-'].includes(l.op))).toBe(true)
    expect(isSubsequence(diff.filter((l) => l.op !== '+' && !marker(l)).map((l) => l.text), pretty(before))).toBe(true)
    expect(isSubsequence(diff.filter((l) => l.op !== '-' && !marker(l)).map((l) => l.text), pretty(after))).toBe(true)
    diff.forEach((l, i) => {
      if (l.op !== ' ' || marker(l)) return
      expect(diff.slice(Math.max(0, i - 3), i + 4).some((near) => near.op !== ' ')).toBe(true)
    })
    diff.forEach((l, i) => marker(l) && expect(marker(diff[i + 1] ?? {op: '+', text: ''})).toBe(false))
    // Each hunk header says exactly where its lines are, in the document before and after.
    diff.forEach((l, i) => {
      if (!marker(l)) return
      const [, a, aLen, b, bLen] = HUNK.exec(l.text)!.map(Number)
      const end = diff.findIndex((x, k) => k > i && marker(x))
      const hunk = diff.slice(i + 1, end < 0 ? undefined : end)
      expect(hunk.filter((x) => x.op !== '+').map((x) => x.text)).toEqual(pretty(before).slice(aLen ? a - 1 : a, (aLen ? a - 1 : a) + aLen))
      expect(hunk.filter((x) => x.op !== '-').map((x) => x.text)).toEqual(pretty(after).slice(bLen ? b - 1 : b, (bLen ? b - 1 : b) + bLen))
    })
  }

  it('is empty for identical documents', () => {
    const p = fixture('Combined')
    expect(diffPolicies(p, clone(p))).toEqual([])
    expect(diffPolicies(null, null)).toEqual([])
  })

  it('shows a new or deleted policy as all additions or all removals', () => {
    const p = fixture('CloudTrail')
    const n = pretty(p).length
    expect(diffPolicies(null, p)).toEqual([{op: ' ', text: `@@ -0,0 +1,${n} @@`}, ...pretty(p).map((text) => ({op: '+', text}))])
    expect(diffPolicies(p, null)).toEqual([{op: ' ', text: `@@ -1,${n} +0,0 @@`}, ...pretty(p).map((text) => ({op: '-', text}))])
  })

  it('shows an appended grant with 3 lines of context under a hunk header that says where it is', () => {
    const before = fixture('Combined')
    const after = mergeStatements(before, owned).policy
    const diff = diffPolicies(before, after)
    checkShape(before, after, diff)
    expect(marker(diff[0])).toBe(true)
    const added = diff.filter((l) => l.op === '+').map((l) => l.text)
    const removed = diff.filter((l) => l.op === '-').map((l) => l.text)
    expect(added.length - removed.length).toBe(pretty(after).length - pretty(before).length)
    for (const sid of ownedSids) expect(added.some((t) => t.includes(sid))).toBe(true)
    expect(removed).toEqual([])
    expect(diff.length).toBeLessThan(pretty(after).length)
  })

  it('shows a changed value in the middle as one removal and one addition, far changes as separate hunks', () => {
    const before = withStatements(fixture('Combined'), owned, 1)
    const after = mergeStatements(before, outdated(owned)).policy
    const diff = diffPolicies(before, after)
    checkShape(before, after, diff)
    expect(diff.filter(marker).length).toBeGreaterThanOrEqual(2)
    expect(diff.filter((l) => l.op === '-').some((l) => l.text.includes('exports/*'))).toBe(true)

    const one = mergeStatements(before, [{...owned[1], Action: 's3:GetBucketAcl'}]).policy
    expect(diffPolicies(before, one).filter((l) => l.op !== ' ')).toEqual([
      {op: '-', text: '      "Action": "s3:GetBucketLocation",'},
      {op: '+', text: '      "Action": "s3:GetBucketAcl",'},
    ])
  })
})

describe('findStaleUniqueIds', () => {
  it('finds bare role and user unique ids in Principal and NotPrincipal', () => {
    const policy: IamPolicy = {
      Statement: [
        {Sid: 'Ok', Effect: 'Allow', Principal: {AWS: 'arn:aws:iam::111122223333:role/AROAISNOTANID1234567'}, Action: '*', Resource: '*'},
        {Effect: 'Allow', Principal: {AWS: ['arn:aws:iam::1:root', 'AROAEXAMPLEID4567890AB', 'AIDAJQABLZS4A3QDU576Q']}, Action: '*', Resource: '*'},
        {Sid: 'Deny', Effect: 'Deny', NotPrincipal: {AWS: 'AIDAEXAMPLEUSER123456'}, Action: '*', Resource: '*'},
        {Effect: 'Allow', Principal: {Service: 'AROASERVICELOOKALIKE12'}, Action: '*', Resource: '*'},
        {Effect: 'Allow', Principal: '*', Action: '*', Resource: '*'},
        {Effect: 'Allow', Principal: {AWS: 'aroaexampleid4567890ab'}, Action: '*', Resource: '*'},
      ],
    }
    expect(findStaleUniqueIds(policy)).toEqual([
      {index: 1, sid: undefined, id: 'AROAEXAMPLEID4567890AB'},
      {index: 1, sid: undefined, id: 'AIDAJQABLZS4A3QDU576Q'},
      {index: 2, sid: 'Deny', id: 'AIDAEXAMPLEUSER123456'},
    ])
  })

  it('finds the one in the fixture and none in the tool’s own statements', () => {
    expect(findStaleUniqueIds(fixture('Stale unique id'))).toEqual([{index: 0, sid: 'OldEtlRole', id: 'AROAEXAMPLEID4567890AB'}])
    expect(findStaleUniqueIds({Statement: owned})).toEqual([])
  })
})

describe('findPublicStatements', () => {
  const open = (condition?: IamStatement['Condition'], principal: IamStatement['Principal'] = '*'): IamStatement => ({
    Effect: 'Allow',
    Principal: principal,
    Action: 's3:GetObject',
    Resource: 'arn:aws:s3:::b/*',
    ...(condition ? {Condition: condition} : {}),
  })

  it.each<[string, IamStatement, boolean]>([
    ['Principal "*"', open(), true],
    ['{"AWS": "*"}', open(undefined, {AWS: '*'}), true],
    ['"*" among fixed principals', open(undefined, {AWS: ['arn:aws:iam::1:root', '*']}), true],
    ['a fixed role', open(undefined, {AWS: PRINCIPAL}), false],
    ['a service principal', open(undefined, {Service: 'cloudfront.amazonaws.com'}), false],
    ['a Deny with "*"', {...open(), Effect: 'Deny'}, false],
    ['NotPrincipal with Allow', {Effect: 'Allow', NotPrincipal: {AWS: 'arn:aws:iam::1:root'}, Action: '*', Resource: '*'}, true],
    ['fixed aws:SourceVpce', open({StringEquals: {'aws:SourceVpce': 'vpce-1a2b3c4d'}}), false],
    ['wildcard aws:SourceVpc', open({StringLike: {'aws:SourceVpc': 'vpc-*'}}), true],
    ['fixed aws:SourceAccount as a number', open({StringEquals: {'aws:SourceAccount': 111122223333}}), false],
    ['fixed AWS:SourceArn (key case)', open({ArnEquals: {'AWS:SourceArn': 'arn:aws:cloudfront::1:distribution/E1'}}), false],
    ['wildcard aws:SourceArn', open({ArnLike: {'aws:SourceArn': 'arn:aws:cloudfront::1:distribution/*'}}), true],
    ['? in a value', open({StringLike: {'aws:SourceOwner': '11112222333?'}}), true],
    ['policy variable', open({StringEquals: {'aws:PrincipalAccount': '${aws:ResourceAccount}'}}), true],
    ['fixed aws:PrincipalOrgID', open({StringEquals: {'aws:PrincipalOrgID': 'o-a1b2c3d4e5'}}), false],
    ['fixed aws:PrincipalArn list', open({ArnEquals: {'aws:PrincipalArn': ['arn:aws:iam::1:role/a', 'arn:aws:iam::1:role/b']}}), false],
    ['one wildcard in a list', open({StringEquals: {'aws:PrincipalAccount': ['111122223333', '*']}}), true],
    ['negated operator', open({StringNotEquals: {'aws:PrincipalOrgID': 'o-a1b2c3d4e5'}}), true],
    ['IfExists operator', open({StringEqualsIfExists: {'aws:PrincipalOrgID': 'o-a1b2c3d4e5'}}), true],
    ['ForAllValues operator', open({'ForAllValues:StringEquals': {'aws:PrincipalOrgID': 'o-a1b2c3d4e5'}}), true],
    ['ForAnyValue operator', open({'ForAnyValue:StringEquals': {'aws:PrincipalOrgID': 'o-a1b2c3d4e5'}}), false],
    ['fixed aws:userid', open({StringEquals: {'aws:userid': 'AIDAEXAMPLEUSER123456'}}), false],
    ['aws:userid role pattern', open({StringLike: {'aws:userid': 'AROAEXAMPLEID4567890AB:*'}}), true],
    ['fixed s3:DataAccessPointAccount', open({StringEquals: {'s3:DataAccessPointAccount': '111122223333'}}), false],
    ['fixed s3:DataAccessPointArn', open({ArnEquals: {'s3:DataAccessPointArn': 'arn:aws:s3:us-east-1:1:accesspoint/ap'}}), false],
    ['a /24 source range', open({IpAddress: {'aws:SourceIp': '192.0.2.0/24'}}), false],
    ['a single address', open({IpAddress: {'aws:SourceIp': '203.0.113.7'}}), false],
    ['a /8 source range', open({IpAddress: {'aws:SourceIp': '10.0.0.0/8'}}), false],
    ['a /7 source range', open({IpAddress: {'aws:SourceIp': '10.0.0.0/7'}}), true],
    ['0.0.0.0/0', open({IpAddress: {'aws:SourceIp': '0.0.0.0/0'}}), true],
    ['one public range in a list', open({IpAddress: {'aws:SourceIp': ['192.0.2.0/24', '0.0.0.0/1']}}), true],
    ['an IPv6 /32', open({IpAddress: {'aws:SourceIp': '2001:db8::/32'}}), false],
    ['::/0', open({IpAddress: {'aws:SourceIp': '::/0'}}), true],
    ['NotIpAddress', open({NotIpAddress: {'aws:SourceIp': '192.0.2.0/24'}}), true],
    ['aws:SourceIp under a string operator', open({StringEquals: {'aws:SourceIp': '192.0.2.1'}}), true],
    ['aws:SecureTransport only', open({Bool: {'aws:SecureTransport': 'true'}}), true],
    ['aws:Referer only', open({StringLike: {'aws:Referer': 'https://example.com/*'}}), true],
    ['one narrowing condition among others', open({Bool: {'aws:SecureTransport': 'true'}, StringEquals: {'aws:SourceVpce': 'vpce-1'}}), false],
  ])('%s', (_name, statement, isPublic) => {
    expect(findPublicStatements({Statement: [statement]})).toEqual(isPublic ? [{index: 0, sid: undefined}] : [])
  })

  it('reports index and Sid, and never flags the tool’s own statements', () => {
    expect(findPublicStatements(withStatements(fixture('Public static website'), owned, 0))).toEqual([{index: 3, sid: 'PublicReadGetObject'}])
    expect(findPublicStatements({Statement: owned})).toEqual([])
    expect(findPublicStatements(fixture('Deny requests without TLS'))).toEqual([])
    expect(findPublicStatements(fixture('Access control delegated'))).toEqual([])
    expect(findPublicStatements(fixture('HTTP referer'))).toEqual([{index: 0, sid: 'AllowGetRequestsFromExampleCom'}])
  })
})
