/**
 * grant render (AWS): every format carries exactly the statements and KMS grants grant-spec defines,
 * and every value survives each format's escaping byte for byte, read back by that format's own
 * reader (JSON.parse, an HCL2 parser, a YAML reader + cfn-lint, the shell itself).
 */
import {spawnSync} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {dirname, join, resolve as resolvePath} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, describe, expect, it} from 'vitest'

import type {IamStatement, StringOrList} from '../../../src/providers/aws/policy/types.js'
import {parsePolicyDocument} from '../../../src/providers/aws/policy/policy.js'
import {AppError, ConfigError} from '../../../src/errors.js'
import {type AwsGrantSpec, grantStatements, kmsGrantName} from '../../../src/providers/aws/grant-spec.js'
import {shellQuote} from '../../../src/core/shell.js'
import {hclString, jsonString, yamlString} from '../../../src/core/literals.js'
import {RENDER_FORMATS, renderAwsGrant} from '../../../src/providers/aws/render.js'

const require = createRequire(import.meta.url)
const hcl = require('hcl2-parser') as {parseToObject(input: string): [unknown, unknown]}

// ------------------------------------------------------------------------------------------------
// Fixtures

const ROLE = 'arn:aws:iam::123456789012:role/ingest'
/** Valid IAM: path characters are any printable ASCII but "/", names [\w+=,.@-]. */
const HOSTILE_ROLE = "arn:aws:iam::123456789012:role/team+a/q'u\"o\\t$e`s${x}%{y}!#/ingest+=,.@-role"
/** Same, with "&{", which Terraform's policy-document statement blocks would rewrite. */
const AMP_ROLE = 'arn:aws:iam::123456789012:role/a&{b}/ingest'
const KEY_EU = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'
const KEY_US = 'arn:aws:kms:us-east-1:210987654321:key/mrk-0123456789abcdef0123456789abcdef'

/** Valid S3 key prefixes the source parser accepts: quotes, $, backticks, braces, spaces, unicode. */
const HOSTILE_PREFIXES = [
  'data/2024 run "one"/',
  "it's $HOME `id` $(id) ${x} %{y} $${z} %%{w} \\n\\ end$",
  'données/😀/ü/',
  '  leading and trailing spaces  ',
]

function spec(over: Partial<AwsGrantSpec> = {}): AwsGrantSpec {
  return {bucket: 'research-data', prefix: 'scans/2024/', principalArn: ROLE, kmsKeyArns: [KEY_EU], ...over}
}

// ------------------------------------------------------------------------------------------------
// Helpers

function toList(v: StringOrList | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v]
}

/** A statement with every StringOrList as a list: the formats below all write lists. */
function listed(s: IamStatement): Record<string, unknown> {
  const out: Record<string, unknown> = {Sid: s.Sid, Effect: s.Effect}
  if (s.Principal && s.Principal !== '*') out.Principal = Object.fromEntries(Object.entries(s.Principal).map(([k, v]) => [k, toList(v)]))
  out.Action = toList(s.Action)
  out.Resource = toList(s.Resource)
  if (s.Condition) {
    out.Condition = Object.fromEntries(
      Object.entries(s.Condition).map(([op, keys]) => [op, Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, toList(v as StringOrList)]))]),
    )
  }
  return out
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status === 0
}

/** A test that needs a tool says, in its title, why it was skipped when the tool is missing. */
function skipTitle(title: string, available: boolean, why: string): string {
  return available ? title : `${title} [skipped: ${why}]`
}

const HAS_JQ = onPath('jq')
const HAS_CFN_LINT = onPath('cfn-lint')
const HAS_DASH = onPath('dash')
const HAS_PY_YAML = onPath('python3') && spawnSync('python3', ['-c', 'import yaml']).status === 0

if (!HAS_JQ) console.warn('render.test: jq is not on PATH; the end-to-end runs of the cli script are skipped.')
if (!HAS_CFN_LINT) console.warn('render.test: cfn-lint is not on PATH; the CloudFormation lint is skipped.')
if (!HAS_PY_YAML) console.warn('render.test: python3 with PyYAML is not available; CloudFormation is not read back as YAML.')

const tmpRoot = mkdtempSync(join(tmpdir(), 'ingestgate-render-'))
afterAll(() => rmSync(tmpRoot, {recursive: true, force: true}))
let tmpCount = 0
function tmpDir(): string {
  const dir = join(tmpRoot, String(tmpCount++))
  mkdirSync(dir, {recursive: true})
  return dir
}

