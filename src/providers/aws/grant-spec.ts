/**
 * What the AWS grant is: the bucket-policy statements and KMS grants for one ingest principal on one
 * source. Pure: used by render (no SDK), apply and revoke alike, so all three agree on every byte.
 */
import {createHash} from 'node:crypto'

import type {IamStatement} from './policy/types.js'
import {shellWord} from '../../core/shell.js'
import {ConfigError} from '../../errors.js'

export interface AwsGrantSpec {
  bucket: string
  /** Key prefix, '' for the whole bucket. */
  prefix: string
  /** IAM role or user ARN of the ingest principal. */
  principalArn: string
  /** KMS key ARNs to grant Decrypt on. */
  kmsKeyArns: string[]
}

const PARTITIONS = 'aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc'
// IAM names: [\w+=,.@-]; paths: / or /seg/.../ with printable ASCII 0x21-0x7E.
const PRINCIPAL_ARN = new RegExp(
  `^arn:(${PARTITIONS}):iam::(\\d{12}):(role|user)(/(?:[\\x21-\\x2e\\x30-\\x7e]+/)*)?([\\w+=,.@-]{1,128})$`,
)
const KMS_KEY_ARN = new RegExp(`^arn:(${PARTITIONS}):kms:([a-z]{2}(?:-[a-z]+)+-\\d):(\\d{12}):key/([0-9a-f-]{36}|mrk-[0-9a-f]{32})$`)
const KMS_ALIAS_ARN = new RegExp(`^arn:(${PARTITIONS}):kms:([a-z]{2}(?:-[a-z]+)+-\\d):(\\d{12}):alias/(.+)$`)

export interface ParsedPrincipalArn {
  arn: string
  partition: string
  accountId: string
  kind: 'role' | 'user'
  name: string
}

/** Say what a principal that is not an IAM ARN looks like, so the message names the mistake. */
function principalMistake(value: string): string {
  if (/^(serviceAccount|user|group|domain):|@[\w.-]+\.iam\.gserviceaccount\.com$/i.test(value)) return 'this is a GCP member; s3:// needs an IAM role ARN'
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return 'this is an Azure object id (a GUID); s3:// needs an IAM role ARN'
  const account = /^arn:[^:]*:iam::(\d*):/.exec(value)
  if (account && account[1].length !== 12) return `the account id "${account[1]}" has ${account[1].length} digits, not 12`
  if (/:(role|user)\/?$/.test(value)) return 'the role or user name after the slash is missing'
  if (/^arn:/.test(value)) return 'expected arn:PARTITION:iam::ACCOUNT_ID:role/NAME (or :user/NAME)'
  return 'it does not start with arn:'
}

/**
 * Validate the ingest principal: a well-formed IAM role or user ARN, never `*`, an account, a
 * service or a bare unique id.
 * @throws ConfigError BAD_PRINCIPAL (exit 3)
 */
