/**
 * Azure apply and revoke: read the principal's role assignments at the container and above, decide
 * with the pure evaluator, and return a plan whose execute() makes the one write (a PUT or a
 * DELETE of the assignment with ingestgate's deterministic name), after backing up what it
 * replaces or removes. 409 RoleAssignmentExists is resolved by lookup; PrincipalNotFound is
 * retried with bounded backoff, then explained.
 */
import type {ArmPort} from '../../clients/azure/index.js'
import type {AppContext} from '../../context.js'
import {backoffDelay, formatDuration} from '../../core/duration.js'
import {AppError, ConfigError, RemoteError} from '../../errors.js'
import {fingerprint} from '../../core/fingerprint.js'
import {parseBackupDocument, recordSuccessor, writeBackup, type BackupInfo} from '../../state.js'
import {restorePlan} from '../grant-flow.js'
import type {GrantChange, GrantPlan, RestoreRequest} from '../types.js'
import {coveringAssignment, permitsDataAction, type AccessInput, type RoleAssignmentInfo, type RoleDefinitionInfo} from './evaluate.js'
import {validateAzurePrincipal, type AzureOptions, type AzureRequest} from './options.js'
import {assignmentDescription} from './render.js'
import {cloudOptionsFor, resolveSource, type ResolvedSource} from './resolve.js'
import {parseSource} from '../../source.js'
import {BLOB_DATA_READER_ROLE, BLOB_READ_ACTION, parsePrefixCondition, roleGuidOf, ROLE_ASSIGNMENT_WRITE, ROLES_THAT_CAN_ASSIGN, inheritsTo} from './spec.js'

interface AssignmentState extends ResolvedSource {
  /** The principal's assignments that cover the container (at it or above). */
  covering: RoleAssignmentInfo[]
  definitions: Map<string, RoleDefinitionInfo>
  /** ingestgate's own assignment (by its deterministic name), if it exists. */
  ours?: RoleAssignmentInfo
}

/** Role definitions of the given assignments, by lower-case GUID (missing ones left out). */
export async function readDefinitions(arm: ArmPort, assignments: readonly RoleAssignmentInfo[]): Promise<Map<string, RoleDefinitionInfo>> {
  const ids = [...new Map(assignments.map((a) => [roleGuidOf(a.roleDefinitionId), a.roleDefinitionId])).entries()]
  const defs = new Map<string, RoleDefinitionInfo>()
  await Promise.all(
    ids.map(async ([guid, id]) => {
      const d = await arm.getRoleDefinition(id)
      if (d) defs.set(guid, d)
    }),
  )
  return defs
}

async function readState(ctx: AppContext, req: AzureRequest): Promise<AssignmentState> {
  validateAzurePrincipal(req.principal)
  const resolved = await resolveSource(ctx, req)
  const {arm, spec} = resolved
  const listed = await denyToRead(() => arm.listRoleAssignments(spec.scope, spec.principalId), spec.scope, 'Microsoft.Authorization/roleAssignments/read')
  const covering = listed.filter((a) => a.principalId.toLowerCase() === spec.principalId && inheritsTo(a.scope, spec.scope))
  const definitions = await readDefinitions(arm, covering)
  const ours = covering.find((a) => a.name.toLowerCase() === spec.name && a.scope.toLowerCase() === spec.scope.toLowerCase())
  return {...resolved, covering, definitions, ours}
}

export async function denyToRead<T>(fn: () => Promise<T>, scope: string, action: string): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (error instanceof AppError && error.code === 'ACCESS_DENIED') {
      throw new RemoteError('ACCESS_DENIED', `Your identity may not read the role assignments at ${scope} (${action}).`, {
        cause: error,
        kind: 'access-denied',
        suggestions: [`Run as an identity with ${ROLES_THAT_CAN_ASSIGN.join(', ')} (or Reader) on the storage account.`],
      })
    }
    throw error
  }
}

