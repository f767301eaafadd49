import {readdirSync, readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {parseCidr, parseIp, cidrContains} from '../../../../src/providers/aws/policy/cidr.js'
import {
  evaluate,
  evaluateStatement,
  UNKNOWABLE_KEYS,
  type Decision,
  type EvalRequest,
  type PolicySet,
} from '../../../../src/providers/aws/policy/evaluate.js'
import {compilePattern} from '../../../../src/providers/aws/policy/wildcard.js'

/** The case files must hold at least this many cases between them. */
export const MIN_CASES = 160

const CASE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'evaluate-cases')
const DECISIONS: Decision[] = ['allowed', 'implicit-deny', 'explicit-deny', 'unknown']

interface ExpectedRef {
  sid?: string
  index?: number
  policy?: string
  kind?: 'resource' | 'identity'
  effect?: 'Allow' | 'Deny'
}

interface CaseSpec {
  name: string
  doc: string
  request?: Record<string, unknown>
  policies?: Partial<PolicySet>
  expected: {decision: Decision; decidedBy?: ExpectedRef[]; unknownKeys?: string[]; reasonIncludes?: string}
}

interface CaseFile {
  topic: string
  description: string
  defaults?: {request?: Record<string, unknown>; policies?: Partial<PolicySet>}
  cases: CaseSpec[]
}

interface LoadedCase extends CaseSpec {
  file: string
  req: EvalRequest
  set: PolicySet
}

/**
 * Case request = file defaults overlaid by the case (context merged key by key). A `null` at the top
 * level of a case request removes the default (e.g. `resourceAccountId: null`); inside `context`,
 * `null` means "known to be absent" and is passed through.
 */
function mergeRequest(base: Record<string, unknown> | undefined, over: Record<string, unknown> | undefined): EvalRequest {
  const out: Record<string, unknown> = {...base, ...over}
  out.context = {...(base?.context as object), ...(over?.context as object)}
  for (const [k, v] of Object.entries(out)) if (v === null) delete out[k]
  return out as unknown as EvalRequest
}

function loadCases(): LoadedCase[] {
  const all: LoadedCase[] = []
  for (const file of readdirSync(CASE_DIR).filter((f) => f.endsWith('.json')).sort()) {
    const data = JSON.parse(readFileSync(join(CASE_DIR, file), 'utf8')) as CaseFile
    for (const c of data.cases) {
      const set: PolicySet = {identityVisible: true, ...data.defaults?.policies, ...c.policies}
      all.push({...c, file, req: mergeRequest(data.defaults?.request, c.request), set})
    }
  }
  return all
}

const cases = loadCases()
const byFile = new Map<string, LoadedCase[]>()
for (const c of cases) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c])

describe('evaluate: case files', () => {
  it(`hold at least ${MIN_CASES} cases`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(MIN_CASES)
  })

  it('are well formed: unique names per file, a doc, a valid decision, decidedBy unless implicit-deny', () => {
    for (const [file, list] of byFile) {
      const names = list.map((c) => c.name)
      expect(new Set(names).size, file).toBe(names.length)
      for (const c of list) {
        expect(c.doc.length, `${file}/${c.name} doc`).toBeGreaterThan(10)
        expect(DECISIONS, `${file}/${c.name}`).toContain(c.expected.decision)
        if (c.expected.decision === 'allowed' || c.expected.decision === 'explicit-deny') {
          expect(c.expected.decidedBy?.length ?? 0, `${file}/${c.name} names the deciding statement`).toBeGreaterThan(0)
        }
      }
    }
  })

  for (const [file, list] of byFile) {
    describe(file, () => {
      for (const c of list) {
        it(c.name, () => {
          const v = evaluate(c.req, c.set)
          const where = `${file}/${c.name}: ${v.reason}`
          expect(v.decision, where).toBe(c.expected.decision)

          const expectedRefs = c.expected.decidedBy ?? []
          expect(
            v.decidedBy.map((r) => r.sid ?? `${r.policy}#${r.index}`),
            where,
          ).toHaveLength(expectedRefs.length)
          expectedRefs.forEach((exp, i) => {
            const got = v.decidedBy[i]!
            for (const field of ['sid', 'index', 'policy', 'kind', 'effect'] as const) {
              if (exp[field] !== undefined) expect(got[field], `${where} decidedBy[${i}].${field}`).toBe(exp[field])
            }
          })

          expect([...v.unknownKeys].sort(), where).toEqual([...(c.expected.unknownKeys ?? [])].sort())
          if (c.expected.reasonIncludes) expect(v.reason, where).toContain(c.expected.reasonIncludes)
          expect(v.reason.length).toBeGreaterThan(0)
        })
      }
    })
  }
})

