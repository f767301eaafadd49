/**
 * `grant render` for Azure: the role assignment as the ARM request body (json), a Terraform
 * `azurerm_role_assignment`, a Bicep `Microsoft.Authorization/roleAssignments`, or an az CLI
 * script. Pure: no credentials, no network, no SDK. Without --subscription and --resource-group
 * the scope has placeholders, marked FILL IN in every format (Bicep needs only the name).
 *
 * Templates live in templates/azure/. Values reach them only through the format's own escaping
 * (HCL string literal, Bicep string literal, single-quoted shell word), never Mustache's HTML escaping.
 */
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import Mustache from 'mustache'

import {backslashEscape, hclString} from '../../core/literals.js'
import {shellQuote} from '../../core/shell.js'
import {UsageError} from '../../errors.js'
import type {RenderResult} from '../types.js'
import {ASSIGNMENT_NAMESPACE, BLOB_DATA_READER_NAME, BLOB_DATA_READER_ROLE, type AzureGrantSpec} from './spec.js'

export const RENDER_FORMATS = ['json', 'terraform', 'bicep', 'cli'] as const
export type RenderFormat = (typeof RENDER_FORMATS)[number]

/** The role assignment as ARM takes it (PUT .../roleAssignments/{name}?api-version=2022-04-01). */
export interface RoleAssignmentDocument {
  name: string
  scope: string
  properties: {
    roleDefinitionId: string
    principalId: string
    principalType: 'ServicePrincipal'
    description: string
    condition?: string
    conditionVersion?: '2.0'
  }
}

export interface RenderExtras {
  /** The vendor app's application (client) id, from the site file: shows the consent step. */
  applicationId?: string
  /** The customer's tenant, for the consent URL ('organizations' when not known). */
  tenantId?: string
}

/** The description written on the assignment, so people looking at IAM in the portal know what it is. */
export function assignmentDescription(spec: AzureGrantSpec): string {
  return `ingestgate: ingest read access to az://${spec.account}/${spec.container}/${spec.prefix}`
}

/** The assignment body; with placeholders the name says so. */
export function assignmentDocument(spec: AzureGrantSpec): RoleAssignmentDocument {
  return {
    name: spec.name ?? '<NAME: render with --subscription and --resource-group>',
    scope: spec.scope,
    properties: {
      roleDefinitionId: spec.roleDefinitionId,
      principalId: spec.principalId,
      principalType: 'ServicePrincipal',
      description: assignmentDescription(spec),
      ...(spec.condition ? {condition: spec.condition, conditionVersion: '2.0' as const} : {}),
    },
  }
}

/** The admin-consent URL of a multi-tenant application. */
export function consentUrl(applicationId: string, tenantId?: string): string {
  return `https://login.microsoftonline.com/${tenantId ?? 'organizations'}/adminconsent?client_id=${applicationId}`
}

/**
 * Render the grant in one format.
 * @throws UsageError BAD_FORMAT (exit 2) naming the formats.
 */
export function renderAzureGrant(spec: AzureGrantSpec, format: string, extras: RenderExtras = {}): RenderResult {
  const document = assignmentDocument(spec)
  const notes: string[] = []
  if (spec.placeholders) notes.push('The subscription and resource group were not given (--subscription, --resource-group): the scope has placeholders marked FILL IN, and the assignment name can only be derived once they are known.')
  if (extras.applicationId) {
    notes.push(`Admin consent first, once: ${consentUrl(extras.applicationId, extras.tenantId)} ; then the principal's object id is: az ad sp show --id ${extras.applicationId} --query id -o tsv`)
  }
  if (spec.condition) notes.push(`The assignment carries an ABAC condition: blob reads only under ${spec.prefix}, listings only with a prefix under it.`)
  notes.push(`Role assignments can take up to 10 minutes to take effect; check with: ingestgate check az://${spec.account}/${spec.container}/${spec.prefix} --live --wait 10m`)
  const documents = {roleAssignment: document}
  let text: string
  switch (format) {
    case 'json':
      text = `${JSON.stringify(document, null, 2)}\n`
      break
    case 'terraform':
      text = renderTerraform(spec, extras)
      break
    case 'bicep':
      text = renderBicep(spec, extras)
      break
    case 'cli':
      text = renderCli(spec, extras)
      break
    default:
      throw new UsageError('BAD_FORMAT', `Unknown render format "${format}" for az:// sources.`, {suggestions: [`Use --format ${RENDER_FORMATS.join('|')}.`]})
  }
  return {format, documents, text, notes}
}

// ---------------------------------------------------------------------------------------------
// Escaping, one function per format; each returns the complete literal, quotes included.

