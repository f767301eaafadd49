#!/usr/bin/env node
/**
 * A test double of the Cloud Storage JSON API (and the two Google endpoints the product's
 * credentials touch: IAM Credentials generateAccessToken and OAuth2 tokeninfo), for the tests and
 * the demo. No GCS emulator is installable here, and none enforces IAM; this one does, per caller:
 * a bearer token maps to a member, and every route checks the permission the real service checks
 * against the bucket IAM policy (version 3, with the condition forms described below), the
 * project-level bindings and the legacy project convenience members.
 *
 * Behaviour modelled on the real service (see the GCS JSON API reference and IAM docs):
 *  - routes: GET /storage/v1/b/B (storage.buckets.get), GET|PUT /storage/v1/b/B/iam
 *    (getIamPolicy/setIamPolicy, etag compare-and-set, 412 conditionNotMet when stale),
 *    GET /storage/v1/b/B/iam/testPermissions, GET /storage/v1/b/B/o (storage.objects.list, prefix,
 *    delimiter, pageToken, maxResults), GET /storage/v1/b/B/o/NAME (metadata, or alt=media with
 *    Range -> 206/416, storage.objects.get), POST /v1/projects/-/serviceAccounts/E:generateAccessToken,
 *    GET /tokeninfo;
 *  - 401 for a missing or unknown token; 403 naming the caller and the permission; 404 for a missing
 *    bucket or object (an object's 404 only after its permission passed, as GCS does);
 *  - error bodies as GCS sends them: {"error":{"code","message","errors":[{"message","domain","reason"}]}};
 *  - conditions: CEL over `resource.name`, `resource.type`, `resource.service` and
 *    `api.getAttribute("storage.googleapis.com/objectListPrefix", "")` with startsWith/endsWith,
 *    ==, !=, !, &&, || and parentheses; a condition outside that subset denies (and is logged);
 *  - setIamPolicy refuses conditions below version 3 (400), conditions on a bucket without
 *    uniform bucket-level access (412), members outside an org's allowed domains (412,
 *    domain-restricted sharing), malformed members and unknown roles (400); getIamPolicy refuses a
 *    requested version below the policy's (400);
 *  - requester pays: reads without `userProject` fail 400 `required`;
 *  - public access prevention "enforced" refuses allUsers/allAuthenticatedUsers members (412);
 *  - IAM propagation, optionally: setPropagationDelay(ms) keeps the previous bindings enforced for
 *    that long after a write (GCP: 2 to 7 minutes), for --wait.
 * Not modelled: object ACLs (fine-grained access), IAM deny policies, VPC Service Controls,
 * billing on the userProject, uploads through the JSON API (seed through the admin routes).
 *
 * Admin routes (no auth, loopback only) under /_admin: tokens, buckets, objects, policies, a
 * concurrent writer injected before the next setIamPolicy, service accounts, custom roles, the org's
 * allowed domains, and the request log (so tests can count setIamPolicy calls).
 *
 * Run: `node emulators/gcs-double.mjs --port 0 [--config FILE.json]` prints one line
 * `gcs-double ready port=PORT url=http://127.0.0.1:PORT`. Import: `startGcsDouble(options)`.
 */
import {createHash, randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {createServer} from 'node:http'
import {fileURLToPath} from 'node:url'

// ----------------------------------------------------------------------------------------------
// Predefined roles: the permissions that matter to what the double serves (from the GCP IAM roles
// reference for Cloud Storage, roles/storage.*, and the basic roles' storage permissions).

const OBJ_READ = ['storage.objects.get', 'storage.objects.list']
const OBJ_WRITE = ['storage.objects.create', 'storage.objects.delete', 'storage.objects.update']
/** @type {Record<string, string[]>} */
export const ROLE_PERMISSIONS = {
  'roles/storage.objectViewer': [...OBJ_READ, 'storage.folders.get', 'storage.folders.list', 'storage.managedFolders.get', 'storage.managedFolders.list'],
  'roles/storage.objectCreator': ['storage.objects.create', 'storage.folders.create', 'storage.managedFolders.create', 'storage.multipartUploads.create'],
  'roles/storage.objectUser': [...OBJ_READ, ...OBJ_WRITE, 'storage.objects.restore', 'storage.folders.get', 'storage.folders.list'],
  'roles/storage.objectAdmin': [...OBJ_READ, ...OBJ_WRITE, 'storage.objects.getIamPolicy', 'storage.objects.setIamPolicy', 'storage.objects.restore'],
  'roles/storage.admin': [
    'storage.buckets.get', 'storage.buckets.list', 'storage.buckets.update', 'storage.buckets.create', 'storage.buckets.delete',
    'storage.buckets.getIamPolicy', 'storage.buckets.setIamPolicy', ...OBJ_READ, ...OBJ_WRITE,
    'storage.objects.getIamPolicy', 'storage.objects.setIamPolicy',
  ],
  'roles/storage.bucketViewer': ['storage.buckets.get', 'storage.buckets.list'],
  'roles/storage.legacyBucketReader': ['storage.buckets.get', 'storage.objects.list'],
  'roles/storage.legacyBucketWriter': ['storage.buckets.get', 'storage.objects.list', 'storage.objects.create', 'storage.objects.delete'],
  'roles/storage.legacyBucketOwner': [
    'storage.buckets.get', 'storage.buckets.update', 'storage.buckets.getIamPolicy', 'storage.buckets.setIamPolicy',
    'storage.objects.list', 'storage.objects.create', 'storage.objects.delete',
  ],
  'roles/storage.legacyObjectReader': ['storage.objects.get'],
  'roles/storage.legacyObjectOwner': ['storage.objects.get', 'storage.objects.update', 'storage.objects.getIamPolicy', 'storage.objects.setIamPolicy'],
  // Basic roles: bucket permissions only; objects reach project members through the convenience
  // members (projectOwner: ...) on the legacy roles of each bucket's default policy.
  'roles/viewer': ['storage.buckets.get', 'storage.buckets.list'],
  'roles/editor': ['storage.buckets.get', 'storage.buckets.list', 'storage.buckets.update', 'storage.buckets.create', 'storage.buckets.delete'],
  'roles/owner': [
    'storage.buckets.get', 'storage.buckets.list', 'storage.buckets.update', 'storage.buckets.create', 'storage.buckets.delete',
    'storage.buckets.getIamPolicy', 'storage.buckets.setIamPolicy',
  ],
}

const MEMBER_FORMS = /^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group):[^@\s]+@[^@\s]+\.[^@\s]+|domain:[a-z0-9.-]+\.[a-z]{2,}|project(Owner|Editor|Viewer):[a-z][a-z0-9-]{4,28}[a-z0-9]|principal(Set)?:\/\/\S+|deleted:\S+)$/