export function parsePrincipalArn(input: string): ParsedPrincipalArn {
  const value = input.trim()
  const help = ['Give the ingest role ARN, e.g. arn:aws:iam::123456789012:role/ingest (support sends it in the site file).']
  if (value === '*' || value === '' || /^\{?\s*"?AWS"?\s*:/.test(value)) {
    throw new ConfigError('BAD_PRINCIPAL', `Refusing principal "${value}": a wildcard or public principal would open the bucket to everyone.`, {suggestions: help})
  }
  if (/^(AROA|AIDA)[A-Z0-9]{12,}$/.test(value)) {
    throw new ConfigError('BAD_PRINCIPAL', `"${value}" is an IAM unique id, not an ARN; policies must name the role by ARN.`, {suggestions: help})
  }
  if (/^\d{12}$/.test(value) || /:root$/.test(value)) {
    throw new ConfigError('BAD_PRINCIPAL', `Refusing principal "${value}": it names a whole account, which would let every identity in it read the bucket.`, {suggestions: help})
  }
  if (value.includes('*') || value.includes('?')) {
    throw new ConfigError('BAD_PRINCIPAL', `Refusing principal "${value}": wildcards are not allowed in a principal.`, {suggestions: help})
  }
  if (/^arn:[^:]+:sts::\d{12}:assumed-role\//.test(value)) {
    throw new ConfigError('BAD_PRINCIPAL', `"${value}" is an assumed-role session, which expires; grant the role itself.`, {
      suggestions: ['Use arn:aws:iam::ACCOUNT:role/ROLE_NAME for the role behind this session.'],
    })
  }
  const m = PRINCIPAL_ARN.exec(value)
  if (!m) throw new ConfigError('BAD_PRINCIPAL', `"${value}" is not a well-formed IAM role or user ARN: ${principalMistake(value)}.`, {suggestions: help})
  return {arn: value, partition: m[1], accountId: m[2], kind: m[3] as 'role' | 'user', name: m[5]}
}

export interface ParsedKmsKeyArn {
  arn: string
  partition: string
  region: string
  accountId: string
  keyId: string
}

/**
 * Validate a KMS key ARN. Aliases are refused because a grant needs the key itself, and the alias can
 * move to another key later.
 * @throws ConfigError BAD_KMS_KEY (exit 3)
 */
export function parseKmsKeyArn(input: string): ParsedKmsKeyArn {
  const value = input.trim()
  const m = KMS_KEY_ARN.exec(value)
  if (m) return {arn: value, partition: m[1], region: m[2], accountId: m[3], keyId: m[4]}
  if (KMS_ALIAS_ARN.test(value) || value.startsWith('alias/')) {
    throw new ConfigError('BAD_KMS_KEY', `"${value}" is a KMS alias; a grant must name the key ARN.`, {
      suggestions: ['Find the key ARN with: aws kms describe-key --key-id ' + shellWord(value) + ' --query KeyMetadata.Arn'],
    })
  }
  throw new ConfigError('BAD_KMS_KEY', `"${value}" is not a KMS key ARN.`, {
    suggestions: ['Give the full key ARN, e.g. arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab.'],
  })
}

/** In policy version 2012-10-17 "${" starts a variable; a literal "$" is written "${$}". */
export function iamLiteral(value: string): string {
  return value.replaceAll('$', '${$}')
}

function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 12)
}

/** The Sid prefix every statement the tool writes starts with. */
export const SID_PREFIX = 'Ingestgate'

/**
 * The Sids the tool owns for one principal and prefix. Derived (not random) so a re-apply finds its
 * own statements, several principals and prefixes coexist, and revoke removes exactly these.
 */
export function ownedSids(principalArn: string, prefix: string): {list: string; location: string; read: string} {
  const h = shortHash(principalArn, prefix)
  return {list: `${SID_PREFIX}List${h}`, location: `${SID_PREFIX}Loc${h}`, read: `${SID_PREFIX}Read${h}`}
}

/**
 * Sids an earlier version wrote for the same grant: it took `dicom` (no slash) as a key prefix, so
 * its Sids were derived from `dicom`. apply replaces those statements; revoke removes them.
 */
export function legacySids(principalArn: string, givenPrefix: string): string[] {
  const bare = givenPrefix.replace(/\/+$/, '')
  if (bare === '') return []
  const s = ownedSids(principalArn, bare)
  return [s.list, s.location, s.read]
}

/** Deterministic KMS grant name, so ListGrants finds the tool's grant and a re-apply creates none. */
export function kmsGrantName(principalArn: string, keyArn: string): string {
  return `ingestgate-decrypt-${shortHash(principalArn, keyArn)}`
}

export function bucketArn(partition: string, bucket: string): string {
  return `arn:${partition}:s3:::${bucket}`
}

/**
 * The bucket-policy statements of the grant: ListBucket on the bucket (limited by s3:prefix when
 * there is a prefix), GetBucketLocation on the bucket, GetObject + GetObjectAttributes on
 * BUCKET/PREFIX*. GetBucketLocation has its own statement because its requests carry no s3:prefix,
 * so the prefix condition would deny it.
 */
export function grantStatements(spec: AwsGrantSpec): IamStatement[] {
  const principal = parsePrincipalArn(spec.principalArn)
  const sids = ownedSids(principal.arn, spec.prefix)
  const bucket = bucketArn(principal.partition, spec.bucket)
  const who = {AWS: principal.arn}
  const prefix = iamLiteral(spec.prefix)
  const list: IamStatement = {Sid: sids.list, Effect: 'Allow', Principal: who, Action: 's3:ListBucket', Resource: bucket}
  if (spec.prefix) list.Condition = {StringLike: {'s3:prefix': [prefix, `${prefix}*`]}}
  return [
    list,
    {Sid: sids.location, Effect: 'Allow', Principal: who, Action: 's3:GetBucketLocation', Resource: bucket},
    {Sid: sids.read, Effect: 'Allow', Principal: who, Action: ['s3:GetObject', 's3:GetObjectAttributes'], Resource: `${bucket}/${prefix}*`},
  ]
}
