/**
 * `grant render` for AWS: what the grant would be, as the native documents (JSON), a Terraform
 * snippet, a CloudFormation template or an aws CLI script. Touches nothing: no credentials, no
 * network, no AWS SDK. The statements and grant names come from grant-spec, like apply and revoke.
 *
 * Templates live in templates/aws/ (one per format). Values reach them only through the format's own
 * escaping (HCL string literal, JSON-quoted YAML scalar, single-quoted shell word), never through
 * Mustache's HTML escaping.
 */
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import Mustache from 'mustache'

import type {IamPolicy, IamStatement, StringOrList} from './policy/types.js'
import {hclHeredocBody, hclString, yamlString} from '../../core/literals.js'
import {shellQuote} from '../../core/shell.js'
import {ConfigError} from '../../errors.js'
import {parseSource} from '../../source.js'
import {
  type AwsGrantSpec,
  type ParsedKmsKeyArn,
  grantStatements,
  kmsGrantName,
  ownedSids,
  parseKmsKeyArn,
  parsePrincipalArn,
  SID_PREFIX,
} from './grant-spec.js'

export type RenderFormat = 'json' | 'terraform' | 'cloudformation' | 'cli'
export const RENDER_FORMATS: readonly RenderFormat[] = ['json', 'terraform', 'cloudformation', 'cli']

export interface AwsKmsGrant {
  keyArn: string
  granteePrincipal: string
  operations: ['Decrypt']
  name: string
}

export interface AwsGrantDocuments {
  bucketPolicyStatements: IamStatement[]
  kmsGrants: AwsKmsGrant[]
}

export interface RenderedAwsGrant {
  format: RenderFormat
  documents: AwsGrantDocuments
  text: string
}

/**
 * Render the AWS grant in one format. Validates every value first (principal, KMS keys, bucket,
 * prefix) and throws ConfigError (exit 3) for anything that is not a well-formed, safe grant, or that
 * the format cannot express exactly.
 */
export function renderAwsGrant(spec: AwsGrantSpec, format: RenderFormat): RenderedAwsGrant {
  const grant = resolve(spec)
  const documents: AwsGrantDocuments = {bucketPolicyStatements: grant.statements, kmsGrants: grant.kmsGrants}
  switch (format) {
    case 'json':
      return {format, documents, text: renderJson(documents)}
    case 'terraform':
      return {format, documents, text: renderTerraform(grant)}
    case 'cloudformation':
      return {format, documents, text: renderCloudFormation(grant)}
    case 'cli':
      return {format, documents, text: renderCli(grant)}
    default:
      throw new ConfigError('BAD_FORMAT', `Unknown render format "${String(format)}".`, {
        suggestions: [`Use --format ${RENDER_FORMATS.join('|')}.`],
      })
  }
}

// ---------------------------------------------------------------------------------------------
// Validation: everything the formats need, computed once.

interface ResolvedGrant {
  bucket: string
  prefix: string
  principalArn: string
  statements: IamStatement[]
  kmsGrants: AwsKmsGrant[]
  /** Region of each grant's key, same order as kmsGrants (KMS calls go to the key's region). */
  kmsRegions: string[]
  /** Hash shared by this principal + prefix's Sids: names the Terraform document. */
  grantHash: string
}

function resolve(spec: AwsGrantSpec): ResolvedGrant {
  const principal = parsePrincipalArn(spec.principalArn)
  checkBucketAndPrefix(spec.bucket, spec.prefix)

  const keys: ParsedKmsKeyArn[] = []
  for (const input of spec.kmsKeyArns) {
    const key = parseKmsKeyArn(input)
    if (key.partition !== principal.partition) {
      throw new ConfigError(
        'BAD_KMS_KEY',
        `KMS key "${key.arn}" is in partition ${key.partition}, the principal in ${principal.partition}: a grant cannot cross partitions.`,
        {suggestions: ['Give the key ARN from the same partition as the ingest role.']},
      )
    }
    if (!keys.some((k) => k.arn === key.arn)) keys.push(key)
  }

  const statements = grantStatements({...spec, principalArn: principal.arn})
  const kmsGrants = keys.map(
    (key): AwsKmsGrant => ({
      keyArn: key.arn,
      granteePrincipal: principal.arn,
      operations: ['Decrypt'],
      name: kmsGrantName(principal.arn, key.arn),
    }),
  )
  const sids = ownedSids(principal.arn, spec.prefix)
  return {
    bucket: spec.bucket,
    prefix: spec.prefix,
    principalArn: principal.arn,
    statements,
    kmsGrants,
    kmsRegions: keys.map((k) => k.region),
    grantHash: sids.list.slice(`${SID_PREFIX}List`.length),
  }
}