/** The assignment as the plan shows it: one fact per line, the condition in its own lines. */
function assignmentLines(a: {name: string; scope: string; roleDefinitionId: string; principalId: string; condition?: string}): string[] {
  const role = roleGuidOf(a.roleDefinitionId) === BLOB_DATA_READER_ROLE ? `Storage Blob Data Reader (${a.roleDefinitionId})` : a.roleDefinitionId
  return [
    `role assignment ${a.name}`,
    `  scope:     ${a.scope}`,
    `  role:      ${role}`,
    `  principal: ${a.principalId} (ServicePrincipal)`,
    ...(a.condition ? ['  condition (version 2.0):', ...a.condition.split('\n').map((line) => `    ${line}`)] : ['  condition: none (the whole container)']),
  ]
}

function describe(a: RoleAssignmentInfo, defs: Map<string, RoleDefinitionInfo>): string {
  return `${a.name} (${defs.get(roleGuidOf(a.roleDefinitionId))?.roleName ?? roleGuidOf(a.roleDefinitionId)}) at ${a.scope}`
}

/** Plan an apply: nothing when the principal can already read the source, else one PUT. Reads only. */
export async function planAzureApply(ctx: AppContext, req: AzureRequest): Promise<GrantPlan> {
  const state = await readState(ctx, req)
  const {spec, definitions} = state
  const name = spec.name!
  const input: AccessInput = {principalId: spec.principalId, scope: spec.scope, assignments: state.covering, definitions, denyAssignments: []}
  const notes: string[] = []
  const covered = coveringAssignment(input, spec.prefix)
  if (covered) {
    const whose = covered.assignment.name.toLowerCase() === name ? 'ingestgate\'s own role assignment' : 'the existing role assignment'
    notes.push(`The principal can already read ${req.source.url}: ${whose} ${describe(covered.assignment, definitions)} grants ${BLOB_READ_ACTION}${covered.assignment.condition ? ' under a prefix that covers this source' : ''}. Nothing to write.`)
    return noWrite(notes)
  }
  const wanted = {name, scope: spec.scope, roleDefinitionId: spec.roleDefinitionId, principalId: spec.principalId, condition: spec.condition}
  const changes: GrantChange[] = []
  let diff: GrantPlan['diff']
  if (state.ours) {
    // Azure allows one assignment per principal, role and scope, so a second prefix in the same
    // container cannot get its own: widen only when the new grant covers the old one.
    const oldPrefix = state.ours.condition ? parsePrefixCondition(state.ours.condition) : ''
    if (oldPrefix === undefined || !(oldPrefix.startsWith(spec.prefix))) {
      throw new ConfigError('ASSIGNMENT_CONFLICT', `ingestgate's role assignment ${name} for this principal in container ${spec.container} already limits reads to ${oldPrefix === undefined ? 'a condition it did not write' : JSON.stringify(oldPrefix)}; Azure allows one assignment per principal, role and container, and replacing it would take that access away. Nothing was written.`, {
        suggestions: [`Grant a prefix that covers both (e.g. az://${spec.account}/${spec.container}), or revoke the other source first: ingestgate grant revoke az://${spec.account}/${spec.container}/${oldPrefix ?? ''}`],
      })
    }
    changes.push({kind: 'role-assignment', action: 'replace', id: name, target: spec.scope})
    diff = [...assignmentLines(state.ours).map((text) => ({op: '-' as const, text})), ...assignmentLines(wanted).map((text) => ({op: '+' as const, text}))]
  } else {
    changes.push({kind: 'role-assignment', action: 'create', id: name, target: spec.scope})
    diff = assignmentLines(wanted).map((text) => ({op: '+' as const, text}))
  }
  const others = state.covering.filter((a) => a !== state.ours && definitions.get(roleGuidOf(a.roleDefinitionId)) && permitsDataAction(definitions.get(roleGuidOf(a.roleDefinitionId))!.permissions, BLOB_READ_ACTION))
  for (const a of others) notes.push(`Also found ${describe(a, definitions)}, whose condition does not cover ${req.source.url}; it is left as it is.`)
  return {
    changes,
    diff,
    notes,
    async execute() {
      const done: string[] = []
      let backup: string | undefined
      if (state.ours) backup = await backupAssignment(ctx, spec, state.ours, {source: req.source.url, verb: 'apply'})
      const result = await putWithRetry(ctx, state, req)
      if (result.kind === 'exists') {
        done.push(`An equivalent role assignment already exists: ${describe(result.assignment, definitions)} (made by someone else since the plan was read). Nothing was written; revoke leaves it alone.`)
        return {backup, notes: done}
      }
      // Re-read: a concurrent change between our PUT and now shows as a different document.
      const after = await state.arm.getRoleAssignment(spec.scope, name)
      if (!after || roleGuidOf(after.roleDefinitionId) !== BLOB_DATA_READER_ROLE || after.principalId.toLowerCase() !== spec.principalId || (after.condition ?? undefined) !== spec.condition) {
        throw new RemoteError('CONCURRENT_CHANGE', `Role assignment ${name} read back differently from what was written: someone else changed it at the same time.${backup ? ` The assignment before our change is in ${backup}.` : ''}`, {
          suggestions: ['Review the assignment (az role assignment list --scope SCOPE), then re-run apply.'],
        })
      }
      const problem = backup ? await recordSuccessor(backup, assignmentFingerprint(after), ctx.now()) : undefined
      if (problem) done.push(problem)
      done.push(`Role assignment ${name} (Storage Blob Data Reader${spec.condition ? `, reads under ${spec.prefix} only` : ''}) is in place at ${spec.scope}. Azure can take up to 10 minutes to enforce it: ingestgate check ${req.source.url} --live --wait 10m`)
      return {backup, notes: done}
    },
  }
}