/** A Bicep single-quoted string: `\\`, `\'`, `\$` (interpolation), and escaped line breaks. */
export function bicepString(value: string): string {
  const escape = (cp: number) => `\\u{${cp.toString(16)}}`
  return `'${backslashEscape(value, {"'": "\\'", $: '\\$'}, (cp) => cp < 0x20 || cp === 0x2028 || cp === 0x2029, escape)}'`
}

/** A value shown in a comment: JSON-quoted when it has anything but safe characters, and one line. */
function commentValue(value: string): string {
  const shown = /^[\w./@:-]+$/.test(value) ? value : JSON.stringify(value)
  if (/[\n\r\u0085\u2028\u2029]/.test(shown)) throw new Error('comment text must be a single line')
  return shown
}

function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`"${name}" is not a safe identifier`)
  return name
}

// ---------------------------------------------------------------------------------------------

function baseView(spec: AzureGrantSpec, extras: RenderExtras) {
  return {
    account: spec.account,
    container: spec.container,
    prefix: spec.prefix,
    hasPrefix: spec.prefix !== '',
    principalId: spec.principalId,
    roleGuid: BLOB_DATA_READER_ROLE,
    roleName: BLOB_DATA_READER_NAME,
    description: assignmentDescription(spec),
    placeholders: spec.placeholders,
    hasCondition: spec.condition !== undefined,
    condition: spec.condition ?? '',
    consent: extras.applicationId ? [{}] : [],
    consentUrl: extras.applicationId ? consentUrl(extras.applicationId, extras.tenantId) : '',
    applicationId: extras.applicationId ?? '',
    principalComment: commentValue(spec.principalId),
    accountComment: commentValue(spec.account),
    containerComment: commentValue(spec.container),
    prefixComment: commentValue(spec.prefix),
    resourceGroupComment: spec.placeholders ? 'RESOURCE_GROUP' : commentValue(spec.resourceGroup),
  }
}

function renderTerraform(spec: AzureGrantSpec, extras: RenderExtras): string {
  const tail = `/providers/Microsoft.Storage/storageAccounts/${spec.account}/blobServices/default/containers/${spec.container}`
  const scopeExpr = spec.placeholders ? `"/subscriptions/\${lower(var.subscription_id)}/resourceGroups/\${var.resource_group_name}${hclString(tail).slice(1)}` : hclString(spec.scope)
  const roleExpr = spec.placeholders
    ? `"/subscriptions/\${lower(var.subscription_id)}/providers/Microsoft.Authorization/roleDefinitions/${BLOB_DATA_READER_ROLE}"`
    : hclString(spec.roleDefinitionId)
  // With placeholders Terraform derives the same name itself: uuidv5 takes a namespace UUID.
  const nameExpr = spec.name
    ? hclString(spec.name)
    : `uuidv5(${hclString(ASSIGNMENT_NAMESPACE)}, lower(join("|", [${scopeExpr}, ${hclString(BLOB_DATA_READER_ROLE)}, ${hclString(spec.principalId)}])))`
  const conditionHeredoc = spec.condition
    ? spec.condition
        .split('\n')
        .map((line) => `    ${line}`)
        .join('\n')
        .replaceAll('${', () => '$${')
        .replaceAll('%{', () => '%%{')
    : ''
  const view = {
    ...baseView(spec, extras),
    resourceName: identifier(`ingestgate_${spec.account}_${(spec.name ?? 'read').slice(0, 8).replaceAll('-', '_')}`),
    scopeExpr,
    roleExpr,
    nameExpr,
    conditionHeredoc,
  }
  return renderTemplate('terraform.tf.mustache', view, hclString)
}

function renderBicep(spec: AzureGrantSpec, extras: RenderExtras): string {
  const view = {...baseView(spec, extras), nameExpr: spec.name ? bicepString(spec.name) : 'roleAssignmentName'}
  return renderTemplate('bicep.bicep.mustache', view, bicepString)
}

function renderCli(spec: AzureGrantSpec, extras: RenderExtras): string {
  const view = {...baseView(spec, extras), scope: spec.scope, name: spec.name ?? '', namespace: ASSIGNMENT_NAMESPACE}
  return renderTemplate('cli.sh.mustache', view, shellQuote)
}

const templateCache = new Map<string, string>()

function renderTemplate(name: string, view: object, escape: (value: string) => string): string {
  let text = templateCache.get(name)
  if (text === undefined) {
    // src/providers/azure/ and dist/providers/azure/ are both three levels below the package root.
    text = readFileSync(fileURLToPath(new URL(`../../../templates/azure/${name}`, import.meta.url)), 'utf8')
    templateCache.set(name, text)
  }
  return Mustache.render(text, view, {}, {
    escape: (value: unknown) => {
      if (typeof value !== 'string') throw new Error(`template ${name}: non-string value ${String(value)}`)
      return escape(value)
    },
  })
}