function parseHcl(text: string): any {
  const [parsed, error] = hcl.parseToObject(text)
  if (parsed === null || parsed === undefined) throw new Error(`not valid HCL2: ${JSON.stringify(error)}\n${text}`)
  return parsed
}

/** Read YAML documents back with PyYAML (no YAML reader is a dependency of this package). */
function readYaml(texts: string[]): unknown[] {
  const dir = tmpDir()
  const files = texts.map((t, i) => {
    const f = join(dir, `${i}.yaml`)
    writeFileSync(f, t)
    return f
  })
  const py = 'import json, sys, yaml\nprint(json.dumps([yaml.safe_load(open(f, encoding="utf-8")) for f in sys.argv[1:]]))'
  const r = spawnSync('python3', ['-c', py, ...files], {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(r.stderr)
  return JSON.parse(r.stdout) as unknown[]
}

/** cfn-lint over several templates at once; returns the error-level matches. */
function cfnLintErrors(texts: string[]): Array<{Level: string; Rule: {Id: string}; Message: string; Filename: string}> {
  const dir = tmpDir()
  const files = texts.map((t, i) => {
    const f = join(dir, `template-${i}.yaml`)
    writeFileSync(f, t)
    return f
  })
  const r = spawnSync('cfn-lint', ['--format', 'json', '--', ...files], {encoding: 'utf8'})
  // Exit code is a bit mask: 2 errors, 4 warnings, 8 informational; anything else is a crash.
  if (r.status === null || (r.status & ~0b1110) !== 0) throw new Error(`cfn-lint failed (${r.status}): ${r.stderr}`)
  const matches = JSON.parse(r.stdout || '[]') as Array<{Level: string; Rule: {Id: string}; Message: string; Filename: string}>
  return matches.filter((m) => m.Level === 'Error')
}

function expectConfigError(fn: () => unknown, code: string): void {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as AppError).code).toBe(code)
    expect((error as AppError).exitCode).toBe(3)
    expect((error as AppError).suggestions.length).toBeGreaterThan(0)
    return
  }
  throw new Error(`expected ConfigError ${code}, nothing was thrown`)
}

// ------------------------------------------------------------------------------------------------