// ----------------------------------------------------------------------------------------------
// Errors as the JSON API sends them.

class HttpError extends Error {
  /**
   * @param {number} code
   * @param {string} message
   * @param {string} reason
   * @param {Record<string,string>} [extra] locationType/location
   */
  constructor(code, message, reason, extra = {}) {
    super(message)
    this.code = code
    this.reason = reason
    this.extra = extra
  }

  body() {
    return {error: {code: this.code, message: this.message, errors: [{message: this.message, domain: 'global', reason: this.reason, ...this.extra}]}}
  }
}

// ----------------------------------------------------------------------------------------------
// CEL, the subset the product writes (and a little more); anything else is "undecidable".

/** @param {string} src */
function tokenize(src) {
  const out = []
  let i = 0
  while (i < src.length) {
    const c = src[i]
    if (/\s/.test(c)) { i++; continue }
    if (c === '"' || c === "'") {
      let j = i + 1
      let s = ''
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') {
          const n = src[j + 1]
          const map = {n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', "'": "'"}
          if (n in map) { s += map[n]; j += 2; continue }
          if (n === 'u') { s += String.fromCodePoint(parseInt(src.slice(j + 2, j + 6), 16)); j += 6; continue }
          if (n === 'U') { s += String.fromCodePoint(parseInt(src.slice(j + 2, j + 10), 16)); j += 10; continue }
          throw new Error('unsupported escape')
        }
        s += src[j++]
      }
      if (j >= src.length) throw new Error('unterminated string')
      out.push({t: 'str', v: s})
      i = j + 1
      continue
    }
    const two = src.slice(i, i + 2)
    if (['&&', '||', '==', '!='].includes(two)) { out.push({t: two}); i += 2; continue }
    if ('()!,.'.includes(c)) { out.push({t: c}); i++; continue }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))
    if (m) { out.push({t: 'id', v: m[0]}); i += m[0].length; continue }
    throw new Error(`unexpected character ${c}`)
  }
  return out
}

/**
 * Evaluate a condition expression for a request. Returns true/false, or throws for anything
 * outside the subset (the caller treats that as "does not apply" and logs it).
 * @param {string} expression
 * @param {{name: string, type: string, listPrefix?: string}} req
 */
export function evaluateCel(expression, req) {
  const toks = tokenize(expression)
  let p = 0
  const peek = () => toks[p]
  const eat = (t) => {
    if (toks[p]?.t !== t) throw new Error(`expected ${t}`)
    return toks[p++]
  }
  const value = () => {
    const tk = peek()
    if (tk?.t === 'str') { p++; return tk.v }
    if (tk?.t === '(') { p++; const v = or(); eat(')'); return v }
    if (tk?.t === '!') { p++; const v = value(); if (typeof v !== 'boolean') throw new Error('! on non-bool'); return !v }
    if (tk?.t === 'id') {
      p++
      if (tk.v === 'true' || tk.v === 'false') return tk.v === 'true'
      if (tk.v === 'resource') {
        eat('.')
        const f = eat('id').v
        if (f === 'name') return req.name
        if (f === 'type') return req.type
        if (f === 'service') return 'storage.googleapis.com'
        throw new Error(`resource.${f}`)
      }
      if (tk.v === 'api') {
        eat('.')
        if (eat('id').v !== 'getAttribute') throw new Error('api.*')
        eat('(')
        const key = eat('str').v
        eat(',')
        const dflt = eat('str').v
        eat(')')
        if (key !== 'storage.googleapis.com/objectListPrefix') throw new Error(`attribute ${key}`)
        return req.listPrefix ?? dflt
      }
      throw new Error(`identifier ${tk.v}`)
    }
    throw new Error('unexpected token')
  }
  const member = () => {
    let v = value()
    while (peek()?.t === '.') {
      p++
      const fn = eat('id').v
      eat('(')
      const arg = eat('str').v
      eat(')')
      if (typeof v !== 'string') throw new Error('method on non-string')
      if (fn === 'startsWith') v = v.startsWith(arg)
      else if (fn === 'endsWith') v = v.endsWith(arg)
      else throw new Error(`method ${fn}`)
    }
    return v
  }
  const cmp = () => {
    const a = member()
    const op = peek()?.t
    if (op === '==' || op === '!=') {
      p++
      const b = member()
      return op === '==' ? a === b : a !== b
    }
    return a
  }
  const and = () => {
    let v = cmp()
    while (peek()?.t === '&&') { p++; const w = cmp(); v = Boolean(v) && Boolean(w) }
    return v
  }
  const or = () => {
    let v = and()
    while (peek()?.t === '||') { p++; const w = and(); v = Boolean(v) || Boolean(w) }
    return v
  }
  const result = or()
  if (p !== toks.length) throw new Error('trailing tokens')
  if (typeof result !== 'boolean') throw new Error('not a boolean')
  return result
}