const base: EvalRequest = {
  principal: {arn: 'arn:aws:iam::111122223333:role/ingest-reader', accountId: '111122223333'},
  action: 's3:GetObject',
  resource: 'arn:aws:s3:::customer-data/exports/a.csv',
  resourceAccountId: '111122223333',
  context: {},
}

describe('evaluateStatement', () => {
  it('reports match / nomatch / unknown with the unknown keys', () => {
    expect(evaluateStatement({Effect: 'Allow', Action: 's3:Get*', Resource: '*'}, base, 'identity').result).toBe('match')
    expect(evaluateStatement({Effect: 'Allow', Action: 's3:Put*', Resource: '*'}, base, 'identity').result).toBe('nomatch')
    const u = evaluateStatement(
      {Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: '*', Condition: {StringNotEquals: {'aws:SourceVpce': 'vpce-1'}}},
      base,
      'resource',
    )
    expect(u).toMatchObject({result: 'unknown', unknownKeys: ['aws:SourceVpce']})
  })

  it('tells a grant to the principal from a grant to its account', () => {
    const direct = evaluateStatement({Effect: 'Allow', Principal: {AWS: base.principal.arn}, Action: '*', Resource: '*'}, base, 'resource')
    const account = evaluateStatement({Effect: 'Allow', Principal: {AWS: '111122223333'}, Action: '*', Resource: '*'}, base, 'resource')
    expect(direct.grantee).toBe('principal')
    expect(account.grantee).toBe('account')
  })

  it('does not report keys that did not decide the outcome', () => {
    const r = evaluateStatement(
      {
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: {StringNotEquals: {'aws:SourceVpce': 'vpce-1'}, Bool: {'aws:SecureTransport': 'false'}},
      },
      {...base, context: {'aws:SecureTransport': true}},
      'identity',
    )
    expect(r).toMatchObject({result: 'nomatch', unknownKeys: []})
  })
})

describe('evaluate: API details', () => {
  it('exports the default unknowable keys, including the network path and organisation', () => {
    expect(UNKNOWABLE_KEYS).toEqual(expect.arrayContaining(['aws:SourceVpce', 'aws:SourceIp', 'aws:PrincipalOrgID']))
  })

  it('says across accounts which side is missing', () => {
    const v = evaluate({...base, resourceAccountId: '444455556666'}, {
      identityVisible: true,
      identity: [{name: 'id', policy: {Statement: {Effect: 'Allow', Action: 's3:GetObject', Resource: '*'}}}],
    })
    expect(v).toMatchObject({decision: 'implicit-deny', crossAccount: true, sides: {identity: true, resource: false}})
    expect(v.reason).toContain('no resource policy statement grants it')
  })

  it('flags an unsupported condition operator as unknown rather than guessing', () => {
    const v = evaluate(base, {
      identityVisible: true,
      identity: [
        {name: 'id', policy: {Statement: {Effect: 'Allow', Action: '*', Resource: '*', Condition: {StringSortOf: {'s3:prefix': 'x'}}}}},
      ],
    })
    expect(v.decision).toBe('unknown')
    expect(v.reason).toContain('unsupported condition operator StringSortOf')
  })
})

describe('helpers', () => {
  it('parses IPv4 and IPv6 CIDRs', () => {
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseIp('10.255.1.2')!)).toBe(true)
    expect(cidrContains(parseCidr('2001:db8::/32')!, parseIp('2001:db8:ffff::1')!)).toBe(true)
    expect(parseCidr('10.0.0.0/33')).toBeNull()
    expect(parseIp('1.2.3')).toBeNull()
    expect(parseIp('1::2::3')).toBeNull()
  })

  it('caches compiled patterns without variables', () => {
    const a = compilePattern('s3:Get*', 'glob-ci')
    const b = compilePattern('s3:Get*', 'glob-ci')
    expect(a).toBe(b)
  })
})