describe('renderAwsGrant: documents', () => {
  it('carries exactly grant-spec statements and one Decrypt grant per distinct key, in every format', () => {
    const s = spec({kmsKeyArns: [KEY_EU, KEY_US, ` ${KEY_EU} `]})
    for (const format of RENDER_FORMATS) {
      const r = renderAwsGrant(s, format)
      expect(r.format).toBe(format)
      expect(r.documents.bucketPolicyStatements).toEqual(grantStatements(s))
      expect(r.documents.kmsGrants).toEqual([
        {keyArn: KEY_EU, granteePrincipal: ROLE, operations: ['Decrypt'], name: kmsGrantName(ROLE, KEY_EU)},
        {keyArn: KEY_US, granteePrincipal: ROLE, operations: ['Decrypt'], name: kmsGrantName(ROLE, KEY_US)},
      ])
      expect(r.text.endsWith('\n')).toBe(true)
    }
  })

  it('does not import any AWS SDK package (render needs no credentials and no network)', () => {
    // Walk the relative imports from render.ts: none of the modules it loads may name @aws-sdk.
    const seen = new Set<string>()
    const visit = (file: string): void => {
      if (seen.has(file)) return
      seen.add(file)
      const code = readFileSync(file, 'utf8')
      expect(code, file).not.toMatch(/from\s+['"]@aws-sdk|import\(\s*['"]@aws-sdk/)
      for (const m of code.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
        visit(resolvePath(dirname(file), `${m[1]}.ts`))
      }
    }
    visit(fileURLToPath(new URL('../../../src/providers/aws/render.ts', import.meta.url)))
    expect(seen.size).toBeGreaterThan(3)
  })
})

describe('renderAwsGrant: json', () => {
  it('prints a valid IAM bucket policy plus the KMS grants', () => {
    const r = renderAwsGrant(spec({kmsKeyArns: [KEY_EU, KEY_US]}), 'json')
    const out = JSON.parse(r.text) as {bucketPolicy: unknown; kmsGrants: unknown}
    expect(Object.keys(out)).toEqual(['bucketPolicy', 'kmsGrants'])
    const policy = parsePolicyDocument(JSON.stringify(out.bucketPolicy), 'the rendered bucket policy')
    expect(policy.Version).toBe('2012-10-17')
    expect(policy.Statement).toEqual(r.documents.bucketPolicyStatements)
    expect(out.kmsGrants).toEqual(r.documents.kmsGrants)
  })

  it.each(HOSTILE_PREFIXES)('round-trips the prefix %j exactly', (prefix) => {
    const s = spec({prefix, principalArn: HOSTILE_ROLE})
    const r = renderAwsGrant(s, 'json')
    const out = JSON.parse(r.text) as {bucketPolicy: {Statement: IamStatement[]}}
    parsePolicyDocument(JSON.stringify(out.bucketPolicy), 'the rendered bucket policy')
    expect(out.bucketPolicy.Statement).toEqual(grantStatements(s))
  })
})

describe('renderAwsGrant: terraform', () => {
  const statementsOf = (doc: any): Record<string, unknown>[] =>
    (doc.statement as any[]).map((st) => {
      const out: Record<string, unknown> = {Sid: st.sid, Effect: st.effect}
      out.Principal = Object.fromEntries((st.principals as any[]).map((p) => [p.type, p.identifiers]))
      out.Action = st.actions
      out.Resource = st.resources
      if (st.condition) {
        const cond: Record<string, Record<string, string[]>> = {}
        for (const c of st.condition as any[]) (cond[c.test] ??= {})[c.variable] = c.values
        out.Condition = cond
      }
      return out
    })

  it('declares a policy document with statement blocks and one aws_kms_grant per key, but no bucket policy', () => {
    const s = spec({kmsKeyArns: [KEY_EU, KEY_US]})
    const r = renderAwsGrant(s, 'terraform')
    const parsed = parseHcl(r.text)

    const docs = parsed.data.aws_iam_policy_document as Record<string, any[]>
    const names = Object.keys(docs)
    expect(names).toHaveLength(1)
    expect(names[0]).toMatch(/^ingestgate_research_data_[0-9a-f]{12}$/)
    const doc = docs[names[0]][0]
    expect(doc.source_policy_documents).toBeUndefined()
    expect(statementsOf(doc)).toEqual(grantStatements(s).map(listed))
    const list = statementsOf(doc)[0]
    expect(list.Condition).toEqual({StringLike: {'s3:prefix': ['scans/2024/', 'scans/2024/*']}})
    expect(list.Principal).toEqual({AWS: [ROLE]})
    expect(statementsOf(doc)[2].Resource).toEqual(['arn:aws:s3:::research-data/scans/2024/*'])

    // A bucket policy resource would replace the whole policy: only shown, commented, as the merge.
    expect(parsed.resource.aws_s3_bucket_policy).toBeUndefined()
    expect(r.text).toMatch(/REPLACES the bucket's whole policy/)
    expect(r.text).toContain(`#       data.aws_iam_policy_document.${names[0]}.json,`)
    expect(r.text).toMatch(/^# +source_policy_documents = \[/m)
    expect(r.text).toMatch(/^# +resource "aws_s3_bucket_policy"/m)

    const grants = parsed.resource.aws_kms_grant as Record<string, any[]>
    expect(Object.fromEntries(Object.entries(grants).map(([k, v]) => [k, v[0]]))).toEqual(
      Object.fromEntries(
        r.documents.kmsGrants.map((g) => [
          g.name.replaceAll('-', '_'),
          {name: g.name, key_id: g.keyArn, grantee_principal: ROLE, operations: ['Decrypt']},
        ]),
      ),
    )
    expect(r.text).toContain('in region "us-east-1"')
  })

  it('writes no condition block for a whole-bucket grant and says when no KMS key was given', () => {
    const r = renderAwsGrant(spec({prefix: '', kmsKeyArns: []}), 'terraform')
    const parsed = parseHcl(r.text)
    const doc = Object.values(parsed.data.aws_iam_policy_document as Record<string, any[]>)[0][0]
    expect((doc.statement as any[]).every((st) => st.condition === undefined)).toBe(true)
    expect(parsed.resource).toBeUndefined()
    expect(r.text).toContain('No KMS keys were given')
  })

  it.each(HOSTILE_PREFIXES)('round-trips the prefix %j and a hostile role exactly', (prefix) => {
    const s = spec({prefix, principalArn: HOSTILE_ROLE})
    const r = renderAwsGrant(s, 'terraform')
    const parsed = parseHcl(r.text)
    const doc = Object.values(parsed.data.aws_iam_policy_document as Record<string, any[]>)[0][0]
    // hcl2json leaves a real interpolation as "${...}" source text; equality proves there is none.
    expect(statementsOf(doc)).toEqual(grantStatements(s).map(listed))
    expect(parsed.resource.aws_kms_grant[kmsGrantName(HOSTILE_ROLE, KEY_EU).replaceAll('-', '_')][0].grantee_principal).toBe(HOSTILE_ROLE)
  })

  it('gives the statements as JSON when a value contains "&{", which statement blocks would rewrite to "${"', () => {
    for (const s of [spec({prefix: 'a&{b}/x"y\\z ${q}'}), spec({principalArn: AMP_ROLE})]) {
      const r = renderAwsGrant(s, 'terraform')
      const parsed = parseHcl(r.text)
      const doc = Object.values(parsed.data.aws_iam_policy_document as Record<string, any[]>)[0][0]
      expect(doc.statement).toBeUndefined()
      expect(doc.source_policy_documents).toHaveLength(1)
      const policy = parsePolicyDocument(doc.source_policy_documents[0] as string, 'the heredoc policy')
      expect(policy).toEqual({Version: '2012-10-17', Statement: grantStatements(s)})
    }
  })

  it.skipIf(!onPath('terraform'))(skipTitle('is already in terraform fmt style (Terraform\'s own parser reads it), when terraform is installed', onPath('terraform'), 'terraform is not on PATH; the snippet was checked with hcl2-parser only.'), () => {
    const dir = tmpDir()
    const specs = [spec({kmsKeyArns: [KEY_EU, KEY_US]}), spec({prefix: '', kmsKeyArns: []}), spec({prefix: 'a&{b}"c'}),
      ...HOSTILE_PREFIXES.map((prefix) => spec({prefix, principalArn: HOSTILE_ROLE}))]
    specs.forEach((s, i) => writeFileSync(join(dir, `grant-${i}.tf`), renderAwsGrant(s, 'terraform').text))
    const r = spawnSync('terraform', ['fmt', '-check', '-diff', '-no-color', dir], {encoding: 'utf8'})
    expect(r.status, r.stdout + r.stderr).toBe(0)
  })

  it('refuses a value Terraform would change by Unicode NFC normalisation', () => {
    const nfd = 'cafe\u0301/'
    expectConfigError(() => renderAwsGrant(spec({prefix: nfd}), 'terraform'), 'RENDER_UNSUPPORTED')
    // The other formats keep the bytes.
    const json = JSON.parse(renderAwsGrant(spec({prefix: nfd}), 'json').text)
    expect(json.bucketPolicy.Statement[2].Resource).toBe(`arn:aws:s3:::research-data/${nfd}*`)
  })
})

describe('renderAwsGrant: cloudformation', () => {
  const policyOf = (tpl: any): any => {
    const resources = Object.values(tpl.Resources as Record<string, any>)
    expect(resources).toHaveLength(1)
    expect(resources[0].Type).toBe('AWS::S3::BucketPolicy')
    return resources[0].Properties
  }

  it.skipIf(!HAS_CFN_LINT)(skipTitle('is a template cfn-lint accepts without errors, for plain and hostile values', HAS_CFN_LINT, 'cfn-lint is not on PATH, the CloudFormation templates were not linted.'), () => {
    const texts = [
      renderAwsGrant(spec({kmsKeyArns: [KEY_EU, KEY_US]}), 'cloudformation').text,
      renderAwsGrant(spec({prefix: '', kmsKeyArns: []}), 'cloudformation').text,
      ...HOSTILE_PREFIXES.map((prefix) => renderAwsGrant(spec({prefix, principalArn: HOSTILE_ROLE}), 'cloudformation').text),
      renderAwsGrant(spec({prefix: 'a&{b}\u2028\u0085\ufeff', principalArn: AMP_ROLE}), 'cloudformation').text,
    ]
    // One run (cfn-lint starts slowly). The last template is a control: without its Bucket the
    // policy is invalid, so an empty result means the linter did look.
    const control = texts[0].replace(/^ {6}Bucket: .*\n/m, '')
    const errors = cfnLintErrors([...texts, control])
    const controlFile = `template-${texts.length}.yaml`
    expect(errors.filter((e) => !e.Filename.endsWith(controlFile))).toEqual([])
    expect(errors.filter((e) => e.Filename.endsWith(controlFile)).length).toBeGreaterThan(0)
  })

  it('says the BucketPolicy replaces the whole policy and lists the KMS grants as aws CLI commands', () => {
    const s = spec({kmsKeyArns: [KEY_EU, KEY_US], principalArn: HOSTILE_ROLE})
    const r = renderAwsGrant(s, 'cloudformation')
    expect(r.text).toMatch(/REPLACES the bucket's whole policy/)
    expect(r.text).toMatch(/^Description: ".*merge these statements.*"$/m)
    expect(r.text).toMatch(/no resource type for a KMS grant/)
    const commands = r.text.split('\n').filter((l) => l.startsWith('#   aws kms create-grant ')).map((l) => l.slice('#   '.length))
    expect(commands).toHaveLength(2)
    // The shell reads each commented command back into exactly the intended arguments.
    commands.forEach((command, i) => {
      const g = r.documents.kmsGrants[i]
      const region = i === 0 ? 'eu-west-1' : 'us-east-1'
      expect(shellWords(command)).toEqual(['aws', 'kms', 'create-grant', '--region', region, '--key-id', g.keyArn,
        '--grantee-principal', HOSTILE_ROLE, '--operations', 'Decrypt', '--name', g.name])
    })
  })

  it.skipIf(!HAS_PY_YAML)(skipTitle('reads back, as YAML, exactly the statements for plain and hostile values', HAS_PY_YAML, 'no YAML reader (python3 + PyYAML); the CloudFormation text was not read back.'), () => {
    const specs = [
      spec(),
      spec({prefix: ''}),
      ...HOSTILE_PREFIXES.map((prefix) => spec({prefix, principalArn: HOSTILE_ROLE})),
      // Characters YAML 1.1 reads as line breaks, a BOM, and a C1 control-free but odd mix.
      spec({prefix: 'x\u2028y\u2029z\u0085w\ufeffv\u00a0u/', principalArn: AMP_ROLE}),
    ]
    const docs = readYaml(specs.map((s) => renderAwsGrant(s, 'cloudformation').text))
    docs.forEach((tpl, i) => {
      const props = policyOf(tpl)
      expect(props.Bucket).toBe('research-data')
      expect(props.PolicyDocument.Version).toBe('2012-10-17')
      expect(props.PolicyDocument.Statement).toEqual(grantStatements(specs[i]).map(listed))
    })
  })
})

// ------------------------------------------------------------------------------------------------
// The cli script, run for real against a stand-in `aws` that keeps a bucket policy and KMS grants
// in files and records every call's arguments (NUL-separated, so any byte round-trips).

const FAKE_AWS = String.raw`#!/bin/sh
state="$FAKE_AWS_STATE"
n=$(cat "$state/count" 2>/dev/null || echo 0)
echo $((n + 1)) >"$state/count"
printf '%s\0' "$@" >"$state/call-$(printf '%03d' "$n")"
arg() { want=$1; shift; while [ $# -gt 0 ]; do if [ "$1" = "$want" ]; then printf '%s' "$2"; return 0; fi; shift; done; return 1; }
keyfile() { printf '%s/grants-%s' "$state" "$(printf '%s' "$1" | tr -c 'a-zA-Z0-9' _)"; }
case "$1 $2" in
  's3api get-bucket-policy')
    if [ -f "$state/policy.json" ]; then cat "$state/policy.json"; else
      echo 'An error occurred (NoSuchBucketPolicy) when calling the GetBucketPolicy operation: The bucket policy does not exist' >&2
      exit 254
    fi ;;
  's3api put-bucket-policy')
    src=$(arg --policy "$@" | sed 's|^file://||'); cp "$src" "$state/policy.json" ;;
  'kms list-grants')
    f=$(keyfile "$(arg --key-id "$@")")
    name=$(arg --query "$@" | sed 's/.*"\(ingestgate-decrypt-[0-9a-f]*\)".*/\1/')
    if [ -f "$f" ]; then awk -F '\t' -v n="$name" '$1 == n { printf "%s%s", sep, $2; sep = "\t" } END { print "" }' "$f"; else echo; fi ;;
  'kms create-grant')
    f=$(keyfile "$(arg --key-id "$@")")
    printf '%s\t%s\n' "$(arg --name "$@")" "$(arg --grantee-principal "$@")" >>"$f"
    echo '{"GrantId": "g", "GrantToken": "t"}' ;;
  *) echo "fake aws: unexpected $*" >&2; exit 2 ;;
esac
`

interface Run {
  status: number | null
  stderr: string
  calls: string[][]
  dir: string
  state: string
}

function makeWorld(policy?: unknown): {dir: string; state: string; bin: string} {
  const dir = tmpDir()
  const state = join(dir, 'state')
  const bin = join(dir, 'bin')
  mkdirSync(state)
  mkdirSync(bin)
  writeFileSync(join(bin, 'aws'), FAKE_AWS)
  chmodSync(join(bin, 'aws'), 0o755)
  if (policy !== undefined) writeFileSync(join(state, 'policy.json'), JSON.stringify(policy))
  return {dir, state, bin}
}

function runScript(script: string, world: {dir: string; state: string; bin: string}, shell = 'sh'): Run {
  const file = join(world.dir, 'grant.sh')
  writeFileSync(file, script)
  for (const f of readdirSync(world.state)) if (f.startsWith('call-') || f === 'count') rmSync(join(world.state, f))
  const r = spawnSync(shell, [file], {
    cwd: world.dir,
    encoding: 'utf8',
    env: {...process.env, PATH: `${world.bin}:${process.env.PATH}`, FAKE_AWS_STATE: world.state, TMPDIR: world.dir},
  })
  const calls = readdirSync(world.state)
    .filter((f) => f.startsWith('call-'))
    .sort()
    .map((f) => readFileSync(join(world.state, f), 'utf8').split('\0').slice(0, -1))
  return {status: r.status, stderr: r.stderr, calls, dir: world.dir, state: world.state}
}

const called = (run: Run, service: string, op: string): string[][] => run.calls.filter((c) => c[0] === service && c[1] === op)
const argOf = (call: string[], flag: string): string => call[call.indexOf(flag) + 1]

/** How the shell splits a command line into words (no expansion happens inside single quotes). */
function shellWords(command: string): string[] {
  const r = spawnSync('sh', ['-c', `set -- ${command}; printf '%s\\0' "$@"`], {encoding: 'utf8'})
  expect(r.status, r.stderr).toBe(0)
  return r.stdout.split('\0').slice(0, -1)
}

describe('renderAwsGrant: cli', () => {
  const FOREIGN = {Sid: 'AuditorsRead', Effect: 'Allow', Principal: {AWS: 'arn:aws:iam::999999999999:role/auditor'}, Action: 's3:GetObject', Resource: 'arn:aws:s3:::research-data/audit/*'}

  it('is a syntactically valid shell script (bash -n, dash -n)', () => {
    for (const s of [spec(), spec({prefix: '', kmsKeyArns: []}), ...HOSTILE_PREFIXES.map((prefix) => spec({prefix, principalArn: HOSTILE_ROLE}))]) {
      const text = renderAwsGrant(s, 'cli').text
      expect(text.startsWith('#!/bin/sh\n')).toBe(true)
      for (const shell of HAS_DASH ? ['bash', 'dash'] : ['bash']) {
        const r = spawnSync(shell, ['-n'], {input: text, encoding: 'utf8'})
        expect(r.status, `${shell} -n: ${r.stderr}`).toBe(0)
      }
    }
  })

  it('quotes every value so the shell reads back the exact bytes', () => {
    for (const value of [...HOSTILE_PREFIXES, HOSTILE_ROLE, "'", "''", 'a\'"\'b', '', '\\', '$(touch pwned)', '`touch pwned`', 'x\ny']) {
      const r = spawnSync('bash', ['-c', `printf %s ${shellQuote(value)}`], {encoding: 'utf8'})
      expect(r.stdout).toBe(value)
    }
    const r = renderAwsGrant(spec({prefix: HOSTILE_PREFIXES[1], principalArn: HOSTILE_ROLE}), 'cli')
    const create = r.text.split('\n').find((l) => l.trimStart().startsWith('aws kms create-grant'))!
    expect(shellWords(create.trim())).toEqual(['aws', 'kms', 'create-grant', '--region', 'eu-west-1', '--key-id', KEY_EU,
      '--grantee-principal', HOSTILE_ROLE, '--operations', 'Decrypt', '--name', kmsGrantName(HOSTILE_ROLE, KEY_EU)])
  })

  it.skipIf(!HAS_JQ).each(HOSTILE_PREFIXES)(skipTitle('merges into the existing policy, backs it up, creates the grant, and a re-run changes nothing (prefix %j)', HAS_JQ, 'jq is not on PATH, the generated cli script was not run.'), (prefix) => {
    const s = spec({prefix, principalArn: HOSTILE_ROLE, kmsKeyArns: [KEY_EU, KEY_US]})
    const ours = grantStatements(s)
    const stale = {...ours[2], Resource: 'arn:aws:s3:::research-data/old/*'}
    // A single-object Statement is valid IAM; an older copy of one of our statements is replaced.
    const before = {Version: '2012-10-17', Id: 'keep-me', Statement: FOREIGN}
    const world = makeWorld(before)
    const script = renderAwsGrant(s, 'cli').text

    const first = runScript(script, world)
    expect(first.status, first.stderr).toBe(0)
    const after = JSON.parse(readFileSync(join(world.state, 'policy.json'), 'utf8'))
    expect(after).toEqual({Version: '2012-10-17', Id: 'keep-me', Statement: [FOREIGN, ...ours]})
    const backups = readdirSync(world.dir).filter((f) => f.startsWith('ingestgate-policy-backup-research-data-'))
    expect(backups).toHaveLength(1)
    expect(JSON.parse(readFileSync(join(world.dir, backups[0]), 'utf8'))).toEqual(before)
    expect(called(first, 's3api', 'put-bucket-policy')).toHaveLength(1)
    expect(argOf(called(first, 's3api', 'put-bucket-policy')[0], '--bucket')).toBe('research-data')
    const creates = called(first, 'kms', 'create-grant')
    expect(creates.map((c) => [argOf(c, '--region'), argOf(c, '--key-id'), argOf(c, '--grantee-principal'), argOf(c, '--operations'), argOf(c, '--name')])).toEqual([
      ['eu-west-1', KEY_EU, HOSTILE_ROLE, 'Decrypt', kmsGrantName(HOSTILE_ROLE, KEY_EU)],
      ['us-east-1', KEY_US, HOSTILE_ROLE, 'Decrypt', kmsGrantName(HOSTILE_ROLE, KEY_US)],
    ])

    // Idempotent: no write of the policy, no second grant.
    const second = runScript(script, world)
    expect(second.status, second.stderr).toBe(0)
    expect(called(second, 's3api', 'put-bucket-policy')).toEqual([])
    expect(called(second, 'kms', 'create-grant')).toEqual([])
    expect(called(second, 'kms', 'list-grants')).toHaveLength(2)
    expect(JSON.parse(readFileSync(join(world.state, 'policy.json'), 'utf8'))).toEqual(after)

    // A stale copy of one of our statements (same Sid) is replaced in place of being duplicated.
    writeFileSync(join(world.state, 'policy.json'), JSON.stringify({Version: '2012-10-17', Statement: [stale, FOREIGN]}))
    const third = runScript(script, world)
    expect(third.status, third.stderr).toBe(0)
    expect(JSON.parse(readFileSync(join(world.state, 'policy.json'), 'utf8')).Statement).toEqual([FOREIGN, ...ours])
  })

  it.skipIf(!HAS_JQ)(skipTitle('treats NoSuchBucketPolicy as an empty policy and runs under bash too', HAS_JQ, 'jq is not on PATH, the generated cli script was not run.'), () => {
    const s = spec({kmsKeyArns: []})
    const world = makeWorld()
    const run = runScript(renderAwsGrant(s, 'cli').text, world, 'bash')
    expect(run.status, run.stderr).toBe(0)
    expect(run.stderr).toContain('no policy yet')
    expect(JSON.parse(readFileSync(join(world.state, 'policy.json'), 'utf8'))).toEqual({Version: '2012-10-17', Statement: grantStatements(s)})
    expect(readdirSync(world.dir).filter((f) => f.startsWith('ingestgate-policy-backup'))).toEqual([])
    expect(called(run, 'kms', 'create-grant')).toEqual([])
  })

  it.skipIf(!HAS_JQ)(skipTitle('stops without writing when raising an old policy Version would change what "${" means', HAS_JQ, 'jq is not on PATH, the generated cli script was not run.'), () => {
    const old = {Version: '2008-10-17', Statement: [{...FOREIGN, Resource: 'arn:aws:s3:::research-data/${literal}/*'}]}
    const world = makeWorld(old)
    const run = runScript(renderAwsGrant(spec(), 'cli').text, world)
    expect(run.status).not.toBe(0)
    expect(run.stderr).toContain('merge these statements by hand')
    expect(called(run, 's3api', 'put-bucket-policy')).toEqual([])
    expect(called(run, 'kms', 'create-grant')).toEqual([])
    expect(JSON.parse(readFileSync(join(world.state, 'policy.json'), 'utf8'))).toEqual(old)
  })

  it('stops on any other read error without writing', () => {
    const world = makeWorld()
    // A stand-in that fails every call the way AccessDenied does.
    writeFileSync(join(world.bin, 'aws'), '#!/bin/sh\necho "An error occurred (AccessDenied) when calling the GetBucketPolicy operation" >&2\nexit 254\n')
    const run = runScript(renderAwsGrant(spec(), 'cli').text, world)
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('AccessDenied')
    expect(existsSync(join(world.state, 'policy.json'))).toBe(false)
  })
})

describe('escaping, read back by each format', () => {
  const nasty = [
    '', '"', '\\', '\\"', '${x}', '$${x}', '$$${x}', '%{x}', '%%{x}', '$', '%', '${', '%{', 'a$', 'a%', '{}',
    "'", '`id`', '$(id)', 'tab\there', 'new\nline', 'cr\rx', '\u0001\u007f\u0085\u009f', '\u2028\u2029\ufeff', 'é😀中文', ' spaced ',
  ]

  it('hclString evaluates back to the value in HCL2', () => {
    const text = nasty.map((v, i) => `v${i} = ${hclString(v)}`).join('\n') + '\n'
    const parsed = parseHcl(text)
    nasty.forEach((v, i) => expect(parsed[`v${i}`], JSON.stringify(v)).toBe(v))
  })

  it('yamlString is JSON-quoted, with no raw character a YAML 1.1 reader treats as a line break', () => {
    for (const v of nasty) {
      expect(JSON.parse(yamlString(v))).toBe(v)
      expect(yamlString(v)).not.toMatch(/[\n\r\u0085\u2028\u2029]/)
    }
  })

  it.skipIf(!HAS_PY_YAML)(skipTitle('yamlString reads back as the value in a YAML reader', HAS_PY_YAML, 'no YAML reader (python3 + PyYAML)'), () => {
    const [doc] = readYaml([nasty.map((v, i) => `v${i}: ${yamlString(v)}`).join('\n') + '\n'])
    nasty.forEach((v, i) => expect((doc as Record<string, string>)[`v${i}`], JSON.stringify(v)).toBe(v))
  })

  it('jsonString is a JSON string literal', () => {
    for (const v of nasty) expect(JSON.parse(jsonString(v))).toBe(v)
  })
})

describe('renderAwsGrant: refuses bad input with ConfigError', () => {
  it.each([
    ['*', 'BAD_PRINCIPAL'],
    ['arn:aws:iam::123456789012:root', 'BAD_PRINCIPAL'],
    ['123456789012', 'BAD_PRINCIPAL'],
    ['AROAEXAMPLEID1234567', 'BAD_PRINCIPAL'],
    ['arn:aws:sts::123456789012:assumed-role/ingest/session', 'BAD_PRINCIPAL'],
    ['arn:aws:iam::123456789012:role/ingest*', 'BAD_PRINCIPAL'],
    ['not an arn', 'BAD_PRINCIPAL'],
  ])('principal %j -> %s', (principalArn, code) => {
    for (const format of RENDER_FORMATS) expectConfigError(() => renderAwsGrant(spec({principalArn}), format), code)
  })

  it.each([
    ['arn:aws:kms:eu-west-1:123456789012:alias/data', 'BAD_KMS_KEY'],
    ['alias/aws/s3', 'BAD_KMS_KEY'],
    ['1234abcd-12ab-34cd-56ef-1234567890ab', 'BAD_KMS_KEY'],
    ['arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'BAD_KMS_KEY'],
  ])('KMS key %j -> %s', (key, code) => {
    for (const format of RENDER_FORMATS) expectConfigError(() => renderAwsGrant(spec({kmsKeyArns: [KEY_EU, key]}), format), code)
  })

  it.each([
    [{bucket: 'Bad_Bucket'}],
    [{bucket: 'research-data/other'}],
    [{bucket: ' research-data'}],
    [{prefix: 'data/*'}],
    [{prefix: 'data/?'}],
    [{prefix: 'line\nbreak'}],
    [{prefix: '/leading'}],
    [{prefix: 'lone \ud800 surrogate'}],
  ])('source %j -> BAD_SOURCE', (over) => {
    for (const format of RENDER_FORMATS) expectConfigError(() => renderAwsGrant(spec(over), format), 'BAD_SOURCE')
  })
})
