/**
 * The pure core of the GCS provider, table-driven: principal validation, the prefix condition,
 * merge / revoke of bucket IAM policies (conditions, several members, version 1 and 3 policies) and
 * the evaluator (predefined roles from the GCP documentation, conditions, unknowns).
 */
import {describe, expect, it} from 'vitest'

import {evaluateCondition, prefixCondition} from '../../../src/providers/gcp/conditions.js'
import {evaluatePermission} from '../../../src/providers/gcp/evaluate.js'
import {parseMember} from '../../../src/providers/gcp/member.js'
import {type BucketIamPolicy, grantBindings, mergeBindings, removeBindings, samePolicy} from '../../../src/providers/gcp/policy.js'

const SA = 'serviceAccount:ingest@vendor-proj.iam.gserviceaccount.com'
const OBJ = (name: string) => ({name: `projects/_/buckets/b/objects/${name}`, type: 'storage.googleapis.com/Object' as const})
const BKT = (listPrefix?: string) => ({name: 'projects/_/buckets/b', type: 'storage.googleapis.com/Bucket' as const, listPrefix})

describe('parseMember', () => {
  it.each([
    [SA, SA],
    ['ingest@vendor-proj.iam.gserviceaccount.com', SA],
    ['  serviceAccount:Ingest@Vendor-Proj.iam.gserviceaccount.com ', SA],
    ['serviceAccount:123456789012-compute@developer.gserviceaccount.com', 'serviceAccount:123456789012-compute@developer.gserviceaccount.com'],
  ])('accepts %s', (input, member) => {
    expect(parseMember(input).member).toBe(member)
  })
  it.each([
    ['user:alice@example.com', /grant people/],
    ['group:team@example.com', /grant people/],
    ['domain:example.com', /every account of that domain/],
    ['allUsers', /public member/],
    ['allAuthenticatedUsers', /public member/],
    ['alice@example.com', /not a service-account e-mail/],
    ['serviceAccount:not-an-email', /well-formed e-mail/],
    ['arn:aws:iam::123456789012:role/ingest', /AWS ARN/],
    ['3f2b1c4d-1111-2222-3333-444455556666', /Azure object id/],
    ['projectViewer:customer-project', /convenience member/],
    ['serviceAccount:*@vendor.iam.gserviceaccount.com', /wildcards/],
  ])('refuses %s with exit 3', (input, why) => {
    let error: any
    try {
      parseMember(input)
    } catch (e) {
      error = e
    }
    expect(error?.exitCode).toBe(3)
    expect(error?.code).toBe('BAD_PRINCIPAL')
    expect(error?.message).toMatch(why)
    expect(error?.suggestions.length).toBeGreaterThan(0)
  })
})

describe('prefix condition', () => {
  const c = prefixCondition('b', 'dicom/')
  it.each([
    [OBJ('dicom/a.dcm'), true],
    [OBJ('dicom/sub/b.dcm'), true],
    [OBJ('dicom-phi/a.dcm'), false],
    [OBJ('dicom'), false],
    [BKT('dicom/'), true],
    [BKT('dicom/sub/'), true],
    [BKT('dicom'), false],
    [BKT(''), false],
    [BKT(undefined), false],
  ])('%o -> %s', (req, value) => {
    expect(evaluateCondition(c.expression, req).value).toBe(value)
  })
  it('escapes quotes and backslashes in the prefix', () => {
    const odd = prefixCondition('b', 'a"b\\c/')
    expect(evaluateCondition(odd.expression, OBJ('a"b\\c/x')).value).toBe(true)
    expect(evaluateCondition(odd.expression, OBJ('a"b/x')).value).toBe(false)
  })
  it.each([
    ['request.time < timestamp("2030-01-01T00:00:00Z")', 'unknown'],
    ['resource.matchTag("123/env", "prod")', 'unknown'],
    ['request.time < timestamp("2030-01-01T00:00:00Z") || resource.name.startsWith("projects/_/buckets/b/objects/")', true],
    ['request.time < timestamp("2030-01-01T00:00:00Z") && resource.name.startsWith("projects/_/buckets/x/")', false],
    ['resource.type == "storage.googleapis.com/Object" && !resource.name.endsWith(".tmp")', true],
    ['resource.name.startsWith(', 'unknown'],
  ])('three-valued: %s', (expr, value) => {
    expect(evaluateCondition(expr, OBJ('x.dcm')).value).toBe(value)
  })
})

const base = (): BucketIamPolicy => ({
  version: 1,
  etag: 'CAE=',
  bindings: [
    {role: 'roles/storage.legacyBucketOwner', members: ['projectEditor:p', 'projectOwner:p']},
    {role: 'roles/storage.legacyBucketReader', members: ['projectViewer:p']},
    {role: 'roles/storage.objectViewer', members: ['user:other@example.com']},
  ],
})

