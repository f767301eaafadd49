/**
 * `grant render` for GCP: the bucket IAM bindings as JSON, a Terraform snippet
 * (google_storage_bucket_iam_member, non-authoritative) or a gcloud script. Touches nothing: no
 * credentials, no network, no SDK. The bindings come from policy.ts, like apply and revoke, so all
 * three agree on every byte of the condition.
 */
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import Mustache from 'mustache'

import {UsageError} from '../../errors.js'
import {directoryPrefix, type Source} from '../../source.js'
import {shellQuote} from '../../core/shell.js'
// HCL string escaping is cloud-neutral; it lives with the AWS render for now.
import {hclString} from '../aws/render.js'
import type {RenderResult} from '../types.js'
import {parseMember} from './member.js'
import {grantBindings, mergeBindings, type WantedBinding} from './policy.js'
import {GRANTED_ROLES} from './roles.js'

export type GcpRenderFormat = 'json' | 'terraform' | 'cli'
export const GCP_RENDER_FORMATS: readonly GcpRenderFormat[] = ['json', 'terraform', 'cli']

/** The gs:// URL as the cluster must be given it: always ending in '/'. */
export function clusterUrl(source: Source): string {
  return `gs://${source.bucket}/${directoryPrefix(source)}`
}

const WHY: Record<string, string> = {
  [GRANTED_ROLES.objectViewer]: 'roles/storage.objectViewer: storage.objects.get (read the objects) and storage.objects.list (list them).',
  [GRANTED_ROLES.legacyBucketReader]:
    "roles/storage.legacyBucketReader: storage.buckets.get, which the cluster's get_bucket call needs and objectViewer lacks.",
}

/** What the grant cannot narrow, and what it needs: shown by render, plan and docs alike. */
export function grantNotes(source: Source): string[] {
  const dir = directoryPrefix(source)
  const notes: string[] = []
  if (dir) {
    notes.push(
      `roles/storage.legacyBucketReader cannot be limited to ${dir}: storage.buckets.get and storage.objects.list are checked on the bucket, where a condition cannot tell the cluster's bucket read from a listing of the whole bucket. The ingest service account can therefore read the bucket's metadata and list every object name in the bucket; it can read object contents only under ${dir}.`,
      `The prefix condition needs uniform bucket-level access on the bucket (IAM Conditions are refused otherwise): gcloud storage buckets update gs://${source.bucket} --uniform-bucket-level-access`,
    )
  }
  notes.push(`Give the cluster the source as ${clusterUrl(source)} (with the trailing slash).`)
  notes.push('IAM changes take about 2 to 7 minutes to apply; verify with: ingestgate check --live --wait 10m.')
  return notes
}

function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 10)
}

/** A Terraform identifier, inserted unquoted: check it rather than trust it. */
function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`"${name}" is not a safe Terraform identifier`)
  return name
}

const templateCache = new Map<string, string>()

function renderTemplate(name: string, view: object, escape: (value: string) => string): string {
  let text = templateCache.get(name)
  if (text === undefined) {
    // src/providers/gcp/ and dist/providers/gcp/ are both three levels below the package root.
    text = readFileSync(fileURLToPath(new URL(`../../../templates/gcp/${name}`, import.meta.url)), 'utf8')
    templateCache.set(name, text)
  }
  return Mustache.render(text, view, {}, {
    escape: (value: unknown) => {
      if (typeof value !== 'string') throw new Error(`template ${name}: non-string value ${String(value)}`)
      return escape(value)
    },
  })
}

/** Values shown in a comment line (the source parser refuses control characters in a prefix). */
function commentText(source: Source, member: string, dirPrefix: string) {
  return {memberText: oneLine(member), bucketText: oneLine(source.bucket), prefixText: oneLine(JSON.stringify(dirPrefix))}
}

/** A comment line must stay one line. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\u0085\u2028\u2029]+/g, ' ')
}

/**
 * Render the GCP grant in one format. Validates the member first (ConfigError, exit 3); an unknown
 * format is a UsageError (exit 2) naming the formats this cloud has.
 */
export function renderGcpGrant(source: Source, principal: string, format: string): RenderResult {
  const {member} = parseMember(principal)
  const dirPrefix = directoryPrefix(source)
  const wanted = grantBindings({bucket: source.bucket, dirPrefix, member})
  const notes = grantNotes(source)
  const documents = {
    bucket: source.bucket,
    member,
    bindings: wanted,
    // The grant on its own, as a policy; apply merges these bindings into the bucket's current policy.
    policy: mergeBindings({bindings: []}, wanted).policy,
    notes,
  }
  switch (format) {
    case 'json':
      return {format, documents, text: `${JSON.stringify(documents, null, 2)}\n`, notes}
    case 'terraform':
      return {format, documents, text: renderTerraform(source, member, dirPrefix, wanted, notes), notes}
    case 'cli':
      return {format, documents, text: renderCli(source, member, dirPrefix, wanted, notes), notes}
    default:
      throw new UsageError('BAD_FORMAT', `Unknown render format "${format}" for gs:// sources.`, {
        suggestions: [`Use --format ${GCP_RENDER_FORMATS.join('|')} (GCP has no CloudFormation).`],
      })
  }
}

function renderTerraform(source: Source, member: string, dirPrefix: string, wanted: WantedBinding[], notes: string[]): string {
  const unsupported = [dirPrefix, member].find((s) => s.normalize('NFC') !== s)
  if (unsupported !== undefined) {
    // Terraform normalises every string to NFC, which would change the prefix in the condition.
    throw new UsageError('RENDER_UNSUPPORTED', `Terraform cannot express ${JSON.stringify(unsupported)} exactly: it normalises strings to Unicode NFC, which would change the prefix.`, {
      suggestions: ['Render with --format json or cli instead, or apply with: ingestgate grant apply.'],
    })
  }
  const h = shortHash(member, source.bucket, dirPrefix)
  const view = {
    ...commentText(source, member, dirPrefix),
    bucket: source.bucket,
    member,
    hasPrefix: dirPrefix !== '',
    notes: notes.map(oneLine),
    bindings: wanted.map((w) => ({
      resourceName: identifier(`ingestgate_${w.role.replace(/^roles\/storage\./, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}_${h}`),
      bucket: source.bucket,
      role: w.role,
      member: w.member,
      condition: w.condition ? {title: w.condition.title ?? '', description: w.condition.description ?? '', expression: w.condition.expression} : false,
    })),
  }
  return renderTemplate('terraform.tf.mustache', view, hclString)
}

function renderCli(source: Source, member: string, dirPrefix: string, wanted: WantedBinding[], notes: string[]): string {
  const conditional = wanted.find((w) => w.condition)
  const view = {
    ...commentText(source, member, dirPrefix),
    url: `gs://${source.bucket}`,
    member,
    hasPrefix: dirPrefix !== '',
    notes: notes.map(oneLine),
    conditionJson: conditional ? JSON.stringify(conditional.condition) : '',
    bindings: wanted.map((w) => ({
      role: w.role,
      url: `gs://${source.bucket}`,
      member: w.member,
      why: oneLine(WHY[w.role] ?? w.role),
      // A policy with conditions makes gcloud ask for --condition on every binding.
      conditionArg: w.condition ? '--condition-from-file="$workdir/condition.json"' : '--condition=None',
      undoConditionArg: w.condition ? '--condition-from-file=condition.json  # the condition JSON above, saved to a file' : '--condition=None',
    })),
  }
  return renderTemplate('cli.sh.mustache', view, shellQuote)
}
