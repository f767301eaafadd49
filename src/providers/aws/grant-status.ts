/**
 * AWS grant status: the bucket-policy statements and KMS grants ingestgate owns on a source, each
 * compared with what apply would write today. Reads only, with the operator's credentials.
 *
 * Ownership is by Sid (ownedSids: a hash of principal and prefix) and KMS grant name, so without a
 * --principal the principals are those of the statements carrying ingestgate's Sid prefix whose Sid
 * is one this source's grant would have for them.
 */
import type {AppContext} from '../../context.js'
import type {GrantStatus, GrantStatusItem, StatusRequest} from '../types.js'
import {grantStatements, legacySids, ownedSids, SID_PREFIX} from './grant-spec.js'
import {planKeys, readBucket} from './grant.js'
import type {AwsOptions} from './options.js'
import {sameStatement, statementList} from './policy/policy.js'
import type {IamPolicy, IamStatement} from './policy/types.js'

const FIELDS = ['Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition'] as const

/** Which fields of a hand-edited statement differ from what apply writes. */
function differingFields(found: IamStatement, wanted: IamStatement): string[] {
  return FIELDS.filter((f) => JSON.stringify(found[f] ?? null) !== JSON.stringify(wanted[f] ?? null))
}

function awsPrincipals(s: IamStatement): string[] {
  const p = s.Principal
  if (!p || typeof p === 'string') return []
  const aws = (p as Record<string, unknown>).AWS
  return (Array.isArray(aws) ? aws : [aws]).filter((v): v is string => typeof v === 'string')
}

/** The principals this source's statements were written for (their Sids are the ones apply derives for them). */
function grantedPrincipals(policy: IamPolicy | null, prefix: string, givenPrefix: string): string[] {
  if (!policy) return []
  const statements = statementList(policy)
  const sids = new Set(statements.map((s) => s.Sid).filter((s): s is string => typeof s === 'string'))
  const candidates = new Set(statements.filter((s) => s.Sid?.startsWith(SID_PREFIX)).flatMap(awsPrincipals))
  return [...candidates].filter((arn) => {
    const own = ownedSids(arn, prefix)
    return [own.list, own.location, own.read, ...legacySids(arn, givenPrefix)].some((sid) => sids.has(sid))
  })
}

/** Status of one source: statements by Sid, then each KMS key in use's Decrypt grant. */
export async function awsGrantStatus(ctx: AppContext, req: StatusRequest<AwsOptions>, givenPrefix: string): Promise<GrantStatus> {
  const bucket = req.source.bucket
  const prefix = req.source.prefix
  const state = await readBucket(ctx, req)
  const statements = state.policy ? statementList(state.policy) : []
  const principals = req.principal ? [req.principal] : grantedPrincipals(state.policy, prefix, givenPrefix)
  const items: GrantStatusItem[] = []
  const notes: string[] = []
  for (const principal of principals) {
    for (const wanted of grantStatements({bucket, prefix, principalArn: principal, kmsKeyArns: []})) {
      const found = statements.find((s) => s.Sid === wanted.Sid)
      const base = {principal, kind: 'bucket-policy-statement', id: wanted.Sid!, target: `s3://${bucket}`}
      if (!found) items.push({...base, state: 'missing', detail: 'not in the bucket policy; apply adds it'})
      else if (sameStatement(found, wanted)) items.push({...base, state: 'in-place', detail: 'as apply writes it'})
      else items.push({...base, state: 'drifted', detail: `edited since apply (${differingFields(found, wanted).join(', ') || 'its form'} differ); apply writes it back as it was`})
    }
    for (const sid of legacySids(principal, givenPrefix).filter((sid) => statements.some((s) => s.Sid === sid))) {
      items.push({principal, kind: 'bucket-policy-statement', id: sid, target: `s3://${bucket}`, state: 'drifted', detail: 'written by an earlier version for the prefix without its slash; apply replaces it'})
    }
    const keys = await planKeys(state.aws, {...req, principal}, state.region, state.owner, 'apply')
    notes.push(...keys.notes, ...keys.warnings)
    for (const k of keys.keys) {
      const base = {principal, kind: 'kms-grant', id: k.name, target: k.keyArn}
      if (k.existing.some((g) => g.ok)) items.push({...base, state: 'in-place', detail: `Decrypt granted (${k.existing.find((g) => g.ok)!.grantId})`})
      else if (k.existing.length > 0) items.push({...base, state: 'drifted', detail: 'a grant of this name exists with another grantee or operations; apply retires it and creates the right one'})
      else items.push({...base, state: 'missing', detail: 'no Decrypt grant for the principal (retired, revoked or never made); apply creates it'})
    }
  }
  return {source: req.source.url, principals, items, notes: [...new Set(notes)]}
}