// ----------------------------------------------------------------------------------------------
// CRC32C (Castagnoli) for x-goog-hash, which the client library validates on downloads.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/** @param {Buffer} buf */
function crc32c(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  const out = Buffer.alloc(4)
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0)
  return out.toString('base64')
}

/** The multi-regions and predefined dual-regions of Cloud Storage (https://cloud.google.com/storage/docs/locations). */
const MULTI_REGIONS = new Set(['US', 'EU', 'ASIA'])
const DUAL_REGIONS = new Set(['ASIA1', 'EUR4', 'EUR5', 'EUR7', 'EUR8', 'NAM4'])

/**
 * The JSON API's locationType for a location: `multi-region`, `dual-region` or `region`.
 * @param {string} location upper-case, as the API returns it
 */
export function locationTypeOf(location) {
  return MULTI_REGIONS.has(location) ? 'multi-region' : DUAL_REGIONS.has(location) ? 'dual-region' : 'region'
}

// ----------------------------------------------------------------------------------------------
// State.

/**
 * @typedef {{role: string, members: string[], condition?: {title?: string, description?: string, expression: string}}} Binding
 * @typedef {{version: number, bindings: Binding[], etagCounter: number}} StoredPolicy
 * @typedef {{data: Buffer, contentType: string, generation: string, created: string}} StoredObject
 * @typedef {{name: string, project: string, projectNumber: string, ubla: boolean, publicAccessPrevention: string,
 *   requesterPays: boolean, defaultKmsKeyName?: string, retentionPolicy?: object, location: string,
 *   policy: StoredPolicy, objects: Map<string, StoredObject>, created: string, metageneration: number,
 *   allowedMemberDomains?: string[]}} StoredBucket
 * @typedef {{method: string, path: string, query: string, op: string, status: number, member: string | null}} RequestLine
 */

/**
 * Default bucket policy of a new bucket: the project convenience members on the legacy roles.
 * @param {string} project
 * @param {boolean} ubla
 * @returns {Binding[]}
 */
function defaultBindings(project, ubla) {
  const b = [
    {role: 'roles/storage.legacyBucketOwner', members: [`projectEditor:${project}`, `projectOwner:${project}`]},
    {role: 'roles/storage.legacyBucketReader', members: [`projectViewer:${project}`]},
  ]
  if (ubla) {
    b.push({role: 'roles/storage.legacyObjectOwner', members: [`projectEditor:${project}`, `projectOwner:${project}`]})
    b.push({role: 'roles/storage.legacyObjectReader', members: [`projectViewer:${project}`]})
  }
  return b
}

function etagOf(counter) {
  const b = Buffer.alloc(6)
  b.writeUIntBE(counter, 0, 6)
  // Real etags are base64 of bytes; gcloud decodes them, so they must be valid base64.
  return b.toString('base64')
}

/**
 * Start the double.
 * @param {{port?: number, host?: string, tokens?: Record<string,string>, projects?: Record<string, {owner?: string[], editor?: string[], viewer?: string[], bindings?: Binding[]}>, log?: (line: RequestLine) => void}} [options]
 */