/**
 * The fingerprint of what a role assignment grants (scope, role, principal, condition; ids compare
 * without case as ARM compares them), `absent` when there is none.
 */
export function assignmentFingerprint(a: RoleAssignmentInfo | undefined): string {
  return fingerprint(a ? {scope: a.scope.toLowerCase(), role: roleGuidOf(a.roleDefinitionId), principalId: a.principalId.toLowerCase(), condition: a.condition ?? null} : null)
}

function backupAssignment(ctx: AppContext, spec: {account: string; container: string; scope: string}, a: RoleAssignmentInfo, by: {source: string; verb: BackupInfo['verb']}): Promise<string> {
  const info: BackupInfo = {cloud: 'az', source: by.source, verb: by.verb, document: 'role-assignment', target: {account: spec.account, bucket: spec.container, scope: a.scope, name: a.name}}
  return writeBackup(ctx.stateDir, 'az', `${spec.account}-${spec.container}-role-assignment-${a.name}`, JSON.stringify(a, null, 2), ctx.now(), info)
}

function noWrite(notes: string[]): GrantPlan {
  return {changes: [], diff: [], notes, execute: async () => ({notes: []})}
}

type PutResult = {kind: 'written'} | {kind: 'exists'; assignment: RoleAssignmentInfo}

async function putWithRetry(ctx: AppContext, state: AssignmentState, req: AzureRequest): Promise<PutResult> {
  const {spec, arm} = state
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      await arm.createRoleAssignment(spec.scope, spec.name!, {roleDefinitionId: spec.roleDefinitionId, principalId: spec.principalId, condition: spec.condition, description: assignmentDescription(spec)})
      return {kind: 'written'}
    } catch (error) {
      if (!(error instanceof AppError)) throw error
      if (error.code === 'ROLE_ASSIGNMENT_EXISTS') {
        // Usually without an id: find the assignment of the same principal and role at this scope.
        const listed = await arm.listRoleAssignments(spec.scope, spec.principalId)
        const same = listed.find((a) => a.scope.toLowerCase() === spec.scope.toLowerCase() && roleGuidOf(a.roleDefinitionId) === BLOB_DATA_READER_ROLE && a.principalId.toLowerCase() === spec.principalId)
        if (same) return {kind: 'exists', assignment: same}
        throw error
      }
      if (error.code === 'PRINCIPAL_NOT_FOUND') {
        const elapsed = Date.now() - started
        const delay = backoffDelay(attempt, {initialMs: req.options.principalRetryInitialMs, maxMs: 30_000})
        if (elapsed + delay <= req.options.principalRetryMs) {
          ctx.ui.info(`The directory does not know principal ${spec.principalId} yet (attempt ${attempt}); retrying in ${formatDuration(delay)} ...`)
          await new Promise((resolve) => setTimeout(resolve, delay))
          continue
        }
        throw principalNotFound(req, attempt, Date.now() - started, error)
      }
      if (error.code === 'ACCESS_DENIED') {
        const me = await state.clients.identity().catch(() => undefined)
        throw new RemoteError('NOT_ALLOWED_TO_ASSIGN', `${me?.objectId ? `Your identity ${me.objectId}` : 'Your identity'} may not create role assignments at ${spec.scope}: it lacks ${ROLE_ASSIGNMENT_WRITE}. Nothing was written.`, {
          cause: error,
          kind: 'access-denied',
          suggestions: [
            `Roles that have it: ${ROLES_THAT_CAN_ASSIGN.join(', ')} (Contributor does not). Ask someone who holds one of them on the storage account to run this, or to assign you one.`,
            'Or hand them the rendered grant: ingestgate grant render ' + req.source.url + ' --format cli',
          ],
        })
      }
      throw error
    }
  }
}

