/**
 * GCP grant status: the bucket IAM bindings of ingestgate's grant on a source, compared with what
 * apply would write today. Reads only, with the operator's credentials.
 *
 * A binding is the grant's by role and member; its condition says which prefix it is for (its title
 * is `ingestgate: PREFIX`, see conditions.ts). Without a --principal the principals are the members
 * of objectViewer under this source's condition title (with a prefix), or, for a whole bucket, the
 * members holding both unconditioned roles: legacyBucketReader next to objectViewer is ingestgate's
 * pairing, which hand-made grants rarely have.
 */
import type {AppContext} from '../../context.js'
import {directoryPrefix} from '../../source.js'
import type {GrantStatus, GrantStatusItem, StatusRequest} from '../types.js'
import {sameCondition} from './conditions.js'
import {operatorClientOptions, readPolicy} from './grant.js'
import {parseMember} from './member.js'
import type {GcpOptions} from './options.js'
import {grantBindings, type BucketIamPolicy, type IamBinding} from './policy.js'
import {GRANTED_ROLES} from './roles.js'

const has = (b: IamBinding, member: string) => b.members.some((m) => m.toLowerCase() === member.toLowerCase())

function grantedMembers(policy: BucketIamPolicy, bucket: string, dirPrefix: string): string[] {
  const viewer = grantBindings({bucket, dirPrefix, member: 'x'})[0]
  const ours = policy.bindings.filter((b) => b.role === GRANTED_ROLES.objectViewer && (viewer.condition ? b.condition?.title === viewer.condition.title : !b.condition))
  const legacy = policy.bindings.filter((b) => b.role === GRANTED_ROLES.legacyBucketReader && !b.condition)
  const members = new Map(ours.flatMap((b) => b.members).map((m) => [m.toLowerCase(), m]))
  return [...members.entries()].filter(([lower]) => dirPrefix || legacy.some((b) => has(b, lower))).map(([, m]) => m)
}

function describe(c: IamBinding['condition']): string {
  return c ? `condition ${JSON.stringify(c.expression)}${c.title ? ` (${c.title})` : ''}` : 'no condition'
}

/** Status of one source: each of the grant's two bindings for each principal. */
export async function gcpGrantStatus(ctx: AppContext, req: StatusRequest<GcpOptions>): Promise<GrantStatus> {
  const bucket = req.source.bucket
  const dirPrefix = directoryPrefix(req.source)
  const gcp = await ctx.clients.gcp(operatorClientOptions(req.options))
  const policy = await readPolicy(gcp, bucket)
  const principals = req.principal ? [parseMember(req.principal).member] : grantedMembers(policy, bucket, dirPrefix)
  const items: GrantStatusItem[] = []
  for (const member of principals) {
    for (const w of grantBindings({bucket, dirPrefix, member})) {
      const base = {principal: member, kind: 'iam-binding', id: w.role, target: `gs://${bucket}`}
      const exact = policy.bindings.find((b) => b.role === w.role && sameCondition(b.condition, w.condition) && has(b, member))
      const other = policy.bindings.filter((b) => b.role === w.role && has(b, member) && !sameCondition(b.condition, w.condition))
      if (exact) items.push({...base, state: 'in-place', detail: `as apply writes it (${describe(w.condition)})`})
      else if (other.length > 0) {
        items.push({...base, state: 'drifted', detail: `the member has the role with ${other.map((b) => describe(b.condition)).join(' and ')}, not with ${describe(w.condition)}; apply adds the binding apply writes`})
      } else items.push({...base, state: 'missing', detail: 'the member is not in this binding; apply adds it'})
    }
  }
  return {source: req.source.url, principals, items, notes: []}
}