export async function startGcsDouble(options = {}) {
  /** @type {Map<string,string>} */
  const tokens = new Map(Object.entries(options.tokens ?? {}))
  /** @type {Map<string, StoredBucket>} */
  const buckets = new Map()
  /** project id -> {owner, editor, viewer, bindings} */
  const projects = new Map(Object.entries(options.projects ?? {}))
  /** @type {Map<string, {tokenCreators: string[]}>} */
  const serviceAccounts = new Map()
  /** @type {Map<string, string[]>} */
  const customRoles = new Map()
  /** @type {Map<string, string[]>} project number -> deny policy ids */
  const denyPolicies = new Map()
  /** @type {Map<string, Binding[][]>} bucket -> writes injected before the next setIamPolicy */
  const interleaved = new Map()
  /** @type {RequestLine[]} */
  const requests = []
  let etagCounter = 1
  /** IAM propagation: a written policy is enforced only this long after the write (0: at once). */
  let propagationMs = 0
  /** bucket -> the bindings enforced until `until` (the policy before the last write). */
  const propagating = new Map()
  const effectiveBindings = (bucket) => {
    const p = propagating.get(bucket.name)
    if (p && Date.now() < p.until) return p.bindings
    return bucket.policy.bindings
  }
  /** Remember what was enforced before a write, while the new policy propagates. */
  const beginPropagation = (bucket) => {
    if (propagationMs > 0) propagating.set(bucket.name, {bindings: effectiveBindings(bucket), until: Date.now() + propagationMs})
  }

  const roleExists = (role) => role in ROLE_PERMISSIONS || customRoles.has(role)

  /** Does `member` (the caller) match the binding member `m`? */
  const memberMatches = (m, caller) => {
    if (m === caller) return true
    if (m === 'allUsers') return true
    if (m === 'allAuthenticatedUsers') return caller !== null
    const pm = /^project(Owner|Editor|Viewer):(.+)$/.exec(m)
    if (pm && caller) {
      const proj = projects.get(pm[2])
      const kind = /** @type {'owner'|'editor'|'viewer'} */ (pm[1].toLowerCase())
      return Boolean(proj?.[kind]?.includes(caller))
    }
    return false
  }

  /**
   * @param {string|null} caller
   * @param {string} permission
   * @param {StoredBucket} bucket
   * @param {{name: string, type: string, listPrefix?: string}} res
   */
  const allowed = (caller, permission, bucket, res) => {
    const proj = projects.get(bucket.project)
    const projectBindings = [...(proj?.bindings ?? [])]
    // Basic roles on the project: owners, editors and viewers hold them.
    for (const [kind, role] of [['owner', 'roles/owner'], ['editor', 'roles/editor'], ['viewer', 'roles/viewer']]) {
      if (proj?.[kind]?.length) projectBindings.push({role, members: proj[kind]})
    }
    for (const b of [...projectBindings, ...effectiveBindings(bucket)]) {
      const perms = ROLE_PERMISSIONS[b.role] ?? customRoles.get(b.role) ?? []
      if (!perms.includes(permission)) continue
      if (!b.members.some((m) => memberMatches(m, caller))) continue
      if (b.condition) {
        try {
          if (!evaluateCel(b.condition.expression, res)) continue
        } catch {
          continue
        }
      }
      return true
    }
    return false
  }

  const bucketResource = (b) => ({name: `projects/_/buckets/${b.name}`, type: 'storage.googleapis.com/Bucket'})
  const objectResource = (b, name) => ({name: `projects/_/buckets/${b.name}/objects/${name}`, type: 'storage.googleapis.com/Object'})

  /** @param {string} name */
  const createBucket = (name, settings = {}) => {
    const project = settings.project ?? 'customer-project'
    const ubla = settings.uniformBucketLevelAccess ?? true
    const now = new Date().toISOString()
    buckets.set(name, {
      name,
      project,
      projectNumber: settings.projectNumber ?? '123456789012',
      ubla,
      publicAccessPrevention: settings.publicAccessPrevention ?? 'inherited',
      requesterPays: settings.requesterPays ?? false,
      defaultKmsKeyName: settings.defaultKmsKeyName,
      retentionPolicy: settings.retentionPolicy,
      location: String(settings.location ?? 'US').toUpperCase(),
      policy: {version: 1, bindings: settings.bindings ?? defaultBindings(project, ubla), etagCounter: etagCounter++},
      objects: new Map(),
      created: now,
      metageneration: 1,
      allowedMemberDomains: settings.allowedMemberDomains,
    })
    return buckets.get(name)
  }

  const updateBucket = (name, settings) => {
    const b = buckets.get(name)
    if (!b) throw new Error(`no bucket ${name}`)
    if ('uniformBucketLevelAccess' in settings) b.ubla = settings.uniformBucketLevelAccess
    if ('publicAccessPrevention' in settings) b.publicAccessPrevention = settings.publicAccessPrevention
    if ('requesterPays' in settings) b.requesterPays = settings.requesterPays
    if ('defaultKmsKeyName' in settings) b.defaultKmsKeyName = settings.defaultKmsKeyName
    if ('allowedMemberDomains' in settings) b.allowedMemberDomains = settings.allowedMemberDomains
    b.metageneration++
  }

  const putObject = (bucket, name, data, contentType = 'application/octet-stream') => {
    const b = buckets.get(bucket)
    if (!b) throw new Error(`no bucket ${bucket}`)
    b.objects.set(name, {data: Buffer.from(data), contentType, generation: String(Date.now() * 1000 + b.objects.size), created: new Date().toISOString()})
  }

  /** Write a policy as another writer would (no auth, the etag moves). */
  const setPolicy = (bucket, bindings, version = 3) => {
    const b = buckets.get(bucket)
    if (!b) throw new Error(`no bucket ${bucket}`)
    b.policy = {version, bindings: structuredClone(bindings), etagCounter: etagCounter++}
  }

  const policyJson = (b) => ({
    kind: 'storage#policy',
    resourceId: `projects/_/buckets/${b.name}`,
    version: b.policy.version,
    etag: etagOf(b.policy.etagCounter),
    bindings: structuredClone(b.policy.bindings),
  })

  const bucketJson = (b) => {
    const out = {
      kind: 'storage#bucket',
      selfLink: `${api.url}/storage/v1/b/${b.name}`,
      id: b.name,
      name: b.name,
      projectNumber: b.projectNumber,
      metageneration: String(b.metageneration),
      location: b.location,
      storageClass: 'STANDARD',
      etag: 'CAE=',
      timeCreated: b.created,
      updated: b.created,
      iamConfiguration: {
        bucketPolicyOnly: {enabled: b.ubla},
        uniformBucketLevelAccess: {enabled: b.ubla},
        publicAccessPrevention: b.publicAccessPrevention,
      },
      locationType: locationTypeOf(b.location),
    }
    // The recovery point objective applies to dual- and multi-region buckets only; a region has none.
    if (out.locationType !== 'region') out.rpo = 'DEFAULT'
    if (b.requesterPays) out.billing = {requesterPays: true}
    if (b.defaultKmsKeyName) out.encryption = {defaultKmsKeyName: b.defaultKmsKeyName}
    if (b.retentionPolicy) out.retentionPolicy = b.retentionPolicy
    return out
  }

  const objectJson = (b, name, o) => ({
    kind: 'storage#object',
    id: `${b.name}/${name}/${o.generation}`,
    selfLink: `${api.url}/storage/v1/b/${b.name}/o/${encodeURIComponent(name)}`,
    mediaLink: `${api.url}/download/storage/v1/b/${b.name}/o/${encodeURIComponent(name)}?generation=${o.generation}&alt=media`,
    name,
    bucket: b.name,
    generation: o.generation,
    metageneration: '1',
    contentType: o.contentType,
    storageClass: 'STANDARD',
    size: String(o.data.length),
    md5Hash: createHash('md5').update(o.data).digest('base64'),
    crc32c: crc32c(o.data),
    etag: 'CAE=',
    timeCreated: o.created,
    updated: o.created,
    timeStorageClassUpdated: o.created,
  })

  // ----------------------------------------------------------------------------------------------
  // Request handling.

  const who = (req) => {
    const h = req.headers.authorization
    if (!h) return {member: null, anonymous: true}
    const m = /^Bearer\s+(\S+)$/i.exec(h)
    const member = m ? tokens.get(m[1]) : undefined
    if (!member) throw new HttpError(401, 'Invalid Credentials', 'authError', {locationType: 'header', location: 'Authorization'})
    return {member, anonymous: false}
  }

  const callerName = (member) => (member ? member.replace(/^[a-zA-Z]+:/, '') : 'Anonymous caller')

  const deny = (caller, permission, kind) => {
    const what = kind === 'object' ? 'Google Cloud Storage object' : 'Google Cloud Storage bucket'
    const message = `${callerName(caller)} does not have ${permission} access to the ${what}. Permission '${permission}' denied on resource (or it may not exist).`
    return new HttpError(caller ? 403 : 401, message, caller ? 'forbidden' : 'required')
  }

  const getBucket = (name) => {
    const b = buckets.get(name)
    if (!b) throw new HttpError(404, 'The specified bucket does not exist.', 'notFound')
    return b
  }

  const requireUserProject = (b, url) => {
    if (b.requesterPays && !url.searchParams.get('userProject')) {
      throw new HttpError(400, 'Bucket is a requester pays bucket but no user project provided.', 'required')
    }
  }

  const readBody = (req) =>
    new Promise((resolve, reject) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => resolve(Buffer.concat(chunks)))
      req.on('error', reject)
    })

  const readJson = async (req) => {
    const raw = await readBody(req)
    try {
      return raw.length ? JSON.parse(raw.toString('utf8')) : {}
    } catch {
      throw new HttpError(400, 'Parse Error', 'parseError')
    }
  }

  /** @param {StoredBucket} b @param {any} body */
  const validatePolicy = (b, body) => {
    if (!Array.isArray(body.bindings ?? [])) throw new HttpError(400, 'Invalid argument.', 'invalid')
    const version = body.version ?? 1
    for (const binding of body.bindings ?? []) {
      if (typeof binding.role !== 'string' || !Array.isArray(binding.members)) throw new HttpError(400, 'Invalid argument.', 'invalid')
      if (!roleExists(binding.role)) throw new HttpError(400, `Role (${binding.role}) does not exist in the resource's hierarchy.`, 'invalid')
      for (const m of binding.members) {
        if (typeof m !== 'string' || !MEMBER_FORMS.test(m)) throw new HttpError(400, `Invalid argument: member ${JSON.stringify(m)} is not a valid member.`, 'invalid')
      }
      if (binding.condition) {
        if (version < 3) throw new HttpError(400, 'IAM policy version 3 is required to set a policy with conditions.', 'invalid')
        if (typeof binding.condition.expression !== 'string') throw new HttpError(400, 'Invalid argument: condition.expression is required.', 'invalid')
        try {
          tokenize(binding.condition.expression)
        } catch {
          throw new HttpError(400, 'Invalid argument: the condition expression does not parse.', 'invalid')
        }
        if (!b.ubla) {
          throw new HttpError(412, 'IAM conditions cannot be set on a bucket that does not have uniform bucket-level access enabled. Please enable uniform bucket-level access on the bucket and try again.', 'conditionNotMet')
        }
      }
    }
    if (b.publicAccessPrevention === 'enforced' && (body.bindings ?? []).some((x) => x.members.some((m) => m === 'allUsers' || m === 'allAuthenticatedUsers'))) {
      throw new HttpError(412, 'The member bindings allUsers and allAuthenticatedUsers are not allowed since public access prevention is enforced.', 'conditionNotMet')
    }
    if (b.allowedMemberDomains) {
      for (const binding of body.bindings ?? []) {
        for (const m of binding.members) {
          const domain = /@([^@]+)$/.exec(m)?.[1] ?? /^domain:(.+)$/.exec(m)?.[1]
          const known = b.policy.bindings.some((x) => x.members.includes(m))
          if (domain && !known && !b.allowedMemberDomains.some((d) => domain === d || domain.endsWith(`.${d}`))) {
            throw new HttpError(412, 'One or more users named in the policy do not belong to a permitted customer, perhaps due to an organization policy.', 'conditionNotMet')
          }
        }
      }
    }
  }

  const send = (res, status, body, headers = {}) => {
    const text = JSON.stringify(body)
    res.writeHead(status, {'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers})
    res.end(text)
  }

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @param {URL} url
   * @param {{op: string, member: string|null}} log
   */
  const handle = async (req, res, url, log) => {
    const path = url.pathname
    if (path.startsWith('/_admin/')) return admin(req, res, url, log)

    if (path === '/tokeninfo') {
      log.op = 'oauth2.tokeninfo'
      // google-auth-library POSTs with the token as a bearer; the documented form is ?access_token=.
      const form = req.method === 'POST' ? new URLSearchParams((await readBody(req)).toString('utf8')) : new URLSearchParams()
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
      const token = url.searchParams.get('access_token') ?? form.get('access_token') ?? bearer ?? ''
      const member = tokens.get(token)
      if (!member) return send(res, 400, {error: 'invalid_token', error_description: 'Invalid Value'})
      const email = member.replace(/^[a-zA-Z]+:/, '')
      return send(res, 200, {azp: '1', aud: '1', scope: 'https://www.googleapis.com/auth/cloud-platform', exp: String(Math.floor(Date.now() / 1000) + 3600), expires_in: '3599', email, email_verified: 'true', access_type: 'online'})
    }

    const gen = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(path)
    if (gen && req.method === 'POST') {
      log.op = 'iamcredentials.generateAccessToken'
      const {member} = who(req)
      log.member = member
      const email = decodeURIComponent(gen[1])
      const sa = serviceAccounts.get(email)
      if (!member) throw new HttpError(401, 'Request is missing required authentication credential.', 'required')
      if (!sa || !sa.tokenCreators.includes(member)) {
        // IAM Credentials speaks google.rpc.Status, not the storage error shape.
        return send(res, 403, {error: {code: 403, message: `Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).`, status: 'PERMISSION_DENIED', details: [{'@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain: 'iam.googleapis.com', metadata: {permission: 'iam.serviceAccounts.getAccessToken'}}]}})
      }
      await readJson(req)
      const token = `ya29.double-${randomBytes(12).toString('hex')}`
      tokens.set(token, `serviceAccount:${email}`)
      return send(res, 200, {accessToken: token, expireTime: new Date(Date.now() + 3600_000).toISOString()})
    }

    // IAM v2 deny policies attached to a project (by number): its owners may list them.
    const denyRoute = /^\/v2\/policies\/cloudresourcemanager\.googleapis\.com%2F(?:projects|PROJECTS)%2F(\d+)\/denypolicies$/i.exec(req.url?.split('?')[0] ?? '')
    if (denyRoute && req.method === 'GET') {
      log.op = 'iam.denypolicies.list'
      const {member} = who(req)
      log.member = member
      const number = denyRoute[1]
      const owners = [...buckets.values()].filter((b) => b.projectNumber === number).flatMap((b) => projects.get(b.project)?.owner ?? [])
      if (!member || !owners.includes(member)) {
        return send(res, 403, {error: {code: 403, message: `Permission 'iam.denypolicies.list' denied on resource (or it may not exist).`, status: 'PERMISSION_DENIED'}})
      }
      const list = (denyPolicies.get(number) ?? []).map((id) => ({name: `policies/cloudresourcemanager.googleapis.com%2Fprojects%2F${number}/denypolicies/${id}`, uid: id, kind: 'DenyPolicy', displayName: id}))
      return send(res, 200, list.length ? {policies: list} : {})
    }

    // IAM roles.get for custom roles: the project's owners (or the org's, modelled as any project owner) may read them.
    const role = /^\/v1\/((projects|organizations)\/([^/]+)\/roles\/[^/]+)$/.exec(path)
    if (role && req.method === 'GET') {
      log.op = 'iam.roles.get'
      const {member} = who(req)
      log.member = member
      const owners = role[2] === 'projects' ? projects.get(role[3])?.owner ?? [] : [...projects.values()].flatMap((p) => p.owner ?? [])
      if (!member || !owners.includes(member)) {
        return send(res, 403, {error: {code: 403, message: `Permission 'iam.roles.get' denied on resource (or it may not exist).`, status: 'PERMISSION_DENIED'}})
      }
      const perms = customRoles.get(role[1])
      if (!perms) return send(res, 404, {error: {code: 404, message: `The role named ${role[1]} was not found.`, status: 'NOT_FOUND'}})
      return send(res, 200, {name: role[1], title: role[1].split('/').pop(), includedPermissions: perms, stage: 'GA', etag: 'BwY='})
    }

    const m = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)(\/iam(?:\/testPermissions)?|\/o(?:\/(.+))?)?$/.exec(path)
    if (!m) throw new HttpError(404, 'Not Found', 'notFound')
    const bucketName = decodeURIComponent(m[1])
    const sub = m[2] ?? ''
    const {member} = who(req)
    log.member = member

    if (sub === '' && req.method === 'GET') {
      log.op = 'storage.buckets.get'
      const b = getBucket(bucketName)
      if (!allowed(member, 'storage.buckets.get', b, bucketResource(b))) throw deny(member, 'storage.buckets.get', 'bucket')
      requireUserProject(b, url)
      return send(res, 200, bucketJson(b))
    }
    if (sub === '/iam' && req.method === 'GET') {
      log.op = 'storage.buckets.getIamPolicy'
      const b = getBucket(bucketName)
      if (!allowed(member, 'storage.buckets.getIamPolicy', b, bucketResource(b))) throw deny(member, 'storage.buckets.getIamPolicy', 'bucket')
      const requested = Number(url.searchParams.get('optionsRequestedPolicyVersion') ?? '1')
      if (b.policy.bindings.some((x) => x.condition) && requested < 3) {
        throw new HttpError(400, `Requested policy version (${requested}) cannot be less than the existing policy version (3).`, 'invalid')
      }
      return send(res, 200, policyJson(b))
    }
    if (sub === '/iam' && req.method === 'PUT') {
      log.op = 'storage.buckets.setIamPolicy'
      const b = getBucket(bucketName)
      if (!allowed(member, 'storage.buckets.setIamPolicy', b, bucketResource(b))) throw deny(member, 'storage.buckets.setIamPolicy', 'bucket')
      const body = await readJson(req)
      // A concurrent writer gets in first, as if its write landed between our read and this one.
      const queued = interleaved.get(bucketName)
      if (queued?.length) setPolicy(bucketName, queued.shift(), 3)
      if (body.etag !== undefined && body.etag !== etagOf(b.policy.etagCounter)) {
        throw new HttpError(412, 'Precondition Failed', 'conditionNotMet', {locationType: 'header', location: 'If-Match'})
      }
      validatePolicy(b, body)
      beginPropagation(b)
      const hasConditions = (body.bindings ?? []).some((x) => x.condition)
      b.policy = {
        version: hasConditions ? 3 : 1,
        // GCS drops bindings left without members.
        bindings: (body.bindings ?? []).filter((x) => x.members.length > 0).map((x) => ({role: x.role, members: [...x.members], ...(x.condition ? {condition: x.condition} : {})})),
        etagCounter: etagCounter++,
      }
      return send(res, 200, policyJson(b))
    }
    if (sub === '/iam/testPermissions' && req.method === 'GET') {
      log.op = 'storage.buckets.testIamPermissions'
      const b = getBucket(bucketName)
      const perms = url.searchParams.getAll('permissions')
      if (perms.length === 0) throw new HttpError(400, 'Required parameter: permissions', 'required')
      const granted = perms.filter((perm) => allowed(member, perm, b, bucketResource(b)))
      return send(res, 200, {kind: 'storage#testIamPermissionsResponse', ...(granted.length ? {permissions: granted} : {})})
    }
    if (sub === '/o' && req.method === 'GET') {
      log.op = 'storage.objects.list'
      const b = getBucket(bucketName)
      const prefix = url.searchParams.get('prefix') ?? ''
      if (!allowed(member, 'storage.objects.list', b, {...bucketResource(b), listPrefix: prefix})) throw deny(member, 'storage.objects.list', 'bucket')
      requireUserProject(b, url)
      const delimiter = url.searchParams.get('delimiter') ?? ''
      const max = Math.min(1000, Number(url.searchParams.get('maxResults') ?? '1000') || 1000)
      const start = url.searchParams.get('pageToken') ? Buffer.from(url.searchParams.get('pageToken'), 'base64url').toString('utf8') : ''
      const names = [...b.objects.keys()].filter((n) => n.startsWith(prefix)).sort((x, y) => (Buffer.compare(Buffer.from(x), Buffer.from(y))))
      const items = []
      const prefixes = new Set()
      let next
      for (const name of names) {
        if (start && Buffer.compare(Buffer.from(name), Buffer.from(start)) < 0) continue
        if (items.length + prefixes.size >= max) {
          next = Buffer.from(name).toString('base64url')
          break
        }
        if (delimiter) {
          const rest = name.slice(prefix.length)
          const at = rest.indexOf(delimiter)
          if (at >= 0) {
            prefixes.add(prefix + rest.slice(0, at + delimiter.length))
            continue
          }
        }
        items.push(objectJson(b, name, b.objects.get(name)))
      }
      const out = {kind: 'storage#objects'}
      if (next) out.nextPageToken = next
      if (prefixes.size) out.prefixes = [...prefixes]
      if (items.length) out.items = items
      return send(res, 200, out)
    }
    if (sub.startsWith('/o/') && req.method === 'GET') {
      log.op = 'storage.objects.get'
      const b = getBucket(bucketName)
      const name = decodeURIComponent(m[3])
      if (!allowed(member, 'storage.objects.get', b, objectResource(b, name))) throw deny(member, 'storage.objects.get', 'object')
      requireUserProject(b, url)
      const o = b.objects.get(name)
      if (!o) throw new HttpError(404, `No such object: ${b.name}/${name}`, 'notFound')
      if (url.searchParams.get('alt') !== 'media') return send(res, 200, objectJson(b, name, o))
      const headers = {
        'content-type': o.contentType,
        'x-goog-generation': o.generation,
        'x-goog-metageneration': '1',
        'x-goog-stored-content-length': String(o.data.length),
        'x-goog-hash': `crc32c=${crc32c(o.data)},md5=${createHash('md5').update(o.data).digest('base64')}`,
        'accept-ranges': 'bytes',
      }
      const range = req.headers.range
      if (range) {
        const r = /^bytes=(\d*)-(\d*)$/.exec(range)
        const size = o.data.length
        let first
        let last
        if (r && r[1] !== '') {
          first = Number(r[1])
          last = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1)
        } else if (r && r[2] !== '') {
          first = Math.max(0, size - Number(r[2]))
          last = size - 1
        }
        if (first === undefined || first >= size || last < first) {
          res.writeHead(416, {'content-type': 'application/json; charset=UTF-8', 'content-range': `bytes */${size}`})
          return res.end(JSON.stringify(new HttpError(416, 'The requested range cannot be satisfied.', 'requestedRangeNotSatisfiable').body()))
        }
        const slice = o.data.subarray(first, last + 1)
        res.writeHead(206, {...headers, 'content-range': `bytes ${first}-${last}/${size}`, 'content-length': slice.length})
        return res.end(slice)
      }
      res.writeHead(200, {...headers, 'content-length': o.data.length})
      return res.end(o.data)
    }
    throw new HttpError(405, `Method ${req.method} is not supported by the test double on ${path}.`, 'badRequest')
  }

  const admin = async (req, res, url, log) => {
    const path = url.pathname.slice('/_admin'.length)
    log.op = `admin ${req.method} ${path}`
    const ok = (body = {ok: true}) => send(res, 200, body)
    if (path === '/requests' && req.method === 'GET') return ok({requests})
    if (path === '/requests' && req.method === 'DELETE') { requests.length = 0; return ok() }
    if (path === '/reset' && req.method === 'POST') {
      buckets.clear(); interleaved.clear(); requests.length = 0; serviceAccounts.clear(); customRoles.clear()
      return ok()
    }
    if (path === '/tokens' && req.method === 'POST') {
      const body = await readJson(req)
      tokens.set(body.token, body.member)
      return ok()
    }
    if (path === '/projects' && req.method === 'POST') {
      const body = await readJson(req)
      projects.set(body.id, {owner: body.owner ?? [], editor: body.editor ?? [], viewer: body.viewer ?? [], bindings: body.bindings ?? []})
      return ok()
    }
    if (path === '/buckets' && req.method === 'POST') {
      const body = await readJson(req)
      createBucket(body.name, body)
      return ok(bucketJson(buckets.get(body.name)))
    }
    let m = /^\/buckets\/([^/]+)$/.exec(path)
    if (m && req.method === 'PATCH') {
      updateBucket(decodeURIComponent(m[1]), await readJson(req))
      return ok()
    }
    m = /^\/b\/([^/]+)\/o\/(.+)$/.exec(path)
    if (m && req.method === 'PUT') {
      putObject(decodeURIComponent(m[1]), decodeURIComponent(m[2]), await readBody(req), req.headers['content-type'])
      return ok()
    }
    m = /^\/b\/([^/]+)\/iam$/.exec(path)
    if (m && req.method === 'PUT') {
      const body = await readJson(req)
      setPolicy(decodeURIComponent(m[1]), body.bindings ?? [], body.version ?? 3)
      return ok(policyJson(buckets.get(decodeURIComponent(m[1]))))
    }
    if (m && req.method === 'GET') return ok(policyJson(getBucket(decodeURIComponent(m[1]))))
    if (path === '/interleave' && req.method === 'POST') {
      const body = await readJson(req)
      const q = interleaved.get(body.bucket) ?? []
      q.push(body.bindings)
      interleaved.set(body.bucket, q)
      return ok()
    }
    if (path === '/service-accounts' && req.method === 'POST') {
      const body = await readJson(req)
      serviceAccounts.set(body.email, {tokenCreators: body.tokenCreators ?? []})
      return ok()
    }
    if (path === '/custom-roles' && req.method === 'POST') {
      const body = await readJson(req)
      customRoles.set(body.name, body.includedPermissions ?? [])
      return ok()
    }
    throw new HttpError(404, `No admin route ${req.method} ${path}`, 'notFound')
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const log = {op: 'unknown', member: null}
    const finish = (status) => {
      if (!url.pathname.startsWith('/_admin/')) {
        const line = {method: req.method ?? 'GET', path: url.pathname, query: url.search.replace(/^\?/, ''), op: log.op, status, member: log.member}
        requests.push(line)
        options.log?.(line)
      }
    }
    handle(req, res, url, log)
      .then(() => finish(res.statusCode))
      .catch((error) => {
        const e = error instanceof HttpError ? error : new HttpError(500, `Internal error in the test double: ${error?.message ?? error}`, 'backendError')
        if (!res.headersSent) send(res, e.code, e.body())
        else res.end()
        finish(e.code)
      })
  })

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve)
  })
  const address = /** @type {import('node:net').AddressInfo} */ (server.address())
  const api = {
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    requests,
    /** @param {string} token @param {string} member */
    addToken: (token, member) => void tokens.set(token, member),
    addProject: (id, members) => void projects.set(id, {owner: [], editor: [], viewer: [], bindings: [], ...members}),
    createBucket,
    updateBucket,
    putObject,
    setPolicy,
    getPolicy: (bucket) => policyJson(getBucket(bucket)),
    /** Make another writer's policy land right before the next setIamPolicy of `bucket`. */
    interleaveWrite: (bucket, bindings) => {
      const q = interleaved.get(bucket) ?? []
      q.push(bindings)
      interleaved.set(bucket, q)
    },
    addServiceAccount: (email, tokenCreators = []) => void serviceAccounts.set(email, {tokenCreators}),
    addCustomRole: (name, permissions) => void customRoles.set(name, permissions),
    /** Attach an IAM deny policy (by id) to a project number; only its existence is modelled. */
    addDenyPolicy: (projectNumber, id) => void denyPolicies.set(projectNumber, [...(denyPolicies.get(projectNumber) ?? []), id]),
    /** Calls of one operation (e.g. 'storage.buckets.setIamPolicy'). */
    count: (op) => requests.filter((r) => r.op === op).length,
    /** Make setIamPolicy writes take effect only `ms` later, as IAM changes do (minutes on GCP). */
    setPropagationDelay: (ms) => void (propagationMs = ms),
    stop: () => new Promise((resolve) => {
      server.closeAllConnections?.()
      server.close(() => resolve(undefined))
    }),
  }
  return api
}

// ----------------------------------------------------------------------------------------------
// As a process.

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2)
  const arg = (name) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : undefined
  }
  const config = arg('--config') ? JSON.parse(readFileSync(arg('--config'), 'utf8')) : {}
  const double = await startGcsDouble({
    port: Number(arg('--port') ?? config.port ?? 0),
    tokens: config.tokens,
    projects: config.projects,
    log: args.includes('--log') ? (line) => process.stderr.write(`${JSON.stringify(line)}\n`) : undefined,
  })
  for (const b of config.buckets ?? []) {
    double.createBucket(b.name, b)
    for (const [name, text] of Object.entries(b.objects ?? {})) double.putObject(b.name, name, Buffer.from(String(text)))
  }
  for (const sa of config.serviceAccounts ?? []) double.addServiceAccount(sa.email, sa.tokenCreators)
  process.stdout.write(`gcs-double ready port=${double.port} url=${double.url}\n`)
  const stop = () => double.stop().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