function principalNotFound(req: AzureRequest, attempts: number, elapsedMs: number, cause: AppError): ConfigError {
  const app = req.options.applicationId
  return new ConfigError('PRINCIPAL_NOT_FOUND', `Azure does not know the principal ${req.principal} in this directory (${attempts} attempts over ${formatDuration(elapsedMs)}). Nothing was written.`, {
    cause,
    suggestions: [
      'If the vendor\'s application was consented to only minutes ago, its service principal may still be replicating: wait a few minutes and re-run apply.',
      `If ${req.principal} is the application (client) id, use the service principal's object id instead: az ad sp show --id ${app ?? req.principal} --query id -o tsv`,
      app ? `If the application was never consented to in this tenant: https://login.microsoftonline.com/${req.options.siteTenantId ?? 'organizations'}/adminconsent?client_id=${app}` : 'The service principal exists in your tenant only after admin consent of the vendor\'s application (see docs/cloud-admin-guide.md).',
    ],
  })
}

/** Plan a revoke: delete exactly ingestgate's assignment (by name); mention equivalent ones it leaves. */
export async function planAzureRevoke(ctx: AppContext, req: AzureRequest): Promise<GrantPlan> {
  const state = await readState(ctx, req)
  const {spec, definitions} = state
  const name = spec.name!
  const notes: string[] = []
  const others = state.covering.filter((a) => a !== state.ours && definitions.get(roleGuidOf(a.roleDefinitionId)) && permitsDataAction(definitions.get(roleGuidOf(a.roleDefinitionId))!.permissions, BLOB_READ_ACTION))
  for (const a of others) notes.push(`Left alone: role assignment ${describe(a, definitions)} also lets the principal read blobs; ingestgate did not make it.`)
  if (!state.ours) return noWrite(notes)
  const ours = state.ours
  // The name is per container (Azure allows one such assignment there): it may be for another prefix.
  const oursFor = ours.condition ? parsePrefixCondition(ours.condition) : ''
  if (oursFor !== spec.prefix) {
    const what = oursFor === undefined ? 'a condition ingestgate did not write' : oursFor === '' ? 'the whole container' : `the prefix ${oursFor}`
    notes.push(`ingestgate's role assignment ${name} in container ${spec.container} is for ${what}, not for ${spec.prefix || 'the whole container'}; it was left alone.${oursFor !== undefined ? ` To remove it: ingestgate grant revoke az://${spec.account}/${spec.container}/${oursFor}` : ''}`)
    return noWrite(notes)
  }
  return {
    changes: [{kind: 'role-assignment', action: 'delete', id: name, target: spec.scope}],
    diff: assignmentLines(ours).map((text) => ({op: '-' as const, text})),
    notes,
    async execute() {
      const backup = await backupAssignment(ctx, spec, ours, {source: req.source.url, verb: 'revoke'})
      try {
        const deleted = await state.arm.deleteRoleAssignment(spec.scope, name)
        const problem = await recordSuccessor(backup, assignmentFingerprint(undefined), ctx.now())
        return {backup, notes: [...(deleted ? [] : [`Role assignment ${name} was already gone.`]), ...(problem ? [problem] : [])]}
      } catch (error) {
        if (error instanceof AppError && error.code === 'ACCESS_DENIED') {
          throw new RemoteError('NOT_ALLOWED_TO_ASSIGN', `Your identity may not delete role assignments at ${spec.scope} (Microsoft.Authorization/roleAssignments/delete). Nothing was removed.`, {
            cause: error,
            kind: 'access-denied',
            suggestions: [`Roles that have it: ${ROLES_THAT_CAN_ASSIGN.join(', ')}.`],
          })
        }
        throw error
      }
    },
  }
}

/**
 * Plan putting a backed-up role assignment back (a PUT under its own name and scope). The
 * assignment must still be what the backed-up change left (its record's fingerprint), unless --force.
 */
export async function planAzureRestore(ctx: AppContext, req: RestoreRequest<AzureOptions>): Promise<GrantPlan> {
  const {record} = req.backup
  const restored = await parseBackupDocument<RoleAssignmentInfo>(req.backup, 'azure-role-assignment', 'a role assignment')
  const subscriptionId = req.options.cloud.subscriptionId ?? /^\/subscriptions\/([^/]+)/i.exec(restored.scope)?.[1]
  // A backup from a sovereign cloud goes back to that cloud's Resource Manager.
  const clients = await ctx.clients.azure({...cloudOptionsFor(parseSource(record.source), req.options), subscriptionId})
  const arm = await clients.arm()
  const current = await arm.getRoleAssignment(restored.scope, restored.name)
  const spec = {account: record.target.account, container: record.target.bucket, scope: restored.scope}
  const changed = () =>
    new RemoteError('CONCURRENT_CHANGE', `Role assignment ${restored.name} changed while ingestgate restored it; someone else wrote it at the same time.`, {
      suggestions: ['Run grant restore again to see the new difference (grant status shows what is there).'],
    })
  return restorePlan(record, req.force, {
    what: `role assignment ${restored.name}`,
    same: assignmentFingerprint(current) === assignmentFingerprint(restored),
    current: assignmentFingerprint(current),
    change: {kind: 'role-assignment', action: current ? 'replace' : 'create', id: restored.name, target: restored.scope},
    diff: [...(current ? assignmentLines(current).map((text) => ({op: '-' as const, text})) : []), ...assignmentLines(restored).map((text) => ({op: '+' as const, text}))],
    async execute() {
      // ARM has no etag for assignments: read again after the prompt, so a change made meanwhile is not overwritten.
      if (assignmentFingerprint(await arm.getRoleAssignment(restored.scope, restored.name)) !== assignmentFingerprint(current)) throw changed()
      const backup = current ? await backupAssignment(ctx, spec, current, {source: record.source, verb: 'restore'}) : undefined
      const body = {roleDefinitionId: restored.roleDefinitionId, principalId: restored.principalId, condition: restored.condition, description: `ingestgate: ingest read access to ${record.source}`}
      await arm.createRoleAssignment(restored.scope, restored.name, body)
      const after = await arm.getRoleAssignment(restored.scope, restored.name)
      if (assignmentFingerprint(after) !== assignmentFingerprint(restored)) throw changed()
      const problem = backup ? await recordSuccessor(backup, assignmentFingerprint(after), ctx.now()) : undefined
      return {backup, notes: [`Role assignment ${restored.name} is back at ${restored.scope}; Azure can take up to 10 minutes to enforce it.`, ...(problem ? [problem] : [])]}
    },
  })
}
