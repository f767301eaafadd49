/**
 * What the static and live layers of the AWS check share: the principal in the forms check accepts,
 * and the exact commands its remedies point to.
 */
import type {RemedyContext} from './policy/access.js'
import {shellWord} from '../../core/shell.js'
import {ConfigError} from '../../errors.js'
import type {AwsRequest} from './options.js'
import {parsePrincipalArn} from './grant-spec.js'

/** The operations the cluster performs on an S3 source, in reading order. */
export const AWS_OPERATIONS = ['list', 'region', 'get', 'get-attributes', 'decrypt'] as const
export type AwsOperationId = (typeof AWS_OPERATIONS)[number]

export interface CheckPrincipal {
  /** As evaluated: the role (or user) ARN, or the assumed-role session ARN given. */
  arn: string
  accountId: string
  partition: string
  kind: 'role' | 'user' | 'session'
  /** Role or user name (the last path element). */
  name: string
  /**
   * The ARN to grant: the role ARN (for a session given as the principal, the role ARN without
   * its path, which a session ARN does not carry).
   */
  grantArn: string
}

const SESSION = /^arn:([^:]+):sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/([\w+=,.@-]+)$/

/**
 * The ingest principal as check takes it: an IAM role or user ARN, or an assumed-role session ARN
 * (what `aws sts get-caller-identity` prints inside the cluster), which stands for its role.
 * @throws ConfigError BAD_PRINCIPAL (exit 3)
 */
export function parseCheckPrincipal(input: string): CheckPrincipal {
  const value = input.trim()
  const s = SESSION.exec(value)
  if (s) {
    const [, partition, accountId, name] = s as unknown as [string, string, string, string]
    return {arn: value, accountId, partition, kind: 'session', name, grantArn: `arn:${partition}:iam::${accountId}:role/${name}`}
  }
  const p = parsePrincipalArn(value)
  return {arn: p.arn, accountId: p.accountId, partition: p.partition, kind: p.kind, name: p.name, grantArn: p.arn}
}

/** Whether the caller (from GetCallerIdentity) is this principal: the role's session, or the user. */
export function callerIsPrincipal(callerArn: string, p: CheckPrincipal): boolean {
  const s = SESSION.exec(callerArn)
  if (s) return (p.kind === 'role' || p.kind === 'session') && s[2] === p.accountId && s[3] === p.name
  return p.kind === 'user' && callerArn === p.arn
}

/** The cloud flags the user gave, repeated so a remedy command runs against the same place. */
function cloudArgs(req: AwsRequest): string {
  const parts: string[] = []
  const {profile, region, endpointUrl} = req.options.cloud
  if (profile) parts.push('--profile', shellWord(profile))
  if (region) parts.push('--region', shellWord(region))
  if (endpointUrl) parts.push('--endpoint-url', shellWord(endpointUrl))
  return parts.length ? ' ' + parts.join(' ') : ''
}

/** The commands remedies point to: grant apply for this source, and the live check as the principal. */
export function remedyCommands(req: AwsRequest, principal: CheckPrincipal): RemedyContext {
  const who = `--principal ${shellWord(principal.grantArn)}`
  const src = shellWord(req.source.url)
  return {
    grantApply: `ingestgate grant apply ${src} ${who}${cloudArgs(req)}`,
    checkLive: `ingestgate check ${src} ${who} --live --no-static --assume-role ${shellWord(principal.grantArn)}`,
  }
}

export function missingLiveIdentity(callerArn: string, principal: CheckPrincipal): ConfigError {
  return new ConfigError('LIVE_NOT_PRINCIPAL', `The live layer would run as ${callerArn}, not as the ingest principal ${principal.arn}: its results would prove nothing about the principal.`, {
    suggestions: [
      `Pass --assume-role ${principal.grantArn} (with --external-id if its trust policy asks for one), or --principal-profile NAME for a profile that is the principal.`,
      'Run the static layer alone (without --live) to evaluate the policies with your own credentials.',
    ],
  })
}