describe('merge and revoke', () => {
  it('adds the member to existing unconditioned bindings and keeps every other member', () => {
    const {policy, changes} = mergeBindings(base(), grantBindings({bucket: 'b', dirPrefix: '', member: SA}))
    expect(changes.map((c) => [c.role, c.binding])).toEqual([
      ['roles/storage.objectViewer', 'existing'],
      ['roles/storage.legacyBucketReader', 'existing'],
    ])
    expect(policy.bindings[2].members).toEqual(['user:other@example.com', SA])
    expect(policy.bindings[1].members).toEqual(['projectViewer:p', SA])
    expect(policy.version).toBe(1)
    expect(mergeBindings(policy, grantBindings({bucket: 'b', dirPrefix: '', member: SA})).changes).toEqual([])
  })
  it('creates a conditional binding for a prefix (version 3), separate from the unconditioned one', () => {
    const {policy, changes} = mergeBindings(base(), grantBindings({bucket: 'b', dirPrefix: 'dicom/', member: SA}))
    expect(changes[0]).toMatchObject({role: 'roles/storage.objectViewer', binding: 'created'})
    expect(policy.version).toBe(3)
    expect(policy.bindings[2].members).toEqual(['user:other@example.com'])
    expect(policy.bindings.at(-1)?.condition?.expression).toContain('objects/dicom/')
  })
  it('revoke after apply gives back the same policy; a binding is dropped only when empty', () => {
    for (const dirPrefix of ['', 'dicom/']) {
      const wanted = grantBindings({bucket: 'b', dirPrefix, member: SA})
      const applied = mergeBindings(base(), wanted).policy
      const {policy, changes} = removeBindings(applied, wanted)
      expect(changes).toHaveLength(2)
      expect(samePolicy(policy, base())).toBe(true)
      expect(removeBindings(policy, wanted).changes).toEqual([])
    }
  })
  it('revoke leaves another prefix and another member of the same binding alone', () => {
    const two = mergeBindings(mergeBindings(base(), grantBindings({bucket: 'b', dirPrefix: 'a/', member: SA})).policy, grantBindings({bucket: 'b', dirPrefix: 'b/', member: SA})).policy
    const other = 'serviceAccount:x-other@vendor-proj.iam.gserviceaccount.com'
    const shared = mergeBindings(two, grantBindings({bucket: 'b', dirPrefix: 'a/', member: other})).policy
    const {policy} = removeBindings(shared, grantBindings({bucket: 'b', dirPrefix: 'a/', member: SA}))
    const cond = (p: string) => policy.bindings.find((b) => b.condition?.expression.includes(`objects/${p}`))
    expect(cond('a/')?.members).toEqual([other])
    expect(cond('b/')?.members).toEqual([SA])
  })
})

describe('evaluatePermission', () => {
  const granted = mergeBindings(base(), grantBindings({bucket: 'b', dirPrefix: 'dicom/', member: SA})).policy
  it.each([
    ['storage.buckets.get', BKT(), 'allowed', 'roles/storage.legacyBucketReader'],
    ['storage.objects.list', BKT('dicom/'), 'allowed', 'roles/storage.legacyBucketReader'],
    ['storage.objects.get', OBJ('dicom/a.dcm'), 'allowed', 'roles/storage.objectViewer [ingestgate: dicom/]'],
    ['storage.objects.get', OBJ('dicom-phi/a.dcm'), 'not-allowed', undefined],
  ])('granted policy: %s on %o -> %s', (permission, request, outcome, by) => {
    const v = evaluatePermission({policy: granted, member: SA, permission, request})
    expect(v.outcome).toBe(outcome)
    if (by) expect(v.decidedBy).toEqual([by])
  })
  it('objectViewer alone lacks storage.buckets.get (the walker get_bucket failure)', () => {
    const p: BucketIamPolicy = {bindings: [{role: 'roles/storage.objectViewer', members: [SA]}]}
    expect(evaluatePermission({policy: p, member: SA, permission: 'storage.buckets.get', request: BKT()}).outcome).toBe('not-allowed')
    expect(evaluatePermission({policy: p, member: SA, permission: 'storage.objects.get', request: OBJ('x')}).outcome).toBe('allowed')
  })
  it('a custom role that could not be read, a group and an undecidable condition are unknown, never allowed', () => {
    const p: BucketIamPolicy = {
      bindings: [
        {role: 'projects/p/roles/reader', members: [SA]},
        {role: 'roles/storage.objectViewer', members: ['group:vendors@example.com']},
        {role: 'roles/storage.objectViewer', members: [SA], condition: {title: 'until', expression: 'request.time < timestamp("2030-01-01T00:00:00Z")'}},
      ],
    }
    const v = evaluatePermission({policy: p, member: SA, permission: 'storage.objects.get', request: OBJ('x')})
    expect(v.outcome).toBe('unknown')
    expect(v.reasons).toHaveLength(3)
    const read = evaluatePermission({policy: p, member: SA, permission: 'storage.objects.get', request: OBJ('x'), customRoles: new Map([['projects/p/roles/reader', ['storage.objects.get']]])})
    expect(read.outcome).toBe('allowed')
  })
  it('allUsers grants everyone', () => {
    const p: BucketIamPolicy = {bindings: [{role: 'roles/storage.legacyObjectReader', members: ['allUsers']}]}
    expect(evaluatePermission({policy: p, member: SA, permission: 'storage.objects.get', request: OBJ('x')}).outcome).toBe('allowed')
  })
})