/**
 * The caller's source parser has validated these already; check again because every format relies
 * on it: a bucket name of the S3 rules only, and a prefix without wildcards (they would widen the
 * grant), control characters or unpaired surrogates (not a valid S3 key).
 */
function checkBucketAndPrefix(bucket: string, prefix: string): void {
  const parsed = parseSource(`s3://${bucket}`)
  if (parsed.bucket !== bucket || parsed.prefix !== '') {
    throw new ConfigError('BAD_SOURCE', `"${bucket}" is not an S3 bucket name.`, {suggestions: ['Use s3://BUCKET[/PREFIX].']})
  }
  const problems: Array<[RegExp, string]> = [
    [/[*?]/, 'contains a wildcard (* or ?), which would widen the grant'],
    // eslint-disable-next-line no-control-regex
    [/[\u0000-\u001f\u007f]/, 'contains a control character'],
    [/\p{Cs}/u, 'is not valid Unicode (an unpaired surrogate)'],
    [/^\//, 'starts with "/" (an empty path segment)'],
  ]
  const why = problems.find(([re]) => re.test(prefix))?.[1]
  if (why) {
    throw new ConfigError('BAD_SOURCE', `The key prefix ${JSON.stringify(prefix)} ${why}.`, {
      suggestions: ['Give the literal key prefix, e.g. s3://BUCKET/data/2024/.'],
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Formats.

const POLICY_VERSION = '2012-10-17'

function renderJson(documents: AwsGrantDocuments): string {
  const policy: IamPolicy = {Version: POLICY_VERSION, Statement: documents.bucketPolicyStatements}
  return `${JSON.stringify({bucketPolicy: policy, kmsGrants: documents.kmsGrants}, null, 2)}\n`
}

function renderTerraform(grant: ResolvedGrant): string {
  const unsupported = [...allStrings(grant.statements), grant.principalArn].find((s) => s.normalize('NFC') !== s)
  if (unsupported !== undefined) {
    // Terraform (cty) normalises every string to Unicode NFC, escapes included: the policy would
    // name other keys than the bucket has.
    throw new ConfigError(
      'RENDER_UNSUPPORTED',
      `Terraform cannot express ${JSON.stringify(unsupported)} exactly: it normalises strings to Unicode NFC, which would change the key prefix.`,
      {suggestions: ['Render with --format json, cloudformation or cli instead, or apply with: ingestgate grant apply.']},
    )
  }
  const dataName = identifier(`ingestgate_${grant.bucket.replaceAll(/[^a-z0-9]/g, '_')}_${grant.grantHash}`)
  // aws_iam_policy_document rewrites "&{" to "${" in statement blocks (its policy-variable syntax)
  // but takes source_policy_documents as written.
  const needsJson = allStrings(grant.statements).some((s) => s.includes('&{'))
  const heredocPolicy = needsJson
    ? hclHeredocBody(
        JSON.stringify({Version: POLICY_VERSION, Statement: grant.statements}, null, 2)
          .split('\n')
          .map((line) => `    ${line}`)
          .join('\n'),
      )
    : false
  const view = {
    bucket: grant.bucket,
    dataName,
    dataRef: `data.aws_iam_policy_document.${dataName}.json`,
    heredocPolicy,
    statements: grant.statements.map(statementView),
    grants: grant.kmsGrants.map((g, i) => ({
      resourceName: identifier(g.name.replaceAll('-', '_')),
      name: g.name,
      keyArn: g.keyArn,
      grantee: g.granteePrincipal,
      region: grant.kmsRegions[i],
    })),
  }
  return renderTemplate('terraform.tf.mustache', view, hclString)
}

function renderCloudFormation(grant: ResolvedGrant): string {
  const view = {
    bucket: grant.bucket,
    description:
      `ingestgate: read access for the ingest principal to S3 bucket ${grant.bucket}. A bucket has one policy and ` +
      'AWS::S3::BucketPolicy replaces it whole: merge these statements into the existing BucketPolicy of the bucket, if it has one.',
    statements: grant.statements.map(statementView),
    hasGrants: grant.kmsGrants.length > 0,
    kmsCommands: grant.kmsGrants.map((g, i) => oneLine(createGrantCommand(g, grant.kmsRegions[i]))),
  }
  return renderTemplate('cloudformation.yaml.mustache', view, yamlString)
}

/** The aws CLI command for one grant, every value a single-quoted shell word. */
function createGrantCommand(g: AwsKmsGrant, region: string): string {
  const q = shellQuote
  return `aws kms create-grant --region ${q(region)} --key-id ${q(g.keyArn)} --grantee-principal ${q(g.granteePrincipal)} --operations Decrypt --name ${q(g.name)}`
}

function renderCli(grant: ResolvedGrant): string {
  const view = {
    bucket: grant.bucket,
    principal: grant.principalArn,
    hasPrefix: grant.prefix !== '',
    prefix: grant.prefix,
    statements: JSON.stringify(grant.statements, null, 2),
    hasGrants: grant.kmsGrants.length > 0,
    grants: grant.kmsGrants.map((g, i) => ({
      region: grant.kmsRegions[i],
      keyArn: g.keyArn,
      grantee: g.granteePrincipal,
      name: g.name,
      // A JMESPath JSON literal; the grant name is [a-z0-9-] only.
      listQuery: `Grants[?Name==\`${JSON.stringify(g.name)}\`].GranteePrincipal`,
    })),
  }
  return renderTemplate('cli.sh.mustache', view, shellQuote)
}

// ---------------------------------------------------------------------------------------------
// Template plumbing.

interface StatementView {
  sid: string
  effect: string
  principals: Array<{type: string; identifiers: string[]}>
  actions: string[]
  resources: string[]
  /** Terraform shape: one block per operator and key. */
  conditions: Array<{test: string; variable: string; values: string[]}>
  /** CloudFormation shape: operator -> key -> values. */
  conditionOperators: Array<{operator: string; keys: Array<{key: string; values: string[]}>}>
  hasConditions: boolean
}

/** The statement as lists (every format below writes lists; IAM reads a list of one as the value). */
function statementView(s: IamStatement): StatementView {
  if (!s.Sid || !s.Principal || s.Principal === '*' || s.NotPrincipal || s.NotAction || s.NotResource) {
    throw new Error(`grant statement ${s.Sid ?? '(no Sid)'} has a shape the render templates do not support`)
  }
  const conditionOperators = Object.entries(s.Condition ?? {}).map(([operator, keys]) => ({
    operator,
    keys: Object.entries(keys).map(([key, values]) => ({key, values: stringList(values)})),
  }))
  return {
    sid: s.Sid,
    effect: s.Effect,
    principals: Object.entries(s.Principal).map(([type, ids]) => ({type, identifiers: list(ids)})),
    actions: list(s.Action),
    resources: list(s.Resource),
    conditions: conditionOperators.flatMap((op) => op.keys.map((k) => ({test: op.operator, variable: k.key, values: k.values}))),
    conditionOperators,
    hasConditions: conditionOperators.length > 0,
  }
}

function list(value: StringOrList | undefined): string[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

function stringList(value: unknown): string[] {
  const values = Array.isArray(value) ? value : [value]
  if (!values.every((v): v is string => typeof v === 'string')) throw new Error('grant condition values must be strings')
  return values
}

/** Every string value in the statements (what Terraform would normalise or rewrite). */
function allStrings(statements: IamStatement[]): string[] {
  const out: string[] = []
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v)
    else if (Array.isArray(v)) v.forEach(walk)
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
      out.push(k)
      walk(x)
    }
  }
  walk(statements)
  return out
}

/** A Terraform identifier, inserted unquoted: check it rather than trust it. */
function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`"${name}" is not a safe Terraform identifier`)
  return name
}

/** Text inserted unescaped into a comment line must stay on that line. */
function oneLine(text: string): string {
  if (/[\n\r\u0085\u2028\u2029]/.test(text)) throw new Error('comment text must be a single line')
  return text
}

const templateCache = new Map<string, string>()

function loadTemplate(name: string): string {
  let text = templateCache.get(name)
  if (text === undefined) {
    // src/providers/aws/ and dist/providers/aws/ are both three levels below the package root.
    text = readFileSync(fileURLToPath(new URL(`../../../templates/aws/${name}`, import.meta.url)), 'utf8')
    templateCache.set(name, text)
  }
  return text
}

function renderTemplate(name: string, view: object, escape: (value: string) => string): string {
  return Mustache.render(loadTemplate(name), view, {}, {
    escape: (value: unknown) => {
      // Only strings are values here; anything else is a bug in a view above.
      if (typeof value !== 'string') throw new Error(`template ${name}: non-string value ${String(value)}`)
      return escape(value)
    },
  })
}
